//! `rollcall models …`: fetch model sets from upstream and check a model folder.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use rollcall_face::fetch::{self, FetchOptions, Manifest};

/// Model management.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download a model set from its upstream source into the model folder, checking the
    /// archive and every file against the sha256 pinned in the manifest.
    Fetch {
        /// Set name from the manifest (`faceplugin`, `buffalo_m`, `buffalo_s`, `buffalo_l`,
        /// `yunet`).
        set: String,
        /// Replace the upstream URL up to its file name, e.g. `http://mirror.local/models/`.
        #[arg(long, env = "ROLLCALL_MODEL_MIRROR")]
        mirror: Option<String>,
        /// Per-step network timeout in seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Check every model file of the manifest (or of one set) in the model folder.
    Verify {
        /// Only this set.
        set: Option<String>,
    },
    /// List the sets and models the manifest knows.
    List,
}

/// Runs a `models` subcommand against `model_dir`, with the manifest at `manifest_path`
/// (or the built-in one).
pub fn run(command: ModelsCommand, model_dir: &Path, manifest_path: Option<&Path>) -> ExitCode {
    let manifest = match Manifest::load(manifest_path) {
        Ok(manifest) => manifest,
        Err(e) => {
            eprintln!("rollcall: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        ModelsCommand::Fetch {
            set,
            mirror,
            timeout,
        } => {
            let options = FetchOptions {
                base_url_override: mirror,
                timeout: Duration::from_secs(timeout),
            };
            match fetch::fetch_set(&manifest, &set, model_dir, &options) {
                Ok(report) => {
                    println!("set {} from {}", report.set, report.url);
                    for file in &report.files {
                        println!(
                            "  {:<45} {:>10} bytes  sha256 {}  {}",
                            file.file, file.bytes, file.sha256, file.outcome
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rollcall: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        ModelsCommand::Verify { set } => {
            let statuses = fetch::verify_dir(&manifest, model_dir, set.as_deref());
            if statuses.is_empty() {
                eprintln!("rollcall: no models for that set in the manifest");
                return ExitCode::from(2);
            }
            let mut all_ok = true;
            for status in &statuses {
                all_ok &= status.state.is_ok();
                println!(
                    "{:<28} {:<11} {:<45} {}",
                    status.id, status.set, status.file, status.state
                );
            }
            if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        ModelsCommand::List => {
            for set in manifest.sets() {
                println!("set {:<11} {}", set.name, set.url);
            }
            for model in manifest.models() {
                println!(
                    "model {:<28} set {:<11} {}",
                    model.id, model.set, model.file
                );
            }
            ExitCode::SUCCESS
        }
    }
}
