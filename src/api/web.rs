//! The planners' web map (`web/`) and the map styles (`tiles/styles/`), compiled
//! into the binary so that the server needs no files beside it and works
//! offline: `/` is the map, `/web/…` its scripts and assets, `/styles/…` the
//! style templates per layer kind.

use std::borrow::Cow;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::{EmbeddedFile, RustEmbed};

use super::{error, ApiError, AppState};

#[derive(RustEmbed)]
#[folder = "web/"]
#[exclude = "*.md"]
#[exclude = "screenshot.png"]
struct WebFiles;

#[derive(RustEmbed)]
#[folder = "tiles/styles/"]
#[include = "*.json"]
struct StyleFiles;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/web/{*path}", get(web_file))
        .route("/styles/{*path}", get(style_file))
}

/// The web map's page (`GET /` for browsers; see `features::landing`).
pub(super) async fn index(headers: HeaderMap) -> Result<Response, ApiError> {
    serve(WebFiles::get("index.html"), "index.html", &headers)
}

async fn web_file(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(WebFiles::get(&path), &path, &headers)
}

async fn style_file(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(StyleFiles::get(&path), &path, &headers)
}

/// One embedded file with its media type and a validator: the files change
/// only with the binary, so clients revalidate cheaply (304) every time.
fn serve(
    file: Option<EmbeddedFile>,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let file = file.ok_or_else(|| ApiError::NoRoute(format!("no file {path}")))?;
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let current = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if current {
        error::not_modified().into_response()
    } else {
        let body = match file.data {
            Cow::Borrowed(b) => bytes::Bytes::from_static(b),
            Cow::Owned(v) => bytes::Bytes::from(v),
        };
        body.into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(file.metadata.mimetype()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
