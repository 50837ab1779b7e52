//! HTTP load benchmark of `POST /mark_attendance`:
//! `cargo run --release -p rollcall --example bench_http -- --help`.
//!
//! A tool, not part of the service: its HTTP client, temporary directory and JPEG encoder
//! are dev-dependencies, so the `rollcall` binary does not carry them.
//!
//! Starts the real server in-process on 127.0.0.1:0 (SQLite in a temporary directory, the
//! configured face models), creates teachers, enrols students from the `identities/`
//! photos through `POST /addStudent`, composes classroom photos from the same people with
//! [`rollcall_face::synth`], then posts them with 1, 2 and 4 teachers at once and reports
//! latency percentiles and throughput.

use std::fmt;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;
use reqwest::multipart::{Form, Part};
use rollcall_face::synth::{self, FaceSource, SceneSpec};
use rollcall_face::{Engine, FaceError};
use serde_json::{Value, json};

use clap::{CommandFactory, FromArgMatches};
use rollcall::app::{self, AppError, Application};
use rollcall::auth::password;
use rollcall::config::{Secret, Settings, SettingsLayer};
use rollcall::store::{NewTeacher, StoreError};
use rollcall::vision::Vision;

const PASSWORD: &str = "Bench-password-1";

/// Load-test POST /mark_attendance in-process (SQLite in a temporary directory) and print
/// latency percentiles and throughput with 1, 2 and 4 teachers at once. The service's
/// settings (models, workers, threads) come from the usual flags and ROLLCALL_* variables.
#[derive(clap::Parser)]
struct Args {
    // First, so that the settings' naming rule (`--x-y`, `ROLLCALL_X_Y`) reaches only theirs.
    #[command(flatten)]
    settings: SettingsLayer,
    /// The labelled photos (with `identities/`).
    #[arg(long, env = "ROLLCALL_FACES_DIR", default_value = "../shared/faces")]
    faces_dir: PathBuf,
    /// Teachers (the highest concurrency measured).
    #[arg(long, default_value_t = 4)]
    teachers: usize,
    /// Students enrolled per teacher.
    #[arg(long, default_value_t = 40)]
    students: usize,
    /// Photos each teacher posts per concurrency level.
    #[arg(long, default_value_t = 6)]
    requests: usize,
    /// Classroom photo width.
    #[arg(long, default_value_t = 1920)]
    width: u32,
    /// Classroom photo height.
    #[arg(long, default_value_t = 1080)]
    height: u32,
}

fn main() -> std::process::ExitCode {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let settings = match Settings::load(&matches) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("bench_http: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let options = BenchOptions {
        settings,
        faces_dir: args.faces_dir,
        teachers: args.teachers,
        students: args.students,
        requests_per_teacher: args.requests,
        scene_size: (args.width, args.height),
    };
    let report = tokio::runtime::Runtime::new()
        .map_err(BenchError::Io)
        .and_then(|runtime| runtime.block_on(run(options)));
    match report {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench_http: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The server could not start.
    #[error(transparent)]
    App(#[from] AppError),
    /// Creating the teachers failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Composing the classroom photos failed.
    #[error("face engine: {0}")]
    Face(#[from] FaceError),
    /// A request failed at the transport level.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// Reading photos or creating the temporary directory failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered something unexpected during set-up.
    #[error("{0}")]
    Setup(String),
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Base settings (models, workers, threads); the database, bind address and secrets
    /// are replaced by throw-away ones.
    pub settings: Settings,
    /// The labelled photos (`identities/` inside).
    pub faces_dir: PathBuf,
    /// Teachers created (the highest concurrency level measured).
    pub teachers: usize,
    /// Students enrolled per teacher.
    pub students: usize,
    /// Photos posted by each teacher at each concurrency level.
    pub requests_per_teacher: usize,
    /// Classroom photo width and height in pixels.
    pub scene_size: (u32, u32),
}

/// Measurements at one concurrency level.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelResult {
    /// Teachers posting at the same time.
    pub concurrency: usize,
    /// Requests answered 200.
    pub ok: usize,
    /// Requests answered otherwise.
    pub failed: usize,
    /// Latency percentiles of the successful requests.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Successful requests per second of wall time.
    pub throughput: f64,
    /// Students recognised / faces placed, over all successful requests.
    pub recognised_ratio: f64,
}

/// The benchmark's result.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Students enrolled per teacher.
    pub students: usize,
    /// Faces per classroom photo (average).
    pub faces_per_photo: f64,
    /// Classroom photo size.
    pub scene_size: (u32, u32),
    /// Average JPEG size of the photos, in bytes.
    pub photo_bytes: usize,
    /// One row per concurrency level.
    pub levels: Vec<LevelResult>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "POST /mark_attendance: {} students per teacher, {}x{} JPEG photos (~{} KiB) with \
             {:.1} faces each",
            self.students,
            self.scene_size.0,
            self.scene_size.1,
            self.photo_bytes / 1024,
            self.faces_per_photo
        )?;
        writeln!(
            f,
            "| teachers at once | requests ok | failed | p50 ms | p90 ms | p99 ms | req/s | recognised |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|")?;
        for l in &self.levels {
            writeln!(
                f,
                "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.1}% |",
                l.concurrency,
                l.ok,
                l.failed,
                l.p50.as_secs_f64() * 1000.0,
                l.p90.as_secs_f64() * 1000.0,
                l.p99.as_secs_f64() * 1000.0,
                l.throughput,
                l.recognised_ratio * 100.0
            )?;
        }
        Ok(())
    }
}

