//! The layer registry: `imgis_layers` plus the GeoPackage registrations
//! (`gpkg_contents`, `gpkg_geometry_columns`, `gpkg_data_columns`) that make
//! each layer's feature table a standard GeoPackage layer.
//!
//! Every function takes the connection of a transaction the caller opened, so
//! the registry and the feature tables change together or not at all.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::geometry::{Bounds, SRS_ID};
use crate::model::{GeometryType, Layer, LayerCode, LayerSpec};
use crate::store::{Result, StoreError};

/// The feature table of a layer, quoted. The `LayerCode` whitelist (lower-case
/// ASCII letters, digits, `_`) already makes the code a safe identifier; the
/// quotes keep it one even if the whitelist ever grows.
pub(crate) fn table(code: &LayerCode) -> String {
    format!("\"{}\"", code.as_str().replace('"', "\"\""))
}

const LAYER_COLUMNS: &str =
    "code, title, description, kind, department, geometry_type, public, version, updated_at, feature_count";

/// The layer as registered, or `None`.
pub(crate) async fn load(conn: &mut SqliteConnection, code: &LayerCode) -> Result<Option<Layer>> {
    let row = sqlx::query(&format!(
        "SELECT {LAYER_COLUMNS} FROM imgis_layers WHERE code = ?"
    ))
    .bind(code.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("reading a layer"))?;
    row.as_ref().map(from_row).transpose()
}

/// The layer as registered, or `UnknownLayer`.
pub(crate) async fn require(conn: &mut SqliteConnection, code: &LayerCode) -> Result<Layer> {
    load(conn, code)
        .await?
        .ok_or_else(|| StoreError::UnknownLayer(code.clone()))
}

/// All layers, ordered by code.
pub(crate) async fn list(conn: &mut SqliteConnection) -> Result<Vec<Layer>> {
    let rows = sqlx::query(&format!(
        "SELECT {LAYER_COLUMNS} FROM imgis_layers ORDER BY code"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::db("listing layers"))?;
    rows.iter().map(from_row).collect()
}

fn from_row(row: &SqliteRow) -> Result<Layer> {
    // A value that does not parse means the row was edited outside imgis
    // (the CHECK constraints keep imgis's own writes valid).
    let bad = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Database {
        context: "reading imgis_layers",
        source: sqlx::Error::Decode(e),
    };
    let get = |e: sqlx::Error| StoreError::Database {
        context: "reading imgis_layers",
        source: e,
    };
    let code: String = row.try_get("code").map_err(get)?;
    let kind: String = row.try_get("kind").map_err(get)?;
    let geometry_type: String = row.try_get("geometry_type").map_err(get)?;
    let updated_at: String = row.try_get("updated_at").map_err(get)?;
    Ok(Layer {
        spec: LayerSpec {
            code: code.parse().map_err(|e| bad(Box::new(e)))?,
            title: row.try_get("title").map_err(get)?,
            description: row.try_get("description").map_err(get)?,
            kind: kind.parse().map_err(|e| bad(Box::new(e)))?,
            department: row.try_get("department").map_err(get)?,
            geometry_type: geometry_type.parse().map_err(|e| bad(Box::new(e)))?,
            public: row.try_get("public").map_err(get)?,
        },
        version: row.try_get("version").map_err(get)?,
        updated_at: DateTime::parse_from_rfc3339(&updated_at)
            .map_err(|e| bad(Box::new(e)))?
            .with_timezone(&Utc),
        feature_count: row.try_get("feature_count").map_err(get)?,
    })
}

/// Whether a department code is known.
pub(crate) async fn department_exists(conn: &mut SqliteConnection, code: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM imgis_departments WHERE code = ?")
        .bind(code)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::db("looking up a department"))?;
    Ok(n > 0)
}

/// `UnknownDepartment` unless the spec's department (if any) exists.
async fn require_department(conn: &mut SqliteConnection, spec: &LayerSpec) -> Result<()> {
    match &spec.department {
        Some(d) if !department_exists(conn, d).await? => {
            Err(StoreError::UnknownDepartment(d.clone()))
        }
        _ => Ok(()),
    }
}

