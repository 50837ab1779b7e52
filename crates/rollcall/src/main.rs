//! The `rollcall` binary: `serve` (default) or `migrate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rollcall::app::{self, Application};
use rollcall::config::{Settings, SettingsLayer};
use rollcall::telemetry;

/// Face-based classroom attendance service.
///
/// Every setting can be given as a flag or as the environment variable shown with it;
/// a TOML file named by ROLLCALL_CONFIG may set the same keys (snake case, e.g.
/// `bind = "0.0.0.0:8000"`), and the environment or flags override the file.
#[derive(Debug, Parser)]
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.settings, cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("rollcall: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
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
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
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
