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
    let departments = app.store().departments().await?;
    Ok(Json(json!({ "departments": departments })))
}
