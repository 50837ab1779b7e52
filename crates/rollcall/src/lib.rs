//! Rollcall: face-based classroom attendance.
//!
//! The folder tree reads like the system: `store` (PostgreSQL / SQLite), `kv`
//! (Redis / in-process), `mail` (SMTP / log), `auth`, `http`, and `vision`, the bridge
//! to the face engine in `crates/face`; `domain` holds the rules as plain code (class
//! names, who a class photo marks present). `config` turns the environment into typed
//! settings, `app` wires everything into a server, and `telemetry` sets up logging.
//! Every backend bounds its own calls: the SQL pool's acquire and statement timeouts,
//! Redis per command, the mailer per delivery.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod kv;
pub mod mail;
pub mod store;
pub mod telemetry;
pub mod vision;
