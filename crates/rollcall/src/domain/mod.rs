//! The rules, as plain code without I/O: values that parse ([`Email`], [`RollNo`],
//! [`StudentName`], [`ClassName`], [`ClassNote`]) and who a class photo marks present
//! ([`attendance`]); one spelling per roll number ([`roll_no`]).

pub mod attendance;
pub mod class_name;
pub mod email;
pub mod roll_no;
pub mod student_name;

pub use class_name::{ClassName, ClassNote};
pub use email::Email;
pub use roll_no::RollNo;
pub use student_name::StudentName;
