//! Outgoing mail: SMTP (lettre) or the log, behind one [`Mailer`] trait.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub mod log;
pub mod smtp;

pub use log::LogMailer;
pub use smtp::SmtpMailer;

/// The mailer for the configuration: SMTP when `smtp_url` is set (see
/// [`SmtpMailer::from_url`]; the server's certificate may also be signed by a CA in the PEM
/// file `ca_file`), otherwise the log ([`LogMailer`]).
pub fn from_config(
    smtp_url: Option<&str>,
    ca_file: Option<&Path>,
    from: &str,
    timeout: Duration,
) -> Result<Arc<dyn Mailer>, MailError> {
    let Some(url) = smtp_url else {
        return Ok(Arc::new(LogMailer::new()));
    };
    let ca_pem = match ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            MailError::Rejected(format!(
                "cannot read the SMTP CA file {}: {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    Ok(Arc::new(SmtpMailer::from_url_trusting(
        url,
        from,
        timeout,
        ca_pem.as_deref(),
    )?))
}

/// One plain-text mail to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address (`name@example.org`).
    pub to: String,
    /// The subject line (any Unicode).
    pub subject: String,
    /// The plain-text body (any Unicode, `\n` line ends).
    pub body: String,
}

/// Errors of the mail layer.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server could not be reached or did not answer in time.
    #[error("mail server unavailable: {0}")]
    Unavailable(String),
    /// The server refused the message (bad recipient, auth failure, ...).
    #[error("mail rejected: {0}")]
    Rejected(String),
}

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Deliver `mail`, or fail within the mailer's timeout.
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}
