//! The rules, as plain code without I/O: values that parse ([`ClassName`], [`ClassNote`])
//! and who a class photo marks present ([`attendance`]); one spelling per roll number
//! ([`roll_no`]); how face templates are ranked and admitted ([`templates`]).

pub mod attendance;
pub mod class_name;
pub mod roll_no;
pub mod templates;

pub use class_name::{ClassName, ClassNote};
