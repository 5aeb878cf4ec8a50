//! The PostGIS backend: production store. Schema in `migrations/postgis/`.
//!
//! Features live in one partition of `features` per layer ([`partitions`]).
//! Bulk writes and imports stream their rows through a binary `COPY`
//! ([`copy`], [`import`]), with ids taken from the sequence beforehand, so the
//! ids the caller gets back are in input order without relying on `RETURNING`
//! order; a replace writes a new partition and swaps it in.
//!
//! [`applications`]: catalog revisions and applications.
//!
//! [`notify`]: every committed change of a layer is told to listening
//! servers (`LISTEN`/`NOTIFY`), so instances over one database follow each other.
//!
//! # When the database goes away
//! The pool waits at most [`ACQUIRE_TIMEOUT`] for a connection, so a write
//! while PostgreSQL is down or restarting fails within seconds with an error
//! [`StoreError::is_unavailable`] recognises (the API answers 503 with
//! `Retry-After`) instead of hanging; it tests every idle connection before
//! handing it out, so the connections a restart killed are replaced, and new
//! ones are opened as soon as the server accepts them again: nobody has to
//! restart imgis.

mod applications;
mod copy;
mod import;
mod notify;
mod partitions;
mod tokens;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};
use sqlx::postgres::{PgConnectOptions, PgDatabaseError, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::import::in_batches;
use super::{
    check_features, FeatureBatches, ImportWrite, Result, Store, StoreError, StoreWatch,
    StoredCatalog, WriteOutcome,
};
use crate::applications::{
    Application, ApplicationFilter, ApplicationId, DecisionChange, NewApplication,
};
use crate::model::{
    Cadastral, Department, Feature, FeatureId, Layer, LayerCode, LayerSpec, NewFeature,
};

pub struct PostgisStore {
    pool: PgPool,
    location: String,
    /// How to connect: the change watcher opens connections of its own.
    options: PgConnectOptions,
}

/// How long a query waits for a pool connection before giving up: short, so
/// that while the database is down a write answers "unavailable" promptly.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

const LAYER_COLUMNS: &str =
    "id, code, title, description, kind, department, geometry_type, public, \
                             version, feature_count, updated_at";

impl PostgisStore {
    /// Connects (failing within seconds when the server is down) without
    /// touching the schema; call [`PostgisStore::migrate`] to apply migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let location = redact_url(url);
        let options: PgConnectOptions =
            url.parse().map_err(|e: sqlx::Error| StoreError::Connect {
                target: location.clone(),
                reason: format!("not a PostgreSQL URL: {e}"),
            })?;
        let options = options.application_name("imgis");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A round trip before a connection is handed out: after a restart
            // of the database the idle ones are dead, and are replaced here
            // rather than failing the request that drew them.
            .test_before_acquire(true)
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Connect {
                target: location.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            pool,
            location,
            options,
        })
    }

    /// Applies the pending migrations of `migrations/postgis/` (idempotent).
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgis")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The id of a layer (which names its partition), or `UnknownLayer`.
    async fn layer_id(&self, code: &LayerCode) -> Result<i32> {
        sqlx::query_scalar("SELECT id FROM layers WHERE code = $1")
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("reading a layer"))?
            .ok_or_else(|| StoreError::UnknownLayer(code.clone()))
    }

    /// A read of several statements that sees one snapshot: an application's
    /// row, tasks and history as of one moment, not mixed with a decision
    /// committed between the statements.
    async fn begin_read(&self) -> Result<Transaction<'_, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(StoreError::db("starting a read"))
    }
}

