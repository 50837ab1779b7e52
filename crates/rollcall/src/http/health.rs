//! Liveness (`/healthz`) and readiness (`/readyz`) probes.

use std::time::Duration;

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::Json;

/// How long readiness waits for each backend.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Probe answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Status)))]
async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// The database and the key-value store answer.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "`database unavailable` or `key-value store unavailable`", body = ErrorBody),
    ))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    let store_ok = matches!(
        tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await,
        Ok(Ok(()))
    );
    if !store_ok {
        return Err(ApiError::Unavailable("database unavailable"));
    }
    let kv_ok = matches!(
        tokio::time::timeout(READY_TIMEOUT, state.kv.ping()).await,
        Ok(Ok(()))
    );
    if !kv_ok {
        return Err(ApiError::Unavailable("key-value store unavailable"));
    }
    Ok(Json(Status { status: "ok" }))
}
