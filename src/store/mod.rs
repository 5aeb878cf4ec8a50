//! The store: the source of truth for departments, layers and features,
//! catalog revisions, and applications with their tasks and history.
//!
//! One trait, two backends that pass one contract test suite
//! (`tests/store_contract.rs`):
//! - [`postgis`]: PostgreSQL + PostGIS, production; schema in `migrations/postgis/`.
//! - [`gpkg`]: an OGC GeoPackage file (SQLite), the embedded default; each layer is
//!   a standard feature table, so QGIS and `ogrinfo` open the file as it is.
//!
//! [`import`] holds the checks both backends make on an import's batches.
//!
//! All SQL of the project lives under this folder. Geometries cross this boundary
//! in EPSG:4326, lon/lat degrees.

pub mod gpkg;
mod import;
pub mod postgis;
mod rows;

use std::sync::Arc;

use async_trait::async_trait;

use crate::applications::{
    Application, ApplicationFilter, ApplicationId, DecisionChange, NewApplication,
};
use crate::auth::{NewToken, TokenInfo};
use crate::model::{
    Cadastral, Department, Feature, FeatureId, Layer, LayerCode, LayerSpec, NewFeature,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("{path} is not a GeoPackage ({reason}); the file was left untouched")]
    NotAGeoPackage { path: String, reason: String },
    #[error("applying the schema migrations: {0}")]
    Migrate(String),
    #[error("layer '{0}' does not exist")]
    UnknownLayer(LayerCode),
    #[error("layer '{0}' exists already")]
    LayerExists(LayerCode),
    #[error("department '{0}' does not exist")]
    UnknownDepartment(String),
    #[error("cadastral number {0} is already used by another parcel")]
    DuplicateCadastral(String),
    #[error("feature {index} is a {found}, but layer '{layer}' holds {expected} geometries")]
    GeometryType {
        layer: LayerCode,
        index: usize,
        found: &'static str,
        expected: &'static str,
    },
    #[error("feature {index} has an empty geometry")]
    EmptyGeometry { index: usize },
    #[error("{context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("encoding the geometry of feature {index} for layer '{layer}': {reason}")]
    Encode {
        layer: LayerCode,
        index: usize,
        reason: String,
    },
    #[error("layer '{layer}' has no feature {id}")]
    UnknownFeature { layer: LayerCode, id: FeatureId },
    #[error("application {0} does not exist")]
    UnknownApplication(ApplicationId),
    #[error("token {0} does not exist")]
    UnknownToken(i64),
    /// The application changed since it was read (another decision was
    /// stored first); read it again and retry.
    #[error("application {0} was changed by another request; read it again")]
    ApplicationChanged(ApplicationId),
    /// A stored value that imgis cannot read back (edited by hand, or by a newer version).
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt { what: String, reason: String },
    /// The producer of an import's batches gave up (a refused feature, a
    /// broken file, a cancelled upload); the transaction was rolled back.
    #[error("import aborted: {0}")]
    ImportAborted(String),
    #[error("decoding the geometry of feature {id} in layer '{layer}': {reason}")]
    Decode {
        layer: LayerCode,
        id: FeatureId,
        reason: String,
    },
}

impl StoreError {
    /// Wraps a driver error with what we were doing; used as `.map_err(db("…"))`.
    pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { context, source }
    }

    /// True when the store could not be reached (as opposed to refusing the request);
    /// the API answers those with 503 and `Retry-After`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Database { source, .. } => is_unreachable(source),
            _ => false,
        }
    }
}

/// Whether a driver error says the database is down, restarting or cut off
/// (the request may succeed when retried), not that it refused the request.
fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        // Refused, reset or closed connections; a pool that found no live
        // connection within its acquire timeout (the server is down).
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL's own words for it: class 08, connection exception;
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now
        // (starting up or shutting down); 53300 too_many_connections.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// The result of a committed write: the layer as it now is (new version) and
/// the features as stored, with the ids the store gave them, in input order.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub layer: Layer,
    pub features: Vec<Feature>,
}

/// A change to the store, as [`Store::watch`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    /// A transaction that changed this layer committed: `version` is the
    /// layer's version after it, `None` when the layer no longer exists.
    /// One event per layer per committed transaction, in commit order.
    LayerChanged {
        code: LayerCode,
        version: Option<i64>,
    },
    /// The connection the events come through was lost (the database is
    /// down or restarting), for this reason: changes go unseen until a
    /// [`StoreEvent::Resync`].
    Lost(String),
    /// The watcher is (again) connected, and changes committed while it was
    /// not were not told: compare every layer with the store. The first
    /// event of every watch, and the one after each [`StoreEvent::Lost`].
    Resync,
}

/// The receiving end of [`Store::watch`].
pub type StoreWatch = tokio::sync::mpsc::Receiver<StoreEvent>;

