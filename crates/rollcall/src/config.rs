//! Typed, validated settings.
//!
//! Three layers, later ones winning: the defaults (the `default_value`s of [`SettingsLayer`],
//! shown by `--help`), an optional TOML file named by `ROLLCALL_CONFIG` (keys are the setting
//! names in snake case, e.g. `bind`, `database_url`), and the environment variables / flags
//! (`ROLLCALL_*`) actually given; a blank one counts as not given. clap parses the layer,
//! `figment` merges the three, [`Settings::from_layer`] checks each value.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches};
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
    /// A generated secret's file (`<data dir>/jwt-secret`, `<data dir>/data-key`) could not
    /// be read or written.
    #[error("{what} file {path}: {source}")]
    File {
        /// "JWT secret" or "data key".
        what: &'static str,
        /// The file.
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

/// The settings as given: by clap from the environment and the command line (its
/// `default_value`s are the defaults, written only here), by figment from the TOML file.
/// Each doc comment is the `--help` text. Numbers that must be positive are `NonZero*`, so
/// clap and the TOML parser refuse a 0 already.
#[derive(Clone, Serialize, Deserialize, clap::Args)]
#[command(mut_args = setting_arg())]
#[serde(deny_unknown_fields)]
pub struct SettingsLayer {
    /// Optional TOML file with settings (keys as the flags, in snake case); the environment
    /// and flags override it.
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// Directory for the SQLite database and the generated secrets.
    #[arg(default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://<path>` (created on first run) or `postgres://user@host/db`
    /// [default: sqlite://<data dir>/rollcall.db].
    #[arg(hide_env_values = true)]
    pub database_url: Option<String>,
    /// Largest number of pooled database connections.
    #[arg(default_value = "10")]
    pub database_max_connections: NonZeroU32,
    /// Redis URL (`redis://host:port/db`) for one-time codes, throttles and revoked tokens;
    /// unset = in-process store (only correct with a single instance).
    #[arg(hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every key written to the key-value store.
    #[arg(default_value = "rollcall:")]
    pub kv_prefix: String,
    /// Seconds one database or key-value call may take before the request fails with 503.
    #[arg(default_value = "5")]
    pub backend_timeout_seconds: NonZeroU64,
    /// SMTP URL (`smtp://user:pass@host:587`, `smtp+starttls://...`, `smtps://...`); unset =
    /// mails are written to the log instead of being sent.
    #[arg(hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// PEM file of CA certificates trusted for the SMTP server's certificate besides the
    /// public (Mozilla) roots, e.g. a relay with a private CA.
    pub smtp_ca_file: Option<PathBuf>,
    /// Sender address of outgoing mail.
    #[arg(default_value = "Rollcall <no-reply@localhost>")]
    pub mail_from: String,
    /// Seconds to wait for the mail server before answering 503.
    #[arg(default_value = "10")]
    pub mail_timeout_seconds: NonZeroU64,
    /// Without ROLLCALL_SMTP_URL, allow mail (one-time codes included) to go to the log
    /// although PostgreSQL or Redis is configured; without it such a server refuses to
    /// start. The embedded defaults (SQLite, in-process store) always log, with a warning.
    #[arg(action = clap::ArgAction::Set, default_value = "false")]
    pub mail_to_log: bool,
    /// HS256 signing secret for access tokens, at least 32 bytes; unset = a random secret
    /// generated once and kept in `<data dir>/jwt-secret` (mode 0600).
    #[arg(hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Key that encrypts the stored face crops (XChaCha20-Poly1305): 64 hexadecimal digits
    /// (`openssl rand -hex 32`); unset = a random key generated once and kept in
    /// `<data dir>/data-key` (mode 0600). Losing it makes the stored crops unreadable.
    #[arg(hide_env_values = true)]
    pub data_key: Option<String>,
    /// Keep each face template's aligned face crop (112x112 JPEG, encrypted) for thumbnails
    /// and model upgrades; `false` keeps no crops at all (thumbnails are then 404 and a
    /// model change needs re-enrolment).
    #[arg(action = clap::ArgAction::Set, default_value = "true")]
    pub keep_face_crops: bool,
    /// Face templates (photos) a student may have.
    #[arg(default_value = "5")]
    pub face_templates_per_student: NonZeroUsize,
    /// A photo added to a student is refused as another person when its best similarity to
    /// the student's templates is below this [default: the review threshold minus 0.1].
    pub same_person_threshold: Option<f32>,
    /// Lifetime of access tokens in minutes.
    #[arg(default_value = "60")]
    pub token_ttl_minutes: NonZeroU64,
    /// Comma-separated origins allowed by CORS, e.g. `https://app.example.org`; `*` allows
    /// any origin; unset = no cross-origin access.
    pub cors_origins: Option<String>,
    /// Mark the web app's session cookie `Secure` (sent over HTTPS only). Without it, the
    /// cookie is `Secure` when a trusted proxy says the request came over HTTPS
    /// (`X-Forwarded-Proto: https`).
    #[arg(action = clap::ArgAction::Set, default_value = "false")]
    pub cookie_secure: bool,
    /// Log format.
    #[arg(default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax, e.g. `info,rollcall=debug`.
    #[arg(default_value = "info")]
    pub log: String,
    /// Seconds a one-time code stays valid.
    #[arg(default_value = "300")]
    pub otp_ttl_seconds: NonZeroU64,
    /// Seconds between two codes sent to the same address.
    #[arg(default_value = "60")]
    pub otp_cooldown_seconds: NonZeroU64,
    /// Wrong guesses after which a one-time code is void.
    #[arg(default_value = "5")]
    pub otp_max_attempts: NonZeroU32,
    /// Failed logins per account within the window before logins are refused with 429.
    #[arg(default_value = "5")]
    pub login_max_failures_per_account: NonZeroU32,
    /// Failed logins per client IP within the window before logins are refused with 429.
    #[arg(default_value = "20")]
    pub login_max_failures_per_ip: NonZeroU32,
    /// Reverse proxies whose `X-Forwarded-For` names the client, as a comma list of addresses
    /// or blocks (e.g. `127.0.0.1,10.0.0.0/8`); used for per-client limits; unset = none, the
    /// connection's address is the client.
    pub trusted_proxies: Option<String>,
    /// Length of the failed-login window in seconds.
    #[arg(default_value = "900")]
    pub login_window_seconds: NonZeroU64,
    /// Largest accepted JSON request body in bytes.
    #[arg(default_value = "65536")]
    pub json_body_limit_bytes: NonZeroUsize,

    // --- face recognition and attendance ---
    /// Largest accepted photo upload in bytes (15 MiB).
    #[arg(default_value = "15728640")]
    pub max_upload_bytes: NonZeroUsize,
    /// IANA time zone that decides which day "today" is for attendance, e.g. `Europe/Paris`.
    #[arg(default_value = "UTC")]
    pub timezone: String,
    /// Directory holding the face model files.
    #[arg(default_value = "models")]
    pub model_dir: PathBuf,
    /// Face detector model id from the model manifest.
    #[arg(default_value = "scrfd_2.5g")]
    pub detector: String,
    /// Face recognizer model id from the model manifest.
    #[arg(default_value = "faceplugin_fr_feature_512")]
    pub recognizer: String,
    /// Photos analysed at the same time.
    #[arg(default_value = "1")]
    pub inference_workers: NonZeroUsize,
    /// ONNX Runtime threads per model [default: number of cores / workers].
    pub inference_threads: Option<NonZeroUsize>,
    /// Photos that may wait for a worker; beyond it requests get 503.
    #[arg(default_value = "8")]
    pub inference_queue: usize,
    /// Seconds a photo may wait for a worker before the request gets 503.
    #[arg(default_value = "30")]
    pub inference_queue_timeout_seconds: NonZeroU64,
    /// Minimum cosine similarity for a face to match a student, who is then marked present
    /// [default: the recognizer's `present_threshold` from the model manifest].
    pub match_threshold: Option<f32>,
    /// Minimum cosine similarity for a face below the match threshold to be reported with the
    /// student it most likely is, for the teacher to confirm; never marked by itself
    /// [default: the recognizer's `threshold` from the model manifest, its FAR 1e-3 point].
    pub review_threshold: Option<f32>,
    /// Minimum similarity gap between the matched student and the next best.
    #[arg(default_value = "0.05")]
    pub match_margin: f32,
    /// Similarity at or above which a new student's photo is refused as a face already
    /// enrolled under another roll number (never below the match threshold).
    #[arg(default_value = "0.5")]
    pub duplicate_threshold: f32,

    // --- hardening under hostile load (issue 10) ---
    /// Password hashes (argon2id, about 19 MiB each) computed at the same time; more
    /// logins wait [default: the number of cores, at most 4].
    pub password_hash_concurrency: Option<NonZeroUsize>,
    /// Milliseconds a login may wait for a hashing slot before it gets 503 with `Retry-After`.
    #[arg(default_value = "2000")]
    pub password_hash_wait_ms: NonZeroU64,
    /// Seconds a photo upload's body may take to arrive before the request gets 408.
    #[arg(default_value = "30")]
    pub upload_read_timeout_seconds: NonZeroU64,
    /// Photo uploads one teacher may have in progress at once; more get 429.
    #[arg(default_value = "2")]
    pub uploads_per_teacher: NonZeroUsize,
    /// Seconds a client may take to send a request's headers before the connection is closed.
    #[arg(default_value = "10")]
    pub header_read_timeout_seconds: NonZeroU64,
    /// Client connections served at once; further connections wait in the listen backlog.
    /// Keep it well under `ulimit -n`.
    #[arg(default_value = "400")]
    pub max_connections: NonZeroUsize,
    /// Seconds in-flight requests may take to finish after SIGTERM / Ctrl-C before their
    /// connections are cut.
    #[arg(default_value = "30")]
    pub shutdown_grace_seconds: NonZeroU64,
    /// One-time codes sent to one address per 24 hours (both purposes).
    #[arg(default_value = "10")]
    pub otp_max_sends_per_day: NonZeroU32,
    /// Code guesses checked for one address per 24 hours, whatever the number of codes.
    #[arg(default_value = "20")]
    pub otp_max_guesses_per_day: NonZeroU32,
    /// Code guesses checked from one client address per 24 hours.
    #[arg(default_value = "50")]
    pub otp_max_guesses_per_client_per_day: NonZeroU32,
}

/// Every setting `x_y` is the flag `--x-y` and the environment variable `ROLLCALL_X_Y`, valid
/// before and after a subcommand; `--help` lists them in the order above.
fn setting_arg() -> impl FnMut(clap::Arg) -> clap::Arg {
    let mut order = 0;
    move |arg| {
        order += 1;
        let id = arg.get_id().as_str().to_owned();
        let env = format!("ROLLCALL_{}", id.to_uppercase());
        let long = id.replace('_', "-");
        arg.long(long).env(env).global(true).display_order(order)
    }
}

/// The command line of the settings alone, reading no environment variable.
fn command() -> clap::Command {
    SettingsLayer::augment_args(clap::Command::new("rollcall")).mut_args(|arg| arg.env(None))
}

/// The defaults, with `args` (flags) over them.
fn defaults_with(args: Vec<OsString>) -> Result<SettingsLayer, ConfigError> {
    command()
        .try_get_matches_from([OsString::from("rollcall")].into_iter().chain(args))
        .and_then(|matches| SettingsLayer::from_arg_matches(&matches))
        .map_err(|e| invalid("ROLLCALL_*", e.to_string()))
}

/// The fields of `layer` as a map (`None` ones left out).
fn fields(
    layer: &SettingsLayer,
) -> Result<serde_json::Map<String, serde_json::Value>, ConfigError> {
    match serde_json::to_value(layer) {
        Ok(serde_json::Value::Object(map)) => {
            Ok(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        _ => Err(invalid("ROLLCALL_*", "a value is not valid UTF-8")),
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

/// Face engine and inference pool settings (see [`SettingsLayer`] for each).
#[derive(Debug, Clone, PartialEq)]
pub struct VisionSettings {
    pub model_dir: PathBuf,
    pub detector: String,
    pub recognizer: String,
    /// Photos analysed at the same time (each on its own blocking thread).
    pub workers: usize,
    /// ONNX Runtime intra-op threads per model; None = cores / workers.
    pub threads: Option<usize>,
    pub queue: usize,
    pub queue_timeout: Duration,
    /// None = the recognizer's manifest `present_threshold`.
    pub match_threshold: Option<f32>,
    /// None = the recognizer's manifest `threshold`.
    pub review_threshold: Option<f32>,
    pub match_margin: f32,
    /// Stricter than the match threshold: a false refusal blocks a teacher with no way round.
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
    pub max_sends_per_day: u32,
    pub max_guesses_per_day: u32,
    pub max_guesses_per_client_per_day: u32,
}

/// Bounds that keep the service up under hostile load (see [`SettingsLayer`] for each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardeningSettings {
    pub password_hash_concurrency: usize,
    pub password_hash_wait: Duration,
    pub upload_read_timeout: Duration,
    pub uploads_per_teacher: usize,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
    pub otp: OtpLimits,
}

/// The validated settings of the service (see [`SettingsLayer`] for each).
#[derive(Clone)]
pub struct Settings {
    /// Port 0 picks a free port.
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
    pub database_max_connections: u32,
    /// None = in-process key-value store.
    pub redis_url: Option<String>,
    /// Isolates instances sharing one Redis.
    pub kv_prefix: String,
    /// Bound on every single database / key-value call.
    pub backend_timeout: Duration,
    /// None = log mailer.
    pub smtp_url: Option<String>,
    pub smtp_ca_file: Option<PathBuf>,
    pub mail_from: String,
    pub mail_timeout: Duration,
    /// See [`Settings::check_mail_delivery`].
    pub mail_to_log: bool,
    /// None = generated file in the data directory.
    pub jwt_secret: Option<Secret>,
    /// Face crops' encryption key (hex); None = generated file in the data directory.
    pub data_key: Option<Secret>,
    pub templates: TemplateSettings,
    pub token_ttl: Duration,
    /// `*` = any.
    pub cors_origins: Vec<String>,
    pub cookie_secure: bool,
    pub trusted_proxies: Vec<ProxyNet>,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub otp: OtpSettings,
    pub login_throttle: LoginThrottleSettings,
    pub json_body_limit: usize,
    pub max_upload_bytes: usize,
    pub timezone: Tz,
    /// Fixed "today" for attendance (tests); None = the current date in `timezone`.
    pub attendance_date: Option<NaiveDate>,
    pub vision: VisionSettings,
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

    /// The defaults, with the database and secret files inside `data_dir` (tests, tools).
    #[allow(clippy::expect_used)]
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut arg = OsString::from("--data-dir=");
        arg.push(data_dir.into());
        defaults_with(vec![arg])
            .and_then(Self::from_layer)
            // The built-in defaults are valid (`defaults_are_production_values`).
            .expect("the default settings are valid")
    }

    /// Loads the settings from the parsed command line (the [`SettingsLayer`] flattened into
    /// it): the flags and environment variables given, over the TOML file `--config` /
    /// `ROLLCALL_CONFIG` (if set), over the defaults.
    pub fn load(matches: &ArgMatches) -> Result<Self, ConfigError> {
        let given = SettingsLayer::from_arg_matches(matches)
            .map_err(|e| invalid("ROLLCALL_*", e.to_string()))?;
        let defaults = defaults_with(vec![])?;
        let mut figment = Figment::from(Serialized::defaults(fields(&defaults)?));
        if let Some(path) = given
            .config
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty())
        {
            figment = figment.merge(Toml::file_exact(path));
        }
        let mut set = fields(&given)?;
        set.retain(|key, _| {
            matches
                .value_source(key)
                .is_some_and(|source| source != ValueSource::DefaultValue)
        });
        let mut l: SettingsLayer = figment
            .merge(Serialized::defaults(set))
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        // A blank value of these means their default.
        for (value, default) in [
            (&mut l.mail_from, defaults.mail_from),
            (&mut l.log, defaults.log),
            (&mut l.timezone, defaults.timezone),
            (&mut l.detector, defaults.detector),
            (&mut l.recognizer, defaults.recognizer),
        ] {
            if value.trim().is_empty() {
                *value = default;
            }
        }
        Self::from_layer(l)
    }

    /// Checks a merged layer's values and converts them.
    pub fn from_layer(l: SettingsLayer) -> Result<Self, ConfigError> {
        let secs = |n: NonZeroU64| Duration::from_secs(n.get());
        check(
            !l.data_dir.as_os_str().is_empty(),
            "ROLLCALL_DATA_DIR",
            "must not be empty",
        )?;
        check(
            !l.model_dir.as_os_str().is_empty(),
            "ROLLCALL_MODEL_DIR",
            "must not be empty",
        )?;
        let database_url = match l.database_url {
            Some(url) => {
                let schemes = ["sqlite:", "postgres://", "postgresql://"];
                with_scheme("ROLLCALL_DATABASE_URL", url.trim().to_owned(), &schemes)?
            }
            None => format!("sqlite://{}", l.data_dir.join("rollcall.db").display()),
        };
        let redis_url = non_empty(l.redis_url)
            .map(|url| with_scheme("ROLLCALL_REDIS_URL", url, &["redis://"]))
            .transpose()?;
        let smtp_schemes = &crate::mail::smtp::URL_SCHEMES;
        let smtp_url = non_empty(l.smtp_url)
            .map(|url| with_scheme("ROLLCALL_SMTP_URL", url, smtp_schemes))
            .transpose()?;
        let mail_from = l.mail_from.trim().to_owned();
        check(
            mail_from.contains('@'),
            "ROLLCALL_MAIL_FROM",
            "must be a mail address",
        )?;
        if let Some(secret) = &l.jwt_secret {
            check_secret_len("ROLLCALL_JWT_SECRET", secret)?;
        }
        let data_key = non_empty(l.data_key);
        if let Some(key) = &data_key {
            parse_data_key(key).map_err(|e| invalid("ROLLCALL_DATA_KEY", e))?;
        }
        let tz = l.timezone.trim();
        let reason = format!("{tz:?} is not an IANA time zone name like Europe/Paris");
        let timezone = tz
            .parse()
            .map_err(|_| invalid("ROLLCALL_TIMEZONE", reason))?;
        let trusted_proxies = comma_list(l.trusted_proxies.as_deref().unwrap_or(""))
            .map(|p| {
                p.parse()
                    .map_err(|e| invalid("ROLLCALL_TRUSTED_PROXIES", e))
            })
            .collect::<Result<_, _>>()?;
        // A threshold a face can both reach and miss: strictly between -1 and 1.
        let open = (Bound::Excluded(-1.0), Bound::Excluded(1.0));
        let similarity = |name, value: Option<f32>| {
            value
                .map(|t| within(name, t, open, "must be between -1 and 1"))
                .transpose()
        };
        let duplicate = (Bound::Excluded(-1.0), Bound::Included(1.0));
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            bind: l.bind,
            data_dir: l.data_dir,
            database_url,
            database_max_connections: l.database_max_connections.get(),
            redis_url,
            kv_prefix: l.kv_prefix,
            backend_timeout: secs(l.backend_timeout_seconds),
            smtp_url,
            smtp_ca_file: l.smtp_ca_file.filter(|p| !p.as_os_str().is_empty()),
            mail_from,
            mail_timeout: secs(l.mail_timeout_seconds),
            mail_to_log: l.mail_to_log,
            jwt_secret: l.jwt_secret.map(Secret::new),
            data_key: data_key.map(Secret::new),
            templates: TemplateSettings {
                per_student: l.face_templates_per_student.get(),
                keep_crops: l.keep_face_crops,
                same_person_threshold: similarity(
                    "ROLLCALL_SAME_PERSON_THRESHOLD",
                    l.same_person_threshold,
                )?,
            },
            token_ttl: Duration::from_secs(l.token_ttl_minutes.get().saturating_mul(60)),
            cors_origins: parse_origins(l.cors_origins.as_deref().unwrap_or(""))?,
            cookie_secure: l.cookie_secure,
            trusted_proxies,
            log_format: l.log_format,
            log_filter: l.log.trim().to_owned(),
            otp: OtpSettings {
                ttl: secs(l.otp_ttl_seconds),
                cooldown: secs(l.otp_cooldown_seconds),
                max_attempts: l.otp_max_attempts.get(),
            },
            login_throttle: LoginThrottleSettings {
                max_failures_per_account: l.login_max_failures_per_account.get(),
                max_failures_per_ip: l.login_max_failures_per_ip.get(),
                window: secs(l.login_window_seconds),
            },
            json_body_limit: l.json_body_limit_bytes.get(),
            max_upload_bytes: l.max_upload_bytes.get(),
            timezone,
            attendance_date: None,
            vision: VisionSettings {
                model_dir: l.model_dir,
                detector: l.detector.trim().to_owned(),
                recognizer: l.recognizer.trim().to_owned(),
                workers: l.inference_workers.get(),
                threads: l.inference_threads.map(NonZeroUsize::get),
                queue: l.inference_queue,
                queue_timeout: secs(l.inference_queue_timeout_seconds),
                match_threshold: similarity("ROLLCALL_MATCH_THRESHOLD", l.match_threshold)?,
                review_threshold: similarity("ROLLCALL_REVIEW_THRESHOLD", l.review_threshold)?,
                match_margin: within(
                    "ROLLCALL_MATCH_MARGIN",
                    l.match_margin,
                    0.0..1.0,
                    "must be between 0 and 1",
                )?,
                duplicate_threshold: within(
                    "ROLLCALL_DUPLICATE_THRESHOLD",
                    l.duplicate_threshold,
                    duplicate,
                    "must be between -1 and 1",
                )?,
            },
            hardening: HardeningSettings {
                password_hash_concurrency: l
                    .password_hash_concurrency
                    .map_or(cores.clamp(1, 4), NonZeroUsize::get),
                password_hash_wait: Duration::from_millis(l.password_hash_wait_ms.get()),
                upload_read_timeout: secs(l.upload_read_timeout_seconds),
                uploads_per_teacher: l.uploads_per_teacher.get(),
                header_read_timeout: secs(l.header_read_timeout_seconds),
                max_connections: l.max_connections.get(),
                shutdown_grace: secs(l.shutdown_grace_seconds),
                otp: OtpLimits {
                    max_sends_per_day: l.otp_max_sends_per_day.get(),
                    max_guesses_per_day: l.otp_max_guesses_per_day.get(),
                    max_guesses_per_client_per_day: l.otp_max_guesses_per_client_per_day.get(),
                },
            },
        })
    }

    /// The token signing key: the configured secret, or the one kept in
    /// `<data dir>/jwt-secret`, generated (32 random bytes, hex, mode 0600) on first use.
    pub fn resolve_jwt_secret(&self) -> Result<Vec<u8>, ConfigError> {
        if let Some(secret) = &self.jwt_secret {
            check_secret_len("ROLLCALL_JWT_SECRET", secret.expose())?;
            return Ok(secret.expose().as_bytes().to_vec());
        }
        let warning = "ROLLCALL_JWT_SECRET is not set: generated a random token secret and \
                       stored it in the data directory; set ROLLCALL_JWT_SECRET when running \
                       several instances";
        let text = self.read_or_generate("JWT secret", JWT_SECRET_FILE, warning)?;
        let secret = text.trim();
        check_secret_len("ROLLCALL_JWT_SECRET (file)", secret)?;
        Ok(secret.as_bytes().to_vec())
    }

    /// The face crops' encryption key: the configured one, or the one kept in
    /// `<data dir>/data-key`, generated (32 random bytes, hex, mode 0600) with a warning on
    /// first use, exactly like the JWT secret.
    pub fn resolve_data_key(&self) -> Result<[u8; DATA_KEY_BYTES], ConfigError> {
        if let Some(key) = &self.data_key {
            return parse_data_key(key.expose()).map_err(|e| invalid("ROLLCALL_DATA_KEY", e));
        }
        let warning = "ROLLCALL_DATA_KEY is not set: generated a random key for the face crops \
                       and stored it in the data directory; back it up (the crops cannot be \
                       read without it) and set ROLLCALL_DATA_KEY when running several \
                       instances";
        let text = self.read_or_generate("data key", DATA_KEY_FILE, warning)?;
        parse_data_key(&text).map_err(|e| invalid("ROLLCALL_DATA_KEY (file)", e))
    }

    /// The text of `<data dir>/<file>`; when there is none, 32 random bytes in hex written
    /// to a new file of mode 0600, with `warning` logged.
    fn read_or_generate(
        &self,
        what: &'static str,
        file: &str,
        warning: &str,
    ) -> Result<String, ConfigError> {
        let path = self.data_dir.join(file);
        let error = |source| ConfigError::File {
            what,
            path: path.clone(),
            source,
        };
        match fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.data_dir).map_err(error)?;
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                let text = hex::encode(bytes);
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(&path).map_err(error)?;
                file.write_all(text.as_bytes()).map_err(error)?;
                file.sync_all().map_err(error)?;
                tracing::warn!(path = %path.display(), "{warning}");
                Ok(text)
            }
            read => read.map_err(error),
        }
    }

    /// The SQLite file of the default database URL.
    pub fn default_database_path(&self) -> PathBuf {
        self.data_dir.join("rollcall.db")
    }
}

