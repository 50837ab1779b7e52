//! Rollcall's face engine. Knows nothing of HTTP or databases.

pub mod fetch;
