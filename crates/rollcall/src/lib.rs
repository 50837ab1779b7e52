//! Rollcall: face-based classroom attendance.
//!
//! The folder tree reads like the system: `store` (PostgreSQL / SQLite), `kv`
//! (Redis / in-process), `mail` (SMTP / log), `auth`, `http`, and `vision`, the bridge
//! to the face engine in `crates/face`.

pub mod kv;
pub mod mail;
pub mod store;
