//! Typed, validated settings.
//!
//! Three layers, later ones winning: the defaults (all in [`Settings::with_data_dir`]), an
//! optional TOML file named by `ROLLCALL_CONFIG` (keys are the setting names in snake case,
//! e.g. `bind`, `database_url`), and environment variables / command-line flags
//! (`ROLLCALL_*`, parsed by clap). `figment` merges the file and the environment into one
//! [`SettingsLayer`]; [`Settings::from_layer`] checks each value and fills in the defaults.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use ipnet::IpNet;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Smallest accepted JWT signing secret, in bytes.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Name of the generated JWT secret file inside the data directory.
pub const JWT_SECRET_FILE: &str = "jwt-secret";

/// Name of the generated data key file (face crops' encryption key) inside the data
/// directory.
pub const DATA_KEY_FILE: &str = "data-key";

/// Length of the data key in bytes.
pub const DATA_KEY_BYTES: usize = 32;

/// Face templates a student may have when `ROLLCALL_FACE_TEMPLATES_PER_STUDENT` is unset.
pub const DEFAULT_TEMPLATES_PER_STUDENT: usize = 5;

/// A data key from its 64 hexadecimal digits; the error says what is wrong, never the key.
pub fn parse_data_key(text: &str) -> Result<[u8; DATA_KEY_BYTES], String> {
    let bytes = hex::decode(text.trim()).map_err(|_| {
        "must be 64 hexadecimal digits (generate one with `openssl rand -hex 32`)".to_owned()
    })?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "must be {DATA_KEY_BYTES} bytes (64 hexadecimal digits), got {} bytes; generate \
             one with `openssl rand -hex 32`",
            b.len()
        )
    })
}

/// The model folder when neither `ROLLCALL_MODEL_DIR` nor `--model-dir` is given.
pub const DEFAULT_MODEL_DIR: &str = "models";

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML config file could not be read, or a value has the wrong type (the message
    /// names the key and the file).
    #[error("cannot load the settings: {0}")]
    Load(Box<figment::Error>),
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
    /// The data key file could not be read or written.
    #[error("data key file {path}: {source}")]
    DataKeyFile {
        /// `<data dir>/data-key`.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A secret string: `Debug` never prints it and its memory is wiped on drop (`secrecy`).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret value; do not log it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A trusted reverse proxy: an address block (`10.0.0.0/8`, `fd00::/8`) or one address
/// (`127.0.0.1`). IPv4-mapped IPv6 addresses count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(pub IpNet);

impl ProxyNet {
    /// True when `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| {
                text.parse::<IpAddr>()
                    .map(|ip| IpNet::from(ip.to_canonical()))
            })
            .map(Self)
            .map_err(|_| format!("{text:?} is not an IP address or block like 10.0.0.0/8"))
    }
}

