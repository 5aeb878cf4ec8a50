//! Vector tiles over HTTP: `/tiles/{layers}/{z}/{x}/{y}.mvt` (one layer or a
//! comma-separated composite), their TileJSON 3.0, and the shared answer code
//! the OGC API – Tiles paths (`ogc_tiles.rs`) use too.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::{base_url, error, ApiError, AppState};
use crate::app::App;
use crate::auth::Principal;
use crate::index::LayerIndex;
use crate::model::LayerCode;
use crate::tiles::{TileCoord, TileRequest, ZoomRange, MAX_LAT_DEG, MAX_ZOOM};

/// Media type of Mapbox Vector Tiles (as registered with IANA).
pub(super) const MVT_MEDIA_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// Tiles change whenever a layer is edited, so clients revalidate every time
/// (a 304 costs no rendering: the ETag comes from the layers' versions).
const TILE_CACHE_CONTROL: &str = "public, no-cache";
/// A tile with an internal layer in it is for its caller only: shared caches
/// (a proxy, a CDN) must not hand it to the public.
const PRIVATE_TILE_CACHE_CONTROL: &str = "private, no-cache";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tiles/{layers}", get(tilejson))
        .route("/tiles/{layers}/{z}/{x}/{y}", get(xyz_tile))
}

/// The layers of a request (`a` or `a,b,c`) with their zoom ranges, in order.
/// Unknown and unpublished layers are both "unknown": a private layer's
/// existence is not disclosed.
pub(super) fn resolve_layers(
    app: &App,
    caller: &Principal,
    list: &str,
) -> Result<Vec<(Arc<LayerIndex>, ZoomRange)>, ApiError> {
    let names: Vec<&str> = list.split(',').collect();
    // A request must not make the server draw hundreds of layers.
    let most = app.config().limits.max_tile_layers;
    if names.len() > most {
        return Err(ApiError::InvalidTile(format!(
            "at most {most} layers may be combined in one tile (config max_tile_layers), not {}",
            names.len()
        )));
    }
    let snapshot = app.index().snapshot();
    let mut layers: Vec<(Arc<LayerIndex>, ZoomRange)> = Vec::with_capacity(names.len());
    for name in names {
        let unknown = || {
            ApiError::UnknownLayer(format!(
                "layer '{}' does not exist",
                name.chars().take(64).collect::<String>()
            ))
        };
        let code: LayerCode = name.parse().map_err(|_| unknown())?;
        let layer = snapshot
            .get(&code)
            .filter(|l| caller.sees_layer(&l.layer().spec))
            .ok_or_else(unknown)?;
        if layers.iter().any(|(l, _)| l.code() == &code) {
            return Err(ApiError::InvalidTile(format!(
                "layer '{code}' is named twice in '{list}'"
            )));
        }
        layers.push((layer.clone(), app.zoom_range(layer)));
    }
    Ok(layers)
}

/// Parses one number of a tile address (`what` names it in the error).
fn tile_number<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| {
        ApiError::InvalidTile(format!(
            "{what} must be a non-negative integer, not '{}'",
            text.chars().take(32).collect::<String>()
        ))
    })
}

/// Checks a tile address against the pyramid and the layers' zoom ranges.
pub(super) fn tile_coord(
    z: &str,
    x: &str,
    y: &str,
    layers: &[(Arc<LayerIndex>, ZoomRange)],
) -> Result<TileCoord, ApiError> {
    let z: u8 = tile_number("zoom", z)?;
    let x: u32 = tile_number("x (column)", x)?;
    let y: u32 = tile_number("y (row)", y)?;
    let tile = TileCoord::new(z, x, y).map_err(|e| ApiError::InvalidTile(e.to_string()))?;
    let maxzoom = layers
        .iter()
        .map(|(_, r)| r.maxzoom)
        .max()
        .unwrap_or(MAX_ZOOM);
    if z > maxzoom {
        return Err(ApiError::InvalidTile(format!(
            "zoom {z} is above the highest zoom of these layers, {maxzoom}; \
             clients draw deeper zooms from the zoom-{maxzoom} tiles"
        )));
    }
    Ok(tile)
}

/// Answers a tile: 304 when the client's copy is current, 204 when nothing is
/// drawn there, else the MVT bytes (gzipped when the client accepts gzip).
pub(super) async fn tile_response(
    app: &App,
    headers: &HeaderMap,
    layers: &[(Arc<LayerIndex>, ZoomRange)],
    tile: TileCoord,
) -> Result<Response, ApiError> {
    let request = TileRequest::new(tile, layers);
    let etag = request.etag();
    let gzip_ok = accepts_gzip(headers);
    let mut response = if if_none_match(headers, &etag) {
        error::not_modified().into_response()
    } else if request.draws_nothing() {
        error::no_content().into_response()
    } else {
        let (tile, hit) = match app.tile_cache().cached(&request).await {
            Some(tile) => (tile, true),
            None => {
                // Rendering is the expensive part: it waits its turn; a hit does not.
                let _permit = super::limits::heavy(app).await?;
                app.tile_cache()
                    .get(request)
                    .await
                    .map_err(ApiError::internal)?
            }
        };
        let mut response = if tile.is_empty() {
            error::no_content().into_response()
        } else if gzip_ok {
            let mut r = tile.gzip().into_response();
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        } else {
            tile.mvt.clone().into_response()
        };
        if !tile.is_empty() {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(MVT_MEDIA_TYPE),
            );
        }
        let cache = match (app.tile_cache().is_enabled(), hit) {
            (false, _) => "off",
            (true, true) => "hit",
            (true, false) => "miss",
        };
        response
            .headers_mut()
            .insert("x-tile-cache", HeaderValue::from_static(cache));
        response
    };
    let h = response.headers_mut();
    // The ETag is of the uncompressed tile; the gzipped one is another
    // representation, so it gets its own (RFC 9110 §8.8.3).
    let tag = if gzip_ok { gzip_etag(&etag) } else { etag };
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    let internal = layers.iter().any(|(l, _)| !l.layer().spec.public);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if internal {
            PRIVATE_TILE_CACHE_CONTROL
        } else {
            TILE_CACHE_CONTROL
        }),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Ok(response)
}

