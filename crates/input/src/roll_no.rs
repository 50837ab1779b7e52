//! Roll numbers: one spelling per roll number (issue 10, item 14).
//!
//! A roll number is trimmed and normalised to Unicode NFC, so "ü" typed as one character and
//! "u" followed by a combining diaeresis are the same roll number. A new roll number must be
//! 1 to [`MAX_LEN`] characters and must not contain anything a person cannot see or that
//! reorders what they see: control characters, format characters (zero-width spaces and
//! joiners, bidirectional overrides and isolates, soft hyphens, byte-order marks), other
//! default-ignorable code points (variation selectors, Hangul fillers, ...), line or
//! paragraph separators, spaces other than U+0020, private-use, surrogate or unassigned
//! code points. A roll number made only of dots (`.`, `..`) is refused too: it appears in
//! URL paths (`/delete_student/{roll_no}`), where browsers and proxies resolve dot segments
//! before the request is sent.
//!
//! Look-ups ([`lookup_key`], [`RollNo::lookup`]) only trim and normalise, so that a roll number
//! stored before these rules can still be reached and deleted.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest accepted roll number, in characters (after normalisation).
pub const MAX_LEN: usize = 32;

/// A roll number, trimmed and in NFC. [`RollNo::new`] applies every rule (a new student);
/// [`RollNo::lookup`] only normalises (a request naming an existing student), and so does
/// deserialising one, which is how a URL path (`Path<RollNo>`) names a student.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(from = "String")]
pub struct RollNo(String);

impl RollNo {
    /// A new roll number; the error says what is wrong, for a 422 `detail`.
    pub fn new(raw: &str) -> Result<Self, String> {
        parse(raw).map(Self)
    }

    /// A roll number as a look-up: normalised, never refused.
    pub fn lookup(raw: &str) -> Self {
        Self(lookup_key(raw))
    }

    /// The normalised roll number.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalised roll number, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<String> for RollNo {
    fn from(raw: String) -> Self {
        Self::lookup(&raw)
    }
}

impl std::fmt::Display for RollNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Trims and normalises (NFC) a roll number for a look-up, without refusing anything.
pub fn lookup_key(raw: &str) -> String {
    raw.trim().nfc().collect()
}

/// A new roll number: trimmed, NFC, 1 to [`MAX_LEN`] characters, every character visible,
/// not dots only. The error says what is wrong, for a 422 `detail`.
pub fn parse(raw: &str) -> Result<String, String> {
    let roll_no = lookup_key(raw);
    if roll_no.is_empty() {
        return Err("roll_no must not be empty".to_owned());
    }
    if roll_no.chars().count() > MAX_LEN {
        return Err(format!("roll_no must be at most {MAX_LEN} characters long"));
    }
    if let Some((position, c)) = roll_no.chars().enumerate().find(|&(_, c)| invisible(c)) {
        return Err(format!(
            "roll_no must not contain invisible, control or bidirectional formatting \
             characters (U+{:04X} at position {})",
            u32::from(c),
            position + 1
        ));
    }
    if roll_no.chars().all(|c| c == '.') {
        return Err("roll_no must not consist of dots only".to_owned());
    }
    Ok(roll_no)
}

/// True for a character that is not seen, or that changes how the others are shown.
fn invisible(c: char) -> bool {
    if c == ' ' {
        return false;
    }
    if c.is_whitespace() || c.is_control() || default_ignorable(c) {
        return true;
    }
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::SpaceSeparator
    )
}

/// Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt, Unicode 15):
/// code points that render as nothing, among them some that are not format characters
/// (combining grapheme joiner, Hangul fillers, variation selectors).
fn default_ignorable(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_roll_number_is_a_lookup() {
        let from_path: RollNo = serde_json::from_str("\" A\u{30a} \"").unwrap();
        assert_eq!(from_path, RollNo::lookup("\u{c5}"));
        assert_eq!(from_path.as_str(), "\u{c5}");
        // A look-up never refuses: a roll number stored before the rules stays reachable.
        assert_eq!(RollNo::lookup("..").as_str(), "..");
        assert!(RollNo::new("..").is_err());
        assert_eq!(RollNo::new(" 12 ").unwrap().into_string(), "12");
    }

    #[test]
    fn one_spelling_per_roll_number() {
        assert_eq!(parse(" 12 ").unwrap(), "12");
        assert_eq!(parse("u\u{308}").unwrap(), "\u{fc}");
        assert_eq!(parse("\u{fc}").unwrap(), "\u{fc}");
        assert_eq!(lookup_key("A\u{30a} "), "\u{c5}");
        assert_eq!(parse("10-B/2 a.1").unwrap(), "10-B/2 a.1");
        assert_eq!(parse("学号7").unwrap(), "学号7");
        assert_eq!(parse("...a").unwrap(), "...a");
    }

    #[test]
    fn invisible_and_dot_only_roll_numbers_are_refused() {
        for bad in [
            "1\u{200B}2",
            "\u{202E}21",
            "12\u{2066}",
            "1\u{200D}2",
            "1\u{AD}2",
            "1\u{FEFF}",
            "1\u{FE0F}",
            "1\u{3164}",
            "1\u{A0}2",
            "1\u{2028}2",
            "1\u{E000}",
            "1\u{7}",
            "1\t2",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("invisible"), "{bad:?}: {e}");
        }
        assert!(
            parse("1\u{200B}")
                .unwrap_err()
                .contains("U+200B at position 2")
        );
        for bad in [".", "..", " ... "] {
            assert_eq!(
                parse(bad).unwrap_err(),
                "roll_no must not consist of dots only"
            );
        }
        assert_eq!(parse("  ").unwrap_err(), "roll_no must not be empty");
        assert!(parse(&"9".repeat(33)).unwrap_err().contains("at most 32"));
        assert!(parse(&"9".repeat(32)).is_ok());
    }
}
