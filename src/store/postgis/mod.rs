//! The PostGIS backend: production store. Schema in `migrations/postgis/`.
//!
//! Bulk writes go through batched `INSERT … SELECT FROM UNNEST(…)` with ids taken
//! from the identity sequence beforehand, so the ids the caller gets back are in
//! input order without relying on `RETURNING` order.
//!
//! [`applications`]: catalog revisions and applications.

mod applications;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};
use sqlx::postgres::{PgConnectOptions, PgDatabaseError, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::{check_features, Result, Store, StoreError, StoredCatalog, WriteOutcome};
use crate::applications::{
    Application, ApplicationFilter, ApplicationId, DecisionChange, NewApplication,
};
use crate::model::{
    Cadastral, Department, Feature, FeatureId, Layer, LayerCode, LayerSpec, NewFeature,
};

/// Rows per `INSERT … UNNEST` statement: large enough to amortise the round
/// trip, small enough that one statement's parameters stay a few MB.
const INSERT_BATCH: usize = 5_000;

pub struct PostgisStore {
    pool: PgPool,
    location: String,
}

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
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.application_name("imgis"))
            .await
            .map_err(|e| StoreError::Connect {
                target: location.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self { pool, location })
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

    /// A read of several statements that sees one snapshot: an application's
    /// row, tasks and history as of one moment, not mixed with a decision
    /// committed between the statements.
    async fn begin_read(&self) -> Result<Transaction<'_, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(StoreError::db("starting a read"))
    }

    async fn write(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
        replace: bool,
    ) -> Result<WriteOutcome> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::db("starting a write"))?;
        let (layer_id, layer) = lock_layer(&mut tx, code).await?;
        check_features(&layer, &features)?;

        if replace {
            sqlx::query("DELETE FROM features WHERE layer_id = $1")
                .bind(layer_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("deleting the layer's previous features"))?;
        }
        let ids = allocate_ids(&mut tx, features.len()).await?;
        for (chunk, chunk_ids) in features.chunks(INSERT_BATCH).zip(ids.chunks(INSERT_BATCH)) {
            insert_batch(&mut tx, (layer_id, code), chunk, chunk_ids).await?;
        }
        let count = if replace {
            FeatureCount::Set(features.len() as i64)
        } else {
            FeatureCount::Add(features.len() as i64)
        };
        let layer = record_write(&mut tx, layer_id, count).await?;
        tx.commit().await.map_err(map_write_error)?;

        let features = features
            .into_iter()
            .zip(ids)
            .map(|(f, id)| f.into_feature(id))
            .collect();
        Ok(WriteOutcome { layer, features })
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

async fn allocate_ids(tx: &mut Transaction<'_, Postgres>, n: usize) -> Result<Vec<FeatureId>> {
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('features', 'id')) FROM generate_series(1, $1)",
    )
    .bind(n as i64)
    .fetch_all(&mut **tx)
    .await
    .map_err(StoreError::db("allocating feature ids"))?;
    ids.sort_unstable();
    Ok(ids)
}

async fn insert_batch(
    tx: &mut Transaction<'_, Postgres>,
    (layer_id, code): (i32, &LayerCode),
    features: &[NewFeature],
    ids: &[FeatureId],
) -> Result<()> {
    let mut wkb = Vec::with_capacity(features.len());
    let mut cadastral = Vec::with_capacity(features.len());
    let mut properties = Vec::with_capacity(features.len());
    for (index, f) in features.iter().enumerate() {
        wkb.push(encode_wkb(code, index, f)?);
        cadastral.push(f.cadastral.as_ref().map(|c| c.as_str().to_owned()));
        properties.push(serde_json::Value::Object(f.properties.clone()).to_string());
    }
    sqlx::query(
        "INSERT INTO features (id, layer_id, geom, cadastral, properties) \
         SELECT i, $1, ST_GeomFromWKB(w, 4326), c, p::jsonb \
         FROM UNNEST($2::int8[], $3::bytea[], $4::text[], $5::text[]) AS t(i, w, c, p)",
    )
    .bind(layer_id)
    .bind(ids)
    .bind(wkb)
    .bind(cadastral)
    .bind(properties)
    .execute(&mut **tx)
    .await
    .map_err(map_write_error)?;
    Ok(())
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
                // PostgreSQL names the value in the detail: Key (cadastral)=(16:50:011101:12) already exists.
                let key = || {
                    pg.detail()
                        .and_then(|d| d.split_once("=(").map(|(_, rest)| rest))
                        .and_then(|rest| rest.split(')').next())
                        .unwrap_or("?")
                        .to_owned()
                };
                match (pg.code(), pg.constraint()) {
                    ("23505", Some("features_cadastral_idx")) => {
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
        let row = sqlx::query(&format!(
            "INSERT INTO layers (code, title, description, kind, department, geometry_type, public) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (code) DO NOTHING RETURNING {LAYER_COLUMNS}"
        ))
        .bind(spec.code.as_str())
        .bind(&spec.title)
        .bind(&spec.description)
        .bind(spec.kind.as_str())
        .bind(&spec.department)
        .bind(spec.geometry_type.ogc_name())
        .bind(spec.public)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_write_error)?
        .ok_or_else(|| StoreError::LayerExists(spec.code.clone()))?;
        layer_from_row(&row)
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
        // Features go with the layer (ON DELETE CASCADE), in the same statement.
        let done = sqlx::query("DELETE FROM layers WHERE code = $1")
            .bind(code.as_str())
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("deleting a layer"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownLayer(code.clone()));
        }
        Ok(())
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
        self.write(code, features, true).await
    }

    async fn append_features(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
    ) -> Result<WriteOutcome> {
        self.write(code, features, false).await
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
        // `layer_id` in the WHERE: an id of another layer's feature is unknown
        // here, not silently moved. The unique index checks the new number
        // against every other feature right away (the row's own old number is
        // replaced, not duplicated), and map_write_error names it.
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
        if self.layer(code).await?.is_none() {
            return Err(StoreError::UnknownLayer(code.clone()));
        }
        let sql = format!(
            "SELECT {FEATURE_COLUMNS} FROM features f JOIN layers l ON l.id = f.layer_id \
             WHERE l.code = $1 ORDER BY f.id"
        );
        let mut rows = sqlx::query(&sql).bind(code.as_str()).fetch(&self.pool);
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
        if self.layer(code).await?.is_none() {
            return Err(StoreError::UnknownLayer(code.clone()));
        }
        let sql = format!(
            "SELECT {FEATURE_COLUMNS} FROM features f JOIN layers l ON l.id = f.layer_id \
             WHERE l.code = $1 AND f.id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(code.as_str())
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
