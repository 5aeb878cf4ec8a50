use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use geo::{GeodesicArea, HasDimensions};
use serde_json::{json, Value};

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::model::Cadastral;

pub fn router() -> Router<AppState> {
    Router::new().route("/parcels/{cadastral}", get(parcel))
}

/// A parcel by cadastral number, as a GeoJSON Feature (EPSG:4326 lon/lat) with
/// the layer and version it was answered from, and its geodesic area in m².
async fn parcel(
    State(app): State<AppState>,
    caller: Caller,
    Path(cadastral): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let cadastral: Cadastral = cadastral.parse()?;
    let (layer, feature) = app
        .index()
        .parcel(&cadastral)
        // A parcel of an internal layer is no parcel for the public.
        .filter(|(l, _)| caller.sees_layer(&l.layer().spec))
        .ok_or_else(|| {
            ApiError::UnknownParcel(format!("no parcel has cadastral number {cadastral}"))
        })?;
    let area_m2 = if feature.geometry.is_empty() {
        0.0
    } else {
        // Geodesic on WGS 84: exact whatever the city's projection.
        feature.geometry.geodesic_area_unsigned()
    };
    let mut properties = feature.properties.clone();
    properties.insert("cadastral".into(), json!(cadastral));
    Ok(Json(json!({
        "type": "Feature",
        "id": feature.id,
        "geometry": geojson::Geometry::from(&feature.geometry),
        "properties": properties,
        "area_m2": (area_m2 * 10.0).round() / 10.0,
        "layer": {
            "code": layer.code(),
            "version": layer.layer().version,
            "updated_at": layer.layer().updated_at,
        },
    })))
}
