//! A class's name and note, validated when parsed (JSON bodies deserialize through them, so
//! an invalid value is a 422 that says what is wrong).

use serde::{Deserialize, Serialize};

/// A class name: trimmed, 1 to [`ClassName::MAX_LEN`] characters, no control characters.
/// Unique per teacher ignoring case (the store compares lower-cased names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClassName(String);

impl ClassName {
    /// Longest accepted name, in characters.
    pub const MAX_LEN: usize = 100;

    /// Trims and checks `raw`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("the class name must not be empty".to_owned());
        }
        if name.chars().count() > Self::MAX_LEN {
            return Err(format!(
                "the class name must be at most {} characters long",
                Self::MAX_LEN
            ));
        }
        if name.chars().any(char::is_control) {
            return Err("the class name must not contain control characters".to_owned());
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClassName {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<ClassName> for String {
    fn from(name: ClassName) -> Self {
        name.0
    }
}

impl std::fmt::Display for ClassName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A class's note: trimmed, at most [`ClassNote::MAX_LEN`] characters, no control
/// characters other than line breaks and tabs. An empty note is no note ([`ClassNote::parse`]
/// gives `None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClassNote(String);

impl ClassNote {
    /// Longest accepted note, in characters.
    pub const MAX_LEN: usize = 1000;

    /// Trims and checks `raw`; `Ok(None)` when it is empty.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        let note = raw.trim();
        if note.is_empty() {
            return Ok(None);
        }
        if note.chars().count() > Self::MAX_LEN {
            return Err(format!(
                "the note must be at most {} characters long",
                Self::MAX_LEN
            ));
        }
        if note
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err("the note must not contain control characters".to_owned());
        }
        Ok(Some(Self(note.to_owned())))
    }

    /// The note.
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
            ClassName::parse("  7B Maths ").unwrap().as_str(),
            "7B Maths"
        );
        assert_eq!(ClassName::parse("Ü").unwrap().as_str(), "Ü");
        assert!(ClassName::parse("").is_err());
        assert!(ClassName::parse(" \t ").is_err());
        assert!(ClassName::parse("7B\nMaths").is_err());
        assert!(ClassName::parse("a\u{7f}").is_err());
        let longest = "é".repeat(ClassName::MAX_LEN);
        assert_eq!(ClassName::parse(&longest).unwrap().as_str(), longest);
        assert!(ClassName::parse(&format!("{longest}x")).is_err());
    }

    #[test]
    fn names_deserialize_through_the_checks() {
        let ok: ClassName = serde_json::from_str("\" 7B \"").unwrap();
        assert_eq!(ok.as_str(), "7B");
        let err = serde_json::from_str::<ClassName>("\"   \"").unwrap_err();
        assert!(err.to_string().contains("must not be empty"), "{err}");
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"7B\"");
    }

    #[test]
    fn notes_keep_line_breaks_and_empty_is_none() {
        assert_eq!(ClassNote::parse("   ").unwrap(), None);
        let note = ClassNote::parse(" Room 12\n\tTuesdays ").unwrap().unwrap();
        assert_eq!(note.as_str(), "Room 12\n\tTuesdays");
        assert!(ClassNote::parse("bell\u{7}").is_err());
        assert!(ClassNote::parse(&"n".repeat(ClassNote::MAX_LEN + 1)).is_err());
        assert!(ClassNote::parse(&"n".repeat(ClassNote::MAX_LEN)).is_ok());
    }
}
