use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::index::LayerIndex;
use crate::tiles::ZoomRange;
use std::sync::Arc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/layers", get(list))
        .route("/layers/{code}", get(one))
}

/// A layer as clients see it: metadata, version, count, extent (lon/lat
/// degrees), the zooms its tiles draw it at, and links to its tiles.
pub(super) fn layer_json(l: &LayerIndex, zoom: ZoomRange) -> Value {
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
        "minzoom": zoom.minzoom,
        "maxzoom": zoom.maxzoom,
        "links": [
            { "rel": "self", "href": format!("/layers/{}", spec.code) },
            { "rel": "tilejson", "href": format!("/tiles/{}.json", spec.code) },
            { "rel": "tiles", "href": format!("/tiles/{}/{{z}}/{{x}}/{{y}}.mvt", spec.code) },
        ],
    })
}

async fn list(State(app): State<AppState>, caller: Caller) -> Json<Value> {
    let snapshot = app.index().snapshot();
    let mut layers: Vec<&Arc<LayerIndex>> = snapshot
        .values()
        .filter(|l| caller.sees_layer(&l.layer().spec))
        .collect();
    // Stable: within a rank, layers stay in code order.
    layers.sort_by_key(|l| l.layer().spec.draw_rank());
    let layers: Vec<Value> = layers
        .into_iter()
        .map(|l| layer_json(l, app.zoom_range(l)))
        .collect();
    Json(json!({ "layers": layers }))
}

async fn one(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let layer = caller.layer(&app, &code)?;
    Ok(Json(layer_json(&layer, app.zoom_range(&layer))))
}