/// A classroom photo and how many faces it holds.
struct ClassPhoto {
    jpeg: Vec<u8>,
    faces: usize,
}

/// Runs the benchmark.
pub async fn run(options: BenchOptions) -> Result<BenchReport, BenchError> {
    let tmp = tempfile::tempdir()?;
    let settings = bench_settings(&options.settings, tmp.path());
    let application = Application::build(settings.clone()).await?;
    let base = format!("http://{}", application.local_addr());
    let server = tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;

    let tokens = create_teachers(&settings, &client, &base, options.teachers.max(1)).await?;
    let chosen = enrol_all(&client, &base, &tokens, &options).await?;
    tracing::info!(students = chosen.len(), "enrolled");
    let photos = compose_photos(&settings, chosen, &options).await?;
    let mut levels = Vec::new();
    for concurrency in [1usize, 2, 4] {
        if concurrency > tokens.len() {
            break;
        }
        levels.push(measure(&client, &base, &tokens, &photos, concurrency, &options).await);
    }
    server.abort();
    let count = photos.len().max(1);
    Ok(BenchReport {
        students: options.students,
        faces_per_photo: photos.iter().map(|p| p.faces).sum::<usize>() as f64 / count as f64,
        scene_size: options.scene_size,
        photo_bytes: photos.iter().map(|p| p.jpeg.len()).sum::<usize>() / count,
        levels,
    })
}

