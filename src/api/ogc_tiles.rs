//! OGC API – Tiles (Part 1: core, tileset, tilesets list, TileMatrixSet) over the
//! same tiles as `/tiles/…`, for GIS clients (QGIS, GDAL's OGCAPI driver).
//! Only `WebMercatorQuad` is offered; tile paths are `{tileMatrix}/{tileRow}/{tileCol}`,
//! that is z/y/x, the other way round from XYZ's z/x/y.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::Caller;
use super::tiles::{
    bounds, fields_json, resolve_layers, tile_coord, tile_response, MVT_MEDIA_TYPE,
};
use super::{base_url, ApiError, AppState};
use crate::tiles::{MAX_ZOOM, MERCATOR_HALF_WORLD_M};

const TMS_ID: &str = "WebMercatorQuad";
const TMS_URI: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";
const CRS_3857: &str = "http://www.opengis.net/def/crs/EPSG/0/3857";
const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const REL_TILING_SCHEME: &str = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/collections/{layer}/tiles", get(tilesets))
        .route("/collections/{layer}/tiles/{tms}", get(tileset))
        .route(
            "/collections/{layer}/tiles/{tms}/{matrix}/{row}/{col}",
            get(tile),
        )
        .route("/tileMatrixSets", get(tile_matrix_sets))
        .route("/tileMatrixSets/{tms}", get(tile_matrix_set))
}

/// A tileset's own link and its tiling scheme's, as both the tilesets list and
/// the tileset document give them.
fn tileset_links(base: &str, layer: &str) -> [Value; 2] {
    [
        json!({
            "rel": "self",
            "href": format!("{base}/collections/{layer}/tiles/{TMS_ID}"),
            "type": "application/json",
        }),
        json!({
            "rel": REL_TILING_SCHEME,
            "href": format!("{base}/tileMatrixSets/{TMS_ID}"),
            "type": "application/json",
        }),
    ]
}

fn check_tms(tms: &str) -> Result<(), ApiError> {
    if tms == TMS_ID {
        Ok(())
    } else {
        Err(ApiError::UnknownTileMatrixSet(format!(
            "tile matrix set '{}' is not offered; imgis serves {TMS_ID}",
            tms.chars().take(64).collect::<String>()
        )))
    }
}

/// `/collections/{layer}/tiles`: the tilesets of a collection (one, WebMercatorQuad).
async fn tilesets(
    State(app): State<AppState>,
    caller: Caller,
    Path(layer): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let layers = resolve_layers(&app, &caller, &layer)?;
    let base = base_url(&headers);
    let (l, _) = &layers[0];
    Ok(Json(json!({
        "links": [{
            "rel": "self",
            "href": format!("{base}/collections/{layer}/tiles"),
            "type": "application/json",
        }],
        "tilesets": [{
            "title": l.layer().spec.title,
            "dataType": "vector",
            "crs": CRS_3857,
            "tileMatrixSetURI": TMS_URI,
            "links": tileset_links(&base, &layer),
        }],
    })))
}

