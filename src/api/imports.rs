//! `POST /layers/{code}/import`: a GIS specialist's file, uploaded either as
//! the bare request body or as `multipart/form-data` (one file, or a
//! Shapefile's parts `.shp`, `.shx`, `.dbf`, `.prj`, `.cpg` as several file
//! fields; a zipped Shapefile as one). Options are the query parameters,
//! named as `imgis import`'s flags. The answer is the import's report.
//!
//! The upload is written to a private temporary folder (never kept in
//! memory, at most `max_upload_mb`), imported as the CLI would, and removed.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use axum::{Json, Router};
use futures::TryStreamExt;
use tokio::io::AsyncWriteExt;

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::import::report::{ImportOptions, ImportParams};
use crate::import::{Outcome, Report};

/// The import's route; `limits` gives it its own time limit.
pub(super) const PATH: &str = "/layers/{code}/import";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATH, post(import))
        // The upload's own limit (config `max_upload_mb`) applies while it is
        // written to disk; the default 2 MB body limit would refuse every layer.
        .layer(DefaultBodyLimit::disable())
}

async fn import(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    query: Result<Query<ImportParams>, QueryRejection>,
    request: Request,
) -> Result<Json<Report>, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let filename = params.filename.clone();
    let mut options = params.into_options(&code).map_err(ApiError::BadQuery)?;
    authorize(&app, &caller, &mut options)?;
    // Held until the import has finished, upload included.
    let _permit = super::limits::import(&app)?;
    let dir = tempfile::Builder::new()
        .prefix("imgis-upload-")
        .tempdir()
        .map_err(ApiError::internal)?;
    let limit = app.config().max_upload_bytes;
    let multipart = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let path = if multipart {
        let form = Multipart::from_request(request, &())
            .await
            .map_err(|e| ApiError::BadQuery(e.body_text()))?;
        save_form(form, dir.path(), limit).await?
    } else {
        let name = safe_name(filename.as_deref().unwrap_or("upload"));
        let path = dir.path().join(name);
        save_body(request.into_body(), &path, limit).await?;
        path
    };
    // The upload folder is the server's business: messages name the file only.
    let folder = format!("{}/", dir.path().display());
    let mut report = app
        .import(path, options, Arc::new(|_| {}))
        .await
        .map_err(|e| without(ApiError::from(e), &folder))?;
    drop(dir);
    for issue in &mut report.issues {
        issue.reason = issue.reason.replace(&folder, "");
    }
    for note in &mut report.notes {
        *note = note.replace(&folder, "");
    }
    if report.outcome == Outcome::Rejected {
        let message = format!(
            "{} feature(s) refused and the policy is 'reject': nothing was imported \
             (invalid=skip leaves them out, invalid=repair makes what it can valid)",
            report.rejected
        );
        return Err(ApiError::ImportRejected {
            message,
            report: Box::new(serde_json::to_value(&report).map_err(ApiError::internal)?),
        });
    }
    Ok(Json(report))
}

/// Imports are a department's own: into its layers, or an admin's anywhere;
/// checked before a byte of the upload is read. A department's token names
/// its department on the import, so the store refuses a layer of another
/// department even if one appears meanwhile (made by another instance).
fn authorize(app: &AppState, caller: &Caller, options: &mut ImportOptions) -> Result<(), ApiError> {
    const WHAT: &str = "importing a layer";
    if options.department.is_none() {
        options.department = caller.department.clone();
    }
    match app.index().layer(&options.layer) {
        Some(l) => caller.may_write_layer(WHAT, &l.layer().spec)?,
        None => {
            caller.may_create_layer(WHAT, options.department.as_deref(), options.layer.as_str())?
        }
    }
    Ok(())
}

/// `e` with `text` taken out of its message, for the errors an import answers with.
fn without(e: ApiError, text: &str) -> ApiError {
    let cut = |m: String| m.replace(text, "");
    match e {
        ApiError::InvalidFile(m) => ApiError::InvalidFile(cut(m)),
        ApiError::CrsRequired(m) => ApiError::CrsRequired(cut(m)),
        ApiError::BadQuery(m) => ApiError::BadQuery(cut(m)),
        ApiError::ImportConflict(m) => ApiError::ImportConflict(cut(m)),
        other => other,
    }
}

/// A client's file name reduced to a plain name in the upload folder: no
/// folders, nothing but letters, digits, `.`, `-`, `_` (others become `_`).
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .take(100)
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "upload".to_owned()
    } else {
        cleaned.to_owned()
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::UploadTooLarge(format!(
        "the upload is larger than {} MB (config max_upload_mb); import it with `imgis import` on the server",
        limit >> 20
    ))
}

/// Writes the bare body to `path`, refusing it past `limit` bytes.
async fn save_body(body: Body, path: &FsPath, limit: u64) -> Result<(), ApiError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(ApiError::internal)?;
    let mut written = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| ApiError::InvalidFile(format!("the upload broke off: {e}")))?
    {
        written += chunk.len() as u64;
        if written > limit {
            return Err(too_large(limit));
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    if written == 0 {
        return Err(ApiError::InvalidFile(
            "the request has no file in its body".into(),
        ));
    }
    file.flush().await.map_err(ApiError::internal)?;
    Ok(())
}

/// Writes every file field of a form into `dir` (at most `limit` bytes in
/// all) and returns the one to open: the `.shp` or `.zip` when there is one,
/// else the only file.
async fn save_form(mut form: Multipart, dir: &FsPath, limit: u64) -> Result<PathBuf, ApiError> {
    let mut saved: Vec<PathBuf> = Vec::new();
    let mut written = 0u64;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::InvalidFile(format!("the form broke off: {}", e.body_text())))?
    {
        let Some(name) = field.file_name().map(safe_name) else {
            return Err(ApiError::BadQuery(format!(
                "form field '{}' is not a file; import options go in the query string",
                field.name().unwrap_or("")
            )));
        };
        let path = dir.join(&name);
        if saved.contains(&path) {
            return Err(ApiError::BadQuery(format!(
                "the file '{name}' is uploaded twice"
            )));
        }
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(ApiError::internal)?;
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            ApiError::InvalidFile(format!("the upload broke off: {}", e.body_text()))
        })? {
            written += chunk.len() as u64;
            if written > limit {
                return Err(too_large(limit));
            }
            file.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        file.flush().await.map_err(ApiError::internal)?;
        saved.push(path);
    }
    let ext = |p: &PathBuf, e: &str| {
        p.extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| x.eq_ignore_ascii_case(e))
    };
    let main = saved
        .iter()
        .find(|p| ext(p, "shp"))
        .or_else(|| saved.iter().find(|p| ext(p, "zip")))
        .cloned();
    match (main, saved.len()) {
        (Some(p), _) => Ok(p),
        (None, 1) => Ok(saved.remove(0)),
        (None, 0) => Err(ApiError::InvalidFile("the form has no file".into())),
        (None, _) => Err(ApiError::BadQuery(
            "several files and none is a .shp or .zip: upload one file".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn client_file_names_stay_in_the_upload_folder() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\data\\участки.shp"), "участки.shp");
        assert_eq!(safe_name("..."), "upload");
        assert_eq!(safe_name("a b;c.geojson"), "a_b_c.geojson");
        assert_eq!(safe_name(""), "upload");
    }
}
