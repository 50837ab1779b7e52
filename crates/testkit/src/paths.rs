//! Locations of the shared test data (never copied into the repository).

use std::path::PathBuf;

/// The workspace root (`crates/testkit/../..`).
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
}

/// The ONNX models: `ROLLCALL_MODEL_DIR`, default `<workspace>/../shared/models`.
///
/// # Panics
/// If the directory does not exist, with instructions.
pub fn model_dir() -> PathBuf {
    existing_dir(
        "ROLLCALL_MODEL_DIR",
        "models",
        "the ONNX face models (see MANIFEST.md in the shared models folder)",
    )
}

/// The labelled photos: `ROLLCALL_FACES_DIR`, default `<workspace>/../shared/faces`.
///
/// # Panics
/// If the directory does not exist, with instructions, or does not hold the pinned photo
/// set ([`crate::photo_set`]).
pub fn faces_dir() -> PathBuf {
    let dir = existing_dir(
        "ROLLCALL_FACES_DIR",
        "faces",
        "the labelled test photos (identities/, groups/, hard/)",
    );
    crate::photo_set::verify(&dir);
    dir
}

fn existing_dir(var: &str, default_name: &str, what: &str) -> PathBuf {
    let dir = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("..").join("shared").join(default_name));
    assert!(
        dir.is_dir(),
        "{what} not found at {}: set {var} to the folder that holds them, or place them at \
         <workspace>/../shared/{default_name}",
        dir.display()
    );
    dir
}
