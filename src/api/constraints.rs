//! What restricts a plot, what is at a point, and the nearest utility lines:
//! `GET /parcels/{cadastral}/constraints`, `POST /constraints`,
//! `GET /identify?lon=&lat=`, `GET /nearest?cadastral=|lon=&lat=[&network=]`.
//! Every answer comes from one index snapshot; coordinates in and out are
//! EPSG:4326 lon/lat degrees, metres and m² are in the config's `metric_srs`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use geo_types::{Coord, MultiPolygon};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::constraints::{self, ConstraintsReport, Metric, NearestFrom, Plot, PlotLimits};
use crate::index::{LayerIndex, Snapshot};
use crate::model::{Cadastral, Feature, LayerCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/parcels/{cadastral}/constraints", get(parcel_constraints))
        .route("/constraints", post(drawn_constraints))
        .route("/identify", get(identify))
        .route("/nearest", get(nearest))
    // Zone and network layers prepared for queries, shared by these routes.
}

/// Drawn plots with more vertices than this are checked on the blocking pool.
const INLINE_PLOT_VERTICES: usize = 256;

/// `?layers=a,b`: the zone layers to read (all when absent).
#[derive(Debug, Deserialize)]
struct LayersParam {
    layers: Option<String>,
}

/// The body of `POST /constraints`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrawnPlot {
    /// A GeoJSON Polygon or MultiPolygon, EPSG:4326 lon/lat.
    geometry: Value,
    /// Zone layer codes to read; all zone layers when absent.
    layers: Option<Vec<String>>,
}

/// `?lon=&lat=`: a position, EPSG:4326 degrees (parsed here for clear errors).
#[derive(Debug, Deserialize)]
struct PointParams {
    lon: Option<String>,
    lat: Option<String>,
}

/// `?cadastral=` or `?lon=&lat=`, and optionally `network=<utility layer code>`.
#[derive(Debug, Deserialize)]
struct NearestParams {
    /// Measure from this stored parcel (distance 0 when a line crosses it).
    cadastral: Option<String>,
    /// Or from this position, EPSG:4326 degrees.
    lon: Option<String>,
    lat: Option<String>,
    /// Only this network layer; every public one when absent.
    network: Option<String>,
}

/// A plot a request names: a stored parcel, or an area the applicant drew.
pub(super) enum PlotInput {
    Parcel(Cadastral),
    /// A GeoJSON Polygon or MultiPolygon, EPSG:4326 lon/lat.
    Drawn(geojson::Geometry),
}

/// A plot checked against the zone layers.
pub(super) struct CheckedPlot {
    pub report: ConstraintsReport,
    /// The stored parcel, for a parcel.
    pub parcel: Option<Arc<Feature>>,
    /// The plot, EPSG:4326 lon/lat degrees.
    pub geometry: MultiPolygon<f64>,
}

/// The constraints of a plot from one index snapshot: every zone layer, or
/// `only` those.
pub(super) async fn check_plot(
    app: AppState,
    caller: &Caller,
    input: PlotInput,
    only: Option<Vec<LayerCode>>,
) -> Result<CheckedPlot, ApiError> {
    let prepared = app.prepared_zones().clone();
    // The public's plot is checked against (and found in) published layers only.
    let snapshot = caller.snapshot(&app);
    let layers = constraints::zone_layers(&snapshot, only.as_deref())?;
    let ready = prepared.zones_ready(&layers);
    // Where the plot comes from: a stored parcel (measured as stored), or a
    // drawn area (checked: closed, valid, within the limits).
    enum Source {
        Stored(Arc<LayerIndex>, Arc<Feature>),
        Drawn(geojson::Geometry),
    }
    let (source, ready) = match input {
        PlotInput::Parcel(cadastral) => {
            let (layer, feature) = parcel(&snapshot, &cadastral)?;
            (Source::Stored(layer, feature), ready)
        }
        // Validity is checked over pairs of edges: a plot of many vertices is
        // checked off the async workers, as preparing layers is.
        PlotInput::Drawn(geometry) => {
            let small = vertex_count(&geometry) <= INLINE_PLOT_VERTICES;
            (Source::Drawn(geometry), ready && small)
        }
    };
    // Held while the plot is measured and checked: the expensive part.
    let _permit = super::limits::heavy(&app).await?;
    off_workers_unless(ready, move || {
        let metric = metric(&app)?;
        let (plot, parcel) = match source {
            Source::Stored(layer, feature) => (
                Plot::parcel(layer.code(), layer.layer().version, &feature, &metric)?,
                Some(feature),
            ),
            Source::Drawn(geometry) => {
                let limits = PlotLimits {
                    max_area_m2: app.config().max_plot_area_m2,
                    max_vertices: app.config().limits.max_plot_vertices,
                };
                (Plot::drawn(&geometry, limits, &metric)?, None)
            }
        };
        let report = constraints::constraints(
            &prepared,
            &layers,
            &plot,
            &metric,
            app.config().sliver_tolerance_m2,
        )?;
        Ok(CheckedPlot {
            report,
            parcel,
            geometry: plot.geometry().clone(),
        })
    })
    .await
}