/// How an import writes a layer ([`Store::import_features`]).
#[derive(Debug, Clone)]
pub struct ImportWrite {
    pub code: LayerCode,
    /// The layer does not exist yet: create it with this spec in the import's
    /// own transaction (a failed import leaves no empty layer behind). A
    /// `GEOMETRY` type is narrowed at commit to the narrowest type that holds
    /// every imported feature (see [`narrowest_type`]).
    pub create: Option<LayerSpec>,
    /// Replace the layer's features (else append to them).
    pub replace: bool,
}

/// The features of an import, in batches, in source order. An `Err` item
/// aborts the import: the store rolls the transaction back and returns it.
pub type FeatureBatches =
    futures::stream::BoxStream<'static, std::result::Result<Vec<NewFeature>, StoreError>>;

/// What every backend provides. Every write is one transaction: it either
/// commits whole and bumps the layer version, or leaves the store as it was.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"postgis"` or `"gpkg"`, for logs and `/health`.
    fn backend(&self) -> &'static str;

    /// Where the data lives, with any password redacted.
    fn location(&self) -> String;

    /// A cheap round trip proving the store answers.
    async fn ping(&self) -> Result<()>;

    /// The changes committed to the store by anyone (this process included),
    /// pushed as they commit, for a backend that can push them (PostGIS:
    /// `LISTEN`/`NOTIFY`); `None` for one that cannot (GeoPackage), whose
    /// readers poll [`Store::layers`] and compare versions instead. Each call
    /// starts a watcher of its own, which stops when the receiver is dropped.
    /// Must be called within a Tokio runtime.
    fn watch(&self) -> Option<StoreWatch> {
        None
    }

    /// The connection pool's state right now, for `/metrics`; `None` for a
    /// store without a pool.
    fn pool_state(&self) -> Option<PoolState> {
        None
    }

    /// Inserts or updates departments by code.
    async fn upsert_departments(&self, departments: &[Department]) -> Result<()>;

    async fn departments(&self) -> Result<Vec<Department>>;

    /// Creates an empty layer at version 0.
    async fn create_layer(&self, spec: &LayerSpec) -> Result<Layer>;

    /// Changes a layer's title, description, department and public flag (not its
    /// code, kind or geometry type). Does not bump the version: features did not change.
    async fn update_layer(&self, spec: &LayerSpec) -> Result<Layer>;

    /// Removes a layer and all its features.
    async fn delete_layer(&self, code: &LayerCode) -> Result<()>;

    /// All layers, ordered by code.
    async fn layers(&self) -> Result<Vec<Layer>>;

    async fn layer(&self, code: &LayerCode) -> Result<Option<Layer>>;

    /// Replaces all features of a layer in one transaction and bumps its version.
    async fn replace_features(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
    ) -> Result<WriteOutcome>;

    /// Adds features to a layer in one transaction and bumps its version.
    async fn append_features(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
    ) -> Result<WriteOutcome>;

    /// Writes an import: every batch of `batches` in one transaction, which
    /// commits when the stream ends and bumps the layer's version once (or
    /// creates the layer at version 1). Batches are written as they come, so
    /// the caller can read and validate the file while the store writes; an
    /// `Err` batch, a refused feature or a dropped connection rolls back
    /// everything, the layer's creation included. Cadastral numbers stay
    /// unique store-wide. The outcome holds every imported feature with its
    /// id, in input order.
    async fn import_features(
        &self,
        write: &ImportWrite,
        batches: FeatureBatches,
    ) -> Result<WriteOutcome>;

    /// Replaces one feature's geometry, cadastral number and properties (its
    /// id stays) in one transaction and bumps the layer's version. The
    /// outcome's `features` holds the feature as now stored.
    /// [`StoreError::UnknownFeature`] when the layer has no such feature.
    async fn replace_feature(
        &self,
        code: &LayerCode,
        id: FeatureId,
        feature: NewFeature,
    ) -> Result<WriteOutcome>;

    /// Deletes one feature in one transaction and bumps the layer's version;
    /// the outcome's `features` is empty. [`StoreError::UnknownFeature`] when
    /// the layer has no such feature.
    async fn delete_feature(&self, code: &LayerCode, id: FeatureId) -> Result<WriteOutcome>;

    /// Every feature of a layer, ordered by id (what the index is built from).
    async fn features(&self, code: &LayerCode) -> Result<Vec<Feature>>;

    async fn feature(&self, code: &LayerCode, id: FeatureId) -> Result<Option<Feature>>;

    /// The parcel with this cadastral number, with the code of its layer.
    async fn parcel(&self, cadastral: &Cadastral) -> Result<Option<(LayerCode, Feature)>>;

    /// Stores a catalog document (TOML text, already validated) as the newest
    /// revision; `source` says where it came from (a file path, `built in`).
    async fn save_catalog(&self, source: &str, text: &str) -> Result<StoredCatalog>;

    /// The newest stored catalog, if any was stored.
    async fn catalog(&self) -> Result<Option<StoredCatalog>>;

    /// Stores an application with its tasks (numbered 1.. in the given order)
    /// and a first history entry (status `received`), in one transaction.
    async fn create_application(&self, new: &NewApplication) -> Result<Application>;

    /// One application with its tasks and whole history.
    async fn application(&self, id: ApplicationId) -> Result<Option<Application>>;

    /// Applications matching `filter`, newest first, with their tasks but no
    /// history, and `route` left null (lists never show it; it is the largest column).
    async fn applications(&self, filter: &ApplicationFilter) -> Result<Vec<Application>>;

    /// Applies a decision in one transaction if the application is still at
    /// `change.expected_revision` (else [`StoreError::ApplicationChanged`]),
    /// bumping its revision; returns it as it now is, history included.
    async fn record_decision(&self, change: &DecisionChange) -> Result<Application>;

    /// Stores a new API token (its hash; the secret is never stored).
    async fn create_token(&self, new: &NewToken) -> Result<TokenInfo>;

    /// Every token, revoked ones too, oldest first.
    async fn tokens(&self) -> Result<Vec<TokenInfo>>;

    /// The token with this hash (revoked or not), if any.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenInfo>>;

    /// Revokes a token for good; revoking it again keeps the first time.
    async fn revoke_token(&self, id: i64) -> Result<TokenInfo>;
}

