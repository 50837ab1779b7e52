//! The rules, as plain code without I/O: values that parse ([`ClassName`], [`ClassNote`])
//! and who a class photo marks present ([`attendance`]); one spelling per roll number
//! ([`roll_no`], kept in the `rollcall-input` crate with the other checks of what clients
//! send, so that the fuzz target builds it without the service).

pub mod attendance;
pub mod class_name;

pub use class_name::{ClassName, ClassNote};
pub use rollcall_input::roll_no;