/// Locks the layer's row for the rest of the transaction and returns its id and
/// the layer. Row lock: concurrent writes to one layer queue here instead of
/// interleaving versions.
async fn lock_layer(tx: &mut Transaction<'_, Postgres>, code: &LayerCode) -> Result<(i32, Layer)> {
    let row = sqlx::query(&format!(
        "SELECT {LAYER_COLUMNS} FROM layers WHERE code = $1 FOR UPDATE"
    ))
    .bind(code.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(StoreError::db("locking the layer"))?
    .ok_or_else(|| StoreError::UnknownLayer(code.clone()))?;
    Ok((row.get("id"), layer_from_row(&row)?))
}

/// How a write changes a layer's `feature_count`.
#[derive(Debug, Clone, Copy)]
enum FeatureCount {
    /// A replace: the layer now holds exactly this many.
    Set(i64),
    /// An append (positive) or a delete (negative).
    Add(i64),
}

/// Bumps the version and update time of the layer locked by [`lock_layer`] and
/// sets its feature count, in the caller's transaction; returns the layer as it
/// now is.
async fn record_write(
    tx: &mut Transaction<'_, Postgres>,
    layer_id: i32,
    count: FeatureCount,
) -> Result<Layer> {
    let (count_sql, n) = match count {
        FeatureCount::Set(n) => ("$2", n),
        FeatureCount::Add(n) => ("feature_count + $2", n),
    };
    let row = sqlx::query(&format!(
        "UPDATE layers SET version = version + 1, updated_at = clock_timestamp(), \
         feature_count = {count_sql} WHERE id = $1 RETURNING {LAYER_COLUMNS}"
    ))
    .bind(layer_id)
    .bind(n)
    .fetch_one(&mut **tx)
    .await
    .map_err(StoreError::db("bumping the layer version"))?;
    layer_from_row(&row)
}

/// A feature's geometry as WKB; `index` names it in the error.
fn encode_wkb(code: &LayerCode, index: usize, f: &NewFeature) -> Result<Vec<u8>> {
    f.geometry
        .to_wkb(CoordDimensions::xy())
        .map_err(|e| StoreError::Encode {
            layer: code.clone(),
            index,
            reason: e.to_string(),
        })
}

/// Turns the constraint violations a feature or layer write can meet into
/// what the caller did wrong.
fn map_write_error(e: sqlx::Error) -> StoreError {
    write_error("writing features")(e)
}

/// [`map_write_error`] for writes that are not about features: `context` says
/// what was being written when the error is not the caller's.
pub(super) fn write_error(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        if let sqlx::Error::Database(db) = &e {
            if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                // PostgreSQL names the value in the detail, first column first:
                // Key (cadastral, layer_id)=(16:50:011101:12, 3) already exists.
                let key = || {
                    pg.detail()
                        .and_then(|d| d.split_once("=(").map(|(_, rest)| rest))
                        .and_then(|rest| rest.split([')', ',']).next())
                        .unwrap_or("?")
                        .to_owned()
                };
                match (pg.code(), pg.constraint()) {
                    // The cadastral index of a layer's partition (features_l<id>_cadastral_layer_id_idx):
                    // a number twice in one layer. Other layers are checked by the store.
                    ("23505", Some(index)) if index.contains("_cadastral_") => {
                        return StoreError::DuplicateCadastral(key());
                    }
                    (
                        "23503",
                        Some("layers_department_fkey" | "application_tasks_department_fkey"),
                    ) => {
                        return StoreError::UnknownDepartment(key());
                    }
                    _ => {}
                }
            }
        }
        StoreError::Database { context, source: e }
    }
}

fn layer_from_row(row: &PgRow) -> Result<Layer> {
    let bad = |what: &str, value: String| {
        StoreError::Migrate(format!("layers row has an invalid {what}: {value}"))
    };
    let code: String = row.get("code");
    let kind: String = row.get("kind");
    let geometry_type: String = row.get("geometry_type");
    let spec = LayerSpec {
        code: code.parse().map_err(|_| bad("code", code.clone()))?,
        title: row.get("title"),
        description: row.get("description"),
        kind: kind.parse().map_err(|_| bad("kind", kind.clone()))?,
        department: row.get("department"),
        geometry_type: geometry_type
            .parse()
            .map_err(|_| bad("geometry type", geometry_type.clone()))?,
        public: row.get("public"),
    };
    Ok(Layer {
        spec,
        version: row.get("version"),
        updated_at: row.get::<DateTime<Utc>, _>("updated_at"),
        feature_count: row.get("feature_count"),
    })
}

