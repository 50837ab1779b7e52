//! Outgoing mail: SMTP (lettre) or the log, behind one [`Mailer`] trait.

use async_trait::async_trait;

pub mod log;
pub mod smtp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server could not be reached or did not answer in time.
    #[error("mail server unavailable: {0}")]
    Unavailable(String),
    /// The server refused the message (bad recipient, auth failure, ...).
    #[error("mail rejected: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Deliver `mail`, or fail within the mailer's timeout.
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}
