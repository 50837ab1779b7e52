//! Typed, validated settings.
//!
//! Three layers, later ones winning: built-in defaults, an optional TOML file named by
//! `ROLLCALL_CONFIG` (keys are the setting names below in snake case, e.g. `bind`,
//! `database_url`), and environment variables / command-line flags (`ROLLCALL_*`). The
//! raw layer is [`SettingsLayer`]; [`Settings::from_layer`] validates it into [`Settings`].
//! Tests build [`Settings`] directly with [`Settings::with_data_dir`].

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rand::RngCore;
use serde::Deserialize;

use crate::http::client_ip::IpNet;

/// Smallest accepted JWT signing secret, in bytes.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Name of the generated JWT secret file inside the data directory.
pub const JWT_SECRET_FILE: &str = "jwt-secret";

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file named by `ROLLCALL_CONFIG`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML config file is not valid.
    #[error("invalid config file {path}: {source}")]
    ParseFile {
        /// The file named by `ROLLCALL_CONFIG`.
        path: PathBuf,
        /// The parse error (names the key and line).
        source: Box<toml::de::Error>,
    },
    /// A setting has an unusable value.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The environment variable of the setting.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The JWT secret file could not be read or written.
    #[error("JWT secret file {path}: {source}")]
    SecretFile {
        /// `<data dir>/jwt-secret`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A secret string: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// One raw layer of settings: every field optional. Parsed from the environment and the
/// command line by clap, and from the TOML config file by serde.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct SettingsLayer {
    /// Address to listen on [default: 127.0.0.1:8000].
    #[arg(long, env = "ROLLCALL_BIND", global = true)]
    pub bind: Option<SocketAddr>,
    /// Directory for the SQLite database and the generated JWT secret [default: ./data].
    #[arg(long, env = "ROLLCALL_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: `sqlite://<path>` (created on first run) or `postgres://user@host/db`
    /// [default: sqlite://<data dir>/rollcall.db].
    #[arg(
        long,
        env = "ROLLCALL_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Largest number of pooled database connections [default: 10].
    #[arg(long, env = "ROLLCALL_DATABASE_MAX_CONNECTIONS", global = true)]
    pub database_max_connections: Option<u32>,
    /// Redis URL (`redis://host:port/db`) for one-time codes, throttles and revoked tokens;
    /// unset = in-process store (only correct with a single instance).
    #[arg(
        long,
        env = "ROLLCALL_REDIS_URL",
        global = true,
        hide_env_values = true
    )]
    pub redis_url: Option<String>,
    /// Prefix of every key written to the key-value store [default: rollcall:].
    #[arg(long, env = "ROLLCALL_KV_PREFIX", global = true)]
    pub kv_prefix: Option<String>,
    /// Seconds one database or key-value call may take before the request fails with 503
    /// [default: 5].
    #[arg(long, env = "ROLLCALL_BACKEND_TIMEOUT_SECONDS", global = true)]
    pub backend_timeout_seconds: Option<u64>,
    /// SMTP URL (`smtp://user:pass@host:587`, `smtps://...`); unset = mails are written to
    /// the log instead of being sent.
    #[arg(long, env = "ROLLCALL_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of outgoing mail [default: Rollcall <no-reply@localhost>].
    #[arg(long, env = "ROLLCALL_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Seconds to wait for the mail server before answering 503 [default: 10].
    #[arg(long, env = "ROLLCALL_MAIL_TIMEOUT_SECONDS", global = true)]
    pub mail_timeout_seconds: Option<u64>,
    /// HS256 signing secret for access tokens, at least 32 bytes; unset = a random secret
    /// generated once and kept in `<data dir>/jwt-secret` (mode 0600).
    #[arg(
        long,
        env = "ROLLCALL_JWT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub jwt_secret: Option<Secret>,
    /// Lifetime of access tokens in minutes [default: 60].
    #[arg(long, env = "ROLLCALL_TOKEN_TTL_MINUTES", global = true)]
    pub token_ttl_minutes: Option<u64>,
    /// Comma-separated origins allowed by CORS, e.g. `https://app.example.org`; `*` allows
    /// any origin; unset = no cross-origin access.
    #[arg(long, env = "ROLLCALL_CORS_ORIGINS", global = true)]
    pub cors_origins: Option<String>,
    /// Mark the web app's session cookie `Secure` (sent over HTTPS only). Without it, the
    /// cookie is `Secure` when a trusted proxy says the request came over HTTPS
    /// (`X-Forwarded-Proto: https`) [default: false].
    #[arg(long, env = "ROLLCALL_COOKIE_SECURE", global = true,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub cookie_secure: Option<bool>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "ROLLCALL_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Log filter in `tracing` syntax, e.g. `info,rollcall=debug` [default: info].
    #[arg(long, env = "ROLLCALL_LOG", global = true)]
    pub log: Option<String>,
    /// Seconds a one-time code stays valid [default: 300].
    #[arg(long, env = "ROLLCALL_OTP_TTL_SECONDS", global = true)]
    pub otp_ttl_seconds: Option<u64>,
    /// Seconds between two codes sent to the same address [default: 60].
    #[arg(long, env = "ROLLCALL_OTP_COOLDOWN_SECONDS", global = true)]
    pub otp_cooldown_seconds: Option<u64>,
    /// Wrong guesses after which a one-time code is void [default: 5].
    #[arg(long, env = "ROLLCALL_OTP_MAX_ATTEMPTS", global = true)]
    pub otp_max_attempts: Option<u32>,
    /// Failed logins per account within the window before logins are refused with 429
    /// [default: 5].
    #[arg(long, env = "ROLLCALL_LOGIN_MAX_FAILURES_PER_ACCOUNT", global = true)]
    pub login_max_failures_per_account: Option<u32>,
    /// Failed logins per client IP within the window before logins are refused with 429
    /// [default: 20].
    #[arg(long, env = "ROLLCALL_LOGIN_MAX_FAILURES_PER_IP", global = true)]
    pub login_max_failures_per_ip: Option<u32>,
    /// Reverse proxies whose `X-Forwarded-For` names the client, as a comma list of addresses
    /// or blocks (e.g. `127.0.0.1,10.0.0.0/8`); used for per-client limits [default: none,
    /// the connection's address is the client].
    #[arg(long, env = "ROLLCALL_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// Length of the failed-login window in seconds [default: 900].
    #[arg(long, env = "ROLLCALL_LOGIN_WINDOW_SECONDS", global = true)]
    pub login_window_seconds: Option<u64>,
    /// Largest accepted JSON request body in bytes [default: 65536].
    #[arg(long, env = "ROLLCALL_JSON_BODY_LIMIT_BYTES", global = true)]
    pub json_body_limit_bytes: Option<usize>,

    // --- face recognition and attendance ---
    /// Largest accepted photo upload in bytes [default: 15728640 (15 MiB)].
    #[arg(long, env = "ROLLCALL_MAX_UPLOAD_BYTES", global = true)]
    pub max_upload_bytes: Option<usize>,
    /// IANA time zone that decides which day "today" is for attendance, e.g.
    /// `Europe/Paris` [default: UTC].
    #[arg(long, env = "ROLLCALL_TIMEZONE", global = true)]
    pub timezone: Option<String>,
    /// Directory holding the face model files [default: ./models].
    #[arg(long, env = "ROLLCALL_MODEL_DIR", global = true)]
    pub model_dir: Option<PathBuf>,
    /// Face detector model id from the model manifest [default: scrfd_2.5g].
    #[arg(long, env = "ROLLCALL_DETECTOR", global = true)]
    pub detector: Option<String>,
    /// Face recognizer model id from the model manifest [default: faceplugin_fr_feature_512].
    #[arg(long, env = "ROLLCALL_RECOGNIZER", global = true)]
    pub recognizer: Option<String>,
    /// Photos analysed at the same time [default: 1].
    #[arg(long, env = "ROLLCALL_INFERENCE_WORKERS", global = true)]
    pub inference_workers: Option<usize>,
    /// ONNX Runtime threads per model [default: number of cores / workers].
    #[arg(long, env = "ROLLCALL_INFERENCE_THREADS", global = true)]
    pub inference_threads: Option<usize>,
    /// Photos that may wait for a worker; beyond it requests get 503 [default: 8].
    #[arg(long, env = "ROLLCALL_INFERENCE_QUEUE", global = true)]
    pub inference_queue: Option<usize>,
    /// Seconds a photo may wait for a worker before the request gets 503 [default: 30].
    #[arg(long, env = "ROLLCALL_INFERENCE_QUEUE_TIMEOUT_SECONDS", global = true)]
    pub inference_queue_timeout_seconds: Option<u64>,
    /// Minimum cosine similarity for a face to match a student, who is then marked present
    /// [default: the recognizer's `present_threshold` from the model manifest].
    #[arg(long, env = "ROLLCALL_MATCH_THRESHOLD", global = true)]
    pub match_threshold: Option<f32>,
    /// Minimum cosine similarity for a face below the match threshold to be reported with the
    /// student it most likely is, for the teacher to confirm; never marked by itself
    /// [default: the recognizer's `threshold` from the model manifest, its FAR 1e-3 point].
    #[arg(long, env = "ROLLCALL_REVIEW_THRESHOLD", global = true)]
    pub review_threshold: Option<f32>,
    /// Minimum similarity gap between the matched student and the next best [default: 0.05].
    #[arg(long, env = "ROLLCALL_MATCH_MARGIN", global = true)]
    pub match_margin: Option<f32>,
    /// Similarity at or above which a new student's photo is refused as a face already
    /// enrolled under another roll number [default: 0.5, never below the match threshold].
    #[arg(long, env = "ROLLCALL_DUPLICATE_THRESHOLD", global = true)]
    pub duplicate_threshold: Option<f32>,

    // --- hardening under hostile load (issue 10); parsed by `hardening_settings` ---
    /// Password hashes (argon2id, about 19 MiB each) computed at the same time; more
    /// logins wait [default: the number of cores, at most 4].
    #[arg(long, env = "ROLLCALL_PASSWORD_HASH_CONCURRENCY", global = true)]
    pub password_hash_concurrency: Option<usize>,
    /// Milliseconds a login may wait for a hashing slot before it gets 503 with
    /// `Retry-After` [default: 2000].
    #[arg(long, env = "ROLLCALL_PASSWORD_HASH_WAIT_MS", global = true)]
    pub password_hash_wait_ms: Option<u64>,
    /// Seconds a photo upload's body may take to arrive before the request gets 408
    /// [default: 30].
    #[arg(long, env = "ROLLCALL_UPLOAD_READ_TIMEOUT_SECONDS", global = true)]
    pub upload_read_timeout_seconds: Option<u64>,
    /// Photo uploads one teacher may have in progress at once; more get 429 [default: 2].
    #[arg(long, env = "ROLLCALL_UPLOADS_PER_TEACHER", global = true)]
    pub uploads_per_teacher: Option<usize>,
    /// Seconds a client may take to send a request's headers before the connection is
    /// closed [default: 10].
    #[arg(long, env = "ROLLCALL_HEADER_READ_TIMEOUT_SECONDS", global = true)]
    pub header_read_timeout_seconds: Option<u64>,
    /// Client connections served at once; further connections wait in the listen backlog.
    /// Keep it well under `ulimit -n` [default: 400].
    #[arg(long, env = "ROLLCALL_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// Seconds in-flight requests may take to finish after SIGTERM / Ctrl-C before their
    /// connections are cut [default: 30].
    #[arg(long, env = "ROLLCALL_SHUTDOWN_GRACE_SECONDS", global = true)]
    pub shutdown_grace_seconds: Option<u64>,
    /// One-time codes sent to one address per 24 hours (both purposes) [default: 10].
    #[arg(long, env = "ROLLCALL_OTP_MAX_SENDS_PER_DAY", global = true)]
    pub otp_max_sends_per_day: Option<u32>,
    /// Code guesses checked for one address per 24 hours, whatever the number of codes
    /// [default: 20].
    #[arg(long, env = "ROLLCALL_OTP_MAX_GUESSES_PER_DAY", global = true)]
    pub otp_max_guesses_per_day: Option<u32>,
    /// Code guesses checked from one client address per 24 hours [default: 50].
    #[arg(
        long,
        env = "ROLLCALL_OTP_MAX_GUESSES_PER_CLIENT_PER_DAY",
        global = true
    )]
    pub otp_max_guesses_per_client_per_day: Option<u32>,
}

