//! One SMTP conversation.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::Shared;
use super::message::{Credentials, ReceivedMail};

/// Longest command or data line accepted.
const MAX_LINE: usize = 64 * 1024;
/// Largest message accepted.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Holds the connection open without ever answering, until the client gives up.
pub(super) async fn stall(mut socket: TcpStream) {
    let mut sink = [0_u8; 1024];
    while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// A connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How a session offers TLS.
#[derive(Clone)]
pub(super) enum Security {
    /// Plain text only.
    Plain,
    /// Plain text, with STARTTLS offered.
    StartTls(TlsAcceptor),
    /// TLS from the first byte.
    Implicit(TlsAcceptor),
}

/// Serves one client until QUIT, EOF or an I/O error.
pub(super) async fn run(socket: TcpStream, shared: Arc<Shared>, tls: Security) {
    let session = match tls {
        Security::Plain => Session::new(Box::new(socket), shared, None, false),
        Security::StartTls(acceptor) => {
            Session::new(Box::new(socket), shared, Some(acceptor), false)
        }
        Security::Implicit(acceptor) => match acceptor.accept(socket).await {
            Ok(stream) => Session::new(Box::new(stream), shared, None, true),
            // A client that does not trust the certificate gives up in the handshake.
            Err(_) => return,
        },
    };
    let _ = session.serve().await;
}

struct Session {
    io: BufReader<Box<dyn Stream>>,
    /// Offered as STARTTLS until used.
    starttls: Option<TlsAcceptor>,
    /// The connection is encrypted.
    secure: bool,
    shared: Arc<Shared>,
    credentials: Option<Credentials>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl Session {
    fn new(
        io: Box<dyn Stream>,
        shared: Arc<Shared>,
        starttls: Option<TlsAcceptor>,
        secure: bool,
    ) -> Self {
        Self {
            io: BufReader::new(io),
            starttls,
            secure,
            shared,
            credentials: None,
            mail_from: None,
            rcpt_to: Vec::new(),
        }
    }

    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        let delay = self.shared.reply_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        self.io.get_mut().write_all(text.as_bytes()).await?;
        self.io.get_mut().write_all(b"\r\n").await?;
        self.io.get_mut().flush().await
    }

    /// One line without its CRLF; `None` at EOF or if it is too long.
    async fn line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        let n = (&mut self.io)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .await?;
        if n == 0 || !buf.ends_with(b"\n") {
            return Ok(None);
        }
        buf.pop();
        if buf.ends_with(b"\r") {
            buf.pop();
        }
        Ok(Some(buf))
    }

    async fn serve(mut self) -> std::io::Result<()> {
        self.reply("220 testkit.local ESMTP ready").await?;
        while let Some(line) = self.line().await? {
            let line = String::from_utf8_lossy(&line).into_owned();
            let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let arg = arg.trim();
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" => {
                    self.reset();
                    self.reply("250-testkit.local greets you").await?;
                    self.reply("250-8BITMIME").await?;
                    self.reply("250-SMTPUTF8").await?;
                    if self.starttls.is_some() {
                        self.reply("250-STARTTLS").await?;
                    }
                    self.reply("250 AUTH PLAIN LOGIN").await?;
                }
                "HELO" => {
                    self.reset();
                    self.reply("250 testkit.local").await?;
                }
                "STARTTLS" => match self.starttls.take() {
                    Some(acceptor) => {
                        self.reply("220 2.0.0 ready to start TLS").await?;
                        // The client waits for the 220 before its handshake: nothing is
                        // buffered yet.
                        let (placeholder, _) = tokio::io::duplex(1);
                        let plain =
                            std::mem::replace(&mut self.io, BufReader::new(Box::new(placeholder)));
                        let Ok(stream) = acceptor.accept(plain.into_inner()).await else {
                            return Ok(());
                        };
                        self.io = BufReader::new(Box::new(stream));
                        self.secure = true;
                        // RFC 3207: everything from before the handshake is forgotten.
                        self.reset();
                        self.credentials = None;
                    }
                    None => self.reply("454 4.7.0 TLS not available").await?,
                },
                "AUTH" => self.auth(arg).await?,
                "MAIL" => match address_after(arg, "FROM:") {
                    Some(addr) => {
                        self.reset();
                        self.mail_from = Some(addr);
                        self.reply("250 2.1.0 OK").await?;
                    }
                    None => self.reply("501 5.5.4 syntax: MAIL FROM:<address>").await?,
                },
                "RCPT" => {
                    if self.mail_from.is_none() {
                        self.reply("503 5.5.1 MAIL first").await?;
                    } else if self.shared.reject_all.load(Ordering::SeqCst) {
                        self.reply("550 5.1.1 mailbox unavailable").await?;
                    } else if let Some(addr) = address_after(arg, "TO:") {
                        self.rcpt_to.push(addr);
                        self.reply("250 2.1.5 OK").await?;
                    } else {
                        self.reply("501 5.5.4 syntax: RCPT TO:<address>").await?;
                    }
                }
                "DATA" => {
                    if self.rcpt_to.is_empty() {
                        self.reply("503 5.5.1 RCPT first").await?;
                    } else {
                        self.data().await?;
                    }
                }
                "RSET" => {
                    self.reset();
                    self.reply("250 2.0.0 OK").await?;
                }
                "NOOP" => self.reply("250 2.0.0 OK").await?,
                "QUIT" => {
                    self.reply("221 2.0.0 bye").await?;
                    return Ok(());
                }
                _ => self.reply("502 5.5.2 command not implemented").await?,
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    async fn data(&mut self) -> std::io::Result<()> {
        self.reply("354 end data with <CR><LF>.<CR><LF>").await?;
        let mut data = Vec::new();
        loop {
            let Some(line) = self.line().await? else {
                return Ok(());
            };
            if line == b"." {
                break;
            }
            // Dot-unstuffing: a leading ".." stands for ".".
            let line = line.strip_prefix(b".").unwrap_or(&line);
            if data.len() + line.len() > MAX_MESSAGE {
                self.reply("552 5.3.4 message too big").await?;
                self.reset();
                return Ok(());
            }
            data.extend_from_slice(line);
            data.extend_from_slice(b"\r\n");
        }
        let mut mail = ReceivedMail::parse(
            self.mail_from.take().unwrap_or_default(),
            std::mem::take(&mut self.rcpt_to),
            self.credentials.clone(),
            &data,
        );
        mail.tls = self.secure;
        self.shared.push(mail);
        self.reply("250 2.0.0 OK queued").await
    }

    async fn auth(&mut self, arg: &str) -> std::io::Result<()> {
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        let credentials = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = if initial.is_empty() {
                    self.reply("334 ").await?;
                    self.line().await?.unwrap_or_default()
                } else {
                    initial.as_bytes().to_vec()
                };
                decode_plain(&response)
            }
            "LOGIN" => {
                let user = if initial.is_empty() {
                    self.reply("334 VXNlcm5hbWU6").await?;
                    self.line().await?.unwrap_or_default()
                } else {
                    initial.as_bytes().to_vec()
                };
                self.reply("334 UGFzc3dvcmQ6").await?;
                let password = self.line().await?.unwrap_or_default();
                decode_b64(&user)
                    .zip(decode_b64(&password))
                    .map(|(user, password)| Credentials { user, password })
            }
            _ => {
                return self
                    .reply("504 5.5.4 unrecognized authentication type")
                    .await;
            }
        };
        match credentials {
            Some(credentials) => {
                self.credentials = Some(credentials);
                self.reply("235 2.7.0 authentication successful").await
            }
            None => self.reply("501 5.5.2 cannot decode the response").await,
        }
    }
}

/// `FROM:<a@b> SIZE=..` -> `a@b` (the prefix is matched without case).
fn address_after(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg.get(prefix.len()..)?.trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    inner.get(..end).map(str::to_owned)
}

fn decode_b64(data: &[u8]) -> Option<String> {
    let bytes = BASE64.decode(data).ok()?;
    String::from_utf8(bytes).ok()
}

/// `base64(authzid \0 user \0 password)`.
fn decode_plain(data: &[u8]) -> Option<Credentials> {
    let text = decode_b64(data)?;
    let mut parts = text.split('\0');
    let _authzid = parts.next()?;
    let user = parts.next()?.to_owned();
    let password = parts.next()?.to_owned();
    Some(Credentials { user, password })
}
