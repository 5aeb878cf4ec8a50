//! GeoPackage backend: the whole store in one OGC GeoPackage 1.4 file (SQLite).
//!
//! The file is a standard GeoPackage first, so QGIS and `ogrinfo` open it as it is:
//! - each layer is a feature table named by its code, `(fid, geom, cadastral,
//!   properties)`, registered in `gpkg_contents` (title, description, extent,
//!   last change) and `gpkg_geometry_columns`; `properties` is a JSON object,
//!   declared `application/json` in `gpkg_data_columns`;
//! - geometries are GeoPackage blobs (header with envelope, srs_id 4326, ISO WKB)
//!   in EPSG:4326, lon/lat degrees;
//! - imgis's own bookkeeping sits beside it in `imgis_departments`,
//!   `imgis_layers` (versions) and `imgis_cadastre` (cadastral number → feature,
//!   unique store-wide).
//!
//! The schema is `migrations/gpkg/`. Files:
//! - [`file`]: refusing, untouched, any existing file that is not an imgis GeoPackage;
//! - [`geometry`]: the GeoPackage geometry blob;
//! - [`layers`]: the layer registry; [`features`]: feature rows, the bulk write
//!   and the single-feature edits; [`import`]: imports, streamed in one transaction;
//! - [`applications`]: catalog revisions and applications, in attribute tables
//!   (`imgis_catalogs`, `imgis_applications`, `imgis_application_tasks`,
//!   `imgis_application_events`).
//!
//! Durability and concurrency: WAL journal with `synchronous = FULL`, so a
//! committed write survives a power cut; readers never wait for the writer; every
//! write takes the write lock up front (`BEGIN IMMEDIATE`), so two writers queue
//! (up to the busy timeout) instead of failing half-way on a lock upgrade.

mod applications;
mod features;
mod file;
mod geometry;
mod import;
mod layers;
mod tokens;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use self::features::WriteMode;
use super::{
    check_features, FeatureBatches, ImportWrite, Result, Store, StoreError, StoredCatalog,
    WriteOutcome,
};
use crate::applications::{
    Application, ApplicationFilter, ApplicationId, DecisionChange, NewApplication,
};
use crate::model::{
    Cadastral, Department, Feature, FeatureId, Layer, LayerCode, LayerSpec, NewFeature,
};

/// The GeoPackage core and imgis tables, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/gpkg");

/// Connections in the pool. SQLite has one writer at a time anyway; the others
/// serve readers (tiles and API reads go to the index, so few are needed).
const MAX_CONNECTIONS: u32 = 4;

/// How long a writer waits for another one to finish before failing with
/// "database is locked". A 300 000-feature replace holds the lock a few seconds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The store in a GeoPackage file. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct GpkgStore {
    /// The file as the user named it; what [`Store::location`] reports.
    path: PathBuf,
    /// Read-write connections to it (WAL, `synchronous = FULL`, foreign keys on).
    pool: SqlitePool,
}

