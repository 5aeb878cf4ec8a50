//! Feature rows: reading them back, the bulk write both `replace_features`
//! and `append_features` go through, and the single-feature edits
//! (`replace_feature`, `delete_feature`).
//!
//! A feature table row is `(fid, geom, cadastral, properties)`: the geometry as a
//! GeoPackage blob in EPSG:4326, the cadastral number as text (also kept in
//! `imgis_cadastre`, which enforces uniqueness across layers), and the
//! properties as a JSON object in text.

use std::collections::HashSet;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::geometry::{self, Bounds};
use super::layers::{self, table};
use crate::model::{Cadastral, Feature, FeatureId, Layer, LayerCode, NewFeature, Properties};
use crate::store::{Result, StoreError};

/// Rows per multi-row INSERT. Statements are sent to SQLite's worker thread one
/// at a time, so one row per statement would make 300 000 round trips; 500 rows
/// × 4 parameters stays far below SQLite's limit of 32 766 parameters, and the
/// one SQL text per layer lets the prepared statement be reused for every full batch.
const BATCH: usize = 500;

/// Replace or append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    Replace,
    Append,
}

/// A feature ready for SQLite: everything that can fail or costs CPU is done
/// before the write lock is taken.
pub(crate) struct Encoded {
    /// GeoPackage geometry blob.
    geom: Vec<u8>,
    /// The properties as JSON text.
    properties: String,
}

/// Encodes geometries and properties and computes the extent of them all.
/// CPU-bound: callers run it on a blocking thread.
pub(crate) fn encode(features: &[NewFeature]) -> Result<(Vec<Encoded>, Option<Bounds>)> {
    let mut extent = None;
    let mut encoded = Vec::with_capacity(features.len());
    for (index, f) in features.iter().enumerate() {
        let (geom, bounds) =
            geometry::encode(&f.geometry).ok_or(StoreError::EmptyGeometry { index })?;
        extent = Bounds::union(extent, Some(bounds));
        let properties = serde_json::to_string(&f.properties)
            .expect("a map with string keys always serializes to JSON");
        encoded.push(Encoded { geom, properties });
    }
    Ok((encoded, extent))
}

/// `DuplicateCadastral` if a number appears twice in one write. The primary key
/// would refuse it too, but only after inserting everything, and without saying
/// which number; this names it, before any lock is taken.
pub(crate) fn check_unique_cadastral(features: &[NewFeature]) -> Result<()> {
    let mut seen = HashSet::with_capacity(features.len());
    for c in features.iter().filter_map(|f| f.cadastral.as_ref()) {
        if !seen.insert(c.as_str()) {
            return Err(StoreError::DuplicateCadastral(c.to_string()));
        }
    }
    Ok(())
}

/// The write itself, inside the caller's `BEGIN IMMEDIATE` transaction; the
/// caller commits. `layer` was read in this transaction.
pub(crate) async fn write(
    conn: &mut SqliteConnection,
    layer: &Layer,
    mode: WriteMode,
    features: &[NewFeature],
    encoded: &[Encoded],
    new_bounds: Option<Bounds>,
) -> Result<(Layer, FeatureId)> {
    let code = &layer.spec.code;
    let table = table(code);
    if mode == WriteMode::Replace {
        clear(conn, code).await?;
    }
    let first_id = next_id(conn, code).await?;
    insert_rows(conn, &table, first_id, features, encoded).await?;
    insert_cadastre(conn, code, first_id).await?;

    let (count, bounds) = match mode {
        WriteMode::Replace => (to_i64(features.len()), new_bounds),
        WriteMode::Append => (
            layer.feature_count + to_i64(features.len()),
            Bounds::union(layers::bounds(conn, code).await?, new_bounds),
        ),
    };
    let layer = layers::record_write(conn, layer, count, bounds).await?;
    Ok((layer, first_id))
}

