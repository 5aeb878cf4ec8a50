//! GeoPackage: the features of one table, through sqlx (SQLite, read-only).
//!
//! sqlx is async and a [`FeatureSource`] is a plain iterator, so the reading
//! runs on a thread of its own with a private current-thread tokio runtime:
//! it opens the file, reads the metadata (sent back once, so [`GpkgSource::open`]
//! fails for file-level problems), then streams one `SELECT … ORDER BY fid`
//! (sqlx's SQLite worker steps the statement row by row) and sends each
//! converted feature through a bounded channel of [`QUEUE`] features. Memory
//! stays bounded by the queue; the two threads overlap SQLite's work with the
//! caller's; no runtime is entered on the caller's thread, so it is safe to
//! use from a blocking task inside async code. Dropping the source closes the
//! channel, and the thread stops at its next send.
//!
//! The table is the one [`ReadOptions::source_layer`] names, else the only
//! feature table in `gpkg_contents`; several and none named is an error that
//! lists them. Table and column names come from `gpkg_contents` and
//! `pragma_table_info` (a whitelist) and are quoted as identifiers.
//!
//! CRS: `gpkg_spatial_ref_sys` of the geometry column's `srs_id`:
//! organisation EPSG → `EPSG:n`, else its WKT `definition`; the undefined
//! systems (-1, 0) → none. Geometries: the GeoPackage binary header, then
//! ISO WKB, through geozero into 2D ([`super::geometry`]). Attributes by
//! their stored SQLite type: integers, reals, text; `BOOLEAN` columns as
//! booleans; blobs are left out with a note.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use futures::TryStreamExt;
use geozero::wkb::GpkgWkb;
use geozero::GeozeroGeometry;
use serde_json::{Number, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row, TypeInfo, ValueRef};

use super::geometry::read_2d;
use crate::import::SourceInfo;
use crate::import::{FeatureSource, Format, ReadError, ReadOptions, Result, SourceFeature};
use crate::model::Properties;

/// Features read ahead of the caller.
const QUEUE: usize = 256;

pub(crate) struct GpkgSource {
    path: PathBuf,
    info: SourceInfo,
    features: Receiver<Result<SourceFeature>>,
    /// The reading thread, joined when its channel closes, to tell a
    /// finished table from a thread that died half way.
    worker: Option<JoinHandle<()>>,
    /// Items received so far: the index of the next feature.
    received: u64,
    done: bool,
}

/// What the reading thread needs to know about the table.
struct Table {
    name: String,
    geometry: String,
    /// The attribute columns: name, declared type.
    columns: Vec<(String, String)>,
    /// The integer primary key, or `rowid`.
    fid: String,
}

impl GpkgSource {
    pub(crate) fn open(path: &Path, options: &ReadOptions) -> Result<Self> {
        check_length(path)?;
        let (info_tx, info_rx) = sync_channel(1);
        let (tx, rx) = sync_channel(QUEUE);
        let thread_path = path.to_owned();
        let layer = options.source_layer.clone();
        let worker = std::thread::Builder::new()
            .name("imgis-gpkg-read".into())
            .spawn(move || read_all(&thread_path, layer.as_deref(), &info_tx, &tx))
            .map_err(ReadError::io(path))?;
        let info = info_rx.recv().unwrap_or_else(|_| {
            Err(ReadError::invalid(
                path,
                Format::GeoPackage,
                "the reading thread stopped before reading the file",
            ))
        })?;
        Ok(Self {
            path: path.to_owned(),
            info,
            features: rx,
            worker: Some(worker),
            received: 0,
            done: false,
        })
    }
}

impl Iterator for GpkgSource {
    type Item = Result<SourceFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.features.recv() {
            Ok(item) => {
                self.received += 1;
                if item.as_ref().is_err_and(|e| !e.is_skippable()) {
                    self.done = true;
                }
                Some(item)
            }
            Err(_) => {
                self.done = true;
                let died = self.worker.take().is_some_and(|w| w.join().is_err());
                died.then(|| {
                    Err(ReadError::broken(
                        &self.path,
                        self.received,
                        "the GeoPackage reading thread failed",
                    ))
                })
            }
        }
    }
}

impl FeatureSource for GpkgSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }
}

/// The feature tables of a GeoPackage.
pub(crate) fn list_layers(path: &Path) -> Result<Vec<String>> {
    check_length(path)?;
    let path = path.to_owned();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                runtime(&path)?.block_on(async {
                    let mut conn = connect(&path).await?;
                    let tables = feature_tables(&mut conn, &path).await;
                    conn.close().await.ok();
                    tables
                })
            })
            .join()
            .unwrap_or_else(|_| {
                Err(ReadError::invalid(
                    &path,
                    Format::GeoPackage,
                    "the reading thread failed",
                ))
            })
    })
}

