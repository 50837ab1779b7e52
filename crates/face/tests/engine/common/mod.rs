//! Shared helpers for the integration tests: locate models, photos and ONNX Runtime, and fail
//! with instructions when something is missing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rollcall_face::{Engine, EngineConfig};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `ROLLCALL_MODEL_DIR`, default `<workspace>/../shared/models`.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("ROLLCALL_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/models"));
    assert!(
        dir.join("scrfd/det_2.5g.onnx").is_file(),
        "face models not found in {}: set ROLLCALL_MODEL_DIR to a directory holding the models of \
         models/manifest.toml (e.g. ../shared/models) or run `rollcall models fetch faceplugin` and \
         `rollcall models fetch buffalo_m`",
        dir.display()
    );
    dir
}

/// `ROLLCALL_FACES_DIR`, default `<workspace>/../shared/faces`.
pub fn faces_dir() -> PathBuf {
    let dir = std::env::var_os("ROLLCALL_FACES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/faces"));
    assert!(
        dir.join("identities").is_dir() && dir.join("hard/labels.tsv").is_file(),
        "labelled face photos not found in {}: set ROLLCALL_FACES_DIR to the shared faces folder \
         (identities/, groups/, hard/)",
        dir.display()
    );
    // The floors of these tests hold on the photo set they were measured on.
    testkit::photo_set::verify(&dir);
    dir
}

/// Checks that the ONNX Runtime library can be found.
pub fn require_ort() {
    let path = rollcall_face::dylib_path();
    assert!(
        path.is_file(),
        "ONNX Runtime not found at {}: run `scripts/fetch-onnxruntime.sh` (it prints the path; \
         export ORT_DYLIB_PATH=<that path>)",
        path.display()
    );
}

/// The default configuration pointed at the test models.
pub fn config() -> EngineConfig {
    require_ort();
    EngineConfig {
        model_dir: model_dir(),
        ..EngineConfig::default()
    }
}

/// One engine per test binary, default configuration.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::load(&config()).expect("load the face engine"))
}

/// Reads a file under the faces directory.
pub fn read(rel: impl AsRef<Path>) -> Vec<u8> {
    let path = faces_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// People in identities/ with their photo paths, sorted by name and file name.
pub fn identities() -> Vec<(String, Vec<PathBuf>)> {
    rollcall_face::synth::identities(&faces_dir().join("identities")).expect("list identities/")
}

/// Rows of a TSV file (header skipped), split on tabs.
pub fn tsv(rel: &str) -> Vec<Vec<String>> {
    let text = String::from_utf8(read(rel)).expect("utf-8 tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Runs `test`, an `#[ignore]`d test of this binary, alone in a child process (the test
/// binary run again with that one test), and fails with its output if it fails. For tests
/// that measure the process's memory: in this one test binary other tests run beside them.
pub fn run_alone(test: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} failed in its own process:\n{stdout}\n{stderr}"
    );
}
