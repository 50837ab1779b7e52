//! `multipart/form-data` bodies, read as the photo endpoints read them.

use axum::body::{Body, Bytes};
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use http_body_util::LengthLimitError;
use http_body_util::Limited;

use crate::InputError;

/// Reads every part of a `multipart/form-data` request (name and bytes), the body limited
/// to `limit` bytes: [`InputError::UnsupportedMediaType`] when it is not multipart,
/// [`InputError::TooLarge`] beyond the limit, [`InputError::Malformed`] when the body is
/// malformed. (The fuzz target `request` drives this with arbitrary bodies.)
pub async fn read_parts(req: Request, limit: usize) -> Result<Vec<(String, Bytes)>, InputError> {
    let req = req.map(|body| Body::new(Limited::new(body, limit)));
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(multipart_rejection)?;
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        parts.push((name, bytes));
    }
    Ok(parts)
}

fn multipart_rejection(rejection: MultipartRejection) -> InputError {
    tracing::debug!(%rejection, "not a multipart request");
    InputError::UnsupportedMediaType(
        "Expected a `multipart/form-data` request with a boundary".to_owned(),
    )
}

fn multipart_error(error: MultipartError) -> InputError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE || over_limit(&error) {
        InputError::TooLarge
    } else {
        InputError::Malformed(format!("Malformed multipart body: {}", error.body_text()))
    }
}

/// True when the body limit stopped the read. axum's `status()` only sees it when its own
/// default body limit is off (as on the photo routes): otherwise its limit wraps ours once more.
fn over_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    fn request(content_type: &str, body: &'static str) -> Request {
        Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    }

    const BODY: &str = "--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{}\r\n\
                        --b\r\nContent-Disposition: form-data; name=\"image\"; \
                        filename=\"a.jpg\"\r\n\r\nJPEG\r\n--b--\r\n";

    #[tokio::test]
    async fn parts_limits_and_errors() {
        let parts = read_parts(request("multipart/form-data; boundary=b", BODY), 1 << 10)
            .await
            .unwrap();
        let names: Vec<_> = parts.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
        assert_eq!(names, [("data", &b"{}"[..]), ("image", &b"JPEG"[..])]);
        assert_eq!(
            read_parts(request("multipart/form-data; boundary=b", BODY), 40).await,
            Err(InputError::TooLarge)
        );
        assert!(matches!(
            read_parts(request("multipart/form-data", BODY), 1 << 10).await,
            Err(InputError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            read_parts(
                request("multipart/form-data; boundary=b", "--b\r\nxx"),
                1 << 10
            )
            .await,
            Err(InputError::Malformed(_))
        ));
    }
}
