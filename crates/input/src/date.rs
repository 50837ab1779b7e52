//! Dates in requests: exactly `YYYY-MM-DD`.

use chrono::NaiveDate;

use crate::InputError;

/// Parses a `YYYY-MM-DD` date; `what` names the value in the error.
pub fn parse_date(what: &str, value: &str) -> Result<NaiveDate, InputError> {
    let invalid = || {
        InputError::Invalid(format!(
            "{what} must be a date like 2024-09-30, got {value:?}"
        ))
    };
    // Exactly `YYYY-MM-DD` (RFC 3339 full-date, as the OpenAPI document says): chrono
    // alone would also take `2024-9-2` or a sign.
    let shape = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return Err(invalid());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_dates_on_the_calendar() {
        assert_eq!(
            parse_date("date", "2024-02-29").unwrap(),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        );
        for bad in [
            "2023-02-29",
            "2024-9-02",
            "+2024-09-02",
            "2024-09-02 ",
            "",
            "２０２４-09-02",
        ] {
            let e = parse_date("date", bad).unwrap_err();
            assert!(
                matches!(&e, InputError::Invalid(m) if m.starts_with("date must be")),
                "{bad:?}: {e}"
            );
        }
    }
}
