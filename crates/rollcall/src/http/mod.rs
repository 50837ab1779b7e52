//! The HTTP API: one module per feature, each exporting `router()` (an
//! [`OpenApiRouter`] whose handlers carry `#[utoipa::path]`), merged here into one router
//! with the OpenAPI document at `/openapi.json` and an interactive page at `/docs` (Swagger
//! UI, served from the binary: no CDN).
//!
//! A new feature is a new module plus one `.merge(feature::router())` line in [`router`].
//! Routes that take large bodies (uploads) set their own `DefaultBodyLimit` on their
//! router; the JSON limit here is the default.

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes,
    SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::config::Settings;

pub mod accounts;
pub mod attendance;
pub mod bearer;
pub mod classes;
pub mod client_ip;
pub mod error;
pub mod extract;
pub mod headers;
pub mod health;
pub mod reports;
pub mod session;
pub mod state;
pub mod students;
pub mod upload;
pub mod web;

pub use crate::domain::Email;
pub use bearer::AuthTeacher;
pub use error::{ApiError, ErrorBody};
pub use extract::{Json, Path};
pub use state::AppState;

/// Name of the HTTP bearer security scheme in the OpenAPI document.
pub const BEARER: &str = "bearer";
/// Name of the OAuth2 password-flow security scheme in the OpenAPI document.
pub const OAUTH2: &str = "oauth2";

/// The top of the OpenAPI document; paths come from the feature routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rollcall",
        description = "Face-based classroom attendance. Errors are `{\"detail\": \"...\"}`."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "accounts", description = "Sign-up, sign-in, password reset, account deletion"),
        (name = "health", description = "Liveness and readiness"),
        (name = "students", description = "Enrolment from a photo, listing, deletion"),
        (name = "attendance", description = "Marking from a class photo, corrections, reports \
                                             (of the default class)"),
        (name = "classes", description = "A teacher's classes: members, attendance from a \
                                          photo, corrections and reports per class")
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            OAUTH2,
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/login",
                Scopes::new(),
            ))])),
        );
        components.add_security_scheme(
            session::COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                bearer::SESSION_COOKIE,
                "The web app's session (set by `POST /session`). Every endpoint that takes a \
                 bearer token takes this cookie too; a request that changes something (any \
                 method but GET, HEAD and OPTIONS) must then send the session's `csrf_token` \
                 in the `X-CSRF-Token` header (403 otherwise).",
            ))),
        );
    }
}

/// Adds the session cookie as an alternative to the bearer token on every operation that
/// takes one (the extractor accepts both).
fn with_cookie_security(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let Some(security) = operation.security.as_mut() else {
                continue;
            };
            let names = |r: &SecurityRequirement| serde_json::to_value(r).unwrap_or_default();
            let takes_bearer = security.iter().any(|r| names(r).get(BEARER).is_some());
            let takes_cookie = security
                .iter()
                .any(|r| names(r).get(session::COOKIE).is_some());
            if takes_bearer && !takes_cookie {
                security.push(SecurityRequirement::new(
                    session::COOKIE,
                    Vec::<String>::new(),
                ));
            }
        }
    }
    openapi
}

/// The API routes with their OpenAPI description (without `/openapi.json` and `/docs`).
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(accounts::router())
        .merge(session::router())
        .merge(students::router())
        .merge(attendance::router())
        .merge(reports::router())
        .merge(classes::router())
}

/// The OpenAPI document of the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    with_cookie_security(api_router().into_openapi())
}

/// The documentation page at `/docs` (Swagger UI, its files compiled into the binary) and
/// the document at `/openapi.json`.
fn docs(openapi: utoipa::openapi::OpenApi) -> axum::Router<AppState> {
    // No validator badge: it would load an image from a public service.
    let config = Config::new(["/openapi.json"]).validator_url("none");
    let docs: axum::Router<AppState> = SwaggerUi::new("/docs")
        .url("/openapi.json", openapi)
        .config(config)
        .into();
    headers::docs_policy(docs)
}

/// The complete router: API, documentation, the web app, fallbacks, and the middleware
/// stack (request id, tracing, CORS, compression, security headers, body limit).
pub fn router(state: AppState) -> axum::Router {
    let settings = state.settings.clone();
    let (api, openapi) = api_router().split_for_parts();
    let openapi = with_cookie_security(openapi);
    let request_id = HeaderName::from_static("x-request-id");
    let app = api
        .merge(docs(openapi))
        .merge(web::router())
        .fallback(|| async { ApiError::NotFound("Not Found".to_owned()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(DefaultBodyLimit::max(settings.json_body_limit));
    headers::secure(app)
        // gzip for every client that accepts it (the app's files, JSON, CSV); photos and
        // tiny answers are left alone.
        .layer(CompressionLayer::new())
        .layer(cors_layer(&settings))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(crate::telemetry::trace_layer())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

fn cors_layer(settings: &Settings) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        // Whatever request headers the browser asks for (the original frontend sends
        // `ngrok-skip-browser-warning`), as the original server allowed; only the origin is
        // restricted.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE]);
    if settings.cors_origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let origins: Vec<HeaderValue> = settings
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        layer.allow_origin(AllowOrigin::list(origins))
    }
}
