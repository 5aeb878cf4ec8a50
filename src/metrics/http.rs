//! The HTTP side of observability, as layers `api::router` puts around every
//! route (outermost first):
//! 1. [`keep_sane_request_id`]: an `x-request-id` the client sent is kept only
//!    when it is a plain token (it ends up in logs and answers);
//! 2. tower-http's `SetRequestIdLayer` with [`RandomRequestId`] gives every
//!    other request a fresh id, and `PropagateRequestIdLayer` copies it to the
//!    answer (error answers included);
//! 3. [`trace_layer`]: one log span per request ([`RequestSpan`]) carrying the
//!    request id, method, route template and path, and, once answered, the
//!    status and latency, so every log line written while answering says
//!    which request it belongs to;
//! 4. [`track`]: the request counters and latency histogram of [`Metrics`](super::Metrics).
//!
//! Neither labels nor logs carry the query string (it may hold personal
//! data), and an application's path is logged as its route template.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{MakeRequestId, RequestId};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;

use crate::app::App;

/// The header a request id travels in, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest request id taken from a client.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The `route` label and log field of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The route template a request matched (`/parcels/{cadastral}`), or
/// [`UNMATCHED`]. Never the request's own path: that would put cadastral
/// numbers and application ids into labels, one label set per path.
fn route_of<B>(request: &axum::http::Request<B>) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
}

/// The method as a label: the standard ones by name, any other as `OTHER`
/// (a client can send any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Middleware counting each request: in flight while answered, then by
/// method, route and status, with its latency to the answer's head.
pub async fn track(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let metrics = app.metrics();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let _in_flight = metrics.request_started();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.record_request(
        method,
        route.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Whether a client's request id can be kept: 1 to 64 letters, digits, `.`,
/// `_` or `-` (no spaces or quotes that would garble a log line).
pub fn is_sane_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Middleware (before `SetRequestIdLayer`) dropping a client's request id
/// that is not sane, so that the request gets a fresh one instead.
pub async fn keep_sane_request_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let sent: Vec<&HeaderValue> = headers.get_all(REQUEST_ID_HEADER).iter().collect();
    let keep = match sent.as_slice() {
        [one] if is_sane_request_id(one.as_bytes()) => Some((*one).clone()),
        _ => None,
    };
    headers.remove(REQUEST_ID_HEADER);
    if let Some(id) = keep {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    request
}

/// Makes a request id: 128 random bits in hex.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!("{:032x}", rand::random::<u128>());
        HeaderValue::try_from(id).ok().map(RequestId::new)
    }
}

/// The log span of a request. At `info`, so that it is there under the
/// default filter and every line logged while answering carries the request
/// id; the span itself prints nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> Span {
        let route = route_of(request);
        let path = request.uri().path();
        // An application's path names it: logged as the template only.
        let path = if path.starts_with("/applications") {
            route
        } else {
            path
        };
        let request_id = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            "request",
            request_id,
            method = %request.method(),
            route,
            path,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        )
    }
}

/// Records the status and latency on the request's span, and writes one
/// access line at `debug` under the target `imgis::access` (one line per tile
/// would cost the tile server dearly; `IMGIS_LOG=info,imgis::access=debug`
/// turns them on). Server errors are also logged at `error` by the trace
/// layer's failure hook, with the same span.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogResponse;

impl<B> OnResponse<B> for LogResponse {
    fn on_response(self, response: &axum::http::Response<B>, latency: Duration, span: &Span) {
        span.record("status", response.status().as_u16());
        // Milliseconds to the microsecond.
        span.record("latency_ms", latency.as_micros() as f64 / 1000.0);
        tracing::debug!(target: "imgis::access", "answered");
    }
}

/// The trace layer: server errors (5xx) are failures, logged at `error`.
pub type Trace = TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), LogResponse>;

pub fn trace_layer() -> Trace {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(LogResponse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_request_ids_are_kept() {
        assert!(is_sane_request_id(b"abc-123_X.y"));
        assert!(is_sane_request_id(&[b'a'; 64]));
        assert!(!is_sane_request_id(&[b'a'; 65]));
        assert!(!is_sane_request_id(b""));
        assert!(!is_sane_request_id(b"two words"));
        assert!(!is_sane_request_id(b"quote\"d"));
        assert!(!is_sane_request_id("кириллица".as_bytes()));
    }

    #[test]
    fn made_request_ids_are_128_bit_hex_and_differ() {
        let req = axum::http::Request::new(());
        let a = RandomRequestId.make_request_id(&req).unwrap();
        let b = RandomRequestId.make_request_id(&req).unwrap();
        let a = a.header_value().to_str().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b.header_value().to_str().unwrap());
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
    }
}
