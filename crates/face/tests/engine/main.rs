//! The face engine's integration tests in one binary: each module is one area; run one with
//! `cargo test -p rollcall-face --test engine groups:: -- --nocapture`.

mod common;

mod alternatives;
mod classroom;
mod decode;
mod enrol;
#[cfg(feature = "fetch")]
mod fetch;
mod groups;
mod hostile;
mod recognition;
mod templates;
