//! The HTTP API: one module per feature, each exporting `router()` (an
//! [`OpenApiRouter`] whose handlers carry `#[utoipa::path]`), merged here into one router
//! with the OpenAPI document at `/openapi.json` and an interactive page at `/docs`.
//!
//! A new feature is a new module plus one `.merge(feature::router())` line in [`router`].
//! Routes that take large bodies (uploads) set their own `DefaultBodyLimit` on their
//! router; the JSON limit here is the default.

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::get;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_scalar::{Scalar, Servable};

use crate::config::Settings;

pub mod accounts;
pub mod attendance;
pub mod bearer;
pub mod classes;
pub mod client_ip;
pub mod error;
pub mod extract;
pub mod health;
pub mod reports;
pub mod state;
pub mod students;
pub mod upload;

pub use bearer::AuthTeacher;
pub use error::{ApiError, ErrorBody};
pub use extract::{Email, Json};
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
    }
}

/// The API routes with their OpenAPI description (without `/openapi.json` and `/docs`).
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(accounts::router())
        .merge(students::router())
        .merge(attendance::router())
        .merge(reports::router())
        .merge(classes::router())
}

/// The OpenAPI document of the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().into_openapi()
}

/// The complete router: API, documentation, fallbacks, and the middleware stack (request
/// id, tracing, CORS, body limit).
pub fn router(state: AppState) -> axum::Router {
    let settings = state.settings.clone();
    let (api, openapi) = api_router().split_for_parts();
    let openapi_json = serde_json::to_value(&openapi).unwrap_or_default();
    let request_id = HeaderName::from_static("x-request-id");
    api.route(
        "/openapi.json",
        get(move || async move { axum::Json(openapi_json) }),
    )
    .merge(Scalar::with_url("/docs", openapi))
    .fallback(|| async { ApiError::NotFound("Not Found".to_owned()) })
    .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
    .with_state(state)
    .layer(DefaultBodyLimit::max(settings.json_body_limit))
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
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
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
