//! A student's name as a teacher types it (checked by [`crate::clean_field`], like every
//! free-text field).

/// Longest accepted student name, in characters.
pub const MAX_LEN: usize = 100;

/// A student's name: trimmed, 1 to [`MAX_LEN`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentName(String);

impl StudentName {
    /// Checks a name; the error says what is wrong, for a 422 `detail`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        crate::clean_field("name", raw, MAX_LEN)
            .map(Self)
            .map_err(|e| e.to_string())
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
