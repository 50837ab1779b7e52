//! The `rollcall` binary: `serve` (default), `migrate`, `models` (fetch/verify/list),
//! `bench` (face engine) and `bench-http` (the HTTP API under load).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rollcall::app::{self, Application};
use rollcall::cli;
use rollcall::config::{Settings, SettingsLayer};
use rollcall::telemetry;

/// Face-based classroom attendance service.
///
/// Every setting can be given as a flag or as the environment variable shown with it;
/// a TOML file named by ROLLCALL_CONFIG may set the same keys (snake case, e.g.
/// `bind = "0.0.0.0:8000"`), and the environment or flags override the file.
#[derive(Parser)]
#[command(name = "rollcall", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Optional TOML file with settings (keys as the flags below, in snake case); the
    /// environment and flags override it.
    #[arg(long, env = "ROLLCALL_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: SettingsLayer,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default): runs pending migrations first.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fetch, verify or list the face models (in ROLLCALL_MODEL_DIR).
    Models {
        #[command(subcommand)]
        command: cli::models::ModelsCommand,
        /// Model folder (default: --model-dir / ROLLCALL_MODEL_DIR, else ./models).
        #[arg(long, global = true)]
        dir: Option<PathBuf>,
        /// Another model manifest instead of the built-in `models/manifest.toml`.
        #[arg(long, env = "ROLLCALL_MODEL_MANIFEST", global = true)]
        manifest: Option<PathBuf>,
    },
    /// Benchmark the face engine per stage (decode, detect, align+embed, match) on a
    /// portrait and composed classroom scenes, with 1 and 2 threads.
    Bench(cli::bench::BenchArgs),
    /// Load-test POST /mark_attendance in-process (SQLite in a temporary directory) and
    /// print latency percentiles and throughput with 1, 2 and 4 teachers at once.
    BenchHttp(BenchArgs),
}

/// Options of `rollcall bench-http`.
#[derive(Debug, clap::Args)]
struct BenchArgs {
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

/// Runs `rollcall bench-http` and prints the table.
fn bench_http(runtime: &tokio::runtime::Runtime, settings: Settings, args: &BenchArgs) -> ExitCode {
    let options = rollcall::bench_http::BenchOptions {
        settings,
        faces_dir: args.faces_dir.clone(),
        teachers: args.teachers,
        students: args.students,
        requests_per_teacher: args.requests,
        scene_size: (args.width, args.height),
    };
    match runtime.block_on(rollcall::bench_http::run(options)) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rollcall bench-http: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command.unwrap_or(Command::Serve) {
        Command::Models {
            command,
            dir,
            manifest,
        } => {
            let dir = dir.unwrap_or_else(|| cli.settings.model_dir_or_default());
            return cli::models::run(command, &dir, manifest.as_deref());
        }
        command => command,
    };
    let settings = match Settings::load(cli.settings, cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("rollcall: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Bench(args) = command {
        return cli::bench::run(args, &settings.vision);
    }
    if let Err(e) = telemetry::init(settings.log_format, &settings.log_filter) {
        eprintln!("rollcall: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rollcall: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::BenchHttp(args) = &command {
        return bench_http(&runtime, settings, args);
    }
    let result = runtime.block_on(async {
        match command {
            Command::Serve => {
                tracing::info!(settings = ?settings, "starting");
                Application::build(settings)
                    .await?
                    .run_until_stopped()
                    .await
            }
            Command::Migrate => {
                app::connect_store(&settings).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
            // Answered above.
            Command::Models { .. } | Command::Bench(_) | Command::BenchHttp(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "rollcall stopped");
            eprintln!("rollcall: {e}");
            ExitCode::FAILURE
        }
    }
}
