//! Mail addresses.

use serde::{Deserialize, Serialize};

/// A syntactically valid mail address, trimmed and lower-cased. Deserializing an invalid
/// one fails, which the service's JSON extractor answers with 422.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Trims and lower-cases without validating (for logins: any input gets the same
    /// "Invalid Credentials" answer).
    pub fn normalize(raw: &str) -> String {
        raw.trim().to_lowercase()
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let email = Self::normalize(&raw);
        let invalid = || format!("{email:?} is not a valid email address");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid());
        };
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_validation() {
        let ok = Email::try_from("  Teacher@School.Example.org ".to_owned()).unwrap();
        assert_eq!(ok.as_str(), "teacher@school.example.org");
        for bad in [
            "",
            "plain",
            "@x.org",
            "a@",
            "a@b",
            "a@@b.org",
            "a b@c.org",
            "a@.b.org",
            "a@b..org",
        ] {
            assert!(Email::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
