//! `/healthz`, `/metrics`, `/openapi.json`.

use crate::app::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match sqlx::query("SELECT 1").execute(state.db.read()).await {
        Ok(_) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ok" })),
        ),
        Err(e) => {
            tracing::warn!("health check: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "status": "database unavailable" })),
            )
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render() + &commit_metrics(state.db.commit_stats()),
    )
}

/// The group commit's counters: their ratio is how many writes share a
/// flush.
fn commit_metrics((batches, jobs): (u64, u64)) -> String {
    format!(
        "# HELP keysmith_db_commits_total Group commits (transactions) run by the writer.\n\
         # TYPE keysmith_db_commits_total counter\n\
         keysmith_db_commits_total {batches}\n\
         # HELP keysmith_db_write_jobs_total Write jobs run in group commits.\n\
         # TYPE keysmith_db_write_jobs_total counter\n\
         keysmith_db_write_jobs_total {jobs}\n"
    )
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
}