/// One raw layer of settings, every field optional: parsed from the environment and the
/// command line by clap, and from the TOML config file by figment. Each doc comment is the
/// `--help` text; the defaults it names are those of [`Settings::with_data_dir`].
#[derive(Clone, Default, Serialize, Deserialize, clap::Args)]
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
    pub database_max_connections: Option<NonZeroU32>,
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
    pub backend_timeout_seconds: Option<NonZeroU64>,
    /// SMTP URL (`smtp://user:pass@host:587`, `smtp+starttls://...`, `smtps://...`); unset =
    /// mails are written to the log instead of being sent.
    #[arg(long, env = "ROLLCALL_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// PEM file of CA certificates trusted for the SMTP server's certificate besides the
    /// public (Mozilla) roots, e.g. a relay with a private CA [default: none].
    #[arg(long, env = "ROLLCALL_SMTP_CA_FILE", global = true)]
    pub smtp_ca_file: Option<PathBuf>,
    /// Sender address of outgoing mail [default: Rollcall <no-reply@localhost>].
    #[arg(long, env = "ROLLCALL_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Seconds to wait for the mail server before answering 503 [default: 10].
    #[arg(long, env = "ROLLCALL_MAIL_TIMEOUT_SECONDS", global = true)]
    pub mail_timeout_seconds: Option<NonZeroU64>,
    /// Without ROLLCALL_SMTP_URL, allow mail (one-time codes included) to go to the log
    /// although PostgreSQL or Redis is configured; without it such a server refuses to
    /// start. The embedded defaults (SQLite, in-process store) always log, with a warning
    /// [default: false].
    #[arg(long, env = "ROLLCALL_MAIL_TO_LOG", global = true)]
    pub mail_to_log: Option<bool>,
    /// HS256 signing secret for access tokens, at least 32 bytes; unset = a random secret
    /// generated once and kept in `<data dir>/jwt-secret` (mode 0600).
    #[arg(
        long,
        env = "ROLLCALL_JWT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
    /// Key that encrypts the stored face crops (XChaCha20-Poly1305): 64 hexadecimal digits
    /// (`openssl rand -hex 32`); unset = a random key generated once and kept in
    /// `<data dir>/data-key` (mode 0600). Losing it makes the stored crops unreadable.
    #[arg(long, env = "ROLLCALL_DATA_KEY", global = true, hide_env_values = true)]
    pub data_key: Option<String>,
    /// Keep each face template's aligned face crop (112x112 JPEG, encrypted) for thumbnails
    /// and model upgrades; `false` keeps no crops at all (thumbnails are then 404 and a
    /// model change needs re-enrolment) [default: true].
    #[arg(long, env = "ROLLCALL_KEEP_FACE_CROPS", global = true)]
    pub keep_face_crops: Option<bool>,
    /// Face templates (photos) a student may have [default: 5].
    #[arg(long, env = "ROLLCALL_FACE_TEMPLATES_PER_STUDENT", global = true)]
    pub face_templates_per_student: Option<NonZeroUsize>,
    /// A photo added to a student is refused as another person when its best similarity to
    /// the student's templates is below this [default: the review threshold minus 0.1].
    #[arg(long, env = "ROLLCALL_SAME_PERSON_THRESHOLD", global = true)]
    pub same_person_threshold: Option<f32>,
    /// Lifetime of access tokens in minutes [default: 60].
    #[arg(long, env = "ROLLCALL_TOKEN_TTL_MINUTES", global = true)]
    pub token_ttl_minutes: Option<NonZeroU64>,
    /// Comma-separated origins allowed by CORS, e.g. `https://app.example.org`; `*` allows
    /// any origin; unset = no cross-origin access.
    #[arg(long, env = "ROLLCALL_CORS_ORIGINS", global = true)]
    pub cors_origins: Option<String>,
    /// Mark the web app's session cookie `Secure` (sent over HTTPS only). Without it, the
    /// cookie is `Secure` when a trusted proxy says the request came over HTTPS
    /// (`X-Forwarded-Proto: https`) [default: false].
    #[arg(long, env = "ROLLCALL_COOKIE_SECURE", global = true)]
    pub cookie_secure: Option<bool>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "ROLLCALL_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Log filter in `tracing` syntax, e.g. `info,rollcall=debug` [default: info].
    #[arg(long, env = "ROLLCALL_LOG", global = true)]
    pub log: Option<String>,
    /// Seconds a one-time code stays valid [default: 300].
    #[arg(long, env = "ROLLCALL_OTP_TTL_SECONDS", global = true)]
    pub otp_ttl_seconds: Option<NonZeroU64>,
    /// Seconds between two codes sent to the same address [default: 60].
    #[arg(long, env = "ROLLCALL_OTP_COOLDOWN_SECONDS", global = true)]
    pub otp_cooldown_seconds: Option<NonZeroU64>,
    /// Wrong guesses after which a one-time code is void [default: 5].
    #[arg(long, env = "ROLLCALL_OTP_MAX_ATTEMPTS", global = true)]
    pub otp_max_attempts: Option<NonZeroU32>,
    /// Failed logins per account within the window before logins are refused with 429
    /// [default: 5].
    #[arg(long, env = "ROLLCALL_LOGIN_MAX_FAILURES_PER_ACCOUNT", global = true)]
    pub login_max_failures_per_account: Option<NonZeroU32>,
    /// Failed logins per client IP within the window before logins are refused with 429
    /// [default: 20].
    #[arg(long, env = "ROLLCALL_LOGIN_MAX_FAILURES_PER_IP", global = true)]
    pub login_max_failures_per_ip: Option<NonZeroU32>,
    /// Reverse proxies whose `X-Forwarded-For` names the client, as a comma list of addresses
    /// or blocks (e.g. `127.0.0.1,10.0.0.0/8`); used for per-client limits [default: none,
    /// the connection's address is the client].
    #[arg(long, env = "ROLLCALL_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// Length of the failed-login window in seconds [default: 900].
    #[arg(long, env = "ROLLCALL_LOGIN_WINDOW_SECONDS", global = true)]
    pub login_window_seconds: Option<NonZeroU64>,
    /// Largest accepted JSON request body in bytes [default: 65536].
    #[arg(long, env = "ROLLCALL_JSON_BODY_LIMIT_BYTES", global = true)]
    pub json_body_limit_bytes: Option<NonZeroUsize>,

    // --- face recognition and attendance ---
    /// Largest accepted photo upload in bytes [default: 15728640 (15 MiB)].
    #[arg(long, env = "ROLLCALL_MAX_UPLOAD_BYTES", global = true)]
    pub max_upload_bytes: Option<NonZeroUsize>,
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
    pub inference_workers: Option<NonZeroUsize>,
    /// ONNX Runtime threads per model [default: number of cores / workers].
    #[arg(long, env = "ROLLCALL_INFERENCE_THREADS", global = true)]
    pub inference_threads: Option<NonZeroUsize>,
    /// Photos that may wait for a worker; beyond it requests get 503 [default: 8].
    #[arg(long, env = "ROLLCALL_INFERENCE_QUEUE", global = true)]
    pub inference_queue: Option<usize>,
    /// Seconds a photo may wait for a worker before the request gets 503 [default: 30].
    #[arg(long, env = "ROLLCALL_INFERENCE_QUEUE_TIMEOUT_SECONDS", global = true)]
    pub inference_queue_timeout_seconds: Option<NonZeroU64>,
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

    // --- hardening under hostile load (issue 10) ---
    /// Password hashes (argon2id, about 19 MiB each) computed at the same time; more
    /// logins wait [default: the number of cores, at most 4].
    #[arg(long, env = "ROLLCALL_PASSWORD_HASH_CONCURRENCY", global = true)]
    pub password_hash_concurrency: Option<NonZeroUsize>,
    /// Milliseconds a login may wait for a hashing slot before it gets 503 with
    /// `Retry-After` [default: 2000].
    #[arg(long, env = "ROLLCALL_PASSWORD_HASH_WAIT_MS", global = true)]
    pub password_hash_wait_ms: Option<NonZeroU64>,
    /// Seconds a photo upload's body may take to arrive before the request gets 408
    /// [default: 30].
    #[arg(long, env = "ROLLCALL_UPLOAD_READ_TIMEOUT_SECONDS", global = true)]
    pub upload_read_timeout_seconds: Option<NonZeroU64>,
    /// Photo uploads one teacher may have in progress at once; more get 429 [default: 2].
    #[arg(long, env = "ROLLCALL_UPLOADS_PER_TEACHER", global = true)]
    pub uploads_per_teacher: Option<NonZeroUsize>,
    /// Seconds a client may take to send a request's headers before the connection is
    /// closed [default: 10].
    #[arg(long, env = "ROLLCALL_HEADER_READ_TIMEOUT_SECONDS", global = true)]
    pub header_read_timeout_seconds: Option<NonZeroU64>,
    /// Client connections served at once; further connections wait in the listen backlog.
    /// Keep it well under `ulimit -n` [default: 400].
    #[arg(long, env = "ROLLCALL_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<NonZeroUsize>,
    /// Seconds in-flight requests may take to finish after SIGTERM / Ctrl-C before their
    /// connections are cut [default: 30].
    #[arg(long, env = "ROLLCALL_SHUTDOWN_GRACE_SECONDS", global = true)]
    pub shutdown_grace_seconds: Option<NonZeroU64>,
    /// One-time codes sent to one address per 24 hours (both purposes) [default: 10].
    #[arg(long, env = "ROLLCALL_OTP_MAX_SENDS_PER_DAY", global = true)]
    pub otp_max_sends_per_day: Option<NonZeroU32>,
    /// Code guesses checked for one address per 24 hours, whatever the number of codes
    /// [default: 20].
    #[arg(long, env = "ROLLCALL_OTP_MAX_GUESSES_PER_DAY", global = true)]
    pub otp_max_guesses_per_day: Option<NonZeroU32>,
    /// Code guesses checked from one client address per 24 hours [default: 50].
    #[arg(
        long,
        env = "ROLLCALL_OTP_MAX_GUESSES_PER_CLIENT_PER_DAY",
        global = true
    )]
    pub otp_max_guesses_per_client_per_day: Option<NonZeroU32>,
}