impl SettingsLayer {
    /// Reads a TOML config file (keys as the fields of this struct).
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::ParseFile {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Fields set in `self` win; the others come from `lower`.
    pub fn or(self, lower: Self) -> Self {
        Self {
            bind: self.bind.or(lower.bind),
            data_dir: self.data_dir.or(lower.data_dir),
            database_url: self.database_url.or(lower.database_url),
            database_max_connections: self
                .database_max_connections
                .or(lower.database_max_connections),
            redis_url: self.redis_url.or(lower.redis_url),
            kv_prefix: self.kv_prefix.or(lower.kv_prefix),
            backend_timeout_seconds: self
                .backend_timeout_seconds
                .or(lower.backend_timeout_seconds),
            smtp_url: self.smtp_url.or(lower.smtp_url),
            mail_from: self.mail_from.or(lower.mail_from),
            mail_timeout_seconds: self.mail_timeout_seconds.or(lower.mail_timeout_seconds),
            jwt_secret: self.jwt_secret.or(lower.jwt_secret),
            token_ttl_minutes: self.token_ttl_minutes.or(lower.token_ttl_minutes),
            cors_origins: self.cors_origins.or(lower.cors_origins),
            cookie_secure: self.cookie_secure.or(lower.cookie_secure),
            trusted_proxies: self.trusted_proxies.or(lower.trusted_proxies),
            log_format: self.log_format.or(lower.log_format),
            log: self.log.or(lower.log),
            otp_ttl_seconds: self.otp_ttl_seconds.or(lower.otp_ttl_seconds),
            otp_cooldown_seconds: self.otp_cooldown_seconds.or(lower.otp_cooldown_seconds),
            otp_max_attempts: self.otp_max_attempts.or(lower.otp_max_attempts),
            login_max_failures_per_account: self
                .login_max_failures_per_account
                .or(lower.login_max_failures_per_account),
            login_max_failures_per_ip: self
                .login_max_failures_per_ip
                .or(lower.login_max_failures_per_ip),
            login_window_seconds: self.login_window_seconds.or(lower.login_window_seconds),
            json_body_limit_bytes: self.json_body_limit_bytes.or(lower.json_body_limit_bytes),
            max_upload_bytes: self.max_upload_bytes.or(lower.max_upload_bytes),
            timezone: self.timezone.or(lower.timezone),
            model_dir: self.model_dir.or(lower.model_dir),
            detector: self.detector.or(lower.detector),
            recognizer: self.recognizer.or(lower.recognizer),
            inference_workers: self.inference_workers.or(lower.inference_workers),
            inference_threads: self.inference_threads.or(lower.inference_threads),
            inference_queue: self.inference_queue.or(lower.inference_queue),
            inference_queue_timeout_seconds: self
                .inference_queue_timeout_seconds
                .or(lower.inference_queue_timeout_seconds),
            match_threshold: self.match_threshold.or(lower.match_threshold),
            review_threshold: self.review_threshold.or(lower.review_threshold),
            duplicate_threshold: self.duplicate_threshold.or(lower.duplicate_threshold),
            match_margin: self.match_margin.or(lower.match_margin),
            // --- hardening (issue 10) ---
            password_hash_concurrency: self
                .password_hash_concurrency
                .or(lower.password_hash_concurrency),
            password_hash_wait_ms: self.password_hash_wait_ms.or(lower.password_hash_wait_ms),
            upload_read_timeout_seconds: self
                .upload_read_timeout_seconds
                .or(lower.upload_read_timeout_seconds),
            uploads_per_teacher: self.uploads_per_teacher.or(lower.uploads_per_teacher),
            header_read_timeout_seconds: self
                .header_read_timeout_seconds
                .or(lower.header_read_timeout_seconds),
            max_connections: self.max_connections.or(lower.max_connections),
            shutdown_grace_seconds: self.shutdown_grace_seconds.or(lower.shutdown_grace_seconds),
            otp_max_sends_per_day: self.otp_max_sends_per_day.or(lower.otp_max_sends_per_day),
            otp_max_guesses_per_day: self
                .otp_max_guesses_per_day
                .or(lower.otp_max_guesses_per_day),
            otp_max_guesses_per_client_per_day: self
                .otp_max_guesses_per_client_per_day
                .or(lower.otp_max_guesses_per_client_per_day),
        }
    }
}

/// One-time code rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpSettings {
    /// How long a code stays valid.
    pub ttl: Duration,
    /// Minimum time between two codes to the same address (and purpose).
    pub cooldown: Duration,
    /// Wrong guesses after which the code is void.
    pub max_attempts: u32,
}

