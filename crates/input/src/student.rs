//! The `data` part of an enrolment (`POST /addStudent`, `POST /classes/{id}/students`).

use serde::Deserialize;

use crate::{InputError, RollNo, StudentName};

/// The `data` part of an enrolment: a JSON object.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"name": "Ada Lovelace", "roll_no": "12"}))
)]
pub struct StudentData {
    /// Full name (1 to 100 characters, trimmed).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// Roll number (1 to 32 characters, trimmed, normalised to NFC), unique per teacher; no
    /// invisible, control or bidirectional formatting characters, not only dots.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 32))]
    pub roll_no: String,
}

/// Trims and checks a text field: non-empty, at most `max` characters, no control
/// characters.
pub fn clean_field(what: &str, value: &str, max: usize) -> Result<String, InputError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(InputError::Invalid(format!("{what} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(InputError::Invalid(format!(
            "{what} must be at most {max} characters long"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(InputError::Invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(value.to_owned())
}

/// The `data` part of an enrolment: a JSON object with `name` and `roll_no`, both checked
/// (the error says what is wrong).
pub fn parse_student_data(data: &[u8]) -> Result<(StudentName, RollNo), InputError> {
    let data: StudentData = serde_json::from_slice(data).map_err(|e| {
        InputError::Invalid(format!(
            "The `data` field must be a JSON object with `name` and `roll_no`: {e}"
        ))
    })?;
    let name = StudentName::parse(&data.name).map_err(InputError::Invalid)?;
    let roll_no = RollNo::new(&data.roll_no).map_err(InputError::Invalid)?;
    Ok((name, roll_no))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_roll_number_are_cleaned_and_checked() {
        let (name, roll) =
            parse_student_data(br#"{"name": " Ada Lovelace ", "roll_no": " u\u0308 "}"#).unwrap();
        assert_eq!((name.as_str(), roll.as_str()), ("Ada Lovelace", "\u{fc}"));
        for (bad, says) in [
            (&br#"[null, null]"#[..], "must be a JSON object"),
            (br#"{"name": "Ada"}"#, "must be a JSON object"),
            (
                br#"{"name": " ", "roll_no": "1"}"#,
                "name must not be empty",
            ),
            (
                br#"{"name": "A\u0007", "roll_no": "1"}"#,
                "control characters",
            ),
            (br#"{"name": "Ada", "roll_no": ".."}"#, "dots only"),
        ] {
            match parse_student_data(bad) {
                Err(InputError::Invalid(m)) => assert!(m.contains(says), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        let long = format!(r#"{{"name": "{}", "roll_no": "1"}}"#, "a".repeat(101));
        assert!(parse_student_data(long.as_bytes()).is_err());
    }
}
