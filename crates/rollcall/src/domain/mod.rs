//! The rules, as plain code without I/O: values that parse ([`ClassName`], [`ClassNote`])
//! and who a class photo marks present ([`attendance`]).

pub mod attendance;
pub mod class_name;

pub use class_name::{ClassName, ClassNote};