/// Failed-login throttling rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginThrottleSettings {
    /// Failures per account within `window` before 429.
    pub max_failures_per_account: u32,
    /// Failures per client IP within `window` before 429.
    pub max_failures_per_ip: u32,
    /// Length of the counting window.
    pub window: Duration,
}

/// Face engine and inference pool settings.
#[derive(Debug, Clone, PartialEq)]
pub struct VisionSettings {
    /// Directory holding the model files.
    pub model_dir: PathBuf,
    /// Detector model id.
    pub detector: String,
    /// Recognizer model id.
    pub recognizer: String,
    /// Photos analysed at the same time (each on its own blocking thread).
    pub workers: usize,
    /// ONNX Runtime intra-op threads per model; None = cores / workers.
    pub threads: Option<usize>,
    /// Photos that may wait for a worker.
    pub queue: usize,
    /// How long a photo may wait for a worker.
    pub queue_timeout: Duration,
    /// Match threshold; None = the recognizer's manifest `present_threshold`.
    pub match_threshold: Option<f32>,
    /// Suggestion threshold; None = the recognizer's manifest `threshold`.
    pub review_threshold: Option<f32>,
    /// Match margin.
    pub match_margin: f32,
    /// Similarity at which an enrolment is refused as an already enrolled face. Stricter
    /// than the match threshold: a false refusal blocks a teacher with no way round it.
    pub duplicate_threshold: f32,
}

