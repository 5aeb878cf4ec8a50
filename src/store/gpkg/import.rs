//! Imports: the batches of a stream written as they arrive, in one
//! `BEGIN IMMEDIATE` transaction.
//!
//! 1. Layer: created (table and registrations, [`layers::create`]) or read,
//!    under the write lock; a replace clears it.
//! 2. Batches: checked ([`ImportChecks`]), encoded on a blocking thread while
//!    the previous batch is inserted, inserted with the ids that follow the
//!    layer's last one.
//! 3. Finish: the new numbers are registered in `imgis_cadastre` in one
//!    statement (its primary key refuses a number another feature holds); a
//!    layer created as `GEOMETRY` gets the narrowest type of what was written
//!    ([`layers::retype`], see step 2); the version, count and extent are
//!    recorded; commit.
//!
//! Any error drops the transaction, which rolls everything back (SQLite
//! undoes DDL too: a created layer's table goes as well). The write lock is
//! held for the whole import: other writers wait up to the busy timeout.

use futures::StreamExt;
use tokio::task::JoinHandle;

use super::features::{self, Encoded};
use super::geometry::Bounds;
use super::layers::{self, table};
use super::GpkgStore;
use crate::model::{GeometryType, NewFeature};
use crate::store::import::ImportChecks;
use crate::store::{FeatureBatches, ImportWrite, Result, StoreError, WriteOutcome};

/// A batch ready to insert: its features, encoded, and their extent.
type Ready = (Vec<NewFeature>, Vec<Encoded>, Option<Bounds>);

pub(super) async fn import(
    store: &GpkgStore,
    write: &ImportWrite,
    mut batches: FeatureBatches,
) -> Result<WriteOutcome> {
    let mut tx = store.begin_write().await?;
    // 1. The layer.
    let layer = match &write.create {
        Some(spec) => layers::create(&mut tx, spec).await?,
        None => layers::require(&mut tx, &write.code).await?,
    };
    let created = write.create.is_some();
    let code = layer.spec.code.clone();
    let table = table(&code);
    let replace = write.replace || created;
    if replace && !created {
        features::clear(&mut tx, &code).await?;
    }
    let first_id = features::next_id(&mut tx, &code).await?;
    let mut extent = if replace {
        None
    } else {
        layers::bounds(&mut tx, &code).await?
    };

    // 2. The rows.
    let mut checks = ImportChecks::new(layer.clone());
    // A layer this import creates as GEOMETRY gets the narrowest type of what
    // it holds, and its table's geometry column must say so too, which takes
    // a copy of the table. The table's type is set to the first batch's type
    // while it is still empty (free), so only a file whose later batches
    // widen it pays for the copy at the end.
    let narrows = created && layer.spec.geometry_type == GeometryType::Geometry;
    let mut table_type = layer.spec.geometry_type;
    let mut stored = Vec::new();
    let mut next_id = first_id;
    let mut pending: Option<JoinHandle<Result<Ready>>> = None;
    loop {
        let next = match batches.next().await {
            Some(batch) => {
                let batch = batch?;
                let first_features = checks.count() == 0 && !batch.is_empty();
                checks.check(&batch)?;
                if narrows && first_features {
                    table_type = checks.narrowest();
                    layers::retype(&mut tx, &code, table_type).await?;
                }
                Some(tokio::task::spawn_blocking(move || {
                    features::encode(&batch).map(|(encoded, bounds)| (batch, encoded, bounds))
                }))
            }
            None => None,
        };
        if let Some(encoding) = pending.take() {
            let (batch, encoded, bounds) =
                encoding.await.expect("encoding features does not panic")?;
            features::insert_rows(&mut tx, &table, next_id, &batch, &encoded).await?;
            extent = Bounds::union(extent, bounds);
            let ids = next_id..;
            next_id += features::to_i64(batch.len());
            stored.extend(batch.into_iter().zip(ids).map(|(f, id)| f.into_feature(id)));
        }
        match next {
            Some(encoding) => pending = Some(encoding),
            None => break,
        }
    }

    // 3. Finish.
    if checks.has_numbers() {
        features::insert_cadastre(&mut tx, &code, first_id).await?;
    }
    let mut layer = layer;
    if narrows {
        let narrowed = checks.narrowest();
        if narrowed != table_type {
            layers::retype(&mut tx, &code, narrowed).await?;
        }
        layer.spec.geometry_type = narrowed;
    }
    let written = features::to_i64(stored.len());
    let count = if replace {
        written
    } else {
        layer.feature_count + written
    };
    let layer = layers::record_write(&mut tx, &layer, count, extent).await?;
    tx.commit()
        .await
        .map_err(StoreError::db("committing an import"))?;
    Ok(WriteOutcome {
        layer,
        features: stored,
    })
}
