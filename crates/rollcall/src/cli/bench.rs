//! `rollcall bench`: the face engine's per-stage benchmark table.

use std::path::PathBuf;
use std::process::ExitCode;

use rollcall_face::EngineConfig;
use rollcall_face::bench::{self, BenchOptions, CompareOptions};

use crate::config::VisionSettings;

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
    /// Instead of the per-stage table: time Rollcall and the original Python stack
    /// (`--original-script`) interleaved on the same saved photos, and print both side by side.
    #[arg(long)]
    pub compare_original: bool,
    /// The original stack's benchmark script (with --compare-original).
    #[arg(long, default_value = "scripts/original_stack_bench.sh")]
    pub original_script: PathBuf,
    /// Rounds of the comparison (with --compare-original).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
}

/// Runs the benchmark with the models named by `vision` (`ROLLCALL_MODEL_DIR`,
/// `ROLLCALL_DETECTOR`, `ROLLCALL_RECOGNIZER`) and prints its table.
pub fn run(args: BenchArgs, vision: &VisionSettings) -> ExitCode {
    let defaults = BenchOptions::default();
    let compare_threads = args.threads.last().copied().unwrap_or(2);
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
    let result = if args.compare_original {
        bench::compare_original(&CompareOptions {
            bench: BenchOptions {
                threads: vec![compare_threads],
                ..options
            },
            script: args.original_script,
            rounds: args.rounds,
            runs: args.repeats.unwrap_or(defaults.repeats),
            original_det_size: (640, 640),
        })
    } else {
        bench::run(&options)
    };
    match result {
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
