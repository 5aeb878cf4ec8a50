//! Imports (and the bulk writes, which are imports of features in memory):
//! the batches of a stream `COPY`ed into the layer's table as they arrive,
//! in one transaction.
//!
//! 1. Layer: created (its row; its partition comes at step 4) or locked.
//! 2. Target: a replace, or an import that creates its layer, writes a new
//!    staging table ([`partitions`]); an append writes the layer's partition
//!    (indexes kept up to date row by row: appends are small) and takes the
//!    partitions lock first.
//! 3. Batches: checked ([`ImportChecks`]), given ids from the sequence
//!    (outside the transaction, on another connection, so the `COPY` backend
//!    does not spend its time on `nextval`; sequences are not transactional
//!    anyway), encoded on a blocking thread while the previous batch is sent,
//!    and sent through one `COPY … (FORMAT binary)` that stays open for the
//!    whole stream. `FREEZE` for a staging table: its rows are visible to all
//!    as soon as it is committed, and nobody has to set hint bits on 300 000
//!    rows afterwards.
//! 4. Finish: the staging table is indexed, then under the partitions lock its
//!    numbers are checked against other layers, the old partition is dropped
//!    and the new one attached; an append's numbers are checked likewise.
//!    The layer row gets its version, count and (created as `GEOMETRY`) its
//!    narrowed type; commit.
//!
//! Any error drops the transaction, which rolls everything back, the staging
//! table and a created layer included; a killed process leaves the same.

use futures::StreamExt;
use sqlx::postgres::PgCopyIn;
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};
use tokio::task::JoinHandle;

use super::copy::{self, COLUMNS, HEADER, TRAILER};
use super::{
    layer_from_row, lock_layer, map_write_error, partitions, record_write, FeatureCount,
    LAYER_COLUMNS,
};
use crate::model::{Feature, FeatureId, GeometryType, Layer, LayerCode, LayerSpec, NewFeature};
use crate::store::import::ImportChecks;
use crate::store::{FeatureBatches, ImportWrite, Result, StoreError, WriteOutcome};

/// A batch ready to send: its features, their ids and its rows in COPY format.
type Encoded = (Vec<NewFeature>, Vec<FeatureId>, Vec<u8>);

/// The whole import; see the module documentation.
pub(super) async fn import(
    pool: &PgPool,
    write: &ImportWrite,
    batches: FeatureBatches,
) -> Result<WriteOutcome> {
    let mut tx = pool
        .begin()
        .await
        .map_err(StoreError::db("starting an import"))?;
    // The checks on hundreds of thousands of rows have estimated costs that
    // make PostgreSQL compile them (JIT) for longer than they run.
    sqlx::query("SET LOCAL jit = off")
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("starting an import"))?;
    // 1. The layer.
    let (layer_id, layer) = match &write.create {
        Some(spec) => insert_layer(&mut tx, spec).await?,
        None => lock_layer(&mut tx, &write.code).await?,
    };
    let created = write.create.is_some();

    // 2. Where the rows go.
    let staged = created || write.replace;
    let table = if staged {
        partitions::create_staging(&mut tx, layer_id).await?;
        partitions::staging(layer_id)
    } else {
        partitions::lock(&mut tx).await?;
        partitions::partition(layer_id)
    };

    // 3. The rows.
    let mut checks = ImportChecks::new(layer.clone());
    let freeze = if staged { ", FREEZE" } else { "" };
    let mut copy = tx
        .copy_in_raw(&format!(
            "COPY {table} {COLUMNS} FROM STDIN (FORMAT binary{freeze})"
        ))
        .await
        .map_err(StoreError::db("starting to copy features"))?;
    let code = &layer.spec.code;
    let features = match send_rows(&mut copy, pool, (layer_id, code), &mut checks, batches).await {
        Ok(features) => features,
        Err(e) => {
            // Tell the server why; the error that stopped us is what the caller gets.
            let _ = copy.abort(e.to_string()).await;
            return Err(e);
        }
    };
    copy.finish().await.map_err(map_write_error)?;

    // 4. Finish.
    if staged {
        partitions::index_staging(&mut tx, layer_id).await?;
        partitions::lock(&mut tx).await?;
        if checks.has_numbers() {
            if let Some(n) = partitions::taken_by_staging(&mut tx, layer_id).await? {
                return Err(StoreError::DuplicateCadastral(n));
            }
        }
        partitions::swap_in(&mut tx, layer_id, !created).await?;
    } else if let (true, Some(first)) = (checks.has_numbers(), features.first()) {
        if let Some(n) = partitions::taken_since(&mut tx, layer_id, first.id).await? {
            return Err(StoreError::DuplicateCadastral(n));
        }
    }
    if created && layer.spec.geometry_type == GeometryType::Geometry {
        set_geometry_type(&mut tx, layer_id, checks.narrowest()).await?;
    }
    let n = i64::try_from(features.len()).expect("a feature count fits in i64");
    let count = if staged {
        FeatureCount::Set(n)
    } else {
        FeatureCount::Add(n)
    };
    let layer = record_write(&mut tx, layer_id, count).await?;
    tx.commit().await.map_err(map_write_error)?;
    Ok(WriteOutcome { layer, features })
}

