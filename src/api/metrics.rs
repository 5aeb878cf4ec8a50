//! `GET /metrics`: the server's metrics for Prometheus (see [`crate::metrics`]),
//! in Prometheus text 0.0.4, or in OpenMetrics 1.0 when the scraper prefers it
//! (Prometheus itself asks for OpenMetrics first).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::auth::Role;
use crate::metrics::Format;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Layer names, sizes and traffic are the operator's business: give the
    // scraper an admin token (Prometheus `authorization: credentials`).
    caller.require("the metrics", &[Role::Admin])?;
    let format = format_asked(&headers);
    let text = app
        .metrics()
        .render(&app, format)
        .await
        .map_err(ApiError::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            // Every scrape is of now.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        text,
    )
        .into_response())
}

/// OpenMetrics when `Accept` rates `application/openmetrics-text` above zero
/// and not below `text/plain`; else Prometheus text (also for no `Accept`).
fn format_asked(headers: &HeaderMap) -> Format {
    let mut openmetrics: f32 = 0.0;
    let mut plain: f32 = 0.0;
    for item in headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" => plain = plain.max(q),
            _ => {}
        }
    }
    if openmetrics > 0.0 && openmetrics >= plain {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(accept: &str) -> Format {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        format_asked(&h)
    }

    #[test]
    fn openmetrics_only_when_preferred() {
        assert_eq!(format_asked(&HeaderMap::new()), Format::Prometheus);
        assert_eq!(asked("*/*"), Format::Prometheus);
        // What Prometheus 2.x sends.
        assert_eq!(
            asked(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                 version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            ),
            Format::OpenMetrics
        );
        assert_eq!(
            asked("text/plain;version=0.0.4,application/openmetrics-text;q=0.5"),
            Format::Prometheus
        );
        assert_eq!(
            asked("application/openmetrics-text;q=0"),
            Format::Prometheus
        );
    }
}