impl Default for VisionSettings {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::from("models"),
            detector: "scrfd_2.5g".to_owned(),
            recognizer: "faceplugin_fr_feature_512".to_owned(),
            workers: 1,
            threads: None,
            queue: 8,
            queue_timeout: Duration::from_secs(30),
            match_threshold: None,
            review_threshold: None,
            match_margin: 0.05,
            duplicate_threshold: 0.5,
        }
    }
}

// --- hardening under hostile load (issue 10) ---

/// Daily caps on one-time codes, against guessing (issue 10, item 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpLimits {
    /// Codes sent to one address per 24 hours (both purposes together).
    pub max_sends_per_day: u32,
    /// Guesses checked for one address per 24 hours (both purposes together).
    pub max_guesses_per_day: u32,
    /// Guesses checked from one client address per 24 hours.
    pub max_guesses_per_client_per_day: u32,
}

/// Bounds that keep the service up under hostile load: password hashing, uploads,
/// connections, shutdown, one-time codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardeningSettings {
    /// Password hashes computed at once (each holds one reused argon2 buffer).
    pub password_hash_concurrency: usize,
    /// How long a login waits for a hashing slot before 503 with `Retry-After`.
    pub password_hash_wait: Duration,
    /// Deadline for reading a photo upload's whole body (408 after it).
    pub upload_read_timeout: Duration,
    /// Photo uploads one teacher may have in progress at once (429 beyond).
    pub uploads_per_teacher: usize,
    /// Deadline for a request's headers (the connection is closed after it).
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests before cutting connections.
    pub shutdown_grace: Duration,
    /// Daily one-time code caps.
    pub otp: OtpLimits,
}

impl Default for HardeningSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            password_hash_concurrency: cores.clamp(1, 4),
            password_hash_wait: Duration::from_secs(2),
            upload_read_timeout: Duration::from_secs(30),
            uploads_per_teacher: 2,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 400,
            shutdown_grace: Duration::from_secs(30),
            otp: OtpLimits {
                max_sends_per_day: 10,
                max_guesses_per_day: 20,
                max_guesses_per_client_per_day: 50,
            },
        }
    }
}

