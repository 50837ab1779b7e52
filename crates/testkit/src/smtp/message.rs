//! A received message: envelope, raw data, headers and decoded plain-text body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Credentials a client authenticated with (any are accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`).
    pub rcpt_to: Vec<String>,
    /// What the session authenticated with, if it did.
    pub credentials: Option<Credentials>,
    /// Whether the message came over TLS (implicit TLS, or after STARTTLS).
    pub tls: bool,
    /// The message after dot-unstuffing (lossy UTF-8), lines ending in CRLF.
    pub raw: String,
    /// Header fields in order, unfolded, values as sent (not decoded).
    pub headers: Vec<(String, String)>,
    /// The `Subject` header with RFC 2047 encoded words decoded.
    pub subject: Option<String>,
    /// The body with its Content-Transfer-Encoding (quoted-printable, base64, 7bit, 8bit)
    /// undone, as UTF-8 with `\n` line ends.
    pub body: String,
}

impl ReceivedMail {
    /// Parses the DATA of one message.
    pub(super) fn parse(
        mail_from: String,
        rcpt_to: Vec<String>,
        credentials: Option<Credentials>,
        data: &[u8],
    ) -> ReceivedMail {
        let raw = String::from_utf8_lossy(data).into_owned();
        let (head, body) = match raw.find("\r\n\r\n") {
            Some(i) => (
                raw.get(..i).unwrap_or_default(),
                raw.get(i + 4..).unwrap_or_default(),
            ),
            None => (raw.as_str(), ""),
        };
        let headers = parse_headers(head);
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let encoding = find("Content-Transfer-Encoding")
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase();
        let decoded = match encoding.as_str() {
            "quoted-printable" => {
                quoted_printable::decode(body.as_bytes(), quoted_printable::ParseMode::Robust)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_else(|_| body.to_owned())
            }
            "base64" => {
                let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
                BASE64
                    .decode(compact)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_else(|_| body.to_owned())
            }
            _ => body.to_owned(),
        };
        let subject = find("Subject").map(decode_encoded_words);
        ReceivedMail {
            mail_from,
            rcpt_to,
            credentials,
            tls: false,
            subject,
            body: decoded.replace("\r\n", "\n"),
            raw: raw.clone(),
            headers,
        }
    }

    /// The first header named `name` (without case), value as sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits the header block into unfolded `(name, value)` pairs.
fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    headers
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`); whitespace
/// between two encoded words is dropped, anything else is kept as is.
pub fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while !rest.is_empty() {
        let Some(start) = rest.find("=?") else {
            out.push_str(rest);
            break;
        };
        let (before, candidate) = rest.split_at(start);
        match decode_word(candidate) {
            Some((text, used)) => {
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                last_was_word = true;
                rest = candidate.get(used..).unwrap_or_default();
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                last_was_word = false;
                rest = candidate.get(2..).unwrap_or_default();
            }
        }
    }
    out
}

/// Decodes one `=?charset?enc?text?=` at the start of `s`: (text, bytes consumed).
fn decode_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = inner.get(..end)?;
    let bytes = match encoding {
        "B" | "b" => BASE64.decode(text).ok()?,
        "Q" | "q" => {
            let spaced = text.replace('_', " ");
            quoted_printable::decode(spaced.as_bytes(), quoted_printable::ParseMode::Robust).ok()?
        }
        _ => return None,
    };
    let consumed = s.len() - inner.len() + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), consumed))
}

#[cfg(test)]
mod tests {
    use super::{ReceivedMail, decode_encoded_words};

    #[test]
    fn encoded_words() {
        assert_eq!(decode_encoded_words("plain"), "plain");
        assert_eq!(
            decode_encoded_words("=?utf-8?b?Q8OzZGlnbw==?= =?utf-8?q?_de_acceso?="),
            "Código de acceso"
        );
        assert_eq!(decode_encoded_words("a =?x?z?bad?= b"), "a =?x?z?bad?= b");
    }

    #[test]
    fn parses_quoted_printable_body() {
        let data = b"Subject: Hi\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nZo=C3=AB=\r\n says hi\r\n";
        let mail = ReceivedMail::parse("a@b".into(), vec!["c@d".into()], None, data);
        assert_eq!(mail.subject.as_deref(), Some("Hi"));
        assert_eq!(mail.body, "Zoë says hi\n");
        assert_eq!(mail.header("subject"), Some("Hi"));
    }
}