/// Deletes every feature of a layer and frees its numbers, inside the
/// caller's `BEGIN IMMEDIATE` transaction.
pub(crate) async fn clear(conn: &mut SqliteConnection, code: &LayerCode) -> Result<()> {
    // No WHERE: SQLite truncates the table in one step. AUTOINCREMENT keeps
    // its sequence, so the new rows get new ids.
    sqlx::query(&format!("DELETE FROM {}", table(code)))
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("deleting a layer's features"))?;
    sqlx::query("DELETE FROM imgis_cadastre WHERE layer = ?")
        .bind(code.as_str())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("freeing a layer's cadastral numbers"))?;
    Ok(())
}

/// The id the next feature of a layer gets, inside the caller's `BEGIN
/// IMMEDIATE` transaction. We hold the write lock, so we can number the rows
/// ourselves: exactly what AUTOINCREMENT would give (after the largest id ever
/// used), and the ids come out in input order without a RETURNING round trip
/// per row. Inserting explicit ids moves the table's sqlite_sequence along
/// with them.
pub(crate) async fn next_id(conn: &mut SqliteConnection, code: &LayerCode) -> Result<FeatureId> {
    let last_id: i64 = sqlx::query_scalar(&format!(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0),
                    coalesce((SELECT max(fid) FROM {}), 0))",
        table(code)
    ))
    .bind(code.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db("reading a layer's last feature id"))?;
    Ok(last_id + 1)
}

/// Replaces the geometry, cadastral number and properties of feature `id`,
/// inside the caller's `BEGIN IMMEDIATE` transaction; the caller commits (and
/// drops the transaction on error, which rolls back whatever was done here).
/// `layer` was read in this transaction; `encoded` and `new_bounds` are what
/// [`encode`] gave for `feature`.
pub(crate) async fn replace_one(
    conn: &mut SqliteConnection,
    layer: &Layer,
    id: FeatureId,
    feature: &NewFeature,
    encoded: &Encoded,
    new_bounds: Option<Bounds>,
) -> Result<Layer> {
    let code = &layer.spec.code;
    let table = table(code);
    // Its current number, read first: it says whether the feature exists, and
    // which `imgis_cadastre` row to free without scanning the layer's numbers.
    let old = current_cadastral(conn, layer, id).await?;
    sqlx::query(&format!(
        "UPDATE {table} SET geom = ?, cadastral = ?, properties = ? WHERE fid = ?"
    ))
    .bind(encoded.geom.as_slice())
    .bind(feature.cadastral.as_ref().map(Cadastral::as_str))
    .bind(encoded.properties.as_str())
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("replacing a feature"))?;

    let new = feature.cadastral.as_ref().map(Cadastral::as_str);
    // A feature keeping its number keeps its registration as it is.
    if old.as_deref() != new {
        if let Some(old) = &old {
            free_cadastral(conn, code, old).await?;
        }
        if let Some(new) = new {
            register_cadastral(conn, code, id, new).await?;
        }
    }

    // Grow the extent as append does. It may now be larger than the layer (the
    // old geometry's corner may be gone); shrinking it would mean decoding every
    // geometry of the layer, and the GeoPackage extent is informative only.
    let bounds = Bounds::union(layers::bounds(conn, code).await?, new_bounds);
    layers::record_write(conn, layer, layer.feature_count, bounds).await
}

/// Deletes feature `id` and frees its cadastral number, inside the caller's
/// `BEGIN IMMEDIATE` transaction; the caller commits. `layer` was read in this
/// transaction.
pub(crate) async fn delete_one(
    conn: &mut SqliteConnection,
    layer: &Layer,
    id: FeatureId,
) -> Result<Layer> {
    let code = &layer.spec.code;
    let old = current_cadastral(conn, layer, id).await?;
    sqlx::query(&format!("DELETE FROM {} WHERE fid = ?", table(code)))
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("deleting a feature"))?;
    if let Some(old) = &old {
        free_cadastral(conn, code, old).await?;
    }
    let count = layer.feature_count - 1;
    // The extent stays as it was (it may now be larger than the layer, as after
    // a replace_one): shrinking it would mean decoding every remaining
    // geometry. An empty layer has no extent, as after an empty replace.
    let bounds = if count > 0 {
        layers::bounds(conn, code).await?
    } else {
        None
    };
    layers::record_write(conn, layer, count, bounds).await
}