impl GpkgStore {
    /// Starts a write transaction holding SQLite's write lock from its first
    /// statement (`BEGIN IMMEDIATE`), so two writers queue instead of one failing
    /// half-way on a lock upgrade.
    async fn read_conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        self.pool
            .acquire()
            .await
            .map_err(StoreError::db("connecting"))
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::db("starting a write transaction"))
    }

    /// Opens the store at `path`, creating a new GeoPackage if no file is there.
    ///
    /// Pending schema migrations are applied to our own files.
    ///
    /// # Errors
    /// - [`StoreError::NotAGeoPackage`] for an existing file that is not an imgis
    ///   GeoPackage (a text file, an empty file, another program's SQLite
    ///   database, a GeoPackage made by QGIS); that file is left byte-identical.
    /// - [`StoreError::Connect`] when the file cannot be created or opened.
    /// - [`StoreError::Migrate`] when the schema cannot be applied (a new file is
    ///   then removed again).
    pub async fn open(path: &Path) -> Result<GpkgStore> {
        // `create_new` makes "is there a file?" and "create it" one atomic step,
        // so we never mistake a file someone else just created for our new one.
        let created = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                file::check_ours(path).await?;
                false
            }
            Err(e) => {
                return Err(StoreError::Connect {
                    target: path.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        match connect(path).await {
            Ok(pool) => Ok(GpkgStore {
                path: path.to_owned(),
                pool,
            }),
            Err(e) => {
                if created {
                    // Do not leave a half-made file behind: the next start would
                    // refuse it as "not a GeoPackage". It is ours, we just made it.
                    for suffix in ["", "-wal", "-shm"] {
                        let mut p = path.as_os_str().to_owned();
                        p.push(suffix);
                        let _ = std::fs::remove_file(PathBuf::from(p));
                    }
                }
                Err(e)
            }
        }
    }

    /// Copies everything committed from the WAL into the `.gpkg` itself and
    /// closes every connection, so the file alone is complete (for copying it,
    /// or opening it in QGIS) as soon as this returns. The explicit checkpoint is
    /// needed: sqlx finishes closing SQLite handles on its worker threads after
    /// `close` returns, so SQLite's own checkpoint-on-close comes too late for a
    /// caller that copies the file right away.
    pub async fn close(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::warn!(path = %self.path.display(), error = %e, "checkpointing the GeoPackage before closing");
        }
        self.pool.close().await;
    }

    /// `replace_features` and `append_features`.
    async fn write(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
        mode: WriteMode,
    ) -> Result<WriteOutcome> {
        // 1. Refuse what is wrong before taking the write lock.
        let layer = self
            .layer(code)
            .await?
            .ok_or_else(|| StoreError::UnknownLayer(code.clone()))?;
        check_features(&layer, &features)?;
        features::check_unique_cadastral(&features)?;

        // 2. Encode geometries and JSON off the async threads (hundreds of
        //    milliseconds for a city's parcels), also before locking.
        let (features, encoded, bounds) = tokio::task::spawn_blocking(move || {
            features::encode(&features).map(|(encoded, bounds)| (features, encoded, bounds))
        })
        .await
        .expect("encoding features does not panic")?;

        // 3. One transaction. Any error drops `tx`, which rolls back: the previous
        //    features, version and cadastral numbers stay exactly as they were.
        let mut tx = self.begin_write().await?;
        // Read again under the lock: the layer may have been deleted or re-created since.
        let current = layers::require(&mut tx, code).await?;
        if current.spec.geometry_type != layer.spec.geometry_type {
            check_features(&current, &features)?;
        }
        let (layer, first_id) =
            features::write(&mut tx, &current, mode, &features, &encoded, bounds).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a write"))?;

        let features = features
            .into_iter()
            .zip(first_id..)
            .map(|(f, id)| f.into_feature(id))
            .collect();
        Ok(WriteOutcome { layer, features })
    }
}

/// Opens the pool on an imgis GeoPackage (or a new empty file) and migrates it.
async fn connect(path: &Path) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        // WAL: readers do not block the writer nor it them.
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: fsync the WAL at every commit; NORMAL could lose the last
        // commits on power loss, and a committed import must not vanish.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Connect {
            target: path.display().to_string(),
            reason: e.to_string(),
        })?;
    if let Err(e) = MIGRATOR.run(&pool).await {
        pool.close().await;
        return Err(StoreError::Migrate(e.to_string()));
    }
    Ok(pool)
}