impl SettingsLayer {
    /// The model folder named by this layer, else [`DEFAULT_MODEL_DIR`]: the one place
    /// `ROLLCALL_MODEL_DIR` is read (by clap, into this layer).
    pub fn model_dir_or_default(&self) -> PathBuf {
        self.model_dir
            .clone()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL_DIR))
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

/// Face templates (issue 13).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSettings {
    /// Most templates per student.
    pub per_student: usize,
    /// Keep the (encrypted) aligned face crop of each template.
    pub keep_crops: bool,
    /// Similarity under which an added photo is refused as another person; None = the
    /// review threshold minus 0.1.
    pub same_person_threshold: Option<f32>,
}

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
    /// Extra CA certificates (PEM file) trusted for the SMTP server.
    pub smtp_ca_file: Option<PathBuf>,
    /// Sender of outgoing mail.
    pub mail_from: String,
    /// Bound on one mail delivery.
    pub mail_timeout: Duration,
    /// Without SMTP, mail may go to the log even with PostgreSQL or Redis configured
    /// (`ROLLCALL_MAIL_TO_LOG`); see [`Settings::check_mail_delivery`].
    pub mail_to_log: bool,
    /// Token signing secret; None = generated file in the data directory.
    pub jwt_secret: Option<Secret>,
    /// Face crops' encryption key (hex); None = generated file in the data directory.
    pub data_key: Option<Secret>,
    /// Face templates and their crops.
    pub templates: TemplateSettings,
    /// Access token lifetime.
    pub token_ttl: Duration,
    /// Allowed CORS origins (`*` = any).
    pub cors_origins: Vec<String>,
    /// Always mark the session cookie `Secure`.
    pub cookie_secure: bool,
    /// Reverse proxies trusted to report the client's address in `X-Forwarded-For`.
    pub trusted_proxies: Vec<ProxyNet>,
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
            .field("smtp_ca_file", &self.smtp_ca_file)
            .field("mail_from", &self.mail_from)
            .field("mail_timeout", &self.mail_timeout)
            .field("mail_to_log", &self.mail_to_log)
            .field("jwt_secret", &self.jwt_secret)
            .field("data_key", &self.data_key)
            .field("templates", &self.templates)
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

