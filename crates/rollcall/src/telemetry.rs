//! Logging: a `tracing` subscriber (text or JSON) and the per-request span.
//!
//! Request spans carry the method, the path (never the query string), and the
//! `x-request-id`; headers and bodies are never logged, so passwords, one-time codes,
//! tokens and `Authorization` stay out of the logs.
//!
//! Each answered request writes one compact access line at `info` under the target
//! `rollcall::access` (`GET /healthz 200 0.2ms`): `ROLLCALL_LOG=info,rollcall::access=warn`
//! turns it off (or `=debug` keeps it only where the filter says so). Colour codes are written
//! only when stderr is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use axum::http::{Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnRequest, MakeSpan, OnResponse, TraceLayer};
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// The subscriber could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `ROLLCALL_LOG` is not a valid filter.
    #[error("invalid log filter {filter:?}: {reason}")]
    Filter {
        /// The filter text.
        filter: String,
        /// The parser's message.
        reason: String,
    },
    /// A global subscriber was already installed.
    #[error("cannot install the log subscriber: {0}")]
    Install(String),
}

/// Installs the global subscriber writing to stderr.
pub fn init(format: LogFormat, filter: &str) -> Result<(), TelemetryError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|e| TelemetryError::Filter {
        filter: filter.to_owned(),
        reason: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_span_events(FmtSpan::NONE);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    result.map_err(|e| TelemetryError::Install(e.to_string()))
}

/// Builds the `http_request` span: method, path and request id only.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> tracing::Span {
        let span = tracing::info_span!(
            "http_request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = tracing::field::Empty,
        );
        // Only a request id the client sent is worth the bytes.
        if let Some(id) = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
        {
            span.record("request_id", tracing::field::display(id));
        }
        span
    }
}

/// One compact access line per answered request: `METHOD /path STATUS 1.2ms`, with the
/// request id when the client sent one. The method and path are taken at request time.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLog;

impl<B> OnResponse<B> for AccessLog {
    fn on_response(self, response: &Response<B>, latency: Duration, _span: &tracing::Span) {
        let ms = latency.as_secs_f64() * 1e3;
        tracing::info!(
            target: "rollcall::access",
            "{} {ms:.1}ms",
            response.status().as_u16()
        );
    }
}

/// The request/response trace layer used by the router.
pub fn trace_layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, DefaultOnRequest, AccessLog> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(AccessLog)
}