#[async_trait]
impl Store for GpkgStore {
    fn backend(&self) -> &'static str {
        "gpkg"
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("pinging the GeoPackage"))?;
        Ok(())
    }

    fn pool_state(&self) -> Option<crate::store::PoolState> {
        Some(crate::store::PoolState::of(&self.pool))
    }

    async fn upsert_departments(&self, departments: &[Department]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for d in departments {
            sqlx::query(
                "INSERT INTO imgis_departments (code, name, external) VALUES (?, ?, ?)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, external = excluded.external",
            )
            .bind(&d.code)
            .bind(&d.name)
            .bind(d.external)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("upserting a department"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::db("committing departments"))
    }

    async fn departments(&self) -> Result<Vec<Department>> {
        let rows: Vec<(String, String, bool)> =
            sqlx::query_as("SELECT code, name, external FROM imgis_departments ORDER BY code")
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::db("listing departments"))?;
        Ok(rows
            .into_iter()
            .map(|(code, name, external)| Department {
                code,
                name,
                external,
            })
            .collect())
    }

    async fn create_layer(&self, spec: &LayerSpec) -> Result<Layer> {
        let mut tx = self.begin_write().await?;
        let layer = layers::create(&mut tx, spec).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a new layer"))?;
        Ok(layer)
    }

    async fn update_layer(&self, spec: &LayerSpec) -> Result<Layer> {
        let mut tx = self.begin_write().await?;
        let layer = layers::update(&mut tx, spec).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a layer update"))?;
        Ok(layer)
    }

    async fn delete_layer(&self, code: &LayerCode) -> Result<()> {
        let mut tx = self.begin_write().await?;
        layers::delete(&mut tx, code).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a layer deletion"))
    }

    async fn layers(&self) -> Result<Vec<Layer>> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::db("connecting"))?;
        layers::list(&mut conn).await
    }

    async fn layer(&self, code: &LayerCode) -> Result<Option<Layer>> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::db("connecting"))?;
        layers::load(&mut conn, code).await
    }

    async fn replace_features(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
    ) -> Result<WriteOutcome> {
        self.write(code, features, WriteMode::Replace).await
    }

    async fn append_features(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
    ) -> Result<WriteOutcome> {
        self.write(code, features, WriteMode::Append).await
    }

    async fn import_features(
        &self,
        write: &ImportWrite,
        batches: FeatureBatches,
    ) -> Result<WriteOutcome> {
        import::import(self, write, batches).await
    }

    async fn replace_feature(
        &self,
        code: &LayerCode,
        id: FeatureId,
        feature: NewFeature,
    ) -> Result<WriteOutcome> {
        // As `write`: refuse what is wrong and encode before taking the write
        // lock. One geometry encodes quickly, so no blocking thread for it.
        let layer = self
            .layer(code)
            .await?
            .ok_or_else(|| StoreError::UnknownLayer(code.clone()))?;
        let one = std::slice::from_ref(&feature);
        check_features(&layer, one)?;
        let (encoded, bounds) = features::encode(one)?;

        // Any error drops `tx`, which rolls back: feature, cadastral numbers,
        // version and extent stay as they were.
        let mut tx = self.begin_write().await?;
        let current = layers::require(&mut tx, code).await?;
        if current.spec.geometry_type != layer.spec.geometry_type {
            check_features(&current, one)?;
        }
        let layer =
            features::replace_one(&mut tx, &current, id, &feature, &encoded[0], bounds).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a feature replacement"))?;
        Ok(WriteOutcome {
            layer,
            features: vec![feature.into_feature(id)],
        })
    }

    async fn delete_feature(&self, code: &LayerCode, id: FeatureId) -> Result<WriteOutcome> {
        let mut tx = self.begin_write().await?;
        let current = layers::require(&mut tx, code).await?;
        let layer = features::delete_one(&mut tx, &current, id).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a feature deletion"))?;
        Ok(WriteOutcome {
            layer,
            features: Vec::new(),
        })
    }

    async fn features(&self, code: &LayerCode) -> Result<Vec<Feature>> {
        // A read transaction: the layer check and the rows come from one snapshot,
        // so a concurrent delete cannot turn UnknownLayer into "no such table".
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a read"))?;
        layers::require(&mut tx, code).await?;
        let rows = sqlx::query(&features::select_sql(code, "ORDER BY fid"))
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::db("reading a layer's features"))?;
        tx.commit().await.map_err(StoreError::db("ending a read"))?;
        // Decoding a city's parcels takes a while; keep it off the async threads.
        let code = code.clone();
        tokio::task::spawn_blocking(move || {
            rows.iter()
                .map(|r| features::decode_row(&code, r))
                .collect()
        })
        .await
        .expect("decoding features does not panic")
    }

    async fn feature(&self, code: &LayerCode, id: FeatureId) -> Result<Option<Feature>> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a read"))?;
        layers::require(&mut tx, code).await?;
        let row = sqlx::query(&features::select_sql(code, "WHERE fid = ?"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::db("reading a feature"))?;
        tx.commit().await.map_err(StoreError::db("ending a read"))?;
        row.map(|r| features::decode_row(code, &r)).transpose()
    }

    async fn parcel(&self, cadastral: &Cadastral) -> Result<Option<(LayerCode, Feature)>> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a read"))?;
        let hit: Option<(String, FeatureId)> =
            sqlx::query_as("SELECT layer, fid FROM imgis_cadastre WHERE cadastral = ?")
                .bind(cadastral.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::db("looking up a cadastral number"))?;
        let Some((layer, fid)) = hit else {
            return Ok(None);
        };
        let code: LayerCode = layer.parse().map_err(|e| StoreError::Database {
            context: "reading imgis_cadastre",
            source: sqlx::Error::Decode(Box::new(e)),
        })?;
        let row = sqlx::query(&features::select_sql(&code, "WHERE fid = ?"))
            .bind(fid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::db("reading a parcel"))?;
        tx.commit().await.map_err(StoreError::db("ending a read"))?;
        match row {
            Some(r) => Ok(Some((code.clone(), features::decode_row(&code, &r)?))),
            // The cadastre and the feature table are written in one transaction,
            // so this means the file was edited outside imgis.
            None => Ok(None),
        }
    }

    async fn save_catalog(&self, source: &str, text: &str) -> Result<StoredCatalog> {
        let mut tx = self.begin_write().await?;
        let saved = applications::save_catalog(&mut tx, source, text).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a catalog"))?;
        Ok(saved)
    }

    async fn catalog(&self) -> Result<Option<StoredCatalog>> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::db("connecting"))?;
        applications::catalog(&mut conn).await
    }

    async fn create_application(&self, new: &NewApplication) -> Result<Application> {
        let mut tx = self.begin_write().await?;
        let id = applications::create(&mut tx, new).await?;
        let stored = applications::load(&mut tx, id)
            .await?
            .ok_or(StoreError::UnknownApplication(id))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing an application"))?;
        Ok(stored)
    }

    async fn application(&self, id: ApplicationId) -> Result<Option<Application>> {
        // A read transaction: row, tasks and history from one snapshot.
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a read"))?;
        let found = applications::load(&mut tx, id).await?;
        tx.commit().await.map_err(StoreError::db("ending a read"))?;
        Ok(found)
    }

    async fn applications(&self, filter: &ApplicationFilter) -> Result<Vec<Application>> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a read"))?;
        let found = applications::list(&mut tx, filter).await?;
        tx.commit().await.map_err(StoreError::db("ending a read"))?;
        Ok(found)
    }

    async fn record_decision(&self, change: &DecisionChange) -> Result<Application> {
        let mut tx = self.begin_write().await?;
        applications::decide(&mut tx, change).await?;
        let stored = applications::load(&mut tx, change.application)
            .await?
            .ok_or(StoreError::UnknownApplication(change.application))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a decision"))?;
        Ok(stored)
    }

    async fn create_token(&self, new: &crate::auth::NewToken) -> Result<crate::auth::TokenInfo> {
        let mut tx = self.begin_write().await?;
        let made = tokens::create(&mut tx, new).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a token"))?;
        Ok(made)
    }

    async fn tokens(&self) -> Result<Vec<crate::auth::TokenInfo>> {
        let mut conn = self.read_conn().await?;
        tokens::list(&mut conn).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<crate::auth::TokenInfo>> {
        let mut conn = self.read_conn().await?;
        tokens::by_hash(&mut conn, hash).await
    }

    async fn revoke_token(&self, id: i64) -> Result<crate::auth::TokenInfo> {
        let mut tx = self.begin_write().await?;
        let revoked = tokens::revoke(&mut tx, id).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a revocation"))?;
        Ok(revoked)
    }
}
