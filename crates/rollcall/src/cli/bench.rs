//! `rollcall bench`: the face engine's per-stage benchmark table.

use std::path::PathBuf;
use std::process::ExitCode;

use rollcall_face::EngineConfig;
use rollcall_face::bench::{self, BenchOptions};

/// Options of `rollcall bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The labelled photos (with `identities/`), used to compose classroom scenes.
    #[arg(long, env = "ROLLCALL_FACES_DIR", default_value = "../shared/faces")]
    pub faces_dir: PathBuf,
    /// Model folder.
    #[arg(long, env = "ROLLCALL_MODEL_DIR", default_value = "models")]
    pub model_dir: PathBuf,
    /// Detector model id from the manifest.
    #[arg(long, env = "ROLLCALL_DETECTOR", default_value = "scrfd_2.5g")]
    pub detector: String,
    /// Recognizer model id from the manifest.
    #[arg(
        long,
        env = "ROLLCALL_RECOGNIZER",
        default_value = "faceplugin_fr_feature_512"
    )]
    pub recognizer: String,
    /// Thread counts to compare (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Runs per case (the median is reported).
    #[arg(long)]
    pub repeats: Option<usize>,
    /// Also write the composed classroom scenes as JPEG files into this folder.
    #[arg(long)]
    pub save_scenes: Option<PathBuf>,
}

/// Runs the benchmark and prints its table.
pub fn run(args: BenchArgs) -> ExitCode {
    let defaults = BenchOptions::default();
    let options = BenchOptions {
        engine: EngineConfig {
            model_dir: args.model_dir,
            detector: args.detector,
            recognizer: args.recognizer,
            ..EngineConfig::default()
        },
        faces_dir: args.faces_dir,
        threads: args.threads,
        repeats: args.repeats.unwrap_or(defaults.repeats),
        save_scenes: args.save_scenes,
        ..defaults
    };
    match bench::run(&options) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rollcall bench: {e}");
            ExitCode::FAILURE
        }
    }
}
