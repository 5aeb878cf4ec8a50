//! Tile archives over HTTP: the PMTiles files of the tiles folder (written by
//! `imgis tiles export`), served tile by tile as they are stored.
//!
//! - `GET /archives`: the archives, with their zooms, bounds and links.
//! - `GET /archives/{name}.json`: an archive's TileJSON 3.0, with absolute tile URLs.
//! - `GET /archives/{name}/{z}/{x}/{y}.mvt`: a tile, gzipped as stored when the
//!   client takes gzip, else inflated; 204 when the archive holds no such tile.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::tiles::{accepts_gzip, tile_coord, MVT_MEDIA_TYPE};
use super::{base_url, error, ApiError, AppState};
use crate::app::App;
use crate::tiles::archive::{self, Archive};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/archives", get(list))
        // The router cannot put `.json` or `.mvt` right after a parameter, so
        // the handlers split them off.
        .route("/archives/{file}", get(tilejson))
        .route("/archives/{name}/{z}/{x}/{file}", get(tile))
}

/// The archive named in a URL, or 404.
fn find<'a>(app: &'a App, name: &str) -> Result<&'a Archive, ApiError> {
    app.archives().get(name).ok_or_else(|| {
        ApiError::UnknownArchive(format!(
            "tile archive '{}' does not exist; GET /archives lists them",
            name.chars().take(64).collect::<String>()
        ))
    })
}

async fn list(State(app): State<AppState>) -> Json<Value> {
    let archives: Vec<Value> = app
        .archives()
        .iter()
        .map(|a| {
            let name = a.name();
            json!({
                "name": name,
                "minzoom": a.minzoom(),
                "maxzoom": a.maxzoom(),
                "bounds": a.bounds(),
                "links": [
                    { "rel": "tilejson", "href": format!("/archives/{name}.json") },
                    { "rel": "tiles", "href": format!("/archives/{name}/{{z}}/{{x}}/{{y}}.mvt") },
                ],
            })
        })
        .collect();
    Json(json!({ "archives": archives }))
}

/// `GET /archives/{name}.json`: TileJSON 3.0 whose tile URLs point back at
/// this server as the client reached it.
async fn tilejson(
    State(app): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let Some(name) = file.strip_suffix(".json") else {
        return Err(ApiError::NoRoute(format!(
            "no resource at /archives/{}; an archive's TileJSON is at /archives/{{name}}.json",
            file.chars().take(64).collect::<String>()
        )));
    };
    let archive = find(&app, name)?;
    let base = format!("{}/archives/{}", base_url(&headers), archive.name());
    Ok(Json(archive.tilejson(&base)))
}

/// `GET /archives/{name}/{z}/{x}/{y}.mvt`.
async fn tile(
    State(app): State<AppState>,
    Path((name, z, x, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let archive = find(&app, &name)?;
    let Some(y) = file.strip_suffix(".mvt") else {
        return Err(ApiError::NoRoute(format!(
            "no resource at /archives/{name}/{z}/{x}/{}; tiles are {{y}}.mvt",
            file.chars().take(64).collect::<String>()
        )));
    };
    // No layers to hold the zoom to: only the pyramid's own bounds apply.
    let t = tile_coord(&z, &x, y, &[])?;
    let Some(stored) = archive
        .tile(t.z, t.x, t.y)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(error::no_content().into_response());
    };
    let gzip = archive.is_gzip() && accepts_gzip(&headers);
    let body = if archive.is_gzip() && !gzip {
        archive::gunzip(&stored).map_err(ApiError::internal)?
    } else {
        stored
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MVT_MEDIA_TYPE),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Ok(response)
}