/// Refuses a file shorter than its SQLite header says (a truncated copy):
/// SQLite itself notices only when it reads a missing page, which may be
/// never, or after some features. The header's page count is valid when its
/// "version-valid-for" equals the change counter; with a `-wal` file beside
/// it the main file may lag behind, so it is not checked then.
fn check_length(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(ReadError::io(path))?;
    let len = file.metadata().map_err(ReadError::io(path))?.len();
    let mut header = [0u8; 100];
    if file.read_exact(&mut header).is_err() || !header.starts_with(b"SQLite format 3\0") {
        return Err(invalid(path, "no SQLite header: not a GeoPackage"));
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let page = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let pages = u64::from(be32(28));
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let declared = page * pages;
    if be32(92) == be32(24) && declared > len && !Path::new(&wal).exists() {
        return Err(invalid(
            path,
            format!("its SQLite header says {declared} bytes but the file has {len}: truncated?"),
        ));
    }
    Ok(())
}

fn runtime(path: &Path) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ReadError::io(path))
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> ReadError {
    ReadError::invalid(path, Format::GeoPackage, reason.to_string())
}

/// The body of the reading thread.
fn read_all(
    path: &Path,
    layer: Option<&str>,
    info_tx: &SyncSender<Result<SourceInfo>>,
    tx: &SyncSender<Result<SourceFeature>>,
) {
    let rt = match runtime(path) {
        Ok(rt) => rt,
        Err(e) => {
            let _ = info_tx.send(Err(e));
            return;
        }
    };
    rt.block_on(async {
        let mut conn = match connect(path).await {
            Ok(conn) => conn,
            Err(e) => {
                let _ = info_tx.send(Err(e));
                return;
            }
        };
        let (info, table) = match metadata(&mut conn, path, layer).await {
            Ok(found) => found,
            Err(e) => {
                let _ = info_tx.send(Err(e));
                return;
            }
        };
        if info_tx.send(Ok(info)).is_err() {
            return;
        }
        let mut select = vec![quote(&table.fid), quote(&table.geometry)];
        select.extend(table.columns.iter().map(|(name, _)| quote(name)));
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            select.join(", "),
            quote(&table.name),
            quote(&table.fid)
        );
        let mut rows = sqlx::query(&sql).fetch(&mut conn);
        let mut index = 0u64;
        loop {
            let item = match rows.try_next().await {
                Ok(Some(row)) => feature(&row, &table, index)
                    .map_err(|reason| ReadError::feature(path, index, reason)),
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(ReadError::broken(path, index, e.to_string())));
                    break;
                }
            };
            if tx.send(item).is_err() {
                break; // the source was dropped
            }
            index += 1;
        }
        drop(rows);
        conn.close().await.ok();
    });
}

async fn connect(path: &Path) -> Result<SqliteConnection> {
    if !path.is_file() {
        return Err(ReadError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .disable_statement_logging()
        .connect()
        .await
        .map_err(|e| invalid(path, format!("cannot open it as SQLite: {e}")))
}

/// An SQL identifier, quoted.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn feature_tables(conn: &mut SqliteConnection, path: &Path) -> Result<Vec<String>> {
    let has_contents: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name = 'gpkg_contents'",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| invalid(path, format!("cannot read its tables: {e}")))?;
    if has_contents.is_none() {
        return Err(invalid(
            path,
            "an SQLite database without a gpkg_contents table: not a GeoPackage",
        ));
    }
    sqlx::query_scalar(
        "SELECT table_name FROM gpkg_contents WHERE lower(data_type) = 'features' \
         ORDER BY table_name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| invalid(path, format!("cannot read gpkg_contents: {e}")))
}

/// The layer's [`SourceInfo`] and how to read it.
async fn metadata(
    conn: &mut SqliteConnection,
    path: &Path,
    layer: Option<&str>,
) -> Result<(SourceInfo, Table)> {
    let tables = feature_tables(conn, path).await?;
    let layer_error = |reason: String| ReadError::Layer {
        path: path.to_owned(),
        reason,
    };
    let name = match (layer, tables.as_slice()) {
        (Some(wanted), _) => tables
            .iter()
            .find(|t| *t == wanted)
            .or_else(|| tables.iter().find(|t| t.eq_ignore_ascii_case(wanted)))
            .cloned()
            .ok_or_else(|| {
                layer_error(format!(
                    "no feature table '{wanted}'; the feature tables are: {}",
                    tables.join(", ")
                ))
            })?,
        (None, [one]) => one.clone(),
        (None, []) => return Err(layer_error("the GeoPackage has no feature tables".into())),
        (None, _) => {
            return Err(layer_error(format!(
                "the GeoPackage has {} feature tables ({}); choose one with --source-layer",
                tables.len(),
                tables.join(", ")
            )))
        }
    };
    let sql_error = |e: sqlx::Error| invalid(path, format!("reading table '{name}': {e}"));
    let (geometry, srs_id): (String, i64) = sqlx::query_as(
        "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?",
    )
    .bind(&name)
    .fetch_optional(&mut *conn)
    .await
    .map_err(sql_error)?
    .ok_or_else(|| {
        invalid(
            path,
            format!("table '{name}' has no row in gpkg_geometry_columns"),
        )
    })?;
    let srs: Option<(Option<String>, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT organization, organization_coordsys_id, definition \
         FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
    )
    .bind(srs_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(sql_error)?;
    let columns: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid")
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_error)?;
    let fid = columns
        .iter()
        .find(|(_, kind, pk)| *pk == 1 && kind.eq_ignore_ascii_case("INTEGER"))
        .map_or_else(|| "rowid".to_owned(), |(n, _, _)| n.clone());
    let attributes = columns
        .into_iter()
        .filter(|(n, _, _)| *n != fid && !n.eq_ignore_ascii_case(&geometry))
        .map(|(n, kind, _)| (n, kind))
        .collect();
    let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quote(&name)))
        .fetch_one(&mut *conn)
        .await
        .map_err(sql_error)?;
    let info = SourceInfo {
        format: Format::GeoPackage,
        layer: Some(name.clone()),
        crs: crs(srs_id, srs),
        count: u64::try_from(count).ok(),
        notes: Vec::new(),
    };
    Ok((
        info,
        Table {
            name,
            geometry,
            columns: attributes,
            fid,
        },
    ))
}