/// The tile row/column range holding `[west, south, east, north]` (degrees) at zoom `z`.
fn limits(b: [f64; 4], z: u8) -> Value {
    let n = f64::from(1u32 << z);
    let col = |lon: f64| (((lon + 180.0) / 360.0 * n).floor()).clamp(0.0, n - 1.0) as u32;
    let row = |lat: f64| {
        let phi = lat
            .clamp(-crate::tiles::MAX_LAT_DEG, crate::tiles::MAX_LAT_DEG)
            .to_radians();
        let v = (1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0;
        ((v * n).floor()).clamp(0.0, n - 1.0) as u32
    };
    json!({
        "tileMatrix": z.to_string(),
        "minTileRow": row(b[3]),
        "maxTileRow": row(b[1]),
        "minTileCol": col(b[0]),
        "maxTileCol": col(b[2]),
    })
}

/// `/collections/{layer}/tiles/WebMercatorQuad`: the tileset's metadata.
async fn tileset(
    State(app): State<AppState>,
    caller: Caller,
    Path((layer, tms)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let layers = resolve_layers(&app, &caller, &layer)?;
    check_tms(&tms)?;
    let base = base_url(&headers);
    let (l, zoom) = &layers[0];
    let b = bounds(&layers);
    let properties: serde_json::Map<String, Value> = fields_json(l)
        .into_iter()
        .map(|(name, t)| {
            let t = match t.as_str() {
                Some("Number") => "number",
                Some("Boolean") => "boolean",
                _ => "string",
            };
            (name, json!({ "type": t }))
        })
        .collect();
    let [own, scheme] = tileset_links(&base, &layer);
    Ok(Json(json!({
        "title": l.layer().spec.title,
        "description": l.layer().spec.description,
        "dataType": "vector",
        "crs": CRS_3857,
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": (zoom.minzoom..=zoom.maxzoom).map(|z| limits(b, z)).collect::<Vec<_>>(),
        "boundingBox": { "lowerLeft": [b[0], b[1]], "upperRight": [b[2], b[3]], "crs": CRS84 },
        "layers": [{
            "id": l.code(),
            "title": l.layer().spec.title,
            "dataType": "vector",
            "geometryType": l.layer().spec.geometry_type.ogc_name(),
            "minTileMatrix": zoom.minzoom.to_string(),
            "maxTileMatrix": zoom.maxzoom.to_string(),
            "propertiesSchema": { "type": "object", "properties": properties },
        }],
        "links": [
            own,
            scheme,
            {
                "rel": "item",
                "href": format!("{base}/collections/{layer}/tiles/{TMS_ID}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"),
                "type": MVT_MEDIA_TYPE,
                "templated": true,
            },
            {
                "rel": "describedby",
                "href": format!("{base}/tiles/{layer}.json"),
                "type": "application/json",
                "title": "TileJSON",
            },
        ],
    })))
}

/// `/collections/{layer}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}`.
async fn tile(
    State(app): State<AppState>,
    caller: Caller,
    Path((layer, tms, matrix, row, col)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layers = resolve_layers(&app, &caller, &layer)?;
    check_tms(&tms)?;
    let tile = tile_coord(&matrix, &col, &row, &layers)?;
    tile_response(&app, &headers, &layers, tile).await
}

async fn tile_matrix_sets(headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    Json(json!({
        "tileMatrixSets": [{
            "id": TMS_ID,
            "title": "Google Maps Compatible for the World",
            "uri": TMS_URI,
            "links": [{
                "rel": "self",
                "href": format!("{base}/tileMatrixSets/{TMS_ID}"),
                "type": "application/json",
            }],
        }],
    }))
}

/// The `WebMercatorQuad` definition (OGC 2D Tile Matrix Set 2.0, JSON): 256-pixel
/// tiles, EPSG:3857 metres, origin at the top-left corner of the world.
async fn tile_matrix_set(Path(tms): Path<String>) -> Result<Json<Value>, ApiError> {
    check_tms(&tms)?;
    // The OGC standard's pixel size, 0.28 mm, turns a cell size into a scale.
    const PIXEL_M: f64 = 0.00028;
    let matrices: Vec<Value> = (0..=MAX_ZOOM)
        .map(|z| {
            let n = 1u64 << z;
            let cell = 2.0 * MERCATOR_HALF_WORLD_M / (256.0 * n as f64);
            json!({
                "id": z.to_string(),
                "scaleDenominator": cell / PIXEL_M,
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-MERCATOR_HALF_WORLD_M, MERCATOR_HALF_WORLD_M],
                "tileWidth": 256,
                "tileHeight": 256,
                "matrixWidth": n,
                "matrixHeight": n,
            })
        })
        .collect();
    Ok(Json(json!({
        "id": TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": CRS_3857,
        "orderedAxes": ["E", "N"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": matrices,
    })))
}
