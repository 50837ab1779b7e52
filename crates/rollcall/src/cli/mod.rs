//! Subcommands of the `rollcall` binary beyond `serve` and `migrate`.

pub mod bench;
pub mod models;
pub mod reembed;
