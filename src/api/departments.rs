use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/departments", get(list))
}

/// The departments of the catalog: the city's units and the external approvers
/// (the web map groups layers by them).
async fn list(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let departments = match app.store().departments().await {
        Ok(d) => d,
        // The web map asks for them at every start: while the store is down,
        // the catalog in use names them just as well.
        Err(e) if e.is_unavailable() => app.catalog().departments.clone(),
        Err(e) => return Err(e.into()),
    };
    Ok(Json(json!({ "departments": departments })))
}