/// The hardening part of [`Settings::from_layer`].
fn hardening_settings(layer: &SettingsLayer) -> Result<HardeningSettings, ConfigError> {
    let mut h = HardeningSettings::default();
    if let Some(n) = layer.password_hash_concurrency {
        h.password_hash_concurrency = positive("ROLLCALL_PASSWORD_HASH_CONCURRENCY", n)?;
    }
    if let Some(ms) = layer.password_hash_wait_ms {
        h.password_hash_wait =
            Duration::from_millis(positive("ROLLCALL_PASSWORD_HASH_WAIT_MS", ms)?);
    }
    if let Some(secs) = layer.upload_read_timeout_seconds {
        h.upload_read_timeout = seconds("ROLLCALL_UPLOAD_READ_TIMEOUT_SECONDS", secs)?;
    }
    if let Some(n) = layer.uploads_per_teacher {
        h.uploads_per_teacher = positive("ROLLCALL_UPLOADS_PER_TEACHER", n)?;
    }
    if let Some(secs) = layer.header_read_timeout_seconds {
        h.header_read_timeout = seconds("ROLLCALL_HEADER_READ_TIMEOUT_SECONDS", secs)?;
    }
    if let Some(n) = layer.max_connections {
        h.max_connections = positive("ROLLCALL_MAX_CONNECTIONS", n)?;
    }
    if let Some(secs) = layer.shutdown_grace_seconds {
        h.shutdown_grace = seconds("ROLLCALL_SHUTDOWN_GRACE_SECONDS", secs)?;
    }
    if let Some(n) = layer.otp_max_sends_per_day {
        h.otp.max_sends_per_day = positive("ROLLCALL_OTP_MAX_SENDS_PER_DAY", n)?;
    }
    if let Some(n) = layer.otp_max_guesses_per_day {
        h.otp.max_guesses_per_day = positive("ROLLCALL_OTP_MAX_GUESSES_PER_DAY", n)?;
    }
    if let Some(n) = layer.otp_max_guesses_per_client_per_day {
        h.otp.max_guesses_per_client_per_day =
            positive("ROLLCALL_OTP_MAX_GUESSES_PER_CLIENT_PER_DAY", n)?;
    }
    Ok(h)
}

// --- end of hardening ---

/// The validated settings of the service.
#[derive(Clone)]
pub struct Settings {
    /// Address to listen on (port 0 picks a free port).
    pub bind: SocketAddr,
    /// Directory for the SQLite database and the generated JWT secret.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// Largest number of pooled database connections.
    pub database_max_connections: u32,
    /// Redis URL; None = in-process key-value store.
    pub redis_url: Option<String>,
    /// Prefix of every key-value key (isolates instances sharing one Redis).
    pub kv_prefix: String,
    /// Bound on every single database / key-value call.
    pub backend_timeout: Duration,
    /// SMTP URL; None = log mailer.
    pub smtp_url: Option<String>,
    /// Sender of outgoing mail.
    pub mail_from: String,
    /// Bound on one mail delivery.
    pub mail_timeout: Duration,
    /// Token signing secret; None = generated file in the data directory.
    pub jwt_secret: Option<Secret>,
    /// Access token lifetime.
    pub token_ttl: Duration,
    /// Allowed CORS origins (`*` = any).
    pub cors_origins: Vec<String>,
    /// Always mark the session cookie `Secure`.
    pub cookie_secure: bool,
    /// Reverse proxies trusted to report the client's address in `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpNet>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_filter: String,
    /// One-time code rules.
    pub otp: OtpSettings,
    /// Failed-login throttling rules.
    pub login_throttle: LoginThrottleSettings,
    /// Largest accepted JSON body.
    pub json_body_limit: usize,
    /// Largest accepted photo upload, in bytes.
    pub max_upload_bytes: usize,
    /// Time zone deciding which day "today" is for attendance.
    pub timezone: Tz,
    /// Fixed "today" for attendance (tests); None = the current date in `timezone`.
    pub attendance_date: Option<NaiveDate>,
    /// Face engine and inference pool.
    pub vision: VisionSettings,
    /// Bounds under hostile load (issue 10).
    pub hardening: HardeningSettings,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("kv_prefix", &self.kv_prefix)
            .field("backend_timeout", &self.backend_timeout)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from)
            .field("mail_timeout", &self.mail_timeout)
            .field("jwt_secret", &self.jwt_secret)
            .field("token_ttl", &self.token_ttl)
            .field("cors_origins", &self.cors_origins)
            .field("cookie_secure", &self.cookie_secure)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .field("otp", &self.otp)
            .field("login_throttle", &self.login_throttle)
            .field("json_body_limit", &self.json_body_limit)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("timezone", &self.timezone)
            .field("attendance_date", &self.attendance_date)
            .field("vision", &self.vision)
            .field("hardening", &self.hardening)
            .finish()
    }
}