/// The URL with its password replaced by `***`, for logs; a text that is not a URL is
/// hidden entirely (it might hold a password in a place we cannot find).
pub fn redact_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => match url.set_password(Some("***")) {
            Ok(()) => url.to_string(),
            Err(()) => "***".to_owned(),
        },
        Ok(_) => text.to_owned(),
        Err(_) => "***".to_owned(),
    }
}

impl Settings {
    /// Whether a server may start with these mail settings (issue 10, item 13). Without
    /// `ROLLCALL_SMTP_URL` every mail, one-time codes included, is written to the log: on
    /// the embedded defaults (SQLite and the in-process store, a local run) that is allowed
    /// with a warning; with PostgreSQL or Redis configured (a deployment) it is refused
    /// unless `ROLLCALL_MAIL_TO_LOG=true`, and then warned about.
    pub fn check_mail_delivery(&self) -> Result<(), ConfigError> {
        if self.smtp_url.is_some() {
            return Ok(());
        }
        let embedded = self.database_url.starts_with("sqlite:") && self.redis_url.is_none();
        if embedded || self.mail_to_log {
            tracing::warn!(
                "no ROLLCALL_SMTP_URL: mail, one-time codes included, is written to the log \
                 (INFO) instead of being sent; set ROLLCALL_SMTP_URL for real use"
            );
            return Ok(());
        }
        Err(invalid(
            "ROLLCALL_SMTP_URL",
            "is not set while PostgreSQL or Redis is configured: one-time codes would be \
             written to the log instead of being mailed. Set ROLLCALL_SMTP_URL, or set \
             ROLLCALL_MAIL_TO_LOG=true to allow codes in the log",
        ))
    }

