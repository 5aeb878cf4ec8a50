//! Which catalog a server runs with. The catalog is data the store keeps, in
//! numbered revisions, so every instance on one store routes by the same rules
//! and an application records the revision it was routed by.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::info;

use super::AppError;
use crate::catalog::{Catalog, CatalogError, DEFAULT_CATALOG};
use crate::store::{DynStore, StoredCatalog};

/// How the store names the built-in catalog as a revision's source.
pub const BUILTIN_SOURCE: &str = "data/catalog.toml (built in)";

/// The catalog in use and the stored revision it is.
#[derive(Debug, Clone)]
pub struct LoadedCatalog {
    pub catalog: Arc<Catalog>,
    pub revision: CatalogRevision,
}

/// A stored revision, as answers cite it.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogRevision {
    pub revision: i64,
    pub source: String,
    pub loaded_at: DateTime<Utc>,
}

impl From<&StoredCatalog> for CatalogRevision {
    fn from(s: &StoredCatalog) -> Self {
        Self {
            revision: s.revision,
            source: s.source.clone(),
            loaded_at: s.loaded_at,
        }
    }
}

/// Reads and checks a catalog file.
///
/// # Errors
/// The file cannot be read, or is not a valid catalog (the message names the entry at fault).
pub fn read_catalog_file(path: &Path) -> Result<(Catalog, String), CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let catalog = Catalog::parse(&text, &path.display().to_string())?;
    Ok((catalog, text))
}

/// Stores a checked catalog file as the newest revision (unless the newest
/// is that very text) and upserts its departments.
///
/// # Errors
/// The file is not a valid catalog; the store fails.
pub async fn load_catalog_file(store: &DynStore, path: &Path) -> Result<LoadedCatalog, AppError> {
    let (catalog, text) = read_catalog_file(path)?;
    let stored = match store.catalog().await? {
        Some(s) if s.text == text => s,
        _ => {
            store
                .save_catalog(&path.display().to_string(), &text)
                .await?
        }
    };
    finish(store, catalog, &stored).await
}

/// The catalog a server starts with:
/// - the operator's file when given (stored as a new revision if it changed);
/// - else the store's newest revision;
/// - else the built-in one, stored as revision 1.
///
/// A store whose newest revision is an older built-in catalog (the city never
/// loaded its own) moves to this version's built-in one.
///
/// # Errors
/// A catalog file or stored revision that is not valid; the store fails.
pub async fn install(store: &DynStore, file: Option<&Path>) -> Result<LoadedCatalog, AppError> {
    if let Some(path) = file {
        return load_catalog_file(store, path).await;
    }
    let (catalog, stored) = match store.catalog().await? {
        Some(s) if s.source == BUILTIN_SOURCE && s.text != DEFAULT_CATALOG => {
            info!(
                revision = s.revision,
                "the stored catalog is an older built-in one: storing this version's"
            );
            let s = store.save_catalog(BUILTIN_SOURCE, DEFAULT_CATALOG).await?;
            (Catalog::builtin(), s)
        }
        Some(s) => {
            let name = format!(
                "catalog revision {} in the store ({})",
                s.revision, s.source
            );
            (Catalog::parse(&s.text, &name)?, s)
        }
        None => {
            let s = store.save_catalog(BUILTIN_SOURCE, DEFAULT_CATALOG).await?;
            (Catalog::builtin(), s)
        }
    };
    finish(store, catalog, &stored).await
}

async fn finish(
    store: &DynStore,
    catalog: Catalog,
    stored: &StoredCatalog,
) -> Result<LoadedCatalog, AppError> {
    // Tasks name departments, which the store keeps as rows tasks refer to.
    store.upsert_departments(&catalog.departments).await?;
    info!(
        revision = stored.revision,
        source = %stored.source,
        services = catalog.services.len(),
        rules = catalog.rules.len(),
        "catalog in use"
    );
    Ok(LoadedCatalog {
        catalog: Arc::new(catalog),
        revision: stored.into(),
    })
}
