//! Security headers on every response (issue 10, item 12; issue 9): a strict
//! Content-Security-Policy (scripts and styles from this origin only: no inline script, no
//! `eval`; no framing), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` (for
//! browsers without `frame-ancestors`), a `Referrer-Policy`, a `Permissions-Policy` that
//! lets only this origin use the camera, and `Cache-Control: no-store` on everything that
//! does not set its own caching (API answers hold accounts, tokens and children's names;
//! the web app's files set `no-cache` with an ETag).
//!
//! Every header is set only when the response has none, so a route may set a narrower or
//! wider policy of its own (the API documentation page at `/docs` does).

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// The policy of every page and answer: everything from this origin only; photos the
/// teacher picks are shown from `blob:` URLs; nothing may frame the app.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The policy of the API documentation page (`/docs`, Swagger UI served from the
/// binary): the same, except that Swagger UI sets `style` attributes in its markup.
/// Still no inline script and no `eval`.
pub const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// `Referrer-Policy`: the app's URLs name students (`/app/student/12`); they never leave.
pub const REFERRER_POLICY: &str = "no-referrer";

/// `Permissions-Policy`: the camera (enrolment photos) for this origin only; nothing else.
pub const PERMISSIONS_POLICY: &str =
    "camera=(self), microphone=(), geolocation=(), payment=(), usb=()";

fn if_absent(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Adds the security headers to every response of `router` that lacks them.
pub fn secure<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(if_absent(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(if_absent(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(if_absent(header::X_FRAME_OPTIONS, "DENY"))
        .layer(if_absent(header::REFERRER_POLICY, REFERRER_POLICY))
        .layer(if_absent(
            HeaderName::from_static("permissions-policy"),
            PERMISSIONS_POLICY,
        ))
        .layer(if_absent(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .layer(if_absent(header::CACHE_CONTROL, "no-store"))
}

/// The documentation page's own policy (see [`DOCS_CONTENT_SECURITY_POLICY`]).
pub fn docs_policy<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CONTENT_SECURITY_POLICY),
    ))
}
