//! Model download, against the real npm registry and against a mirror served on 127.0.0.1.
//!
//! Needs the shared model files (`ROLLCALL_MODEL_DIR`, default `<workspace>/../shared/models`)
//! and, for the faceplugin test, access to the npm registry.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rollcall_face::fetch::{
    FetchError, FetchOptions, FileOutcome, FileState, Manifest, fetch_set, verify_dir,
};
use sha2::{Digest, Sha256};

// ------------------------------------------------------------------------------------ helpers

fn model_dir() -> PathBuf {
    let dir = std::env::var_os("ROLLCALL_MODEL_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models"),
        PathBuf::from,
    );
    assert!(
        dir.join("scrfd/det_2.5g.onnx").is_file(),
        "model files not found in {}: set ROLLCALL_MODEL_DIR to the shared model directory \
         (the one with scrfd/det_2.5g.onnx and faceplugin/fr_feature.onnx; see \
         ../shared/models/MANIFEST.md), or fetch them with `rollcall models fetch <set>`",
        dir.display()
    );
    dir
}

fn model_bytes(file: &str) -> Vec<u8> {
    let path = model_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read {} ({error}): set ROLLCALL_MODEL_DIR to the shared model directory",
            path.display()
        )
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every regular file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A gzip-compressed tarball; names are written raw, so `../` entries can be made.
fn tgz_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gzip);
    for (name, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that serves fixed bodies by path (404 otherwise) and
/// counts requests.
struct Mirror {
    addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<AtomicUsize>,
}

impl Mirror {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let (thread_routes, thread_hits) = (routes.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                thread_hits.fetch_add(1, Ordering::SeqCst);
                let _ = Self::answer(stream, &thread_routes);
            }
        });
        Self { addr, routes, hits }
    }

    fn answer(
        mut stream: TcpStream,
        routes: &Mutex<HashMap<String, Vec<u8>>>,
    ) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" {
                break;
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let body = routes.lock().unwrap().get(&path).cloned();
        let (status, body) = match body {
            Some(body) => ("200 OK", body),
            None => ("404 Not Found", b"not found\n".to_vec()),
        };
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        stream.write_all(&body)?;
        stream.flush()
    }

    fn serve(&self, path: &str, body: Vec<u8>) {
        self.routes.lock().unwrap().insert(path.to_owned(), body);
    }

    fn options(&self) -> FetchOptions {
        FetchOptions {
            base_url_override: Some(format!("http://{}/", self.addr)),
            timeout: Duration::from_secs(20),
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn built_in() -> Manifest {
    Manifest::embedded().unwrap()
}

// ------------------------------------------------------------------------- the real registry

/// The only test that needs the network: the faceplugin set straight from the npm registry.
/// When it fails, it says whether the registry was unreachable (not a Rollcall fault) or
/// what it served was wrong.
#[test]
fn online_npm_registry_serves_the_faceplugin_set() {
    use std::net::ToSocketAddrs;
    let reachable = ("registry.npmjs.org", 443)
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut addrs| addrs.next().ok_or_else(|| "no address".to_owned()))
        .and_then(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = reachable {
        panic!(
            "the npm registry (registry.npmjs.org:443) is unreachable from this machine ({e}): \
             this test, and only this one, needs it; the other fetch tests use a local mirror"
        );
    }
    let dest = tempfile::tempdir().unwrap();
    let manifest = built_in();
    let report = fetch_set(
        &manifest,
        "faceplugin",
        dest.path(),
        &FetchOptions::default(),
    )
    .unwrap_or_else(|error| {
        panic!(
            "fetching the faceplugin set needs the npm registry (registry.npmjs.org) to be \
                 reachable from this machine; it failed: {error}"
        )
    });
    assert_eq!(report.files.len(), 2);
    assert!(report.archive_bytes.is_some_and(|bytes| bytes > 1_000_000));
    for name in ["faceplugin/fr_feature.onnx", "faceplugin/fr_pose.onnx"] {
        let fetched = report.files.iter().find(|file| file.file == name).unwrap();
        assert_eq!(fetched.outcome, FileOutcome::Downloaded);
        let on_disk = std::fs::read(dest.path().join(name)).unwrap();
        assert_eq!(
            sha256_hex(&on_disk),
            sha256_hex(&model_bytes(name)),
            "{name} differs from the shared copy"
        );
    }
    let statuses = verify_dir(&manifest, dest.path(), Some("faceplugin"));
    assert_eq!(statuses.len(), 2);
    assert!(
        statuses.iter().all(|status| status.state.is_ok()),
        "{statuses:?}"
    );
    assert_eq!(
        files_under(dest.path()),
        vec![
            PathBuf::from("faceplugin/fr_feature.onnx"),
            PathBuf::from("faceplugin/fr_pose.onnx")
        ],
        "the archive and temporary files must be gone"
    );

    // A second fetch finds everything in place and downloads nothing.
    let again = fetch_set(
        &manifest,
        "faceplugin",
        dest.path(),
        &FetchOptions::default(),
    )
    .unwrap_or_else(|error| panic!("a second fetch with every file in place failed: {error}"));
    assert_eq!(again.archive_bytes, None);
    assert!(
        again
            .files
            .iter()
            .all(|file| file.outcome == FileOutcome::AlreadyPresent)
    );
}

// ------------------------------------------------------------------ a mirror on 127.0.0.1

#[test]
fn buffalo_m_from_a_mirror_installs_verifies_and_is_skipped_when_present() {
    let mirror = Mirror::start();
    let detector = model_bytes("scrfd/det_2.5g.onnx");
    mirror.serve("/buffalo_m.zip", zip_of(&[("det_2.5g.onnx", &detector)]));
    let dest = tempfile::tempdir().unwrap();
    let manifest = built_in();

    let report = fetch_set(&manifest, "buffalo_m", dest.path(), &mirror.options()).unwrap();
    assert_eq!(report.url, format!("http://{}/buffalo_m.zip", mirror.addr));
    assert_eq!(report.files.len(), 1);
    assert_eq!(report.files[0].file, "scrfd/det_2.5g.onnx");
    assert_eq!(report.files[0].outcome, FileOutcome::Downloaded);
    assert_eq!(
        std::fs::read(dest.path().join("scrfd/det_2.5g.onnx")).unwrap(),
        detector
    );
    let statuses = verify_dir(&manifest, dest.path(), Some("buffalo_m"));
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].state, FileState::Ok);
    assert_eq!(
        files_under(dest.path()),
        vec![PathBuf::from("scrfd/det_2.5g.onnx")]
    );
    assert_eq!(mirror.hits(), 1);

    let again = fetch_set(&manifest, "buffalo_m", dest.path(), &mirror.options()).unwrap();
    assert_eq!(again.files[0].outcome, FileOutcome::AlreadyPresent);
    assert_eq!(again.archive_bytes, None);
    assert_eq!(
        mirror.hits(),
        1,
        "a verified file must not be downloaded again"
    );
}