fn check(ok: bool, name: &'static str, reason: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(name, reason))
    }
}

/// `value` when inside `range`, else the error `reason`.
fn within(
    name: &'static str,
    value: f32,
    range: impl RangeBounds<f32>,
    reason: &str,
) -> Result<f32, ConfigError> {
    check(range.contains(&value), name, reason).map(|()| value)
}

fn with_scheme(name: &'static str, url: String, schemes: &[&str]) -> Result<String, ConfigError> {
    let reason = format!("must start with one of {}", schemes.join(", "));
    check(schemes.iter().any(|s| url.starts_with(s)), name, &reason).map(|()| url)
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

    /// The settings from the flags `args`, the environment unread.
    fn load(args: &[&str]) -> Result<Settings, ConfigError> {
        let args = ["rollcall"].iter().chain(args);
        Settings::load(&command().try_get_matches_from(args).unwrap())
    }

    #[test]
    fn defaults_are_production_values() {
        let s = load(&[]).unwrap();
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
        let err = load(&["--jwt-secret", "too-short"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ROLLCALL_JWT_SECRET"), "{err}");
        assert!(!err.contains("too-short"), "the secret leaked: {err}");
    }

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    /// `--config <file>` and `args`.
    fn load_file(file: &tempfile::NamedTempFile, args: &[&str]) -> Result<Settings, ConfigError> {
        let mut all = vec!["--config", file.path().to_str().unwrap()];
        all.extend_from_slice(args);
        load(&all)
    }

    #[test]
    fn upper_layer_wins_and_values_are_validated() {
        let file = config_file(
            "token_ttl_minutes = 30\ncors_origins = \"https://a.org, http://b.org/\"\n\
             otp_ttl_seconds = 120",
        );
        let s = load_file(&file, &["--token-ttl-minutes", "5"]).unwrap();
        assert_eq!(s.token_ttl, Duration::from_secs(300));
        assert_eq!(s.cors_origins, ["https://a.org", "http://b.org"]);
        // A file value the environment does not set is kept.
        assert_eq!(s.otp.ttl, Duration::from_secs(120));

        let unknown = config_file("no_such_key = 1");
        let err = load_file(&unknown, &[]).unwrap_err();
        assert!(err.to_string().contains("no_such_key"), "{err}");
        assert!(load(&["--config", "/nonexistent/rollcall.toml"]).is_err());
        assert!(load(&["--database-url", "mysql://x"]).is_err());
        let zero = config_file("otp_ttl_seconds = 0");
        assert!(load_file(&zero, &[]).is_err());
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
        let err = load(&["--data-key", "not-a-key"]).unwrap_err().to_string();
        assert!(err.contains("ROLLCALL_DATA_KEY"), "{err}");
        let key = "ab".repeat(32);
        let s = load(&["--data-key", &key, "--keep-face-crops", "false"]).unwrap();
        assert!(!s.templates.keep_crops);
        assert_eq!(s.templates.per_student, 5);
        assert!(!format!("{s:?}").contains(&"ab".repeat(32)));
        assert_eq!(s.resolve_data_key().unwrap(), [0xab; 32]);
    }

    #[test]
    fn vision_settings_are_validated() {
        let s = load(&[]).unwrap();
        assert_eq!(s.max_upload_bytes, 15 * 1024 * 1024);
        assert_eq!(s.timezone, Tz::UTC);
        assert_eq!(s.vision.workers, 1);
        let s = load(&["--timezone", "Asia/Kolkata", "--inference-workers", "2"]).unwrap();
        assert_eq!(s.timezone, chrono_tz::Asia::Kolkata);
        assert_eq!(s.vision.workers, 2);
        for bad in [
            ["--timezone", "Mars/Olympus"],
            ["--match-threshold", "1.5"],
            ["--review-threshold=-3.0", "--log=info"],
            ["--trusted-proxies", "10.0.0.0/8, proxy.local"],
        ] {
            assert!(load(&bad).is_err(), "{bad:?}");
        }
        let zero_workers = config_file("inference_workers = 0");
        assert!(load_file(&zero_workers, &[]).is_err());
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
            let s = load(&["--smtp-url", url]).unwrap();
            assert_eq!(s.smtp_url.as_deref(), Some(url));
            assert!(!format!("{s:?}").contains("hunter2"));
        }
        let err = load(&["--smtp-url", "http://mail.example.org"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ROLLCALL_SMTP_URL"), "{err}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        let s = load(&["--trusted-proxies", "127.0.0.1, 10.0.0.0/8,fd00::/8"]).unwrap();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let trusted = |text| s.trusted_proxies.iter().any(|net| net.contains(ip(text)));
        assert!(trusted("127.0.0.1") && trusted("10.9.8.7") && trusted("::ffff:10.1.2.3"));
        assert!(trusted("fd12::1") && !trusted("127.0.0.2") && !trusted("11.0.0.1"));
    }

    /// The file wins over a default, a flag over the file, and a blank flag is the default.
    #[test]
    fn the_file_overrides_defaults_only() {
        let file = config_file("log = \"debug\"\nkv_prefix = \"x:\"");
        let s = load_file(&file, &["--kv-prefix", "y:"]).unwrap();
        assert_eq!(
            (s.log_filter.as_str(), s.kv_prefix.as_str()),
            ("debug", "y:")
        );
        let s = load(&["--log", " ", "--detector", ""]).unwrap();
        assert_eq!(
            (s.log_filter.as_str(), s.vision.detector.as_str()),
            ("info", "scrfd_2.5g")
        );
    }
}