/// The cadastral number of feature `id` of `layer`, or `UnknownFeature` when the
/// layer's table has no such row (an id of another layer's feature included:
/// each layer has its own table).
async fn current_cadastral(
    conn: &mut SqliteConnection,
    layer: &Layer,
    id: FeatureId,
) -> Result<Option<String>> {
    let code = &layer.spec.code;
    let row: Option<(Option<String>,)> = sqlx::query_as(&format!(
        "SELECT cadastral FROM {} WHERE fid = ?",
        table(code)
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("reading a feature's cadastral number"))?;
    match row {
        Some((cadastral,)) => Ok(cadastral),
        None => Err(StoreError::UnknownFeature {
            layer: code.clone(),
            id,
        }),
    }
}

/// Removes a number of this layer from `imgis_cadastre`. By primary key, not
/// by `(layer, fid)`: the layer index would make that a scan of every number of
/// the layer.
async fn free_cadastral(conn: &mut SqliteConnection, code: &LayerCode, number: &str) -> Result<()> {
    sqlx::query("DELETE FROM imgis_cadastre WHERE cadastral = ? AND layer = ?")
        .bind(number)
        .bind(code.as_str())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("freeing a cadastral number"))?;
    Ok(())
}

/// Registers one number for feature `id`: `DuplicateCadastral` when another
/// feature, of any layer, holds it (the primary key says so).
async fn register_cadastral(
    conn: &mut SqliteConnection,
    code: &LayerCode,
    id: FeatureId,
    number: &str,
) -> Result<()> {
    let inserted =
        sqlx::query("INSERT INTO imgis_cadastre (cadastral, layer, fid) VALUES (?, ?, ?)")
            .bind(number)
            .bind(code.as_str())
            .bind(id)
            .execute(&mut *conn)
            .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation) =>
        {
            Err(StoreError::DuplicateCadastral(number.to_owned()))
        }
        Err(e) => Err(StoreError::db("registering a cadastral number")(e)),
    }
}

/// Inserts `features` (as [`encode`] gave them) with ids from `first_id` on.
pub(crate) async fn insert_rows(
    conn: &mut SqliteConnection,
    table: &str,
    first_id: FeatureId,
    features: &[NewFeature],
    encoded: &[Encoded],
) -> Result<()> {
    let prefix = format!("INSERT INTO {table} (fid, geom, cadastral, properties) VALUES ");
    let full = insert_sql(&prefix, 4, BATCH);
    let mut fid = first_id;
    for (fs, es) in features.chunks(BATCH).zip(encoded.chunks(BATCH)) {
        let partial;
        let sql = if fs.len() == BATCH {
            &full
        } else {
            partial = insert_sql(&prefix, 4, fs.len());
            &partial
        };
        let mut q = sqlx::query(sql);
        for (f, e) in fs.iter().zip(es) {
            q = q
                .bind(fid)
                .bind(e.geom.as_slice())
                .bind(f.cadastral.as_ref().map(Cadastral::as_str))
                .bind(e.properties.as_str());
            fid += 1;
        }
        q.execute(&mut *conn)
            .await
            .map_err(StoreError::db("inserting features"))?;
    }
    Ok(())
}

/// Registers the numbers of the rows just inserted (`fid >= first_id`) in
/// `imgis_cadastre`. One INSERT … SELECT from the feature table: SQLite copies
/// the numbers itself instead of us binding 300 000 × 3 parameters again, and
/// `ORDER BY` feeds the primary key in order.
pub(crate) async fn insert_cadastre(
    conn: &mut SqliteConnection,
    code: &LayerCode,
    first_id: FeatureId,
) -> Result<()> {
    let table = table(code);
    let inserted = sqlx::query(&format!(
        "INSERT INTO imgis_cadastre (cadastral, layer, fid)
         SELECT cadastral, ?, fid FROM {table}
         WHERE fid >= ? AND cadastral IS NOT NULL
         ORDER BY cadastral"
    ))
    .bind(code.as_str())
    .bind(first_id)
    .execute(&mut *conn)
    .await;
    let Err(e) = inserted else {
        return Ok(());
    };
    let unique = e
        .as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation);
    if unique {
        // SQLite undid the failed statement, and numbers within one write are
        // unique (checked before), so the holder is a feature written before.
        let taken: Option<String> = sqlx::query_scalar(&format!(
            "SELECT t.cadastral FROM {table} t JOIN imgis_cadastre c ON c.cadastral = t.cadastral
             WHERE t.fid >= ? ORDER BY t.fid LIMIT 1"
        ))
        .bind(first_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::db("finding a duplicate cadastral number"))?;
        if let Some(number) = taken {
            return Err(StoreError::DuplicateCadastral(number));
        }
    }
    Err(StoreError::db("registering cadastral numbers")(e))
}