#[test]
fn a_file_with_the_wrong_hash_is_replaced() {
    let mirror = Mirror::start();
    let detector = model_bytes("scrfd/det_2.5g.onnx");
    mirror.serve("/buffalo_m.zip", zip_of(&[("det_2.5g.onnx", &detector)]));
    let dest = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dest.path().join("scrfd")).unwrap();
    std::fs::write(dest.path().join("scrfd/det_2.5g.onnx"), b"stale").unwrap();
    let manifest = built_in();

    let before = verify_dir(&manifest, dest.path(), Some("buffalo_m"));
    assert!(matches!(
        before[0].state,
        FileState::WrongSize {
            expected: 3292009,
            actual: 5
        }
    ));
    let report = fetch_set(&manifest, "buffalo_m", dest.path(), &mirror.options()).unwrap();
    assert_eq!(report.files[0].outcome, FileOutcome::Replaced);
    assert!(
        verify_dir(&manifest, dest.path(), Some("buffalo_m"))[0]
            .state
            .is_ok()
    );
}

#[test]
fn a_corrupted_file_is_refused_with_both_hashes_and_leaves_nothing() {
    let mirror = Mirror::start();
    let mut detector = model_bytes("scrfd/det_2.5g.onnx");
    let middle = detector.len() / 2;
    detector[middle] ^= 0xff;
    mirror.serve("/buffalo_m.zip", zip_of(&[("det_2.5g.onnx", &detector)]));
    let dest = tempfile::tempdir().unwrap();

    let error = fetch_set(&built_in(), "buffalo_m", dest.path(), &mirror.options()).unwrap_err();
    let message = error.to_string();
    match &error {
        FetchError::FileChecksum {
            file,
            expected,
            actual,
            ..
        } => {
            assert_eq!(file, "scrfd/det_2.5g.onnx");
            assert_eq!(
                expected,
                "041f73f47371333d1d17a6fee6c8ab4e6aecabefe398ff32cca4e2d5eaee0af9"
            );
            assert_eq!(actual, &sha256_hex(&detector));
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    assert!(message.contains("scrfd/det_2.5g.onnx"), "{message}");
    assert!(message.contains("buffalo_m.zip"), "{message}");
    assert!(message.contains(&sha256_hex(&detector)), "{message}");
    assert_eq!(files_under(dest.path()), Vec::<PathBuf>::new());
    assert!(
        !verify_dir(&built_in(), dest.path(), Some("buffalo_m"))[0]
            .state
            .is_ok()
    );
}

#[test]
fn a_truncated_file_is_refused_by_size() {
    let mirror = Mirror::start();
    let detector = model_bytes("scrfd/det_2.5g.onnx");
    mirror.serve(
        "/buffalo_m.zip",
        zip_of(&[("det_2.5g.onnx", &detector[..1000])]),
    );
    let dest = tempfile::tempdir().unwrap();
    let error = fetch_set(&built_in(), "buffalo_m", dest.path(), &mirror.options()).unwrap_err();
    assert!(
        matches!(
            error,
            FetchError::FileSize {
                expected: 3292009,
                actual: 1000,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(files_under(dest.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_missing_archive_gives_a_clear_404() {
    let mirror = Mirror::start();
    let dest = tempfile::tempdir().unwrap();
    let error = fetch_set(&built_in(), "buffalo_m", dest.path(), &mirror.options()).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, FetchError::HttpStatus { status: 404, .. }),
        "{error:?}"
    );
    assert!(message.contains("404"), "{message}");
    assert!(
        message.contains(&format!("http://{}/buffalo_m.zip", mirror.addr)),
        "{message}"
    );
    assert_eq!(files_under(dest.path()), Vec::<PathBuf>::new());
}

#[test]
fn an_unreachable_mirror_names_the_url() {
    // A port held bound but not listening: the connection is refused, and nobody else can
    // take the port meanwhile.
    let closed = testkit::ports::ClosedPort::bind();
    let addr = closed.addr();
    let options = FetchOptions {
        base_url_override: Some(format!("http://{addr}/")),
        timeout: Duration::from_secs(5),
    };
    let dest = tempfile::tempdir().unwrap();
    let error = fetch_set(&built_in(), "buffalo_m", dest.path(), &options).unwrap_err();
    assert!(matches!(error, FetchError::Http { .. }), "{error:?}");
    assert!(error.to_string().contains("buffalo_m.zip"), "{error}");
}

#[test]
fn a_zip_entry_climbing_out_with_dot_dot_is_refused() {
    let mirror = Mirror::start();
    let detector = model_bytes("scrfd/det_2.5g.onnx");
    mirror.serve(
        "/buffalo_m.zip",
        zip_of(&[
            ("det_2.5g.onnx", &detector),
            ("../det_2.5g.onnx", &detector),
        ]),
    );
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("models");
    let error = fetch_set(&built_in(), "buffalo_m", &dest, &mirror.options()).unwrap_err();
    match &error {
        FetchError::UnsafeEntry { entry, .. } => assert_eq!(entry, "../det_2.5g.onnx"),
        other => panic!("expected an unsafe entry error, got {other:?}"),
    }
    assert!(error.to_string().contains("../det_2.5g.onnx"));
    assert_eq!(files_under(root.path()), Vec::<PathBuf>::new());
}

/// A manifest of one tarball set without an archive checksum, to reach the tar code paths.
fn tgz_manifest() -> Manifest {
    let text = r#"
        [[model]]
        id = "scrfd_2.5g"
        role = "detector"
        arch = "scrfd"
        file = "scrfd/det_2.5g.onnx"
        bytes = 3292009
        sha256 = "041f73f47371333d1d17a6fee6c8ab4e6aecabefe398ff32cca4e2d5eaee0af9"
        input_size = [640, 640]
        color = "rgb"
        mean = 127.5
        std = 128.0
        set = "pack"

        [[set]]
        name = "pack"
        url = "https://registry.example/pack/-/pack-1.0.0.tgz"
        archive = "tgz"
        files = { "package/model/det.onnx" = "scrfd/det_2.5g.onnx" }
    "#;
    Manifest::from_toml(text, "test").unwrap()
}

#[test]
fn a_tarball_installs_and_one_with_dot_dot_is_refused() {
    let mirror = Mirror::start();
    let detector = model_bytes("scrfd/det_2.5g.onnx");
    let manifest = tgz_manifest();

    mirror.serve(
        "/pack-1.0.0.tgz",
        tgz_of(&[
            ("package/package.json", b"{}"),
            ("package/model/det.onnx", &detector),
        ]),
    );
    let good = tempfile::tempdir().unwrap();
    fetch_set(&manifest, "pack", good.path(), &mirror.options()).unwrap();
    assert!(verify_dir(&manifest, good.path(), None)[0].state.is_ok());

    mirror.serve(
        "/pack-1.0.0.tgz",
        tgz_of(&[
            ("../../evil.onnx", b"x"),
            ("package/model/det.onnx", &detector),
        ]),
    );
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("models");
    let error = fetch_set(&manifest, "pack", &dest, &mirror.options()).unwrap_err();
    assert!(
        matches!(&error, FetchError::UnsafeEntry { entry, .. } if entry == "../../evil.onnx"),
        "{error:?}"
    );
    assert_eq!(files_under(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_listed_entry_missing_from_the_archive_is_named() {
    let mirror = Mirror::start();
    mirror.serve(
        "/pack-1.0.0.tgz",
        tgz_of(&[("package/package.json", b"{}")]),
    );
    let dest = tempfile::tempdir().unwrap();
    let error = fetch_set(&tgz_manifest(), "pack", dest.path(), &mirror.options()).unwrap_err();
    assert!(
        matches!(&error, FetchError::MissingEntry { entry, file, .. }
            if entry == "package/model/det.onnx" && file == "scrfd/det_2.5g.onnx"),
        "{error:?}"
    );
    assert_eq!(files_under(dest.path()), Vec::<PathBuf>::new());
}

#[test]
fn an_archive_with_the_wrong_sha1_is_refused() {
    let mirror = Mirror::start();
    mirror.serve(
        "/faceplugin-face-recognition-js-0.0.1.tgz",
        tgz_of(&[("package/package.json", b"{}")]),
    );
    let dest = tempfile::tempdir().unwrap();
    let error = fetch_set(&built_in(), "faceplugin", dest.path(), &mirror.options()).unwrap_err();
    match &error {
        FetchError::ArchiveChecksum {
            algorithm,
            expected,
            ..
        } => {
            assert_eq!(*algorithm, "sha1");
            assert_eq!(expected, "056667561ecd072add05a2a3e7e5850163fbd1a0");
        }
        other => panic!("expected an archive checksum error, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .contains("faceplugin-face-recognition-js-0.0.1.tgz")
    );
    assert_eq!(files_under(dest.path()), Vec::<PathBuf>::new());
}

#[test]
fn garbage_instead_of_a_zip_is_a_bad_archive() {
    let mirror = Mirror::start();
    mirror.serve("/buffalo_m.zip", b"<html>this is not a zip</html>".to_vec());
    let dest = tempfile::tempdir().unwrap();
    let error = fetch_set(&built_in(), "buffalo_m", dest.path(), &mirror.options()).unwrap_err();
    assert!(matches!(error, FetchError::BadArchive { .. }), "{error:?}");
    assert_eq!(files_under(dest.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_bare_file_set_is_the_body_itself() {
    let mirror = Mirror::start();
    let yunet = model_bytes("yunet/face_detection_yunet_2023mar.onnx");
    mirror.serve("/face_detection_yunet_2023mar.onnx", yunet.clone());
    let dest = tempfile::tempdir().unwrap();
    let manifest = built_in();
    let report = fetch_set(&manifest, "yunet", dest.path(), &mirror.options()).unwrap();
    assert_eq!(report.archive_bytes, Some(yunet.len() as u64));
    assert_eq!(
        files_under(dest.path()),
        vec![PathBuf::from("yunet/face_detection_yunet_2023mar.onnx")]
    );
    let statuses = verify_dir(&manifest, dest.path(), Some("yunet"));
    let by_file: HashMap<_, _> = statuses
        .iter()
        .map(|status| (status.file.as_str(), &status.state))
        .collect();
    assert_eq!(
        by_file["yunet/face_detection_yunet_2023mar.onnx"],
        &FileState::Ok
    );
    // The 2026 YuNet is in the manifest but no set downloads it.
    assert_eq!(
        by_file["yunet/face_detection_yunet_2026may.onnx"],
        &FileState::Missing
    );
}

#[test]
fn verify_dir_checks_the_shared_model_directory() {
    let statuses = verify_dir(&built_in(), &model_dir(), Some("buffalo_m"));
    assert_eq!(statuses.len(), 1);
    assert!(statuses[0].state.is_ok(), "{statuses:?}");
    assert!(verify_dir(&built_in(), &model_dir(), Some("no-such-set")).is_empty());
}

#[test]
fn an_unknown_set_is_named_with_the_known_ones() {
    let dest = tempfile::tempdir().unwrap();
    let error = fetch_set(
        &built_in(),
        "buffalo_xl",
        dest.path(),
        &FetchOptions::default(),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("buffalo_xl") && message.contains("buffalo_m"),
        "{message}"
    );
}

#[test]
fn a_mirror_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        // Accept and hold connections without ever answering.
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let options = FetchOptions {
        base_url_override: Some(format!("http://{addr}/")),
        timeout: Duration::from_secs(1),
    };
    let dest = tempfile::tempdir().unwrap();
    let error = fetch_set(&built_in(), "buffalo_m", dest.path(), &options).unwrap_err();
    match &error {
        FetchError::Http { source, .. } => {
            assert!(matches!(**source, ureq::Error::Timeout(_)), "{error:?}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(error.to_string().contains("buffalo_m.zip"), "{error}");
    assert_eq!(files_under(dest.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_download_that_stalls_midway_times_out_and_leaves_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            let mut request = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while request.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            // Promise a megabyte, send a kilobyte, then go silent.
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: 1000000\r\n\r\n",
            );
            let _ = stream.write_all(&[0_u8; 1000]);
            let _ = stream.flush();
            held.push(stream);
        }
    });
    let options = FetchOptions {
        base_url_override: Some(format!("http://{addr}/")),
        timeout: Duration::from_secs(1),
    };
    let dest = tempfile::tempdir().unwrap();
    let error = fetch_set(&built_in(), "buffalo_m", dest.path(), &options).unwrap_err();
    assert!(matches!(error, FetchError::Http { .. }), "{error:?}");
    assert!(error.to_string().contains("buffalo_m.zip"), "{error}");
    assert_eq!(
        files_under(dest.path()),
        Vec::<PathBuf>::new(),
        "the partial download must be removed"
    );
}
