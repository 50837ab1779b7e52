//! A student's name as a teacher types it.

/// Longest accepted student name, in characters.
pub const MAX_LEN: usize = 100;

/// A student's name: trimmed, 1 to [`MAX_LEN`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentName(String);

impl StudentName {
    /// Checks a name; the error says what is wrong, for a 422 `detail`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("name must not be empty".to_owned());
        }
        if name.chars().count() > MAX_LEN {
            return Err(format!("name must be at most {MAX_LEN} characters long"));
        }
        if name.chars().any(char::is_control) {
            return Err("name must not contain control characters".to_owned());
        }
        Ok(Self(name.to_owned()))
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(
            StudentName::parse("  Ada Lovelace ").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert_eq!(
            StudentName::parse(" ").unwrap_err(),
            "name must not be empty"
        );
        assert!(
            StudentName::parse("a\u{7}b")
                .unwrap_err()
                .contains("control")
        );
        assert!(StudentName::parse(&"x".repeat(MAX_LEN)).is_ok());
        assert!(
            StudentName::parse(&"x".repeat(MAX_LEN + 1))
                .unwrap_err()
                .contains("at most 100")
        );
    }
}
