//! The `rollcall` binary: `serve` (default), `migrate`, `models` (fetch/verify/list) and
//! `bench` (face engine). The HTTP load test is `examples/bench_http.rs`.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Subcommand};
use rollcall::app::{self, Application};
use rollcall::cli;
use rollcall::config::{Settings, SettingsLayer};
use rollcall::telemetry;

/// Face-based classroom attendance service.
///
/// Every setting can be given as a flag or as the environment variable shown with it;
/// a TOML file named by ROLLCALL_CONFIG may set the same keys (snake case, e.g.
/// `bind = "0.0.0.0:8000"`), and the environment or flags override the file.
#[derive(clap::Parser)]
#[command(name = "rollcall", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: SettingsLayer,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default): runs pending migrations first.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fetch, verify or list the face models (in ROLLCALL_MODEL_DIR), or re-embed the
    /// students' face crops with another recognizer (`models reembed`).
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
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let command = match cli.command.unwrap_or(Command::Serve) {
        Command::Models {
            command,
            dir,
            manifest,
        } if !command.needs_settings() => {
            let dir = dir.unwrap_or(cli.settings.model_dir);
            return cli::models::run(command, &dir, manifest.as_deref());
        }
        command => command,
    };
    let settings = match Settings::load(&matches) {
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
    if let Command::Models {
        command: cli::models::ModelsCommand::Reembed { recognizer, batch },
        dir,
        ..
    } = command
    {
        let dir = dir.unwrap_or_else(|| settings.vision.model_dir.clone());
        return match runtime.block_on(cli::reembed::run(&settings, &recognizer, batch, dir)) {
            Ok(report) if report.complete() => ExitCode::SUCCESS,
            Ok(_) => ExitCode::from(3),
            Err(e) => {
                tracing::error!(error = %e, "reembed stopped");
                eprintln!("rollcall: {e}");
                ExitCode::FAILURE
            }
        };
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
            Command::Models { .. } | Command::Bench(_) => Ok(()),
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