/// A GeoJSON geometry from a request body, refused clearly when it is not one.
pub(super) fn drawn_geometry(value: Value) -> Result<geojson::Geometry, ApiError> {
    geojson::Geometry::from_json_value(value).map_err(|e| {
        ApiError::InvalidGeometry(format!(
            "'geometry' must be a GeoJSON Polygon or MultiPolygon: {e}"
        ))
    })
}

/// A request body read whole; too big a body says so (413), a broken one 400.
pub(super) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            super::limits::body_too_large()
        } else {
            ApiError::InvalidJson(e.body_text())
        }
    })
}

/// Constraints of a stored parcel.
async fn parcel_constraints(
    State(app): State<AppState>,
    caller: Caller,
    Path(cadastral): Path<String>,
    query: Result<Query<LayersParam>, QueryRejection>,
) -> Result<Json<ConstraintsReport>, ApiError> {
    let cadastral: Cadastral = cadastral.parse()?;
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let only = match query.layers {
        Some(list) => Some(layer_codes(list.split(',').map(str::trim))?),
        None => None,
    };
    let checked = check_plot(app, &caller, PlotInput::Parcel(cadastral), only).await?;
    Ok(Json(checked.report))
}

/// Constraints of an applicant-drawn area.
async fn drawn_constraints(
    State(app): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ConstraintsReport>, ApiError> {
    let body = body_bytes(body)?;
    let drawn: DrawnPlot = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidJson(format!(
            "the body must be JSON {{\"geometry\": <GeoJSON Polygon or MultiPolygon>, \
             \"layers\": [zone layer codes, optional]}}: {e}"
        ))
    })?;
    let geometry = drawn_geometry(drawn.geometry)?;
    let only = match drawn.layers {
        Some(list) if list.is_empty() => {
            return Err(ApiError::BadQuery(
                "'layers', when given, must name at least one zone layer".into(),
            ))
        }
        Some(list) => Some(layer_codes(list.iter().map(String::as_str))?),
        None => None,
    };
    let checked = check_plot(app, &caller, PlotInput::Drawn(geometry), only).await?;
    Ok(Json(checked.report))
}

/// What is at a point, per public layer.
async fn identify(
    State(app): State<AppState>,
    caller: Caller,
    query: Result<Query<PointParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let at = point(query.lon.as_deref(), query.lat.as_deref())?;
    let _permit = super::limits::heavy(&app).await?;
    let layers = constraints::identify(&caller.snapshot(&app), at)?;
    Ok(Json(json!({ "lon": at.x, "lat": at.y, "layers": layers })))
}

