//! The teacher web app (issue 9): the files of `web/app/` compiled into the binary and
//! served from it, so that `rollcall serve` alone is the whole product (no CDN, no build
//! step, works offline on a school network).
//!
//! - `GET /` and `GET /app/...`: the app's page (`index.html`); the app's own router reads
//!   the path (`/app/students`, `/app/attendance`, ...). Only these two prefixes fall back to
//!   the page, so no API path is ever shadowed and unknown paths stay JSON 404s.
//! - `GET /static/<file>`: the app's scripts, styles and icons.
//!
//! Every file has a weak ETag (its SHA-256, computed at compile time) and
//! `Cache-Control: no-cache`: browsers keep it and revalidate it (304) on each use, so a
//! new binary's files are used at once. Compression (gzip) is the outer layer's, for every
//! answer whose client accepts it.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;

use super::error::ApiError;

/// The app's files.
#[derive(Embed)]
#[folder = "../../web/app/"]
struct Assets;

/// The app's page.
const INDEX: &str = "index.html";

/// Routes of the web app (no state: the app talks to the API like any client).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/app", get(page))
        .route("/app/", get(page))
        .route("/app/{*route}", get(page))
        .route("/static/{*file}", get(asset))
}

async fn page(headers: HeaderMap) -> Response {
    serve(INDEX, &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

/// The embedded file `path` with its ETag, or 304 when the client has it, or a JSON 404.
fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return ApiError::NotFound("Not Found".to_owned()).into_response();
    };
    let etag = format!("W/\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == etag.trim_start_matches("W/"))
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = file.data.into_owned().into_response();
        let mime = file.metadata.mimetype();
        let content_type = if mime.starts_with("text/") || mime.ends_with("javascript") {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_owned()
        };
        if let Ok(value) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