/// Creates the feature table and registers it everywhere; the layer starts empty at version 0.
pub(crate) async fn create(conn: &mut SqliteConnection, spec: &LayerSpec) -> Result<Layer> {
    let code = spec.code.as_str();
    // A table of that name that imgis does not know (added with GDAL, say) is
    // just as much in the way as a registered layer. SQLite names are case-insensitive.
    let taken: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM imgis_layers WHERE code = ?1)
              + (SELECT count(*) FROM sqlite_master WHERE name = ?1 COLLATE NOCASE)",
    )
    .bind(code)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db("checking whether a layer exists"))?;
    if taken > 0 {
        return Err(StoreError::LayerExists(spec.code.clone()));
    }
    require_department(conn, spec).await?;

    let geometry_type = spec.geometry_type.ogc_name();
    sqlx::query(&table_ddl(&table(&spec.code), spec.geometry_type))
        .persistent(false)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("creating a layer table"))?;

    let now = next_updated_at(None);
    let identifier = identifier(conn, &spec.code, &spec.title).await?;
    sqlx::query(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, srs_id)
         VALUES (?, 'features', ?, ?, ?, ?)",
    )
    .bind(code)
    .bind(identifier)
    .bind(&spec.description)
    .bind(last_change(now))
    .bind(SRS_ID)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("registering a layer in gpkg_contents"))?;
    sqlx::query(
        "INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, z, m)
         VALUES (?, 'geom', ?, ?, 0, 0)",
    )
    .bind(code)
    .bind(geometry_type)
    .bind(SRS_ID)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("registering a layer in gpkg_geometry_columns"))?;
    // GDAL reads mime_type application/json as a JSON field (subtype), so QGIS
    // shows the properties as JSON rather than as an opaque string.
    sqlx::query(
        "INSERT INTO gpkg_data_columns (table_name, column_name, title, description, mime_type)
         VALUES (?, 'properties', 'properties', 'feature attributes as a JSON object', 'application/json')",
    )
    .bind(code)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("registering a layer in gpkg_data_columns"))?;
    sqlx::query(
        "INSERT INTO imgis_layers (code, title, description, kind, department, geometry_type, public, version, updated_at, feature_count)
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, 0)",
    )
    .bind(code)
    .bind(&spec.title)
    .bind(&spec.description)
    .bind(spec.kind.as_str())
    .bind(&spec.department)
    .bind(geometry_type)
    .bind(spec.public)
    .bind(timestamp(now))
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("registering a layer in imgis_layers"))?;

    Ok(Layer {
        spec: spec.clone(),
        version: 0,
        updated_at: now,
        feature_count: 0,
    })
}

/// The `CREATE TABLE` of a layer's feature table (`table` quoted, as
/// [`table`] gives it). The geometry column's declared type is the layer's
/// geometry type, as the GeoPackage requires (it must equal
/// `gpkg_geometry_columns.geometry_type_name`).
fn table_ddl(table: &str, geometry_type: GeometryType) -> String {
    // AUTOINCREMENT: a deleted feature's id is never given to another one, so an
    // id cited in an answer or a log names one feature forever.
    format!(
        "CREATE TABLE {table} (
            fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
            geom {geometry_type},
            cadastral TEXT,
            properties TEXT NOT NULL DEFAULT '{{}}'
        )",
        geometry_type = geometry_type.ogc_name(),
    )
}

/// Changes the geometry type of a layer (an import narrowing the `GEOMETRY`
/// of the layer it created), inside the caller's transaction: the registry,
/// `gpkg_geometry_columns`, and the declared type of the geometry column,
/// which SQLite cannot alter in place, so the table is copied into a new one
/// (rows, ids and AUTOINCREMENT sequence as they were) that takes its name.
/// The features must already fit the new type.
pub(crate) async fn retype(
    conn: &mut SqliteConnection,
    code: &LayerCode,
    geometry_type: GeometryType,
) -> Result<()> {
    let old = table(code);
    // The `imgis_` prefix is reserved: no layer's table can have this name.
    let new = format!("\"imgis_retype_{}\"", code.as_str());
    let statements = [
        (table_ddl(&new, geometry_type), "creating a layer table"),
        (
            format!(
                "INSERT INTO {new} (fid, geom, cadastral, properties)
                 SELECT fid, geom, cadastral, properties FROM {old} ORDER BY fid"
            ),
            "copying a layer table",
        ),
        (format!("DROP TABLE {old}"), "dropping a layer table"),
        (
            format!("ALTER TABLE {new} RENAME TO {old}"),
            "renaming a layer table",
        ),
    ];
    for (sql, context) in statements {
        sqlx::query(&sql)
            .persistent(false)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(context))?;
    }
    for (sql, context) in [
        (
            "UPDATE gpkg_geometry_columns SET geometry_type_name = ? WHERE table_name = ?",
            "updating a layer in gpkg_geometry_columns",
        ),
        (
            "UPDATE imgis_layers SET geometry_type = ? WHERE code = ?",
            "updating a layer's geometry type",
        ),
    ] {
        sqlx::query(sql)
            .bind(geometry_type.ogc_name())
            .bind(code.as_str())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(context))?;
    }
    Ok(())
}

