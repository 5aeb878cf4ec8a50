//! The HTTP surface (axum). One router per resource module, merged here;
//! handlers are thin: parse, call the domain or the index, map to a response.
//! Status codes are chosen only in [`error`].

pub mod error;
mod health;
mod layers;
mod parcels;

use std::sync::Arc;

use axum::Router;
use tower_http::trace::TraceLayer;

use crate::app::App;
pub use error::ApiError;

/// Shared state of every handler: a cheap clone of the app handle.
pub type AppState = Arc<App>;

/// The whole API.
pub fn router(app: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(layers::router())
        .merge(parcels::router())
        .fallback(not_found)
        .with_state(app)
        .layer(TraceLayer::new_for_http())
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(format!("no resource at {}", uri.path()))
}
