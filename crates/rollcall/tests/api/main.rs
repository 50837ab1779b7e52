//! The service's integration tests in one binary: one link instead of fourteen keeps CI
//! fast. Each module is one area; run one with `cargo test -p rollcall --test api students::`.

mod common;
mod support;

mod accounts;
mod accounts_redis_outage;
mod attendance;
mod classes;
mod cli;
mod hardening;
mod instances;
mod kv;
mod mail;
mod openapi;
mod retention;
mod startup;
mod store;
mod students;
mod web;