/// Changes title, description, department and public flag; not the version.
pub(crate) async fn update(conn: &mut SqliteConnection, spec: &LayerSpec) -> Result<Layer> {
    let mut layer = require(conn, &spec.code).await?;
    require_department(conn, spec).await?;
    let code = spec.code.as_str();
    sqlx::query("UPDATE imgis_layers SET title = ?, description = ?, department = ?, public = ? WHERE code = ?")
        .bind(&spec.title)
        .bind(&spec.description)
        .bind(&spec.department)
        .bind(spec.public)
        .bind(code)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("updating a layer"))?;
    let identifier = identifier(conn, &spec.code, &spec.title).await?;
    sqlx::query("UPDATE gpkg_contents SET identifier = ?, description = ? WHERE table_name = ?")
        .bind(identifier)
        .bind(&spec.description)
        .bind(code)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("updating a layer in gpkg_contents"))?;
    layer.spec.title.clone_from(&spec.title);
    layer.spec.description.clone_from(&spec.description);
    layer.spec.department.clone_from(&spec.department);
    layer.spec.public = spec.public;
    Ok(layer)
}

/// Drops the feature table and every registration of the layer, its cadastral numbers included.
pub(crate) async fn delete(conn: &mut SqliteConnection, code: &LayerCode) -> Result<()> {
    require(conn, code).await?;
    sqlx::query(&format!("DROP TABLE {}", table(code)))
        .persistent(false)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("dropping a layer table"))?;
    // Children first: gpkg_geometry_columns refers to gpkg_contents, and
    // imgis_cadastre to imgis_layers.
    for (sql, context) in [
        (
            "DELETE FROM gpkg_data_columns WHERE table_name = ?",
            "unregistering a layer from gpkg_data_columns",
        ),
        (
            "DELETE FROM gpkg_extensions WHERE table_name = ?",
            "unregistering a layer from gpkg_extensions",
        ),
        (
            "DELETE FROM gpkg_geometry_columns WHERE table_name = ?",
            "unregistering a layer from gpkg_geometry_columns",
        ),
        (
            "DELETE FROM gpkg_contents WHERE table_name = ?",
            "unregistering a layer from gpkg_contents",
        ),
        (
            "DELETE FROM imgis_cadastre WHERE layer = ?",
            "freeing a layer's cadastral numbers",
        ),
        (
            "DELETE FROM imgis_layers WHERE code = ?",
            "unregistering a layer from imgis_layers",
        ),
    ] {
        sqlx::query(sql)
            .bind(code.as_str())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(context))?;
    }
    Ok(())
}

/// After a committed feature write: the new version, time, count and extent.
/// `bounds` is the layer's whole extent after the write (`None` when empty).
pub(crate) async fn record_write(
    conn: &mut SqliteConnection,
    layer: &Layer,
    feature_count: i64,
    bounds: Option<Bounds>,
) -> Result<Layer> {
    let code = layer.spec.code.as_str();
    let now = next_updated_at(Some(layer.updated_at));
    sqlx::query("UPDATE imgis_layers SET version = version + 1, updated_at = ?, feature_count = ? WHERE code = ?")
        .bind(timestamp(now))
        .bind(feature_count)
        .bind(code)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("bumping a layer's version"))?;
    sqlx::query(
        "UPDATE gpkg_contents SET last_change = ?, min_x = ?, min_y = ?, max_x = ?, max_y = ? WHERE table_name = ?",
    )
    .bind(last_change(now))
    .bind(bounds.map(|b| b.min_x))
    .bind(bounds.map(|b| b.min_y))
    .bind(bounds.map(|b| b.max_x))
    .bind(bounds.map(|b| b.max_y))
    .bind(code)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("updating a layer's extent in gpkg_contents"))?;
    forget_ogr_count(conn, code).await?;
    Ok(Layer {
        spec: layer.spec.clone(),
        version: layer.version + 1,
        updated_at: now,
        feature_count,
    })
}