/// The CRS of a `gpkg_spatial_ref_sys` row.
fn crs(srs_id: i64, srs: Option<(Option<String>, Option<i64>, Option<String>)>) -> Option<String> {
    if srs_id == -1 || srs_id == 0 {
        return None; // "undefined Cartesian" and "undefined geographic" (spec §1.1.2.1.2)
    }
    let (org, code, definition) = srs?;
    let org = org.map(|o| o.trim().to_owned()).filter(|o| !o.is_empty());
    if let (Some(org), Some(code)) = (&org, code) {
        if org.eq_ignore_ascii_case("EPSG") && code > 0 {
            return Some(format!("EPSG:{code}"));
        }
    }
    if let Some(wkt) = definition
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty() && !d.eq_ignore_ascii_case("undefined"))
    {
        return Some(wkt);
    }
    Some(format!("{}:{}", org?, code?))
}

/// One row as a feature: geometry at column 1, attributes from column 2.
fn feature(
    row: &SqliteRow,
    table: &Table,
    index: u64,
) -> std::result::Result<SourceFeature, String> {
    let blob: Option<Vec<u8>> = row
        .try_get(1)
        .map_err(|e| format!("column '{}': not a geometry blob: {e}", table.geometry))?;
    let (geometry, mut notes) = match blob {
        None => (None, Vec::new()),
        Some(blob) => {
            let (g, notes) = read_2d(|p| GpkgWkb(&blob).process_geom(p))
                .map_err(|e| format!("column '{}': bad geometry: {e}", table.geometry))?;
            (Some(g), notes)
        }
    };
    let mut properties = Properties::new();
    for (i, (name, declared)) in table.columns.iter().enumerate() {
        let i = i + 2;
        let raw = row
            .try_get_raw(i)
            .map_err(|e| format!("column '{name}': {e}"))?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            let stored = raw.type_info().name().to_owned();
            let error = |e: sqlx::Error| format!("column '{name}': {e}");
            match stored.as_str() {
                "INTEGER" => {
                    let v: i64 = row.try_get_unchecked(i).map_err(error)?;
                    if declared.eq_ignore_ascii_case("BOOLEAN") {
                        Value::Bool(v != 0)
                    } else {
                        Value::from(v)
                    }
                }
                "REAL" => {
                    let v: f64 = row.try_get_unchecked(i).map_err(error)?;
                    Number::from_f64(v).map_or(Value::Null, Value::Number)
                }
                "BLOB" => {
                    notes.push(format!("binary column '{name}' not imported"));
                    Value::Null
                }
                _ => Value::String(row.try_get_unchecked(i).map_err(error)?),
            }
        };
        properties.insert(name.clone(), value);
    }
    Ok(SourceFeature {
        index,
        geometry,
        properties,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crs_of_srs_rows() {
        let epsg = Some((
            Some("EPSG".to_owned()),
            Some(28992),
            Some("PROJCS[…]".to_owned()),
        ));
        assert_eq!(crs(28992, epsg).as_deref(), Some("EPSG:28992"));
        let custom = Some((
            Some("NONE".to_owned()),
            Some(1),
            Some("PROJCS[\"x\"]".to_owned()),
        ));
        assert_eq!(crs(100_000, custom).as_deref(), Some("PROJCS[\"x\"]"));
        assert_eq!(crs(-1, None), None);
        assert_eq!(
            crs(
                0,
                Some((Some("NONE".into()), Some(0), Some("undefined".into())))
            ),
            None
        );
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }
}