/// A connection pool at one moment (connections are opened on demand, up to `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Open connections waiting for work.
    pub idle: u32,
    /// Open connections lent to a query or transaction.
    pub in_use: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl PoolState {
    /// Reads a sqlx pool (either backend's).
    pub(crate) fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Self {
        let open = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(open);
        Self {
            idle,
            in_use: open - idle,
            max: pool.options().get_max_connections(),
        }
    }
}

/// A catalog revision as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCatalog {
    /// 1 for the first stored, then one more per save.
    pub revision: i64,
    pub source: String,
    /// The TOML document.
    pub text: String,
    pub loaded_at: chrono::DateTime<chrono::Utc>,
}

pub type DynStore = Arc<dyn Store>;

/// Checks what both backends must refuse before opening a transaction:
/// geometry type against the layer's, empty geometries, cadastral numbers on
/// a non-parcel layer are allowed (imports may carry them) but must be unique.
pub(crate) fn check_features(layer: &Layer, features: &[NewFeature]) -> Result<()> {
    use geo::HasDimensions;
    let expected = layer.spec.geometry_type;
    for (index, f) in features.iter().enumerate() {
        if !expected.accepts(&f.geometry) {
            return Err(StoreError::GeometryType {
                layer: layer.spec.code.clone(),
                index,
                found: geometry_name(&f.geometry),
                expected: expected.ogc_name(),
            });
        }
        if f.geometry.is_empty() {
            return Err(StoreError::EmptyGeometry { index });
        }
    }
    Ok(())
}

/// The narrowest layer geometry type that accepts every geometry type seen
/// (by [`geometry_name`]): one type → that type; points with multipoints →
/// MULTIPOINT (likewise lines, polygons); anything else → GEOMETRY.
pub fn narrowest_type<'a>(seen: impl IntoIterator<Item = &'a str>) -> crate::model::GeometryType {
    use crate::model::GeometryType as T;
    let mut kinds = std::collections::BTreeSet::new();
    for name in seen {
        kinds.insert(name);
    }
    let all_in = |allowed: &[&str]| kinds.iter().all(|k| allowed.contains(k));
    if kinds.is_empty() {
        return T::Geometry;
    }
    if kinds.len() == 1 {
        let only = kinds.iter().next().copied().unwrap_or("GEOMETRY");
        return only.parse().unwrap_or(T::Geometry);
    }
    if all_in(&["POINT", "MULTIPOINT"]) {
        T::MultiPoint
    } else if all_in(&["LINESTRING", "MULTILINESTRING"]) {
        T::MultiLineString
    } else if all_in(&["POLYGON", "MULTIPOLYGON"]) {
        T::MultiPolygon
    } else {
        T::Geometry
    }
}

/// The OGC name of a geometry's type.
pub fn geometry_name(g: &geo_types::Geometry<f64>) -> &'static str {
    use geo_types::Geometry as G;
    match g {
        G::Point(_) => "POINT",
        G::Line(_) | G::LineString(_) => "LINESTRING",
        G::Polygon(_) | G::Rect(_) | G::Triangle(_) => "POLYGON",
        G::MultiPoint(_) => "MULTIPOINT",
        G::MultiLineString(_) => "MULTILINESTRING",
        G::MultiPolygon(_) => "MULTIPOLYGON",
        G::GeometryCollection(_) => "GEOMETRYCOLLECTION",
    }
}
