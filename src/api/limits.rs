//! The request limits enforced at the HTTP edge (issue 7), with their values
//! from `app.config().limits`:
//! - every request has a time limit (`request_timeout_s`; imports have
//!   `import_timeout_s`), past which it is answered 503 `timeout`;
//! - JSON bodies are read up to `max_body_kb` (413 `body_too_large`);
//! - expensive reads (cold tiles, pages of features, constraints, routing,
//!   identify, nearest) take a permit of `max_concurrent_heavy`, waiting up to
//!   `queue_timeout_ms` for one (then 429 `too_many_requests`);
//! - imports take a permit of `max_concurrent_imports` or are refused at once
//!   (429): they run for minutes, so waiting in a queue would only time out.
//!
//! Permits are taken after the request is read and checked: a client that
//! sends its body slowly, or asks for something malformed, holds none.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::OwnedSemaphorePermit;

use super::ApiError;
use crate::app::App;
use crate::config::Limits;

/// Seconds a client refused for want of an import permit is told to wait:
/// imports take minutes, asking again every second would be noise.
const IMPORT_RETRY_AFTER_S: u32 = 30;

/// Seconds a client refused for want of a read permit is told to wait: reads
/// take milliseconds, a second frees many permits.
const HEAVY_RETRY_AFTER_S: u32 = 1;

/// The time limits: imports have their own, every other request the same.
#[derive(Debug, Clone, Copy)]
pub(super) struct Deadlines {
    request: Duration,
    import: Duration,
}

impl Deadlines {
    pub(super) fn of(limits: &Limits) -> Self {
        Self {
            request: limits.request_timeout,
            import: limits.import_timeout,
        }
    }
}

/// Middleware (added with `Router::layer`, so the matched route is known):
/// runs the request, or answers 503 `timeout` once it has taken longer than
/// `request_timeout_s`, or `import_timeout_s` for `POST /layers/{code}/import`
/// (a big city layer takes minutes to upload and import). The request's
/// future is dropped then: reads stop, and an import rolls back
/// (`app::imports` sees to that).
pub(super) async fn answer_in_time(
    State(deadlines): State<Deadlines>,
    request: Request,
    next: Next,
) -> Response {
    let import = request.method() == Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| p.as_str() == super::imports::PATH);
    let (after, key) = if import {
        (deadlines.import, "import_timeout_s")
    } else {
        (deadlines.request, "request_timeout_s")
    };
    match tokio::time::timeout(after, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            // The request's span (method, route, path) is the log line's.
            tracing::warn!(limit = ?after, "request timed out");
            ApiError::Timeout(format!(
                "the request was not answered within {} (config {key}); try again later",
                spoken(after)
            ))
            .into_response()
        }
    }
}

/// A duration as people say it: "30 s", or "250 ms" below a second.
fn spoken(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs())
    }
}

/// The largest body a handler reads (`max_body_kb`); a larger one makes the
/// body extractor fail with 413, answered as [`body_too_large`].
pub(super) fn body_limit(limits: &Limits) -> DefaultBodyLimit {
    DefaultBodyLimit::max(limits.max_body_bytes)
}

/// The answer to a body over `max_body_kb`.
pub(super) fn body_too_large() -> ApiError {
    ApiError::BodyTooLarge(
        "the request body is larger than the server accepts (config max_body_kb)".into(),
    )
}

/// A permit for an expensive read, waiting up to `queue_timeout_ms` for one.
/// Hold it for as long as the work runs.
pub(super) async fn heavy(app: &App) -> Result<OwnedSemaphorePermit, ApiError> {
    let limits = &app.config().limits;
    let acquire = app.heavy_permits().clone().acquire_owned();
    match tokio::time::timeout(limits.queue_timeout, acquire).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(closed)) => Err(ApiError::internal(closed)),
        Err(_) => Err(ApiError::TooManyRequests {
            message: format!(
                "the server is busy with {} expensive requests, the most at once \
                 (config max_concurrent_heavy); retry in a second",
                limits.max_concurrent_heavy
            ),
            retry_after_s: HEAVY_RETRY_AFTER_S,
        }),
    }
}

/// A permit for an import, or 429 at once when `max_concurrent_imports` run.
/// Hold it until the import has finished.
pub(super) fn import(app: &App) -> Result<OwnedSemaphorePermit, ApiError> {
    app.import_permits()
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManyRequests {
            message: format!(
                "{} import(s) are running, the most at once (config max_concurrent_imports); \
                 retry when one has finished",
                app.config().limits.max_concurrent_imports
            ),
            retry_after_s: IMPORT_RETRY_AFTER_S,
        })
}

#[cfg(test)]
mod tests {
    use super::spoken;
    use std::time::Duration;

    #[test]
    fn durations_are_spoken_in_the_unit_configured() {
        assert_eq!(spoken(Duration::from_secs(30)), "30 s");
        assert_eq!(spoken(Duration::from_millis(250)), "250 ms");
    }
}
