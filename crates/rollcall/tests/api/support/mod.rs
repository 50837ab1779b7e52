//! Helpers shared by several test modules.

pub mod classroom;
pub mod process;
