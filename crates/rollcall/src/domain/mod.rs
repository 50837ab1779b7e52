//! The rules, as plain code without I/O: values that parse ([`Email`], [`RollNo`],
//! [`StudentName`], [`ClassName`], [`ClassNote`]) and who a class photo marks present
//! ([`attendance`]); one spelling per roll number ([`roll_no`]); how face templates are
//! ranked and admitted ([`templates`]).
//!
//! `Email`, `RollNo` and `StudentName` (with `email`, `roll_no`, `student_name`) live in the
//! `rollcall-input` crate, with the rest of what clients send, so that the fuzz target
//! `request` builds them without the service; they are re-exported here.

pub mod attendance;
pub mod class_name;
pub mod templates;

pub use class_name::{ClassName, ClassNote};
pub use rollcall_input::{Email, RollNo, StudentName, email, roll_no, student_name};