fn bench_settings(base: &Settings, dir: &std::path::Path) -> Settings {
    let mut s = base.clone();
    s.data_dir = dir.to_owned();
    s.database_url = format!("sqlite://{}", dir.join("bench.db").display());
    s.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    s.redis_url = None;
    s.smtp_url = None;
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    s.jwt_secret = Some(Secret::new(hex_string(&secret)));
    // Measure latency under load, not admission control.
    s.vision.queue = s.vision.queue.max(16);
    s.vision.queue_timeout = Duration::from_secs(600);
    s
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn create_teachers(
    settings: &Settings,
    client: &reqwest::Client,
    base: &str,
    n: usize,
) -> Result<Vec<String>, BenchError> {
    let store = app::connect_store(settings).await?;
    let hash = password::PasswordHasher::new(1, std::time::Duration::from_secs(60))
        .hash(PASSWORD.to_owned())
        .await
        .map_err(|e| BenchError::Setup(format!("password hashing: {e}")))?;
    let mut tokens = Vec::new();
    for i in 0..n {
        let email = format!("bench-{i}@bench.example.org");
        store
            .create_teacher(NewTeacher {
                user_id: &format!("bench-{i}"),
                email: &email,
                password_hash: &hash,
            })
            .await?;
        let r = client
            .post(format!("{base}/login"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await?;
        let body: Value = r.json().await?;
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| BenchError::Setup(format!("login failed: {body}")))?;
        tokens.push(token.to_owned());
    }
    Ok(tokens)
}

/// Enrols the first `students` people that have a photo the gate accepts, in every
/// teacher's class; returns (person, photo) of each.
async fn enrol_all(
    client: &reqwest::Client,
    base: &str,
    tokens: &[String],
    options: &BenchOptions,
) -> Result<Vec<(String, Vec<u8>)>, BenchError> {
    let people = synth::identities(&options.faces_dir.join("identities"))?;
    let mut chosen: Vec<(String, Vec<u8>)> = Vec::new();
    let Some((first, others)) = tokens.split_first() else {
        return Ok(chosen);
    };
    for (person, photos) in people {
        if chosen.len() >= options.students {
            break;
        }
        let roll_no = (chosen.len() + 1).to_string();
        for photo in photos {
            let bytes = std::fs::read(&photo)?;
            let status = add_student(client, base, first, &person, &roll_no, &bytes).await?;
            if status == reqwest::StatusCode::OK {
                chosen.push((person.clone(), bytes));
                break;
            }
        }
    }
    for token in others {
        for (i, (person, bytes)) in chosen.iter().enumerate() {
            let status =
                add_student(client, base, token, person, &(i + 1).to_string(), bytes).await?;
            if status != reqwest::StatusCode::OK {
                return Err(BenchError::Setup(format!(
                    "enrolling {person} for another teacher answered {status}"
                )));
            }
        }
    }
    Ok(chosen)
}

async fn add_student(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    roll_no: &str,
    photo: &[u8],
) -> Result<reqwest::StatusCode, BenchError> {
    let form = Form::new()
        .text(
            "data",
            json!({ "name": name, "roll_no": roll_no }).to_string(),
        )
        .part("image", Part::bytes(photo.to_vec()).file_name("photo"));
    let r = client
        .post(format!("{base}/addStudent"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    Ok(r.status())
}

/// Composes four classroom photos of the enrolled people (off the async runtime).
async fn compose_photos(
    settings: &Settings,
    chosen: Vec<(String, Vec<u8>)>,
    options: &BenchOptions,
) -> Result<Vec<ClassPhoto>, BenchError> {
    let config = Vision::engine_config(settings);
    let (width, height) = options.scene_size;
    let faces = options.students;
    tokio::task::spawn_blocking(move || -> Result<Vec<ClassPhoto>, BenchError> {
        let engine = Engine::load(&config)?;
        let mut sources = Vec::new();
        for (person, bytes) in &chosen {
            if let Some(source) = FaceSource::load(&engine, person, bytes)? {
                sources.push(source);
            }
        }
        (0..4u64)
            .map(|seed| {
                let spec = SceneSpec {
                    width,
                    height,
                    faces,
                    min_face: 60.0,
                    max_face: 140.0,
                    seed: 0x5EED + seed,
                };
                let scene = synth::compose(&sources, &spec)?;
                let mut jpeg = Cursor::new(Vec::new());
                image::DynamicImage::ImageRgb8(scene.image)
                    .write_to(&mut jpeg, image::ImageFormat::Jpeg)
                    .map_err(|e| BenchError::Setup(format!("jpeg encoding: {e}")))?;
                Ok(ClassPhoto {
                    jpeg: jpeg.into_inner(),
                    faces: scene.faces.len(),
                })
            })
            .collect()
    })
    .await
    .map_err(|e| BenchError::Setup(format!("composing photos: {e}")))?
}

/// `concurrency` teachers each post `requests_per_teacher` photos, one after the other.
async fn measure(
    client: &reqwest::Client,
    base: &str,
    tokens: &[String],
    photos: &[ClassPhoto],
    concurrency: usize,
    options: &BenchOptions,
) -> LevelResult {
    let photos: Arc<Vec<(Vec<u8>, usize)>> =
        Arc::new(photos.iter().map(|p| (p.jpeg.clone(), p.faces)).collect());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (t, token) in tokens.iter().take(concurrency).enumerate() {
        let (client, url, token) = (
            client.clone(),
            format!("{base}/mark_attendance"),
            token.clone(),
        );
        let photos = photos.clone();
        let requests = options.requests_per_teacher;
        tasks.spawn(async move {
            let mut out = Vec::new();
            for i in 0..requests {
                let Some((jpeg, faces)) = photos.get((t + i) % photos.len().max(1)) else {
                    break;
                };
                let form =
                    Form::new().part("file", Part::bytes(jpeg.clone()).file_name("class.jpg"));
                let start = Instant::now();
                let result = client
                    .post(&url)
                    .bearer_auth(&token)
                    .multipart(form)
                    .send()
                    .await;
                let outcome = match result {
                    Ok(r) if r.status().is_success() => {
                        let body: Value = r.json().await.unwrap_or_default();
                        let recognised = body["marked"].as_array().map_or(0, Vec::len)
                            + body["already_present"].as_array().map_or(0, Vec::len);
                        Some((start.elapsed(), recognised, *faces))
                    }
                    Ok(r) => {
                        tracing::warn!(status = %r.status(), "benchmark request failed");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "benchmark request failed");
                        None
                    }
                };
                out.push(outcome);
            }
            out
        });
    }
    let outcomes: Vec<_> = tasks.join_all().await.into_iter().flatten().collect();
    let wall = started.elapsed();
    let mut latencies: Vec<Duration> = outcomes.iter().flatten().map(|o| o.0).collect();
    latencies.sort();
    let recognised: usize = outcomes.iter().flatten().map(|o| o.1).sum();
    let placed: usize = outcomes.iter().flatten().map(|o| o.2).sum();
    let ok = latencies.len();
    LevelResult {
        concurrency,
        ok,
        failed: outcomes.len() - ok,
        p50: percentile(&latencies, 50),
        p90: percentile(&latencies, 90),
        p99: percentile(&latencies, 99),
        throughput: ok as f64 / wall.as_secs_f64().max(f64::EPSILON),
        recognised_ratio: if placed == 0 {
            0.0
        } else {
            recognised as f64 / placed as f64
        },
    }
}

/// Nearest-rank percentile of sorted durations (zero when empty).
pub fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (pct * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms = |v: u64| Duration::from_millis(v);
        let sorted: Vec<Duration> = (1..=10).map(ms).collect();
        assert_eq!(percentile(&sorted, 50), ms(5));
        assert_eq!(percentile(&sorted, 90), ms(9));
        assert_eq!(percentile(&sorted, 99), ms(10));
        assert_eq!(percentile(&[ms(7)], 1), ms(7));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }
}
