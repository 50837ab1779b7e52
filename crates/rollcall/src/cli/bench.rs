//! `rollcall bench`: the face engine's per-stage benchmark table.

use std::path::PathBuf;
use std::process::ExitCode;

use rollcall_face::EngineConfig;

use crate::config::VisionSettings;
use rollcall_face::bench::{self, BenchOptions};

/// Options of `rollcall bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The labelled photos (with `identities/`), used to compose classroom scenes.
    #[arg(long, env = "ROLLCALL_FACES_DIR", default_value = "../shared/faces")]
    pub faces_dir: PathBuf,
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

/// Runs the benchmark with the models named by `vision` (`ROLLCALL_MODEL_DIR`,
/// `ROLLCALL_DETECTOR`, `ROLLCALL_RECOGNIZER`) and prints its table.
pub fn run(args: BenchArgs, vision: &VisionSettings) -> ExitCode {
    let defaults = BenchOptions::default();
    let options = BenchOptions {
        engine: EngineConfig {
            model_dir: vision.model_dir.clone(),
            detector: vision.detector.clone(),
            recognizer: vision.recognizer.clone(),
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
