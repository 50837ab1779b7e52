//! A small but real SMTP server on 127.0.0.1 for tests.
//!
//! It speaks EHLO/HELO, AUTH PLAIN/LOGIN (accepting any credentials and recording them),
//! MAIL FROM, RCPT TO, DATA (with dot-unstuffing), RSET, NOOP and QUIT, and records every
//! message with its envelope, raw data and decoded plain-text body. Two switches simulate
//! failures: [`SmtpServer::set_reject_all`] (5xx on RCPT TO) and
//! [`SmtpServer::set_stall`] (accept connections, never answer); a third makes it slow
//! ([`SmtpServer::set_reply_delay`]), like a real mail server across a network.

mod message;
mod session;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

pub use message::{Credentials, ReceivedMail};

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
}

impl SmtpServer {
    /// Binds 127.0.0.1 on a free port and starts serving.
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start() -> SmtpServer {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("test SMTP server: cannot bind 127.0.0.1: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("test SMTP server: no local address: {e}"),
        };
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        SmtpServer { addr, shared, task }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
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

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                if shared.stall.load(Ordering::SeqCst) {
                    sessions.spawn(session::stall(socket));
                } else {
                    sessions.spawn(session::run(socket, shared));
                }
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}
