//! A small but real SMTP server on 127.0.0.1 for tests.
//!
//! It speaks EHLO/HELO, AUTH PLAIN/LOGIN (accepting any credentials and recording them),
//! MAIL FROM, RCPT TO, DATA (with dot-unstuffing), RSET, NOOP and QUIT, and records every
//! message with its envelope, raw data and decoded plain-text body. Two switches simulate
//! failures: [`SmtpServer::set_reject_all`] (5xx on RCPT TO) and
//! [`SmtpServer::set_stall`] (accept connections, never answer); a third makes it slow
//! ([`SmtpServer::set_reply_delay`]), like a real mail server across a network.
//!
//! [`SmtpServer::start_tls`] serves TLS too, STARTTLS or implicit ([`TlsMode`]), with a
//! self-signed certificate for 127.0.0.1 and `localhost` made at start
//! ([`SmtpServer::certificate_pem`]: what a client must trust); each [`ReceivedMail`] says
//! whether it came over TLS.

mod message;
mod session;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub use message::{Credentials, ReceivedMail};

use session::Security;

/// How [`SmtpServer::start_tls`] encrypts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text first; `STARTTLS` offered in the EHLO answer (ports 25 and 587).
    StartTls,
    /// TLS from the first byte (port 465, `smtps://`).
    Implicit,
}

/// State shared by the server handle and its sessions.
#[derive(Debug, Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    received: Notify,
    reject_all: AtomicBool,
    stall: AtomicBool,
    reply_delay_ms: AtomicU64,
}

impl Shared {
    fn messages(&self) -> MutexGuard<'_, Vec<ReceivedMail>> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, mail: ReceivedMail) {
        self.messages().push(mail);
        self.received.notify_waiters();
    }
}

/// The running server; stops (closing every connection) when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    tls: Option<(TlsMode, String)>,
}

impl SmtpServer {
    /// Binds 127.0.0.1 on a free port and starts serving.
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start() -> SmtpServer {
        Self::serve_with(Security::Plain, None).await
    }

    /// Like [`SmtpServer::start`], with TLS as `mode` says, on a self-signed certificate
    /// for 127.0.0.1 and `localhost` made now.
    ///
    /// # Panics
    /// If the certificate cannot be made or no local port can be bound.
    pub async fn start_tls(mode: TlsMode) -> SmtpServer {
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap_or_else(|e| panic!("test SMTP server: cannot make a certificate: {e}"));
        let pem = certified.cert.pem();
        let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
            .unwrap_or_else(|e| panic!("test SMTP server: TLS configuration: {e}"));
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let tls = match mode {
            TlsMode::StartTls => Security::StartTls(acceptor),
            TlsMode::Implicit => Security::Implicit(acceptor),
        };
        Self::serve_with(tls, Some((mode, pem))).await
    }

    async fn serve_with(tls: Security, certificate: Option<(TlsMode, String)>) -> SmtpServer {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("test SMTP server: cannot bind 127.0.0.1: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("test SMTP server: no local address: {e}"),
        };
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(serve(listener, Arc::clone(&shared), tls));
        SmtpServer {
            addr,
            shared,
            task,
            tls: certificate,
        }
    }

    /// The server's self-signed certificate (PEM) when it serves TLS: the one root a client
    /// must trust.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|(_, pem)| pem.as_str())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT`; `smtp+starttls://` or `smtps://` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = match self.tls {
            None => "smtp",
            Some((TlsMode::StartTls, _)) => "smtp+starttls",
            Some((TlsMode::Implicit, _)) => "smtps",
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.messages().clone()
    }

    /// Forgets the messages received so far.
    pub fn clear(&self) {
        self.shared.messages().clear();
    }

    /// Waits until a message for `to` (an envelope recipient, compared without case) has
    /// arrived and returns the latest such message, or `None` after `timeout`.
    pub async fn wait_for(&self, to: &str, timeout: Duration) -> Option<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.received.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(mail) = self.latest_for(to) {
                return Some(mail);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.latest_for(to);
            }
        }
    }

    fn latest_for(&self, to: &str) -> Option<ReceivedMail> {
        self.shared
            .messages()
            .iter()
            .rev()
            .find(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(to)))
            .cloned()
    }

    /// When on, every `RCPT TO` is refused with `550` (a permanent failure).
    pub fn set_reject_all(&self, on: bool) {
        self.shared.reject_all.store(on, Ordering::SeqCst);
    }

    /// Waits this long before every reply (0 by default).
    pub fn set_reply_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.reply_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// When on, new connections are accepted but never answered (not even the greeting).
    pub fn set_stall(&self, on: bool) {
        self.shared.stall.store(on, Ordering::SeqCst);
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every session.
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Security) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                if shared.stall.load(Ordering::SeqCst) {
                    sessions.spawn(session::stall(socket));
                } else {
                    sessions.spawn(session::run(socket, shared, tls.clone()));
                }
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}
