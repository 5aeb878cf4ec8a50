//! The one place HTTP status codes are chosen. Every error answer is JSON
//! `{ "error": "<code>", "message": "<sentence>" }`; internal details are logged,
//! never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::app::AppError;
use crate::applications::ApplicationError;
use crate::auth::AuthError;
use crate::constraints::ConstraintsError;
use crate::import::{ImportError, ReadError};
use crate::model::CadastralError;
use crate::routing::RoutingError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    UnknownLayer(String),
    #[error("{0}")]
    UnknownParcel(String),
    #[error("{0}")]
    BadCadastral(#[from] CadastralError),
    #[error("{0}")]
    NoRoute(String),
    #[error("{0}")]
    InvalidTile(String),
    #[error("{0}")]
    UnknownTileMatrixSet(String),
    #[error("{0}")]
    UnknownArchive(String),
    #[error("{0}")]
    Unavailable(String),
    /// A request body that is not the JSON asked for.
    #[error("{0}")]
    InvalidJson(String),
    /// A geometry that is not one, or not a valid one.
    #[error("{0}")]
    InvalidGeometry(String),
    /// A plot over the configured area or vertex limit.
    #[error("{0}")]
    GeometryTooLarge(String),
    /// A request body over `max_body_kb`.
    #[error("{0}")]
    BodyTooLarge(String),
    /// An import file holding more features than `max_import_features`.
    #[error("{0}")]
    TooManyFeatures(String),
    /// Every permit of this kind of work is taken (`max_concurrent_*`):
    /// retry after `retry_after_s` seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_s: u32 },
    /// Not answered within `request_timeout_s` (`import_timeout_s` for imports).
    #[error("{0}")]
    Timeout(String),
    /// A query parameter missing, malformed, or naming the wrong kind of layer.
    #[error("{0}")]
    BadQuery(String),
    #[error("{0}")]
    UnknownFeature(String),
    #[error("{0}")]
    UnknownService(String),
    #[error("{0}")]
    UnknownLifeSituation(String),
    #[error("{0}")]
    UnknownApplication(String),
    #[error("{0}")]
    UnknownTask(String),
    /// A decision on a task that has its final decision.
    #[error("{0}")]
    TaskClosed(String),
    /// A decision on an application that has its final answer.
    #[error("{0}")]
    ApplicationClosed(String),
    /// Changed by others faster than this request could apply its change.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    CommentRequired(String),
    /// A cadastral number another parcel already has.
    #[error("{0}")]
    DuplicateCadastral(String),
    /// An edit of a layer imgis derives from others.
    #[error("{0}")]
    DerivedLayer(String),
    /// A rule forbids what is applied for at this plot: nothing is registered.
    #[error("{0}")]
    RouteBlocked(String),
    /// An import file that cannot be read (format, damage, truncation, archive).
    #[error("{0}")]
    InvalidFile(String),
    /// An import file whose CRS is missing or unusable.
    #[error("{0}")]
    CrsRequired(String),
    /// An import that does not fit its layer (kind, department) or would empty it.
    #[error("{0}")]
    ImportConflict(String),
    /// The `reject` policy refused the import; the report lists why.
    #[error("{message}")]
    ImportRejected {
        message: String,
        report: Box<serde_json::Value>,
    },
    #[error("{0}")]
    UnknownDepartment(String),
    /// An upload over the configured size.
    #[error("{0}")]
    UploadTooLarge(String),
    /// No token where one is needed, or a token that is not valid.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token of the wrong role or department.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Internal(anyhow_free::Internal),
}

