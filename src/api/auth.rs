//! The caller of a request: `Authorization: Bearer <token>` checked by the
//! app, or the anonymous public when the header is absent. A header that is
//! present but not a valid token is refused (401) even where the public may
//! read: a client with a broken or revoked token should learn so at once.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::auth::{AuthError, Principal};
use crate::index::{LayerIndex, Snapshot};
use crate::model::LayerCode;

/// Who is asking; every handler that reads layers or changes anything takes one.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl std::ops::Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        if let Some(known) = parts.extensions.get::<Caller>() {
            return Ok(known.clone());
        }
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Caller(Principal::anonymous()));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| ApiError::from(AuthError::InvalidToken))?;
        let caller = Caller(app.authenticate(token).await?);
        // Handlers with two extractors, and the request log, see the same caller.
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

impl Caller {
    /// The index as this caller may read it: all of it for staff, the
    /// published layers for the public (a copy of the table only when there
    /// is something to hide; the layers themselves are shared).
    pub fn snapshot(&self, app: &AppState) -> std::sync::Arc<Snapshot> {
        let all = app.index().snapshot();
        if self.is_staff() || all.values().all(|l| l.layer().spec.public) {
            return all;
        }
        std::sync::Arc::new(
            all.iter()
                .filter(|(_, l)| l.layer().spec.public)
                .map(|(c, l)| (c.clone(), l.clone()))
                .collect(),
        )
    }

    /// A layer of the index this caller may see, by its code in a path;
    /// an internal layer is as absent as an unknown one for the public.
    pub fn layer(
        &self,
        app: &AppState,
        code: &str,
    ) -> Result<std::sync::Arc<LayerIndex>, ApiError> {
        let unknown = || {
            ApiError::UnknownLayer(format!(
                "layer '{}' does not exist",
                code.chars().take(64).collect::<String>()
            ))
        };
        let code: LayerCode = code.parse().map_err(|_| unknown())?;
        app.index()
            .layer(&code)
            .filter(|l| self.sees_layer(&l.layer().spec))
            .ok_or_else(unknown)
    }
}
