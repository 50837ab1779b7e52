//! HTTP download of one set's archive into a staged file, hashed on the way.

use std::path::Path;
use std::time::Duration;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::FetchError;
use super::staged::{FillError, StagedFile};

/// The largest body accepted (InsightFace's largest pack is about 360 MB).
pub(crate) const MAX_DOWNLOAD_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// A complete download sitting in a staged file.
pub(crate) struct Downloaded {
    pub(crate) file: StagedFile,
    pub(crate) bytes: u64,
    pub(crate) sha1: String,
    pub(crate) sha256: String,
}

/// Downloads `url` into a staged file in `dir`. `timeout` bounds each network step (resolve,
/// connect, waiting for the response, every read), not the whole transfer, so a large archive
/// on a slow link still completes while a stalled one fails.
pub(crate) fn download(url: &str, dir: &Path, timeout: Duration) -> Result<Downloaded, FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_resolve(Some(timeout))
        .timeout_connect(Some(timeout))
        .timeout_send_request(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout))
        .user_agent(concat!("rollcall-face/", env!("CARGO_PKG_VERSION")))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(root_certs())
                .build(),
        )
        .build()
        .into();
    let http_error = |source: ureq::Error| FetchError::Http {
        url: url.to_owned(),
        source: Box::new(source),
    };
    let response = agent.get(url).call().map_err(http_error)?;
    let status = response.status().as_u16();
    if !response.status().is_success() {
        return Err(FetchError::HttpStatus {
            url: url.to_owned(),
            status,
        });
    }
    let mut reader = response.into_body().into_reader();

    let mut file = StagedFile::create_in(dir)?;
    let mut sha1 = Sha1::new();
    let mut sha256 = Sha256::new();
    let bytes = file
        .fill_from(&mut reader, MAX_DOWNLOAD_BYTES + 1, &mut |chunk| {
            sha1.update(chunk);
            sha256.update(chunk);
        })
        .map_err(|error| match error {
            FillError::Read(source) => read_error(url, source),
            FillError::Write(source) => FetchError::io("cannot write", file.path(), source),
        })?;
    if bytes > MAX_DOWNLOAD_BYTES {
        return Err(FetchError::TooLarge {
            url: url.to_owned(),
            limit: MAX_DOWNLOAD_BYTES,
        });
    }
    file.finish()?;
    Ok(Downloaded {
        file,
        bytes,
        sha1: hex::encode(sha1.finalize()),
        sha256: hex::encode(sha256.finalize()),
    })
}

/// Well-known locations of the system's CA bundle (Debian/Ubuntu/Alpine, Fedora/RHEL, macOS
/// and the BSDs).
const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
];

/// The certificates TLS trusts: the system's CA bundle (`SSL_CERT_FILE` when set, else the first
/// bundle found in the usual places), like curl and pip, so that a site's own CA or a
/// TLS-inspecting proxy it trusts also works; Mozilla's roots (compiled in) when there is none.
fn root_certs() -> ureq::tls::RootCerts {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let candidates = from_env
        .into_iter()
        .chain(SYSTEM_CA_BUNDLES.iter().map(std::path::PathBuf::from));
    for path in candidates {
        let Ok(pem) = std::fs::read(&path) else {
            continue;
        };
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect();
        if !certs.is_empty() {
            tracing::debug!(bundle = %path.display(), certs = certs.len(), "using system CA bundle");
            return ureq::tls::RootCerts::new_with_certs(&certs);
        }
    }
    tracing::debug!("no system CA bundle found; using the compiled-in Mozilla roots");
    ureq::tls::RootCerts::WebPki
}

/// Body read errors from ureq arrive as `io::Error` wrapping a `ureq::Error`; unwrap them so the
/// message says "timeout" or "connection closed" rather than a generic I/O failure.
fn read_error(url: &str, source: std::io::Error) -> FetchError {
    let source = match source.downcast::<ureq::Error>() {
        Ok(inner) => inner,
        Err(other) => ureq::Error::Io(other),
    };
    FetchError::Http {
        url: url.to_owned(),
        source: Box::new(source),
    }
}