/// Kept apart so no caller builds an internal error with a message meant for users.
mod anyhow_free {
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    pub struct Internal(pub String);
}

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(anyhow_free::Internal(e.to_string()))
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::UnknownLayer(_) => (StatusCode::NOT_FOUND, "unknown_layer"),
            ApiError::UnknownParcel(_) => (StatusCode::NOT_FOUND, "unknown_parcel"),
            ApiError::BadCadastral(_) => (StatusCode::BAD_REQUEST, "malformed_cadastral_number"),
            ApiError::NoRoute(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::InvalidTile(_) => (StatusCode::BAD_REQUEST, "invalid_tile"),
            ApiError::UnknownTileMatrixSet(_) => (StatusCode::NOT_FOUND, "unknown_tile_matrix_set"),
            ApiError::UnknownArchive(_) => (StatusCode::NOT_FOUND, "unknown_archive"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            ApiError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            ApiError::InvalidGeometry(_) => (StatusCode::BAD_REQUEST, "invalid_geometry"),
            ApiError::GeometryTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "geometry_too_large"),
            ApiError::BadQuery(_) => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            ApiError::UnknownFeature(_) => (StatusCode::NOT_FOUND, "unknown_feature"),
            ApiError::UnknownService(_) => (StatusCode::NOT_FOUND, "unknown_service"),
            ApiError::UnknownLifeSituation(_) => (StatusCode::NOT_FOUND, "unknown_life_situation"),
            ApiError::UnknownApplication(_) => (StatusCode::NOT_FOUND, "unknown_application"),
            ApiError::UnknownTask(_) => (StatusCode::NOT_FOUND, "unknown_task"),
            ApiError::TaskClosed(_) => (StatusCode::CONFLICT, "task_closed"),
            ApiError::ApplicationClosed(_) => (StatusCode::CONFLICT, "application_closed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::CommentRequired(_) => (StatusCode::BAD_REQUEST, "comment_required"),
            ApiError::DuplicateCadastral(_) => (StatusCode::CONFLICT, "duplicate_cadastral"),
            ApiError::DerivedLayer(_) => (StatusCode::CONFLICT, "derived_layer"),
            ApiError::RouteBlocked(_) => (StatusCode::UNPROCESSABLE_ENTITY, "route_blocked"),
            ApiError::InvalidFile(_) => (StatusCode::BAD_REQUEST, "invalid_file"),
            ApiError::CrsRequired(_) => (StatusCode::BAD_REQUEST, "crs_required"),
            ApiError::ImportConflict(_) => (StatusCode::CONFLICT, "import_conflict"),
            ApiError::ImportRejected { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "import_rejected")
            }
            ApiError::UnknownDepartment(_) => (StatusCode::BAD_REQUEST, "unknown_department"),
            ApiError::UploadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large"),
            ApiError::BodyTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::TooManyFeatures(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_features"),
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            }
            ApiError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownLayer(code) => {
                ApiError::UnknownLayer(format!("layer '{code}' does not exist"))
            }
            e @ StoreError::UnknownApplication(_) => ApiError::UnknownApplication(e.to_string()),
            e @ StoreError::UnknownFeature { .. } => ApiError::UnknownFeature(e.to_string()),
            e @ (StoreError::GeometryType { .. } | StoreError::EmptyGeometry { .. }) => {
                ApiError::InvalidGeometry(e.to_string())
            }
            e @ StoreError::DuplicateCadastral(_) => ApiError::DuplicateCadastral(e.to_string()),
            e @ StoreError::ApplicationChanged(_) => ApiError::Conflict(e.to_string()),
            e @ StoreError::UnknownDepartment(_) => ApiError::UnknownDepartment(e.to_string()),
            e @ StoreError::LayerExists(_) => ApiError::ImportConflict(e.to_string()),
            e if e.is_unavailable() => {
                ApiError::Unavailable("the store cannot be reached; try again shortly".into())
            }
            e => ApiError::internal(e),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Store(e) => e.into(),
            AppError::Application(e) => e.into(),
            e @ AppError::DerivedLayer(_) => ApiError::DerivedLayer(e.to_string()),
            AppError::Import(e) => e.into(),
            AppError::ImportTarget(message) => ApiError::ImportConflict(message),
            AppError::Auth(e) => e.into(),
            e => ApiError::internal(e),
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        let message = e.to_string();
        match e {
            ImportError::Read(ReadError::Io { .. }) => ApiError::internal(message),
            ImportError::Read(ReadError::Layer { .. } | ReadError::Columns { .. }) => {
                ApiError::BadQuery(message)
            }
            ImportError::Read(_) => ApiError::InvalidFile(message),
            ImportError::Crs(_) => ApiError::CrsRequired(message),
            ImportError::CadastralField(_) => ApiError::BadQuery(message),
            ImportError::Stopped(_) => ApiError::internal(message),
            ImportError::TooManyFeatures { .. } => ApiError::TooManyFeatures(message),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let message = e.to_string();
        match e {
            AuthError::TokenRequired(_) | AuthError::InvalidToken => {
                ApiError::Unauthorized(message)
            }
            AuthError::Forbidden(_) => ApiError::Forbidden(message),
            AuthError::UnknownRole(_)
            | AuthError::DepartmentRequired
            | AuthError::DepartmentNotAllowed(_) => ApiError::BadQuery(message),
        }
    }
}

