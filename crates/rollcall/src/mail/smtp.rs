//! SMTP [`Mailer`] on lettre's async transport.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use percent_encoding::percent_decode_str;

use super::{Mail, MailError, Mailer};

/// The URL prefixes [`SmtpMailer::from_url`] accepts, one per [`Security`].
pub const URL_SCHEMES: [&str; 3] = ["smtp://", "smtp+starttls://", "smtps://"];

/// How the connection is secured, chosen by the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtp://`: plain, upgraded with STARTTLS when the server offers it.
    Opportunistic,
    /// `smtp+starttls://`: STARTTLS required.
    StartTls,
    /// `smtps://`: TLS from the first byte (implicit TLS).
    Implicit,
}

/// Sends mail through one SMTP server. Credentials come from the URL and are never
/// logged or shown by `Debug`.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    host: String,
    port: u16,
    security: Security,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Configures the mailer from `url`:
    ///
    /// - `smtp://host[:port]` (default port 25): plain, opportunistic STARTTLS;
    /// - `smtp+starttls://host[:port]` (default 587): STARTTLS required;
    /// - `smtps://host[:port]` (default 465): implicit TLS;
    ///
    /// each with optional `user:password@` (percent-encoded). `from` is the sender
    /// (`name@example.org` or `Name <name@example.org>`). Each send gives up after
    /// `timeout`. Nothing is connected yet.
    ///
    /// Configuration errors are reported as [`MailError::Rejected`].
    pub fn from_url(url: &str, from: &str, timeout: Duration) -> Result<Self, MailError> {
        Self::from_url_trusting(url, from, timeout, None)
    }

    /// Like [`SmtpMailer::from_url`], also trusting the CA certificates in `ca_pem` (PEM,
    /// one or more) for the server's certificate, besides the public (Mozilla) roots
    /// (`ROLLCALL_SMTP_CA_FILE`).
    pub fn from_url_trusting(
        url: &str,
        from: &str,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, MailError> {
        let invalid = |why: &str| MailError::Rejected(format!("invalid SMTP URL: {why}"));
        // The URL is never echoed: it may hold a password.
        let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        let (security, default_port) = match parsed.scheme() {
            "smtp" => (Security::Opportunistic, 25),
            "smtp+starttls" => (Security::StartTls, 587),
            "smtps" => (Security::Implicit, 465),
            other => {
                return Err(invalid(&format!(
                    "unsupported scheme {other:?} (expected smtp, smtp+starttls or smtps)"
                )));
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = parsed.port().unwrap_or(default_port);
        let from: Mailbox = from
            .parse()
            .map_err(|e| MailError::Rejected(format!("invalid sender address: {e}")))?;

        let extra_root = ca_pem
            .map(|pem| {
                const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
                if !pem.windows(BEGIN.len()).any(|w| w == BEGIN) {
                    return Err(MailError::Rejected(
                        "the SMTP CA file holds no PEM certificate".to_owned(),
                    ));
                }
                Certificate::from_pem(pem)
                    .map_err(|e| MailError::Rejected(format!("invalid SMTP CA certificates: {e}")))
            })
            .transpose()?;
        let tls_parameters = || {
            let mut builder = TlsParameters::builder(host.clone());
            if let Some(root) = &extra_root {
                builder = builder.add_root_certificate(root.clone());
            }
            builder
                .build()
                .map_err(|e| MailError::Rejected(format!("TLS setup for {host}: {e}")))
        };
        let tls = match security {
            Security::Opportunistic => Tls::Opportunistic(tls_parameters()?),
            Security::StartTls => Tls::Required(tls_parameters()?),
            Security::Implicit => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(port)
            .tls(tls);
        if !parsed.username().is_empty() {
            let decode = |s: &str| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|s| s.into_owned())
                    .map_err(|_| invalid("credentials are not UTF-8"))
            };
            let user = decode(parsed.username())?;
            let password = decode(parsed.password().unwrap_or_default())?;
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            timeout,
            host,
            port,
            security,
        })
    }

    /// The connection security in use.
    pub fn security(&self) -> Security {
        self.security
    }

    fn message(&self, mail: &Mail) -> Result<Message, MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| MailError::Rejected(format!("invalid recipient address: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| MailError::Rejected(format!("cannot build the message: {e}")))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        // One bound on the whole delivery (connecting, TLS, every command): lettre's own
        // timeout does not cover the reads of its async transport.
        let message = self.message(mail)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(MailError::Unavailable(format!(
                "{}:{} did not complete the delivery within {:?}",
                self.host, self.port, self.timeout
            ))),
        }
    }
}

/// Permanent (5xx) refusals are `Rejected`; connection problems, time-outs, TLS
/// failures and transient (4xx) answers are `Unavailable`.
fn classify(err: &lettre::transport::smtp::Error) -> MailError {
    if err.is_permanent() {
        MailError::Rejected(err.to_string())
    } else {
        MailError::Unavailable(err.to_string())
    }
}