    /// The defaults, with the database and secret file inside `data_dir`. This is the one
    /// place where defaults are written (the `--help` texts repeat them).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            database_url: format!("sqlite://{}", data_dir.join("rollcall.db").display()),
            data_dir,
            database_max_connections: 10,
            redis_url: None,
            kv_prefix: "rollcall:".to_owned(),
            backend_timeout: Duration::from_secs(5),
            smtp_url: None,
            smtp_ca_file: None,
            mail_from: "Rollcall <no-reply@localhost>".to_owned(),
            mail_timeout: Duration::from_secs(10),
            mail_to_log: false,
            jwt_secret: None,
            data_key: None,
            templates: TemplateSettings {
                per_student: DEFAULT_TEMPLATES_PER_STUDENT,
                keep_crops: true,
                same_person_threshold: None,
            },
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
            vision: VisionSettings {
                model_dir: PathBuf::from(DEFAULT_MODEL_DIR),
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
            },
            hardening: HardeningSettings {
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
            },
        }
    }

    /// Loads the settings: `env_layer` (environment and flags, already parsed by clap)
    /// over the TOML file `config_file` (the `ROLLCALL_CONFIG` setting, if set) over the
    /// defaults.
    pub fn load(env_layer: SettingsLayer, config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = config_file.filter(|p| !p.as_os_str().is_empty()) {
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only the values that are set: an unset flag must not hide the file's value.
        let set = match serde_json::to_value(&env_layer) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().filter(|(_, v)| !v.is_null()),
            _ => return Err(invalid("ROLLCALL_*", "a value is not valid UTF-8")),
        };
        let layer = figment
            .merge(Serialized::defaults(set.collect::<serde_json::Map<_, _>>()))
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        Self::from_layer(layer)
    }

    /// Validates a merged layer; unset fields take their defaults. Numbers that must be
    /// positive are `NonZero*` in the layer, so clap and the TOML parser refuse a 0 already.
    pub fn from_layer(l: SettingsLayer) -> Result<Self, ConfigError> {
        let data_dir = l.data_dir.unwrap_or_else(|| PathBuf::from("./data"));
        check(
            !data_dir.as_os_str().is_empty(),
            "ROLLCALL_DATA_DIR",
            "must not be empty",
        )?;
        let mut s = Self::with_data_dir(data_dir);
        let (n32, nsize) = (NonZeroU32::get, NonZeroUsize::get);
        let secs = |n: NonZeroU64| Duration::from_secs(n.get());
        set(&mut s.bind, l.bind);
        if let Some(url) = l.database_url {
            s.database_url = url.trim().to_owned();
            let schemes = ["sqlite:", "postgres://", "postgresql://"];
            check_scheme("ROLLCALL_DATABASE_URL", &s.database_url, &schemes)?;
        }
        set(
            &mut s.database_max_connections,
            l.database_max_connections.map(n32),
        );
        s.redis_url = non_empty(l.redis_url);
        if let Some(url) = &s.redis_url {
            check_scheme("ROLLCALL_REDIS_URL", url, &["redis://"])?;
        }
        set(&mut s.kv_prefix, l.kv_prefix);
        set(&mut s.backend_timeout, l.backend_timeout_seconds.map(secs));
        s.smtp_url = non_empty(l.smtp_url);
        if let Some(url) = &s.smtp_url {
            check_scheme("ROLLCALL_SMTP_URL", url, &crate::mail::smtp::URL_SCHEMES)?;
        }
        s.smtp_ca_file = l.smtp_ca_file.filter(|p| !p.as_os_str().is_empty());
        if let Some(from) = non_empty(l.mail_from) {
            check(
                from.contains('@'),
                "ROLLCALL_MAIL_FROM",
                "must be a mail address",
            )?;
            s.mail_from = from;
        }
        set(&mut s.mail_timeout, l.mail_timeout_seconds.map(secs));
        s.mail_to_log = l.mail_to_log.unwrap_or(false);
        if let Some(secret) = l.jwt_secret {
            check_secret_len("ROLLCALL_JWT_SECRET", &secret)?;
            s.jwt_secret = Some(Secret::new(secret));
        }
        if let Some(key) = non_empty(l.data_key) {
            parse_data_key(&key).map_err(|e| invalid("ROLLCALL_DATA_KEY", e))?;
            s.data_key = Some(Secret::new(key));
        }
        set(&mut s.templates.keep_crops, l.keep_face_crops);
        set(
            &mut s.templates.per_student,
            l.face_templates_per_student.map(nsize),
        );
        s.templates.same_person_threshold = checked(
            l.same_person_threshold,
            |t| t > -1.0 && t < 1.0,
            "ROLLCALL_SAME_PERSON_THRESHOLD",
            "must be between -1 and 1",
        )?;
        let minutes = |m: NonZeroU64| Duration::from_secs(m.get().saturating_mul(60));
        set(&mut s.token_ttl, l.token_ttl_minutes.map(minutes));
        if let Some(origins) = l.cors_origins {
            s.cors_origins = parse_origins(&origins)?;
        }
        s.cookie_secure = l.cookie_secure.unwrap_or(false);
        if let Some(proxies) = l.trusted_proxies {
            s.trusted_proxies = comma_list(&proxies)
                .map(|p| {
                    p.parse()
                        .map_err(|e| invalid("ROLLCALL_TRUSTED_PROXIES", e))
                })
                .collect::<Result<_, _>>()?;
        }
        set(&mut s.log_format, l.log_format);
        set(&mut s.log_filter, non_empty(l.log));
        set(&mut s.otp.ttl, l.otp_ttl_seconds.map(secs));
        set(&mut s.otp.cooldown, l.otp_cooldown_seconds.map(secs));
        set(&mut s.otp.max_attempts, l.otp_max_attempts.map(n32));
        let login = &mut s.login_throttle;
        set(
            &mut login.max_failures_per_account,
            l.login_max_failures_per_account.map(n32),
        );
        set(
            &mut login.max_failures_per_ip,
            l.login_max_failures_per_ip.map(n32),
        );
        set(&mut login.window, l.login_window_seconds.map(secs));
        set(&mut s.json_body_limit, l.json_body_limit_bytes.map(nsize));

        set(&mut s.max_upload_bytes, l.max_upload_bytes.map(nsize));
        if let Some(tz) = non_empty(l.timezone) {
            let reason = format!("{tz:?} is not an IANA time zone name like Europe/Paris");
            s.timezone = tz
                .parse()
                .map_err(|_| invalid("ROLLCALL_TIMEZONE", reason))?;
        }
        let v = &mut s.vision;
        if let Some(dir) = l.model_dir {
            check(
                !dir.as_os_str().is_empty(),
                "ROLLCALL_MODEL_DIR",
                "must not be empty",
            )?;
            v.model_dir = dir;
        }
        set(&mut v.detector, non_empty(l.detector));
        set(&mut v.recognizer, non_empty(l.recognizer));
        set(&mut v.workers, l.inference_workers.map(nsize));
        set(&mut v.threads, l.inference_threads.map(|n| Some(n.get())));
        set(&mut v.queue, l.inference_queue);
        set(
            &mut v.queue_timeout,
            l.inference_queue_timeout_seconds.map(secs),
        );
        // A threshold a face can both reach and miss: strictly between -1 and 1.
        let similarity = |t: f32| t > -1.0 && t < 1.0;
        let (between, unit) = ("must be between -1 and 1", "must be between 0 and 1");
        let threshold = l.match_threshold;
        v.match_threshold = checked(threshold, similarity, "ROLLCALL_MATCH_THRESHOLD", between)?;
        let threshold = l.review_threshold;
        v.review_threshold = checked(threshold, similarity, "ROLLCALL_REVIEW_THRESHOLD", between)?;
        let duplicate = |t: f32| t > -1.0 && t <= 1.0;
        let threshold = checked(
            l.duplicate_threshold,
            duplicate,
            "ROLLCALL_DUPLICATE_THRESHOLD",
            between,
        )?;
        set(&mut v.duplicate_threshold, threshold);
        let margin = |m: f32| (0.0..1.0).contains(&m);
        set(
            &mut v.match_margin,
            checked(l.match_margin, margin, "ROLLCALL_MATCH_MARGIN", unit)?,
        );

        let h = &mut s.hardening;
        set(
            &mut h.password_hash_concurrency,
            l.password_hash_concurrency.map(nsize),
        );
        let millis = |n: NonZeroU64| Duration::from_millis(n.get());
        set(
            &mut h.password_hash_wait,
            l.password_hash_wait_ms.map(millis),
        );
        set(
            &mut h.upload_read_timeout,
            l.upload_read_timeout_seconds.map(secs),
        );
        set(&mut h.uploads_per_teacher, l.uploads_per_teacher.map(nsize));
        set(
            &mut h.header_read_timeout,
            l.header_read_timeout_seconds.map(secs),
        );
        set(&mut h.max_connections, l.max_connections.map(nsize));
        set(&mut h.shutdown_grace, l.shutdown_grace_seconds.map(secs));
        let otp = &mut h.otp;
        set(&mut otp.max_sends_per_day, l.otp_max_sends_per_day.map(n32));
        set(
            &mut otp.max_guesses_per_day,
            l.otp_max_guesses_per_day.map(n32),
        );
        let per_client = l.otp_max_guesses_per_client_per_day;
        set(&mut otp.max_guesses_per_client_per_day, per_client.map(n32));
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

    /// The face crops' encryption key: the configured one, or the one kept in
    /// `<data dir>/data-key`, generated (32 random bytes, hex, mode 0600) with a warning on
    /// first use, exactly like the JWT secret.
    pub fn resolve_data_key(&self) -> Result<[u8; DATA_KEY_BYTES], ConfigError> {
        if let Some(key) = &self.data_key {
            return parse_data_key(key.expose()).map_err(|e| invalid("ROLLCALL_DATA_KEY", e));
        }
        let path = self.data_dir.join(DATA_KEY_FILE);
        let key_file = |source| ConfigError::DataKeyFile {
            path: path.clone(),
            source,
        };
        match fs::read_to_string(&path) {
            Ok(text) => parse_data_key(&text).map_err(|e| invalid("ROLLCALL_DATA_KEY (file)", e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.data_dir).map_err(key_file)?;
                let mut bytes = [0u8; DATA_KEY_BYTES];
                rand::rng().fill_bytes(&mut bytes);
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(&path).map_err(key_file)?;
                file.write_all(hex::encode(bytes).as_bytes())
                    .map_err(key_file)?;
                file.sync_all().map_err(key_file)?;
                tracing::warn!(
                    path = %path.display(),
                    "ROLLCALL_DATA_KEY is not set: generated a random key for the face crops \
                     and stored it in the data directory; back it up (the crops cannot be \
                     read without it) and set ROLLCALL_DATA_KEY when running several instances"
                );
                Ok(bytes)
            }
            Err(e) => Err(key_file(e)),
        }
    }

    /// The SQLite file of the default database URL.
    pub fn default_database_path(&self) -> PathBuf {
        self.data_dir.join("rollcall.db")
    }
}