/// The extent `gpkg_contents` holds for a layer (`None` if unset).
pub(crate) async fn bounds(
    conn: &mut SqliteConnection,
    code: &LayerCode,
) -> Result<Option<Bounds>> {
    /// min_x, min_y, max_x, max_y; each NULL while the layer is empty.
    type Extent = (Option<f64>, Option<f64>, Option<f64>, Option<f64>);
    let row: Option<Extent> =
        sqlx::query_as("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?")
            .bind(code.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::db("reading a layer's extent"))?;
    Ok(match row {
        Some((Some(min_x), Some(min_y), Some(max_x), Some(max_y))) => Some(Bounds {
            min_x,
            min_y,
            max_x,
            max_y,
        }),
        _ => None,
    })
}

/// GDAL keeps its own feature counts in `gpkg_ogr_contents` when it has written
/// to a file (a user editing a layer in QGIS, say) and trusts them on read.
/// Setting ours to NULL makes GDAL count again instead of reporting a stale number.
async fn forget_ogr_count(conn: &mut SqliteConnection, code: &str) -> Result<()> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'gpkg_ogr_contents'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db("looking for gpkg_ogr_contents"))?;
    if exists > 0 {
        sqlx::query(
            "UPDATE gpkg_ogr_contents SET feature_count = NULL WHERE lower(table_name) = lower(?)",
        )
        .bind(code)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("resetting GDAL's feature count"))?;
    }
    Ok(())
}

/// `gpkg_contents.identifier` is what GIS clients show as the layer's name, and
/// it is UNIQUE. Two layers may share a title, so the second one gets its code
/// appended rather than failing.
async fn identifier(conn: &mut SqliteConnection, code: &LayerCode, title: &str) -> Result<String> {
    let clash: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM gpkg_contents WHERE identifier = ? AND table_name <> ?",
    )
    .bind(title)
    .bind(code.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db("checking a layer title"))?;
    Ok(if clash == 0 {
        title.to_owned()
    } else {
        format!("{title} ({code})")
    })
}

/// The update time of a write: now, at the microsecond precision the store
/// keeps (so the value returned equals the value read back), and strictly after
/// the previous one even if the clock stepped back or two writes share a microsecond.
pub(crate) fn next_updated_at(previous: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
        .expect("the current time is within chrono's range");
    match previous {
        Some(p) if p >= now => p + chrono::Duration::microseconds(1),
        _ => now,
    }
}

/// How `imgis_layers.updated_at` is stored: RFC 3339, UTC, microseconds.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// How the GeoPackage spells `last_change`: ISO 8601 UTC with milliseconds.
fn last_change(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_times_strictly_increase() {
        let far_future = DateTime::parse_from_rfc3339("2999-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            next_updated_at(Some(far_future)),
            far_future + chrono::Duration::microseconds(1)
        );
        let a = next_updated_at(None);
        assert!(next_updated_at(Some(a)) > a);
        assert_eq!(
            a.timestamp_subsec_nanos() % 1000,
            0,
            "microsecond precision"
        );
    }

    #[test]
    fn stored_times_parse_back_equal() {
        let t = next_updated_at(None);
        let back = DateTime::parse_from_rfc3339(&timestamp(t))
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(back, t);
        assert!(last_change(t).ends_with('Z'));
        assert_eq!(last_change(t).len(), "2024-01-01T00:00:00.000Z".len());
    }

    #[test]
    fn tables_are_quoted() {
        let code: LayerCode = "parcels".parse().unwrap();
        assert_eq!(table(&code), "\"parcels\"");
    }
}
