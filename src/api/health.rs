use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::auth::Caller;
use super::error::health_status;
use super::AppState;
use crate::app::HEALTH_STORE_TIMEOUT;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// Store reachable, index loaded, and each layer's count and version: what an
/// operator's probe and a person both want to see.
async fn health(State(app): State<AppState>, caller: Caller) -> impl IntoResponse {
    let store = app.store();
    let reachable = tokio::time::timeout(HEALTH_STORE_TIMEOUT, store.ping()).await;
    let (reachable, store_error) = match reachable {
        Ok(Ok(())) => (true, None),
        Ok(Err(e)) => (false, Some(e.to_string())),
        Err(_) => (
            false,
            Some(format!(
                "no answer within {} s",
                HEALTH_STORE_TIMEOUT.as_secs()
            )),
        ),
    };
    // The public's probe sees the published layers only; totals are of those.
    let snapshot = caller.snapshot(&app);
    let stats = app.index_stats();
    let layers: Vec<_> = snapshot
        .values()
        .map(|l| {
            json!({
                "code": l.code(),
                "features": l.len(),
                "version": l.layer().version,
                "updated_at": l.layer().updated_at,
            })
        })
        .collect();
    let body = json!({
        "status": if reachable { "ok" } else { "degraded" },
        "store": {
            "backend": store.backend(),
            "location": store.location(),
            "reachable": reachable,
            "error": store_error,
        },
        "index": {
            "loaded": true,
            "layers": snapshot.len(),
            "features": snapshot.values().map(|l| l.len()).sum::<usize>(),
            "build_ms": stats.build_ms,
            "memory_bytes": stats.memory_bytes,
        },
        "layers": layers,
    });
    (health_status(reachable), Json(body))
}