/// `scheme://user:pass@host/..` -> `scheme://***@host/..`, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Settings {
    /// Production defaults, with the database and secret file inside `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            database_url: default_database_url(&data_dir),
            data_dir,
            database_max_connections: 10,
            redis_url: None,
            kv_prefix: "rollcall:".to_owned(),
            backend_timeout: Duration::from_secs(5),
            smtp_url: None,
            mail_from: "Rollcall <no-reply@localhost>".to_owned(),
            mail_timeout: Duration::from_secs(10),
            jwt_secret: None,
            token_ttl: Duration::from_secs(60 * 60),
            cors_origins: Vec::new(),
            cookie_secure: false,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Text,
            log_filter: "info".to_owned(),
            otp: OtpSettings {
                ttl: Duration::from_secs(5 * 60),
                cooldown: Duration::from_secs(60),
                max_attempts: 5,
            },
            login_throttle: LoginThrottleSettings {
                max_failures_per_account: 5,
                max_failures_per_ip: 20,
                window: Duration::from_secs(15 * 60),
            },
            json_body_limit: 64 * 1024,
            max_upload_bytes: 15 * 1024 * 1024,
            timezone: Tz::UTC,
            attendance_date: None,
            vision: VisionSettings::default(),
            hardening: HardeningSettings::default(),
        }
    }

    /// Loads the settings: `env_layer` (environment and flags, already parsed by clap)
    /// over the TOML file `config_file` (the `ROLLCALL_CONFIG` setting, if set) over the
    /// defaults.
    pub fn load(env_layer: SettingsLayer, config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let file_layer = match config_file {
            Some(path) if !path.as_os_str().is_empty() => SettingsLayer::from_toml_file(path)?,
            _ => SettingsLayer::default(),
        };
        Self::from_layer(env_layer.or(file_layer))
    }

    /// Validates a merged layer; unset fields take their defaults.
    pub fn from_layer(layer: SettingsLayer) -> Result<Self, ConfigError> {
        let (max_upload_bytes, timezone, vision) = vision_settings(&layer)?;
        let hardening = hardening_settings(&layer)?;
        let data_dir = layer.data_dir.unwrap_or_else(|| PathBuf::from("./data"));
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("ROLLCALL_DATA_DIR", "must not be empty"));
        }
        let mut s = Self::with_data_dir(data_dir);
        if let Some(bind) = layer.bind {
            s.bind = bind;
        }
        if let Some(url) = layer.database_url {
            let url = url.trim().to_owned();
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(invalid(
                    "ROLLCALL_DATABASE_URL",
                    "must start with sqlite:, postgres:// or postgresql://",
                ));
            }
            s.database_url = url;
        }
        if let Some(n) = layer.database_max_connections {
            s.database_max_connections = positive("ROLLCALL_DATABASE_MAX_CONNECTIONS", n)?;
        }
        s.redis_url = non_empty(layer.redis_url);
        if let Some(url) = &s.redis_url
            && !url.starts_with("redis://")
        {
            return Err(invalid("ROLLCALL_REDIS_URL", "must start with redis://"));
        }
        if let Some(prefix) = layer.kv_prefix {
            s.kv_prefix = prefix;
        }
        if let Some(secs) = layer.backend_timeout_seconds {
            s.backend_timeout = seconds("ROLLCALL_BACKEND_TIMEOUT_SECONDS", secs)?;
        }
        s.smtp_url = non_empty(layer.smtp_url);
        if let Some(url) = &s.smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(invalid(
                "ROLLCALL_SMTP_URL",
                "must start with smtp:// or smtps://",
            ));
        }
        if let Some(from) = non_empty(layer.mail_from) {
            if !from.contains('@') {
                return Err(invalid("ROLLCALL_MAIL_FROM", "must be a mail address"));
            }
            s.mail_from = from;
        }
        if let Some(secs) = layer.mail_timeout_seconds {
            s.mail_timeout = seconds("ROLLCALL_MAIL_TIMEOUT_SECONDS", secs)?;
        }
        if let Some(secret) = layer.jwt_secret {
            check_secret_len("ROLLCALL_JWT_SECRET", secret.expose())?;
            s.jwt_secret = Some(secret);
        }
        if let Some(minutes) = layer.token_ttl_minutes {
            s.token_ttl =
                Duration::from_secs(positive("ROLLCALL_TOKEN_TTL_MINUTES", minutes)? * 60);
        }
        if let Some(origins) = layer.cors_origins {
            s.cors_origins = parse_origins(&origins)?;
        }
        if let Some(secure) = layer.cookie_secure {
            s.cookie_secure = secure;
        }
        if let Some(proxies) = layer.trusted_proxies {
            s.trusted_proxies = proxies
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse()
                        .map_err(|e| invalid("ROLLCALL_TRUSTED_PROXIES", e))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(format) = layer.log_format {
            s.log_format = format;
        }
        if let Some(filter) = non_empty(layer.log) {
            s.log_filter = filter;
        }
        if let Some(secs) = layer.otp_ttl_seconds {
            s.otp.ttl = seconds("ROLLCALL_OTP_TTL_SECONDS", secs)?;
        }
        if let Some(secs) = layer.otp_cooldown_seconds {
            s.otp.cooldown = seconds("ROLLCALL_OTP_COOLDOWN_SECONDS", secs)?;
        }
        if let Some(n) = layer.otp_max_attempts {
            s.otp.max_attempts = positive("ROLLCALL_OTP_MAX_ATTEMPTS", n)?;
        }
        if let Some(n) = layer.login_max_failures_per_account {
            s.login_throttle.max_failures_per_account =
                positive("ROLLCALL_LOGIN_MAX_FAILURES_PER_ACCOUNT", n)?;
        }
        if let Some(n) = layer.login_max_failures_per_ip {
            s.login_throttle.max_failures_per_ip =
                positive("ROLLCALL_LOGIN_MAX_FAILURES_PER_IP", n)?;
        }
        if let Some(secs) = layer.login_window_seconds {
            s.login_throttle.window = seconds("ROLLCALL_LOGIN_WINDOW_SECONDS", secs)?;
        }
        if let Some(n) = layer.json_body_limit_bytes {
            s.json_body_limit = positive("ROLLCALL_JSON_BODY_LIMIT_BYTES", n)?;
        }
        s.max_upload_bytes = max_upload_bytes;
        s.timezone = timezone;
        s.vision = vision;
        s.hardening = hardening;
        Ok(s)
    }

    /// The token signing key: the configured secret, or the one kept in
    /// `<data dir>/jwt-secret`, generated (32 random bytes, hex, mode 0600) on first use.
    pub fn resolve_jwt_secret(&self) -> Result<Vec<u8>, ConfigError> {
        if let Some(secret) = &self.jwt_secret {
            check_secret_len("ROLLCALL_JWT_SECRET", secret.expose())?;
            return Ok(secret.expose().as_bytes().to_vec());
        }
        let path = self.data_dir.join(JWT_SECRET_FILE);
        let secret_file = |source| ConfigError::SecretFile {
            path: path.clone(),
            source,
        };
        match fs::read_to_string(&path) {
            Ok(text) => {
                let secret = text.trim();
                check_secret_len("ROLLCALL_JWT_SECRET (file)", secret)?;
                Ok(secret.as_bytes().to_vec())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.data_dir).map_err(secret_file)?;
                let mut bytes = [0u8; MIN_JWT_SECRET_BYTES];
                rand::rng().fill_bytes(&mut bytes);
                let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(&path).map_err(secret_file)?;
                file.write_all(secret.as_bytes()).map_err(secret_file)?;
                file.sync_all().map_err(secret_file)?;
                tracing::warn!(
                    path = %path.display(),
                    "ROLLCALL_JWT_SECRET is not set: generated a random token secret and \
                     stored it in the data directory; set ROLLCALL_JWT_SECRET when running \
                     several instances"
                );
                Ok(secret.into_bytes())
            }
            Err(e) => Err(secret_file(e)),
        }
    }

    /// The SQLite file of the default database URL.
    pub fn default_database_path(&self) -> PathBuf {
        self.data_dir.join("rollcall.db")
    }
}