/// Sends every batch through `copy` (header to trailer), encoding the next
/// batch on a blocking thread while the previous one is sent; returns the
/// features with their ids, in input order.
async fn send_rows(
    copy: &mut PgCopyIn<&mut PgConnection>,
    pool: &PgPool,
    (layer_id, code): (i32, &LayerCode),
    checks: &mut ImportChecks,
    mut batches: FeatureBatches,
) -> Result<Vec<Feature>> {
    copy.send(HEADER)
        .await
        .map_err(StoreError::db("copying features"))?;
    let mut stored = Vec::new();
    let mut pending: Option<JoinHandle<Result<Encoded>>> = None;
    loop {
        let next = match batches.next().await {
            Some(batch) => {
                let batch = batch?;
                let first_index = checks.count();
                checks.check(&batch)?;
                let ids = allocate_ids(pool, batch.len()).await?;
                let code = code.clone();
                Some(tokio::task::spawn_blocking(move || {
                    let mut rows = Vec::with_capacity(batch.len() * 512);
                    copy::encode_rows((layer_id, &code), first_index, &batch, &ids, &mut rows)?;
                    Ok((batch, ids, rows))
                }))
            }
            None => None,
        };
        if let Some(encoding) = pending.take() {
            let (batch, ids, rows) = encoding.await.expect("encoding rows does not panic")?;
            copy.send(rows)
                .await
                .map_err(StoreError::db("copying features"))?;
            stored.extend(batch.into_iter().zip(ids).map(|(f, id)| f.into_feature(id)));
        }
        match next {
            Some(encoding) => pending = Some(encoding),
            None => break,
        }
    }
    copy.send(TRAILER)
        .await
        .map_err(StoreError::db("copying features"))?;
    Ok(stored)
}

/// `n` new feature ids, increasing. Taken on a connection of the pool rather
/// than the import's own, which is busy with the `COPY`.
async fn allocate_ids(pool: &PgPool, n: usize) -> Result<Vec<FeatureId>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    // One array rather than n rows: a row costs the client more than its value.
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "SELECT array_agg(nextval('features_id_seq')) FROM generate_series(1, $1)",
    )
    .bind(i64::try_from(n).expect("a batch size fits in i64"))
    .fetch_one(pool)
    .await
    .map_err(StoreError::db("allocating feature ids"))?;
    ids.sort_unstable();
    Ok(ids)
}

/// Inserts a layer's row at version 0 (the caller makes its partition):
/// `LayerExists`, or `UnknownDepartment`.
pub(super) async fn insert_layer(
    tx: &mut Transaction<'_, Postgres>,
    spec: &LayerSpec,
) -> Result<(i32, Layer)> {
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
    .fetch_optional(&mut **tx)
    .await
    .map_err(map_write_error)?
    .ok_or_else(|| StoreError::LayerExists(spec.code.clone()))?;
    Ok((row.get("id"), layer_from_row(&row)?))
}

/// Sets the geometry type of a layer created by this import.
async fn set_geometry_type(
    tx: &mut Transaction<'_, Postgres>,
    layer_id: i32,
    geometry_type: GeometryType,
) -> Result<()> {
    sqlx::query("UPDATE layers SET geometry_type = $2 WHERE id = $1")
        .bind(layer_id)
        .bind(geometry_type.ogc_name())
        .execute(&mut **tx)
        .await
        .map_err(StoreError::db("narrowing a layer's geometry type"))?;
    Ok(())
}
