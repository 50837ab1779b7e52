//! Test helpers shared by Rollcall's test suites (dev-only).
//!
//! - [`smtp`]: a small real SMTP server on 127.0.0.1 that records what it receives and
//!   can simulate failures;
//! - [`postgres`]: a fresh PostgreSQL database per test, dropped afterwards;
//! - [`redis`]: the test Redis URL and unique key prefixes;
//! - [`paths`]: where the ONNX models and the labelled photos are;
//! - [`ports`]: ports bound once and kept (a closed port that stays closed);
//! - [`photo_set`]: the pinned photo set (`MANIFEST.tsv`) the accuracy figures hold on;
//! - [`proxy`]: a TCP proxy that can be switched off, to simulate outages.
//!
//! When something a test needs is missing, these helpers panic with a message saying how
//! to provide it: tests fail, they never skip silently.

pub mod paths;
pub mod photo_set;
pub mod ports;
pub mod postgres;
pub mod proxy;
pub mod redis;
pub mod smtp;