/// `*slot = value` when the value is set.
fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// The value, when it is unset or `ok`; else the error `reason`.
fn checked(
    value: Option<f32>,
    ok: impl FnOnce(f32) -> bool,
    name: &'static str,
    reason: &str,
) -> Result<Option<f32>, ConfigError> {
    match value {
        Some(v) if !ok(v) => Err(invalid(name, reason)),
        value => Ok(value),
    }
}

fn check(ok: bool, name: &'static str, reason: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(name, reason))
    }
}

fn check_scheme(name: &'static str, url: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let expected = schemes.join(", ");
    check(
        schemes.iter().any(|s| url.starts_with(s)),
        name,
        &format!("must start with one of {expected}"),
    )
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn comma_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

fn check_secret_len(name: &'static str, secret: &str) -> Result<(), ConfigError> {
    let reason = format!(
        "must be at least {MIN_JWT_SECRET_BYTES} bytes long (got {}); generate one with \
         `openssl rand -hex 32`",
        secret.len()
    );
    check(secret.len() >= MIN_JWT_SECRET_BYTES, name, &reason)
}

fn parse_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    comma_list(list)
        .map(|origin| {
            let origin = origin.trim_end_matches('/');
            let ok =
                origin == "*" || origin.starts_with("http://") || origin.starts_with("https://");
            let reason = format!("{origin:?} is not an origin like https://example.org");
            check(ok, "ROLLCALL_CORS_ORIGINS", &reason).map(|()| origin.to_owned())
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
            jwt_secret: Some("too-short".into()),
            ..Default::default()
        };
        let err = Settings::from_layer(layer).unwrap_err().to_string();
        assert!(err.contains("ROLLCALL_JWT_SECRET"), "{err}");
        assert!(!err.contains("too-short"), "the secret leaked: {err}");
    }

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn upper_layer_wins_and_values_are_validated() {
        let env = SettingsLayer {
            token_ttl_minutes: NonZeroU64::new(5),
            ..Default::default()
        };
        let file = config_file(
            "token_ttl_minutes = 30\ncors_origins = \"https://a.org, http://b.org/\"\n\
             otp_ttl_seconds = 120",
        );
        let s = Settings::load(env, Some(file.path())).unwrap();
        assert_eq!(s.token_ttl, Duration::from_secs(300));
        assert_eq!(s.cors_origins, ["https://a.org", "http://b.org"]);
        // A file value the environment does not set is kept.
        assert_eq!(s.otp.ttl, Duration::from_secs(120));

        let unknown = config_file("no_such_key = 1");
        let err = Settings::load(SettingsLayer::default(), Some(unknown.path())).unwrap_err();
        assert!(err.to_string().contains("no_such_key"), "{err}");
        let missing = Path::new("/nonexistent/rollcall.toml");
        assert!(Settings::load(SettingsLayer::default(), Some(missing)).is_err());
        let bad = SettingsLayer {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        assert!(Settings::from_layer(bad).is_err());
        let zero = config_file("otp_ttl_seconds = 0");
        assert!(Settings::load(SettingsLayer::default(), Some(zero.path())).is_err());
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
    fn data_key_is_checked_generated_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::with_data_dir(dir.path().join("nested"));
        let key = s.resolve_data_key().unwrap();
        // The same file gives the same key.
        assert_eq!(s.resolve_data_key().unwrap(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("nested").join(DATA_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let layer = SettingsLayer {
            data_key: Some("not-a-key".into()),
            ..Default::default()
        };
        let err = Settings::from_layer(layer).unwrap_err().to_string();
        assert!(err.contains("ROLLCALL_DATA_KEY"), "{err}");
        let layer = SettingsLayer {
            data_key: Some("ab".repeat(32)),
            keep_face_crops: Some(false),
            ..Default::default()
        };
        let s = Settings::from_layer(layer).unwrap();
        assert!(!s.templates.keep_crops);
        assert_eq!(s.templates.per_student, 5);
        assert!(!format!("{s:?}").contains(&"ab".repeat(32)));
        assert_eq!(s.resolve_data_key().unwrap(), [0xab; 32]);
    }

    #[test]
    fn vision_settings_are_validated() {
        let s = Settings::from_layer(SettingsLayer::default()).unwrap();
        assert_eq!(s.max_upload_bytes, 15 * 1024 * 1024);
        assert_eq!(s.timezone, Tz::UTC);
        assert_eq!(s.vision.workers, 1);
        let layer = SettingsLayer {
            timezone: Some("Asia/Kolkata".into()),
            inference_workers: NonZeroUsize::new(2),
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
        let zero_workers = config_file("inference_workers = 0");
        assert!(Settings::load(SettingsLayer::default(), Some(zero_workers.path())).is_err());
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

    /// The mailer supports `smtp+starttls://` (STARTTLS required); the settings used to
    /// refuse it.
    #[test]
    fn every_smtp_scheme_of_the_mailer_is_accepted() {
        for url in [
            "smtp://mail.example.org",
            "smtp+starttls://u:hunter2@mail.example.org:587",
            "smtps://mail.example.org",
        ] {
            let layer = SettingsLayer {
                smtp_url: Some(url.into()),
                ..Default::default()
            };
            let s = Settings::from_layer(layer).unwrap();
            assert_eq!(s.smtp_url.as_deref(), Some(url));
            assert!(!format!("{s:?}").contains("hunter2"));
        }
        let layer = SettingsLayer {
            smtp_url: Some("http://mail.example.org".into()),
            ..Default::default()
        };
        let err = Settings::from_layer(layer).unwrap_err().to_string();
        assert!(err.contains("ROLLCALL_SMTP_URL"), "{err}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        let s = Settings::from_layer(SettingsLayer {
            trusted_proxies: Some("127.0.0.1, 10.0.0.0/8,fd00::/8".into()),
            ..Default::default()
        })
        .unwrap();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let trusted = |text| s.trusted_proxies.iter().any(|net| net.contains(ip(text)));
        assert!(trusted("127.0.0.1") && trusted("10.9.8.7") && trusted("::ffff:10.1.2.3"));
        assert!(trusted("fd12::1") && !trusted("127.0.0.2") && !trusted("11.0.0.1"));
    }
}
