//! A [`Mailer`] that only logs: for local runs without an SMTP server.

use async_trait::async_trait;

use super::{Mail, MailError, Mailer};

/// Writes each mail (recipient, subject and body) to the log at `info` level instead of
/// sending it. Bodies carry one-time codes: that is the point in local runs, and the
/// reason this mailer must not be used in production.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

impl LogMailer {
    /// A new log mailer.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            body = %mail.body,
            "mail not sent (no SMTP server configured), logged instead"
        );
        Ok(())
    }
}
