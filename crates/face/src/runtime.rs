//! ONNX Runtime: locating the shared library, one environment per process, session building.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::error::FaceError;
use crate::manifest::Optimization;

/// ONNX Runtime version fetched by `scripts/fetch-onnxruntime.sh`.
pub const ORT_VERSION: &str = "1.31.1";

/// Where the library is looked for: `ORT_DYLIB_PATH`, else the cache directory that
/// `scripts/fetch-onnxruntime.sh` fills.
pub fn dylib_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("ROLLCALL_CACHE_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(".cache/rollcall")
        });
    cache
        .join("onnxruntime")
        .join(ORT_VERSION)
        .join(format!("libonnxruntime.so.{ORT_VERSION}"))
}

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime and creates the process-wide environment (once).
pub fn environment() -> Result<&'static Environment, FaceError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let _guard = INIT_LOCK
        .lock()
        .map_err(|_| FaceError::Runtime("ONNX Runtime initialisation lock poisoned".into()))?;
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let path = dylib_path();
    if !path.is_file() {
        return Err(FaceError::Runtime(format!(
            "ONNX Runtime library not found at {}: run `scripts/fetch-onnxruntime.sh` and set \
             ORT_DYLIB_PATH to the path it prints",
            path.display()
        )));
    }
    let env = ort::init_from(&path)
        .map_err(|e| {
            FaceError::Runtime(format!(
                "cannot load ONNX Runtime from {}: {e} (run `scripts/fetch-onnxruntime.sh`)",
                path.display()
            ))
        })?
        .with_name("rollcall-face")
        .build()?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// Default intra-op thread count: the number of cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

/// Builds a CPU session with the model's graph optimisation level and `threads` intra-op
/// threads. `varying_shapes`: the input size changes from run to run (the detector), so ONNX
/// Runtime's memory pattern, planned for one shape, is turned off: on SCRFD at 2016x1504 it
/// added ~100 MiB to the peak.
pub fn session(
    model: &Path,
    optimization: Optimization,
    threads: usize,
    varying_shapes: bool,
) -> Result<Session, FaceError> {
    let env = environment()?;
    let level = match optimization {
        Optimization::Disabled => GraphOptimizationLevel::Disable,
        Optimization::Basic => GraphOptimizationLevel::Level1,
        Optimization::Extended => GraphOptimizationLevel::Level2,
        Optimization::All => GraphOptimizationLevel::Level3,
    };
    let session = Session::builder(env)?
        .with_optimization_level(level)?
        .with_intra_threads(threads.max(1))?
        .with_inter_threads(1)?
        .with_memory_pattern(!varying_shapes)?
        .commit_from_file(model)
        .map_err(|e| FaceError::Runtime(format!("cannot load model {}: {e}", model.display())))?;
    Ok(session)
}

/// Copies one output tensor as (shape, data).
pub(crate) fn extract(value: &ort::value::DynValue) -> Result<(Vec<i64>, Vec<f32>), FaceError> {
    let (shape, data) = value.try_extract_tensor::<f32>()?;
    Ok((shape.iter().copied().collect(), data.to_vec()))
}