fn gzip_etag(etag: &str) -> String {
    format!("{}-gz\"", etag.trim_end_matches('"'))
}

/// True when `If-None-Match` lists this tile's ETag (plain or gzip form) or `*`.
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    let gz = gzip_etag(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag || t == gz)
}

/// True when `Accept-Encoding` allows gzip (RFC 9110 §12.5.3: a `q=0` refuses it).
pub(super) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

async fn xyz_tile(
    State(app): State<AppState>,
    caller: Caller,
    Path((list, z, x, y)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layers = resolve_layers(&app, &caller, &list)?;
    let y = y
        .strip_suffix(".mvt")
        .or_else(|| y.strip_suffix(".pbf"))
        .unwrap_or(&y);
    let tile = tile_coord(&z, &x, y, &layers)?;
    tile_response(&app, &headers, &layers, tile).await
}

/// TileJSON 3.0 of one layer or a composite: `GET /tiles/{layers}.json`.
async fn tilejson(
    State(app): State<AppState>,
    caller: Caller,
    Path(list): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(list) = list.strip_suffix(".json") else {
        return Err(ApiError::NoRoute(format!(
            "no resource at /tiles/{list}; TileJSON is at /tiles/{{layers}}.json and tiles at \
             /tiles/{{layers}}/{{z}}/{{x}}/{{y}}.mvt"
        )));
    };
    let layers = resolve_layers(&app, &caller, list)?;
    let base = base_url(&headers);
    let mut response = Json(tilejson_document(&base, list, &layers)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(TILE_CACHE_CONTROL),
    );
    Ok(response)
}

/// The bounds of some layers, lon/lat degrees `[west, south, east, north]`;
/// the whole Web Mercator world when they are empty.
pub(super) fn bounds(layers: &[(Arc<LayerIndex>, ZoomRange)]) -> [f64; 4] {
    let mut b: Option<[f64; 4]> = None;
    for r in layers.iter().filter_map(|(l, _)| l.extent()) {
        let (min, max) = (r.min(), r.max());
        b = Some(match b {
            None => [min.x, min.y, max.x, max.y],
            Some([w, s, e, n]) => [w.min(min.x), s.min(min.y), e.max(max.x), n.max(max.y)],
        });
    }
    b.unwrap_or([-180.0, -MAX_LAT_DEG, 180.0, MAX_LAT_DEG])
}

/// A layer's attributes as TileJSON lists them: name → type.
pub(super) fn fields_json(layer: &LayerIndex) -> Map<String, Value> {
    layer
        .fields()
        .iter()
        .map(|(name, t)| (name.clone(), json!(t)))
        .collect()
}

fn tilejson_document(base: &str, list: &str, layers: &[(Arc<LayerIndex>, ZoomRange)]) -> Value {
    let minzoom = layers.iter().map(|(_, r)| r.minzoom).min().unwrap_or(0);
    let maxzoom = layers.iter().map(|(_, r)| r.maxzoom).max().unwrap_or(0);
    let bounds = bounds(layers);
    // Open the map where every layer is drawn: at the deepest minzoom, at least
    // 10 (a whole city), over the middle of the data.
    let center_zoom = layers
        .iter()
        .map(|(_, r)| r.minzoom)
        .max()
        .unwrap_or(0)
        .clamp(10, maxzoom.max(10));
    let title = match layers {
        [(l, _)] => l.layer().spec.title.clone(),
        _ => layers
            .iter()
            .map(|(l, _)| l.layer().spec.title.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let description = match layers {
        [(l, _)] => l.layer().spec.description.clone(),
        _ => format!("{} layers of imgis in one tile", layers.len()),
    };
    let vector_layers: Vec<Value> = layers
        .iter()
        .map(|(l, r)| {
            json!({
                "id": l.code(),
                "description": l.layer().spec.title,
                "minzoom": r.minzoom,
                "maxzoom": r.maxzoom,
                "fields": fields_json(l),
            })
        })
        .collect();
    json!({
        "tilejson": "3.0.0",
        "name": title,
        "description": description,
        "version": "1.0.0",
        "attribution": "imgis",
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{list}/{{z}}/{{x}}/{{y}}.mvt")],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": bounds,
        "center": [
            (bounds[0] + bounds[2]) / 2.0,
            (bounds[1] + bounds[3]) / 2.0,
            center_zoom,
        ],
        "vector_layers": vector_layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn gzip_is_accepted_unless_refused() {
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "gzip, deflate, br"
        )])));
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "br;q=1.0, GZIP;q=0.5"
        )])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "*")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "br")])));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn if_none_match_takes_either_representation_and_lists() {
        let tag = "\"00ff\"";
        assert!(if_none_match(
            &headers(&[("if-none-match", "\"00ff\"")]),
            tag
        ));
        assert!(if_none_match(
            &headers(&[("if-none-match", "\"1\", \"00ff-gz\"")]),
            tag
        ));
        assert!(if_none_match(
            &headers(&[("if-none-match", "W/\"00ff\"")]),
            tag
        ));
        assert!(if_none_match(&headers(&[("if-none-match", "*")]), tag));
        assert!(!if_none_match(
            &headers(&[("if-none-match", "\"00fe\"")]),
            tag
        ));
        assert!(!if_none_match(&HeaderMap::new(), tag));
    }
}