/// The face-recognition and attendance part of [`Settings::from_layer`]: the upload
/// limit, the time zone and the vision settings.
fn vision_settings(layer: &SettingsLayer) -> Result<(usize, Tz, VisionSettings), ConfigError> {
    let mut max_upload_bytes = 15 * 1024 * 1024;
    if let Some(n) = layer.max_upload_bytes {
        max_upload_bytes = positive("ROLLCALL_MAX_UPLOAD_BYTES", n)?;
    }
    let mut timezone = Tz::UTC;
    if let Some(tz) = non_empty(layer.timezone.clone()) {
        timezone = tz.parse().map_err(|_| {
            invalid(
                "ROLLCALL_TIMEZONE",
                format!("{tz:?} is not an IANA time zone name like Europe/Paris"),
            )
        })?;
    }
    let mut vision = VisionSettings::default();
    let v = &mut vision;
    if let Some(dir) = &layer.model_dir {
        if dir.as_os_str().is_empty() {
            return Err(invalid("ROLLCALL_MODEL_DIR", "must not be empty"));
        }
        v.model_dir = dir.clone();
    }
    if let Some(id) = non_empty(layer.detector.clone()) {
        v.detector = id;
    }
    if let Some(id) = non_empty(layer.recognizer.clone()) {
        v.recognizer = id;
    }
    if let Some(n) = layer.inference_workers {
        v.workers = positive("ROLLCALL_INFERENCE_WORKERS", n)?;
    }
    if let Some(n) = layer.inference_threads {
        v.threads = Some(positive("ROLLCALL_INFERENCE_THREADS", n)?);
    }
    if let Some(n) = layer.inference_queue {
        v.queue = n;
    }
    if let Some(secs) = layer.inference_queue_timeout_seconds {
        v.queue_timeout = seconds("ROLLCALL_INFERENCE_QUEUE_TIMEOUT_SECONDS", secs)?;
    }
    if let Some(t) = layer.match_threshold {
        v.match_threshold = Some(similarity("ROLLCALL_MATCH_THRESHOLD", t)?);
    }
    if let Some(t) = layer.review_threshold {
        v.review_threshold = Some(similarity("ROLLCALL_REVIEW_THRESHOLD", t)?);
    }
    if let Some(t) = layer.duplicate_threshold {
        if !(t > -1.0 && t <= 1.0) {
            return Err(invalid(
                "ROLLCALL_DUPLICATE_THRESHOLD",
                "must be between -1 and 1",
            ));
        }
        v.duplicate_threshold = t;
    }
    if let Some(m) = layer.match_margin {
        if !(0.0..1.0).contains(&m) {
            return Err(invalid("ROLLCALL_MATCH_MARGIN", "must be between 0 and 1"));
        }
        v.match_margin = m;
    }
    Ok((max_upload_bytes, timezone, vision))
}

fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("rollcall.db").display())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn positive<T: PartialOrd + Default>(name: &'static str, value: T) -> Result<T, ConfigError> {
    if value > T::default() {
        Ok(value)
    } else {
        Err(invalid(name, "must be greater than 0"))
    }
}

