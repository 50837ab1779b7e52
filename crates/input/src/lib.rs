//! What Rollcall's clients send, read and checked, without the service around it: a
//! `multipart/form-data` body as the photo endpoints read it ([`read_parts`]), the `data`
//! part of an enrolment ([`parse_student_data`]), student names ([`StudentName`]), roll
//! numbers ([`RollNo`], [`roll_no`]), mail addresses ([`Email`]) and dates ([`parse_date`]).
//! The service's `domain` module re-exports the value types.
//!
//! It is a crate of its own so that the cargo-fuzz target `request` (`fuzz/`) builds it
//! alone: a handful of light dependencies instead of the service's database, mail and
//! key-value adapters. Every failure is an [`InputError`], which the service answers with a
//! 4xx (the mapping is in `rollcall::http::error`, with the other errors).

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod date;
pub mod email;
mod multipart;
pub mod roll_no;
mod student;
pub mod student_name;

pub use date::parse_date;
pub use email::Email;
pub use multipart::read_parts;
pub use roll_no::RollNo;
pub use student::{StudentData, clean_field, parse_student_data};
pub use student_name::StudentName;

/// Why what a client sent cannot be used; the message says what is wrong, for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The body is not of the expected type (HTTP 415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is larger than the limit (HTTP 413).
    #[error("Request body is too large")]
    TooLarge,
    /// The body cannot be parsed at all (HTTP 400).
    #[error("{0}")]
    Malformed(String),
    /// A value is missing or invalid (HTTP 422).
    #[error("{0}")]
    Invalid(String),
}