fn feature_from_row(layer: &LayerCode, row: &PgRow) -> Result<Feature> {
    let id: i64 = row.get("id");
    let wkb: Vec<u8> = row.get("wkb");
    let geometry = Wkb(wkb).to_geo().map_err(|e| StoreError::Decode {
        layer: layer.clone(),
        id,
        reason: e.to_string(),
    })?;
    let cadastral = row
        .get::<Option<String>, _>("cadastral")
        .map(|c| c.parse::<Cadastral>())
        .transpose()
        .map_err(|e| StoreError::Decode {
            layer: layer.clone(),
            id,
            reason: e.to_string(),
        })?;
    let properties: String = row.get("properties");
    let properties = match serde_json::from_str(&properties) {
        Ok(serde_json::Value::Object(map)) => map,
        other => {
            return Err(StoreError::Decode {
                layer: layer.clone(),
                id,
                reason: format!("properties are not a JSON object: {other:?}"),
            })
        }
    };
    Ok(Feature {
        id,
        geometry,
        cadastral,
        properties,
    })
}

const FEATURE_COLUMNS: &str =
    "f.id, ST_AsBinary(f.geom) AS wkb, f.cadastral, f.properties::text AS properties";

#[async_trait]
impl Store for PostgisStore {
    fn backend(&self) -> &'static str {
        "postgis"
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("pinging PostGIS"))?;
        Ok(())
    }

    fn watch(&self) -> Option<StoreWatch> {
        Some(notify::watch(&self.options))
    }

    fn pool_state(&self) -> Option<crate::store::PoolState> {
        Some(crate::store::PoolState::of(&self.pool))
    }

    async fn upsert_departments(&self, departments: &[Department]) -> Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a write"))?;
        for d in departments {
            sqlx::query(
                "INSERT INTO departments (code, name, external) VALUES ($1, $2, $3) \
                 ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, external = EXCLUDED.external",
            )
            .bind(&d.code)
            .bind(&d.name)
            .bind(d.external)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("writing a department"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::db("committing departments"))
    }

    async fn departments(&self) -> Result<Vec<Department>> {
        let rows = sqlx::query("SELECT code, name, external FROM departments ORDER BY code")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("listing departments"))?;
        Ok(rows
            .iter()
            .map(|r| Department {
                code: r.get("code"),
                name: r.get("name"),
                external: r.get("external"),
            })
            .collect())
    }

    async fn create_layer(&self, spec: &LayerSpec) -> Result<Layer> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a write"))?;
        let (layer_id, layer) = import::insert_layer(&mut tx, spec).await?;
        // The new partition changes `features`: take the partitions lock
        // first. After the layer's row, as every writer does (row, then
        // partitions lock), so that no two wait for each other.
        partitions::lock(&mut tx).await?;
        partitions::create(&mut tx, layer_id).await?;
        tx.commit().await.map_err(map_write_error)?;
        Ok(layer)
    }

    async fn update_layer(&self, spec: &LayerSpec) -> Result<Layer> {
        let row = sqlx::query(&format!(
            "UPDATE layers SET title = $2, description = $3, department = $4, public = $5 \
             WHERE code = $1 RETURNING {LAYER_COLUMNS}"
        ))
        .bind(spec.code.as_str())
        .bind(&spec.title)
        .bind(&spec.description)
        .bind(&spec.department)
        .bind(spec.public)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_write_error)?
        .ok_or_else(|| StoreError::UnknownLayer(spec.code.clone()))?;
        layer_from_row(&row)
    }

    async fn delete_layer(&self, code: &LayerCode) -> Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a write"))?;
        let (layer_id, _) = lock_layer(&mut tx, code).await?;
        // Features go with their partition, which the layer row does not
        // take along: drop it in the same transaction.
        partitions::lock(&mut tx).await?;
        partitions::drop(&mut tx, layer_id).await?;
        sqlx::query("DELETE FROM layers WHERE id = $1")
            .bind(layer_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("deleting a layer"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a layer deletion"))
    }

    async fn layers(&self) -> Result<Vec<Layer>> {
        let rows = sqlx::query(&format!("SELECT {LAYER_COLUMNS} FROM layers ORDER BY code"))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("listing layers"))?;
        rows.iter().map(layer_from_row).collect()
    }

    async fn layer(&self, code: &LayerCode) -> Result<Option<Layer>> {
        let row = sqlx::query(&format!(
            "SELECT {LAYER_COLUMNS} FROM layers WHERE code = $1"
        ))
        .bind(code.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("reading a layer"))?;
        row.as_ref().map(layer_from_row).transpose()
    }

    async fn replace_features(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
    ) -> Result<WriteOutcome> {
        let write = ImportWrite {
            code: code.clone(),
            create: None,
            replace: true,
        };
        import::import(&self.pool, &write, in_batches(features)).await
    }

    async fn append_features(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
    ) -> Result<WriteOutcome> {
        let write = ImportWrite {
            code: code.clone(),
            create: None,
            replace: false,
        };
        import::import(&self.pool, &write, in_batches(features)).await
    }

    async fn import_features(
        &self,
        write: &ImportWrite,
        batches: FeatureBatches,
    ) -> Result<WriteOutcome> {
        import::import(&self.pool, write, batches).await
    }

    async fn replace_feature(
        &self,
        code: &LayerCode,
        id: FeatureId,
        feature: NewFeature,
    ) -> Result<WriteOutcome> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a write"))?;
        let (layer_id, layer) = lock_layer(&mut tx, code).await?;
        check_features(&layer, std::slice::from_ref(&feature))?;
        let wkb = encode_wkb(code, 0, &feature)?;
        if let Some(number) = &feature.cadastral {
            // Other layers' numbers: under the partitions lock, so no other
            // write can take this number between the check and the commit.
            partitions::lock(&mut tx).await?;
            if partitions::held_elsewhere(&mut tx, layer_id, number.as_str()).await? {
                return Err(StoreError::DuplicateCadastral(number.to_string()));
            }
        }
        // `layer_id` in the WHERE: an id of another layer's feature is unknown
        // here, not silently moved. The partition's unique index checks the
        // new number against the layer's other features right away (the row's
        // own old number is replaced, not duplicated), and map_write_error names it.
        let done = sqlx::query(
            "UPDATE features SET geom = ST_GeomFromWKB($3, 4326), cadastral = $4, \
             properties = $5::jsonb WHERE id = $1 AND layer_id = $2",
        )
        .bind(id)
        .bind(layer_id)
        .bind(wkb)
        .bind(feature.cadastral.as_ref().map(Cadastral::as_str))
        .bind(serde_json::Value::Object(feature.properties.clone()).to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            // Dropping `tx` rolls back; nothing was changed.
            return Err(StoreError::UnknownFeature {
                layer: code.clone(),
                id,
            });
        }
        let layer = record_write(&mut tx, layer_id, FeatureCount::Add(0)).await?;
        tx.commit().await.map_err(map_write_error)?;
        Ok(WriteOutcome {
            layer,
            features: vec![feature.into_feature(id)],
        })
    }

    async fn delete_feature(&self, code: &LayerCode, id: FeatureId) -> Result<WriteOutcome> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a write"))?;
        let (layer_id, _) = lock_layer(&mut tx, code).await?;
        // The feature's cadastral number goes with its row: nothing else holds it.
        let done = sqlx::query("DELETE FROM features WHERE id = $1 AND layer_id = $2")
            .bind(id)
            .bind(layer_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("deleting a feature"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownFeature {
                layer: code.clone(),
                id,
            });
        }
        let layer = record_write(&mut tx, layer_id, FeatureCount::Add(-1)).await?;
        tx.commit().await.map_err(map_write_error)?;
        Ok(WriteOutcome {
            layer,
            features: Vec::new(),
        })
    }

    async fn features(&self, code: &LayerCode) -> Result<Vec<Feature>> {
        // By the layer's id, not a join on its code: the planner then reads
        // the layer's partition alone.
        let layer_id = self.layer_id(code).await?;
        let sql =
            format!("SELECT {FEATURE_COLUMNS} FROM features f WHERE f.layer_id = $1 ORDER BY f.id");
        let mut rows = sqlx::query(&sql).bind(layer_id).fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(StoreError::db("reading features"))?
        {
            out.push(feature_from_row(code, &row)?);
        }
        Ok(out)
    }

    async fn feature(&self, code: &LayerCode, id: FeatureId) -> Result<Option<Feature>> {
        let layer_id = self.layer_id(code).await?;
        let sql =
            format!("SELECT {FEATURE_COLUMNS} FROM features f WHERE f.layer_id = $1 AND f.id = $2");
        let row = sqlx::query(&sql)
            .bind(layer_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("reading a feature"))?;
        row.map(|r| feature_from_row(code, &r)).transpose()
    }

    async fn parcel(&self, cadastral: &Cadastral) -> Result<Option<(LayerCode, Feature)>> {
        let sql = format!(
            "SELECT l.code, {FEATURE_COLUMNS} FROM features f JOIN layers l ON l.id = f.layer_id \
             WHERE f.cadastral = $1"
        );
        let row = sqlx::query(&sql)
            .bind(cadastral.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("looking up a cadastral number"))?;
        let Some(row) = row else { return Ok(None) };
        let code: String = row.get("code");
        let code: LayerCode = code
            .parse()
            .map_err(|_| StoreError::Migrate(format!("layers row has an invalid code: {code}")))?;
        let feature = feature_from_row(&code, &row)?;
        Ok(Some((code, feature)))
    }

    async fn save_catalog(&self, source: &str, text: &str) -> Result<StoredCatalog> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a write"))?;
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
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a write"))?;
        let id = applications::create(&mut tx, new).await?;
        let stored = applications::load(&mut tx, id)
            .await?
            .ok_or(StoreError::UnknownApplication(id))?;
        tx.commit()
            .await
            .map_err(write_error("committing an application"))?;
        Ok(stored)
    }

    async fn application(&self, id: ApplicationId) -> Result<Option<Application>> {
        let mut tx = self.begin_read().await?;
        let found = applications::load(&mut tx, id).await?;
        tx.commit().await.map_err(StoreError::db("ending a read"))?;
        Ok(found)
    }

    async fn applications(&self, filter: &ApplicationFilter) -> Result<Vec<Application>> {
        let mut tx = self.begin_read().await?;
        let found = applications::list(&mut tx, filter).await?;
        tx.commit().await.map_err(StoreError::db("ending a read"))?;
        Ok(found)
    }

    async fn record_decision(&self, change: &DecisionChange) -> Result<Application> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a write"))?;
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
        tokens::create(&self.pool, new).await
    }

    async fn tokens(&self) -> Result<Vec<crate::auth::TokenInfo>> {
        tokens::list(&self.pool).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<crate::auth::TokenInfo>> {
        tokens::by_hash(&self.pool, hash).await
    }

    async fn revoke_token(&self, id: i64) -> Result<crate::auth::TokenInfo> {
        tokens::revoke(&self.pool, id).await
    }
}

/// A connection URL with its password replaced by `***`, safe for logs and errors.
///
/// # Examples
/// ```
/// use imgis::store::postgis::redact_url;
/// assert_eq!(redact_url("postgres://city:s3cret@db:5432/gis"), "postgres://city:***@db:5432/gis");
/// assert_eq!(redact_url("postgres://db/gis"), "postgres://db/gis");
/// assert_eq!(redact_url("postgres://db/gis?user=a&password=b"), "postgres://db/gis?user=a&password=***");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
    .split('&')
    .map(|part| match part.find("password=") {
        // libpq also takes the password as a query parameter.
        Some(at) if at == 0 || part[..at].ends_with('?') => format!("{}password=***", &part[..at]),
        _ => part.to_owned(),
    })
    .collect::<Vec<_>>()
    .join("&")
}
