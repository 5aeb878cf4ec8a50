use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::index::LayerIndex;
use crate::model::LayerCode;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/layers", get(list))
        .route("/layers/{code}", get(one))
}

/// A layer as clients see it: metadata, version, count and extent (lon/lat degrees).
pub(super) fn layer_json(l: &LayerIndex) -> Value {
    let layer = l.layer();
    let spec = &layer.spec;
    json!({
        "code": spec.code,
        "title": spec.title,
        "description": spec.description,
        "kind": spec.kind,
        "department": spec.department,
        "geometry_type": spec.geometry_type,
        "public": spec.public,
        "version": layer.version,
        "updated_at": layer.updated_at,
        "feature_count": l.len(),
        "bbox": l.extent().map(|r| [r.min().x, r.min().y, r.max().x, r.max().y]),
        "links": [{ "rel": "self", "href": format!("/layers/{}", spec.code) }],
    })
}

async fn list(State(app): State<AppState>) -> Json<Value> {
    let snapshot = app.index().snapshot();
    let layers: Vec<Value> = snapshot.values().map(|l| layer_json(l)).collect();
    Json(json!({ "layers": layers }))
}

async fn one(
    State(app): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let unknown = || {
        ApiError::UnknownLayer(format!(
            "layer '{}' does not exist",
            code.chars().take(64).collect::<String>()
        ))
    };
    let code: LayerCode = code.parse().map_err(|_| unknown())?;
    let layer = app.index().layer(&code).ok_or_else(unknown)?;
    Ok(Json(layer_json(&layer)))
}