fn seconds(name: &'static str, secs: u64) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(positive(name, secs)?))
}

/// A cosine-similarity threshold a face can both reach and miss: strictly between -1 and 1.
fn similarity(name: &'static str, t: f32) -> Result<f32, ConfigError> {
    if t > -1.0 && t < 1.0 {
        Ok(t)
    } else {
        Err(invalid(name, "must be between -1 and 1"))
    }
}

fn check_secret_len(name: &'static str, secret: &str) -> Result<(), ConfigError> {
    if secret.len() < MIN_JWT_SECRET_BYTES {
        Err(invalid(
            name,
            format!(
                "must be at least {MIN_JWT_SECRET_BYTES} bytes long (got {}); generate one with \
                 `openssl rand -hex 32`",
                secret.len()
            ),
        ))
    } else {
        Ok(())
    }
}

fn parse_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let origin = origin.trim_end_matches('/');
            if origin == "*" || origin.starts_with("http://") || origin.starts_with("https://") {
                Ok(origin.to_owned())
            } else {
                Err(invalid(
                    "ROLLCALL_CORS_ORIGINS",
                    format!("{origin:?} is not an origin like https://example.org"),
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_production_values() {
        let s = Settings::from_layer(SettingsLayer::default()).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(s.database_url, "sqlite://./data/rollcall.db");
        assert_eq!(s.token_ttl, Duration::from_secs(3600));
        assert_eq!(s.otp.ttl, Duration::from_secs(300));
        assert_eq!(s.otp.cooldown, Duration::from_secs(60));
        assert_eq!(s.otp.max_attempts, 5);
        assert_eq!(s.login_throttle.max_failures_per_account, 5);
        assert_eq!(s.login_throttle.max_failures_per_ip, 20);
        assert!(s.redis_url.is_none() && s.smtp_url.is_none());
    }

    #[test]
    fn short_secret_is_refused() {
        let layer = SettingsLayer {
            jwt_secret: Some(Secret::new("too-short")),
            ..Default::default()
        };
        let err = Settings::from_layer(layer).unwrap_err().to_string();
        assert!(err.contains("ROLLCALL_JWT_SECRET"), "{err}");
        assert!(!err.contains("too-short"), "the secret leaked: {err}");
    }

    #[test]
    fn upper_layer_wins_and_values_are_validated() {
        let env = SettingsLayer {
            token_ttl_minutes: Some(5),
            ..Default::default()
        };
        let file: SettingsLayer = toml::from_str(
            "token_ttl_minutes = 30\ncors_origins = \"https://a.org, http://b.org/\"",
        )
        .unwrap();
        let s = Settings::from_layer(env.or(file)).unwrap();
        assert_eq!(s.token_ttl, Duration::from_secs(300));
        assert_eq!(s.cors_origins, ["https://a.org", "http://b.org"]);

        assert!(toml::from_str::<SettingsLayer>("no_such_key = 1").is_err());
        let bad = SettingsLayer {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        assert!(Settings::from_layer(bad).is_err());
        let zero = SettingsLayer {
            otp_ttl_seconds: Some(0),
            ..Default::default()
        };
        assert!(Settings::from_layer(zero).is_err());
    }

    #[test]
    fn generated_secret_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::with_data_dir(dir.path().join("nested"));
        let first = s.resolve_jwt_secret().unwrap();
        assert!(first.len() >= MIN_JWT_SECRET_BYTES);
        assert_eq!(s.resolve_jwt_secret().unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("nested").join(JWT_SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn vision_settings_are_validated() {
        let s = Settings::from_layer(SettingsLayer::default()).unwrap();
        assert_eq!(s.max_upload_bytes, 15 * 1024 * 1024);
        assert_eq!(s.timezone, Tz::UTC);
        assert_eq!(s.vision.workers, 1);
        let layer = SettingsLayer {
            timezone: Some("Asia/Kolkata".into()),
            inference_workers: Some(2),
            ..Default::default()
        };
        let s = Settings::from_layer(layer).unwrap();
        assert_eq!(s.timezone, chrono_tz::Asia::Kolkata);
        assert_eq!(s.vision.workers, 2);
        for bad in [
            SettingsLayer {
                timezone: Some("Mars/Olympus".into()),
                ..Default::default()
            },
            SettingsLayer {
                inference_workers: Some(0),
                ..Default::default()
            },
            SettingsLayer {
                match_threshold: Some(1.5),
                ..Default::default()
            },
            SettingsLayer {
                review_threshold: Some(-3.0),
                ..Default::default()
            },
            SettingsLayer {
                trusted_proxies: Some("10.0.0.0/8, proxy.local".into()),
                ..Default::default()
            },
        ] {
            assert!(Settings::from_layer(bad).is_err());
        }
    }

    #[test]
    fn debug_redacts_credentials() {
        let mut s = Settings::with_data_dir("/tmp/x");
        s.database_url = "postgres://u:hunter2@db/rollcall".into();
        s.jwt_secret = Some(Secret::new("x".repeat(40)));
        let text = format!("{s:?}");
        assert!(
            !text.contains("hunter2") && !text.contains(&"x".repeat(40)),
            "{text}"
        );
    }
}
