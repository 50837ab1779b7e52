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
    /// Model upgrade: embed every student's stored face crops again with another recognizer
    /// (resumable, in batches, with a progress bar). Needs the service's database and data
    /// key settings. Exit status 0 when every student then has a template of the new
    /// recognizer (switch with ROLLCALL_RECOGNIZER and a restart), 3 when some have none.
    Reembed {
        /// The new recognizer's model id (from the manifest).
        #[arg(long)]
        recognizer: String,
        /// Crops embedded per batch.
        #[arg(long, default_value_t = 64)]
        batch: usize,
    },
}

impl ModelsCommand {
    /// Whether the command needs the service's settings (database, data key).
    pub fn needs_settings(&self) -> bool {
        matches!(self, Self::Reembed { .. })
    }
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
        ModelsCommand::Reembed { .. } => {
            eprintln!("rollcall: `models reembed` runs with the service's settings");
            ExitCode::from(2)
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