/// `prefix` followed by `rows` groups of `columns` placeholders.
fn insert_sql(prefix: &str, columns: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; columns].join(", "));
    let mut sql = String::with_capacity(prefix.len() + rows * (group.len() + 2));
    sql.push_str(prefix);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&group);
    }
    sql
}

pub(crate) fn to_i64(n: usize) -> i64 {
    i64::try_from(n).expect("a feature count fits in i64")
}

/// The columns every feature read selects, in the order `decode_row` expects.
pub(crate) fn select_sql(code: &LayerCode, filter: &str) -> String {
    format!(
        "SELECT fid, geom, cadastral, properties FROM {} {filter}",
        table(code)
    )
}

/// Turns a row of `select_sql` into a feature. CPU-bound for big layers: the
/// caller decides where to run it.
pub(crate) fn decode_row(code: &LayerCode, row: &SqliteRow) -> Result<Feature> {
    let get = |e: sqlx::Error| StoreError::Database {
        context: "reading a feature row",
        source: e,
    };
    let id: FeatureId = row.try_get("fid").map_err(get)?;
    let fail = |reason: String| StoreError::Decode {
        layer: code.clone(),
        id,
        reason,
    };
    let blob: Option<&[u8]> = row.try_get("geom").map_err(get)?;
    let geometry =
        geometry::decode(blob.ok_or_else(|| fail("the feature has no geometry".to_owned()))?)
            .map_err(fail)?;
    let cadastral: Option<&str> = row.try_get("cadastral").map_err(get)?;
    let cadastral = cadastral
        .map(str::parse::<Cadastral>)
        .transpose()
        .map_err(|e| fail(e.to_string()))?;
    let properties: &str = row.try_get("properties").map_err(get)?;
    let properties: Properties = serde_json::from_str(properties)
        .map_err(|e| fail(format!("properties are not a JSON object: {e}")))?;
    Ok(Feature {
        id,
        geometry,
        cadastral,
        properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::props;
    use geo_types::point;

    #[test]
    fn insert_sql_shape() {
        assert_eq!(
            insert_sql("INSERT INTO t VALUES ", 2, 3),
            "INSERT INTO t VALUES (?, ?), (?, ?), (?, ?)"
        );
    }

    #[test]
    fn duplicates_within_one_write_are_named() {
        let c: Cadastral = "16:50:011101:12".parse().unwrap();
        let f = NewFeature::new(point!(x: 1.0, y: 2.0).into(), props([])).with_cadastral(c);
        assert!(check_unique_cadastral(std::slice::from_ref(&f)).is_ok());
        match check_unique_cadastral(&[f.clone(), f]) {
            Err(StoreError::DuplicateCadastral(n)) => assert_eq!(n, "16:50:011101:12"),
            other => panic!("expected DuplicateCadastral, got {other:?}"),
        }
    }

    #[test]
    fn encode_computes_extent_and_json() {
        let fs = [
            NewFeature::new(
                point!(x: 1.0, y: 2.0).into(),
                props([("name", "Участок".into())]),
            ),
            NewFeature::new(point!(x: -1.0, y: 5.0).into(), props([])),
        ];
        let (enc, bounds) = encode(&fs).unwrap();
        assert_eq!(enc[0].properties, r#"{"name":"Участок"}"#);
        assert_eq!(enc[1].properties, "{}");
        let b = bounds.unwrap();
        assert_eq!((b.min_x, b.min_y, b.max_x, b.max_y), (-1.0, 2.0, 1.0, 5.0));
    }
}
