//! Pipeline benchmark: `cargo run --release -p rollcall-face --example bench [-- --repeats N]`.
//! Uses ROLLCALL_MODEL_DIR / ROLLCALL_FACES_DIR (default ../shared/*) and ORT_DYLIB_PATH.

use std::path::{Path, PathBuf};

use rollcall_face::EngineConfig;
use rollcall_face::bench::{BenchOptions, run};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env_dir = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(default))
    };
    let opts = BenchOptions {
        engine: EngineConfig {
            model_dir: env_dir("ROLLCALL_MODEL_DIR", "../shared/models"),
            ..EngineConfig::default()
        },
        faces_dir: env_dir("ROLLCALL_FACES_DIR", "../shared/faces"),
        repeats: std::env::args()
            .skip_while(|a| a != "--repeats")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(3),
        ..BenchOptions::default()
    };
    match run(&opts) {
        Ok(table) => print!("{table}"),
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    }
}
