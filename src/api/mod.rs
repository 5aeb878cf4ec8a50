//! The HTTP surface (axum). One router per resource module, merged here;
//! handlers are thin: parse, call the domain or the index, map to a response.
//! Status codes are chosen only in [`error`].

mod applications;
mod archives;
pub mod auth;
mod constraints;
mod departments;
pub mod error;
mod features;
mod health;
mod imports;
mod layers;
mod limits;
mod metrics;
mod ogc_tiles;
mod openapi;
mod parcels;
mod routing;
mod tiles;
mod web;

use std::sync::Arc;

use axum::Router;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use crate::app::App;
pub use error::ApiError;

/// Shared state of every handler: a cheap clone of the app handle.
pub type AppState = Arc<App>;

/// The whole API.
pub fn router(app: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(layers::router())
        .merge(imports::router())
        .merge(parcels::router())
        .merge(constraints::router())
        .merge(departments::router())
        .merge(routing::router())
        .merge(applications::router())
        .merge(tiles::router())
        .merge(ogc_tiles::router())
        .merge(web::router())
        .merge(features::router())
        .merge(archives::router())
        .merge(openapi::router())
        .merge(metrics::router())
        .fallback(not_found)
        // Limits (issue 7): the JSON body size, and the time every request
        // (import) is answered within.
        .layer(limits::body_limit(&app.config().limits))
        .layer(axum::middleware::from_fn_with_state(
            limits::Deadlines::of(&app.config().limits),
            limits::answer_in_time,
        ))
        // Observability, innermost first (see `crate::metrics::http`): the
        // request metrics, the log span, then the request id it carries.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::metrics::http::track,
        ))
        .with_state(app)
        .layer(crate::metrics::http::trace_layer())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(
            crate::metrics::http::RandomRequestId,
        ))
        .layer(axum::middleware::map_request(
            crate::metrics::http::keep_sane_request_id,
        ))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(format!("no resource at {}", uri.path()))
}

/// The server's own address as the client reached it, for absolute links
/// (TileJSON `tiles` must be absolute): scheme and host from the
/// `X-Forwarded-*` headers a reverse proxy sets, else `http` and `Host`.
pub(crate) fn base_url(headers: &axum::http::HeaderMap) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            // A host is letters, digits, dots, dashes, colons and brackets (IPv6);
            // anything else would let a client inject text into our links.
            .filter(|v| {
                !v.is_empty()
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
            })
    };
    let scheme = match header("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}