impl From<ConstraintsError> for ApiError {
    fn from(e: ConstraintsError) -> Self {
        let message = e.to_string();
        match e {
            ConstraintsError::NotAPolygon(_)
            | ConstraintsError::InvalidGeometry(_)
            | ConstraintsError::OutsideMetricCrs(_) => ApiError::InvalidGeometry(message),
            ConstraintsError::PlotTooLarge { .. } | ConstraintsError::TooManyVertices { .. } => {
                ApiError::GeometryTooLarge(message)
            }
            ConstraintsError::UnknownLayer(_) => ApiError::UnknownLayer(message),
            ConstraintsError::NotZoneLayer { .. } | ConstraintsError::NotNetworkLayer { .. } => {
                ApiError::BadQuery(message)
            }
        }
    }
}

impl From<RoutingError> for ApiError {
    fn from(e: RoutingError) -> Self {
        let message = format!("{e}; GET /catalog lists the services and life situations");
        match e {
            RoutingError::UnknownService(_) => ApiError::UnknownService(message),
            RoutingError::UnknownLifeSituation(_) => ApiError::UnknownLifeSituation(message),
        }
    }
}

impl From<ApplicationError> for ApiError {
    fn from(e: ApplicationError) -> Self {
        let message = e.to_string();
        match e {
            ApplicationError::UnknownTask(..) => ApiError::UnknownTask(message),
            ApplicationError::TaskClosed { .. } => ApiError::TaskClosed(message),
            ApplicationError::ApplicationClosed { .. } => ApiError::ApplicationClosed(message),
            ApplicationError::CommentRequired(_) => ApiError::CommentRequired(message),
        }
    }
}

/// A resource just made: 201 and where it lives.
pub fn created(location: &str) -> (StatusCode, [(axum::http::HeaderName, String); 1]) {
    (
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location.to_owned())],
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error; the server log has the details".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = json!({ "error": code, "message": message });
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after_s, .. } => Some(*retry_after_s),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(5),
            _ => None,
        };
        let challenge = status == StatusCode::UNAUTHORIZED;
        if let ApiError::ImportRejected { report, .. } = self {
            body["report"] = *report;
        }
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if challenge {
            // RFC 6750: tells clients which scheme to answer with.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"imgis\""),
            );
        }
        response
    }
}

/// The status `/health` answers with: 200 when everything works, 503 when
/// degraded (reads still served from the index, but the store is unreachable).
pub fn health_status(healthy: bool) -> StatusCode {
    if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// A conditional GET whose copy is current: no body, the client keeps its copy.
pub fn not_modified() -> StatusCode {
    StatusCode::NOT_MODIFIED
}

/// A tile with nothing drawn in it: no body (clients draw an empty tile).
pub fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}