/// The nearest line of each utility network (or of one), in metres.
async fn nearest(
    State(app): State<AppState>,
    caller: Caller,
    query: Result<Query<NearestParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let prepared = app.prepared_zones().clone();
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let snapshot = caller.snapshot(&app);
    let network = query
        .network
        .as_deref()
        .map(|code| layer_codes([code]).map(|mut c| c.remove(0)))
        .transpose()?;
    let layers = constraints::network_layers(&snapshot, network.as_ref())?;
    let from = match (&query.cadastral, &query.lon, &query.lat) {
        (Some(c), None, None) => {
            let cadastral: Cadastral = c.parse()?;
            let (layer, feature) = parcel(&snapshot, &cadastral)?;
            Origin::Parcel(layer, feature)
        }
        (None, lon, lat) => Origin::Point(point(lon.as_deref(), lat.as_deref())?),
        (Some(_), _, _) => {
            return Err(ApiError::BadQuery(
                "give either cadastral, or lon and lat, not both".into(),
            ))
        }
    };
    let ready = prepared.networks_ready(&layers);
    let _permit = super::limits::heavy(&app).await?;
    off_workers_unless(ready, move || {
        let metric = metric(&app)?;
        let (origin, lines) = match &from {
            Origin::Point(at) => (
                json!({ "lon": at.x, "lat": at.y }),
                constraints::nearest(&prepared, &layers, &NearestFrom::Point(*at), &metric)?,
            ),
            Origin::Parcel(layer, feature) => {
                let plot = Plot::parcel(layer.code(), layer.layer().version, feature, &metric)?;
                let lines =
                    constraints::nearest(&prepared, &layers, &NearestFrom::Plot(&plot), &metric)?;
                (json!(plot.summary()), lines)
            }
        };
        Ok(Json(json!({
            "from": origin,
            "metric_srs": metric.srs(),
            "networks": lines,
        })))
    })
    .await
}

/// Positions in a GeoJSON polygon or multipolygon (0 for other types).
fn vertex_count(g: &geojson::Geometry) -> usize {
    match &g.value {
        geojson::Value::Polygon(rings) => rings.iter().map(Vec::len).sum(),
        geojson::Value::MultiPolygon(polygons) => polygons.iter().flatten().map(Vec::len).sum(),
        _ => 0,
    }
}

/// Where a nearest-line query measures from.
enum Origin {
    /// A position, EPSG:4326 lon/lat degrees.
    Point(Coord<f64>),
    /// A stored parcel and its layer.
    Parcel(Arc<LayerIndex>, Arc<Feature>),
}

/// The parcel with this number in the snapshot, with its layer.
fn parcel(
    snapshot: &Snapshot,
    cadastral: &Cadastral,
) -> Result<(Arc<LayerIndex>, Arc<Feature>), ApiError> {
    snapshot
        .values()
        .find_map(|l| l.by_cadastral(cadastral).map(|f| (l.clone(), f)))
        .ok_or_else(|| {
            ApiError::UnknownParcel(format!("no parcel has cadastral number {cadastral}"))
        })
}

/// Layer codes as given; a malformed one is as unknown as a missing one.
fn layer_codes<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<LayerCode>, ApiError> {
    names
        .into_iter()
        .map(|name| {
            name.parse().map_err(|_| {
                ApiError::UnknownLayer(format!(
                    "layer '{}' does not exist",
                    name.chars().take(64).collect::<String>()
                ))
            })
        })
        .collect()
}

/// `lon` and `lat` query parameters: EPSG:4326 degrees.
fn point(lon: Option<&str>, lat: Option<&str>) -> Result<Coord<f64>, ApiError> {
    let number = |name: &str, text: Option<&str>, limit: f64| {
        let text = text.ok_or_else(|| {
            ApiError::BadQuery(format!(
                "{name} is missing: give lon and lat in degrees (EPSG:4326)"
            ))
        })?;
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && v.abs() <= limit)
            .ok_or_else(|| {
                ApiError::BadQuery(format!(
                    "{name} must be a number of degrees from -{limit} to {limit}, not '{}'",
                    text.chars().take(32).collect::<String>()
                ))
            })
    };
    Ok(Coord {
        x: number("lon", lon, 180.0)?,
        y: number("lat", lat, 90.0)?,
    })
}

/// This thread's projection to the configured metric CRS. Failing means the
/// server's own config names a CRS PROJ does not know.
fn metric(app: &AppState) -> Result<Metric, ApiError> {
    Metric::new(&app.config().metric_srs).map_err(ApiError::internal)
}

/// Runs `work` on this async worker when the layers it reads are prepared (it
/// then takes microseconds), else on the blocking pool: preparing a big
/// city's layers takes about a second.
async fn off_workers_unless<T: Send + 'static>(
    ready: bool,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if ready {
        work()
    } else {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(ApiError::internal)?
    }
}
