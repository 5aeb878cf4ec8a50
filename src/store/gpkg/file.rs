//! Deciding whether an existing file is an imgis GeoPackage, without changing it.
//!
//! A user may point `--store` at the wrong file: a shapefile's `.dbf`, some other
//! program's database, a GeoPackage from QGIS. We must never write to such a file
//! (not even the WAL switch or our migrations), so the checks go from cheap and
//! harmless to less so: first plain reads of the SQLite header, then a read-only
//! SQLite connection.

use std::io::Read;
use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::store::{Result, StoreError};

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// `application_id` values that mark a GeoPackage: 'GPKG' (1.2 and later), and
/// 'GP10' / 'GP11' written by GeoPackage 1.0 and 1.1.
const GEOPACKAGE_IDS: [i32; 3] = [0x4750_4B47, 0x4750_3130, 0x4750_3131];

/// Checks an existing file: `Ok` for a GeoPackage with the imgis tables (safe
/// to open read-write and migrate), `Err(NotAGeoPackage)` for anything else,
/// with the file left byte-identical.
pub(crate) async fn check_ours(path: &Path) -> Result<()> {
    let refuse = |reason: String| StoreError::NotAGeoPackage {
        path: path.display().to_string(),
        reason,
    };

    // 1. Plain std::fs: is it an SQLite database at all? SQLite itself would
    //    happily "open" a text file and fail only at the first query.
    let mut header = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let read =
        read_up_to(&mut file, &mut header).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    drop(file);
    if read == 0 {
        return Err(refuse("the file is empty".to_owned()));
    }
    if read < header.len() || &header != SQLITE_MAGIC {
        return Err(refuse("it is not an SQLite database".to_owned()));
    }

    // 2. A read-only connection (SQLITE_OPEN_READONLY: SQLite refuses any write,
    //    even one we did not mean to make). No journal mode or other persistent
    //    pragma is set on it.
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    let mut conn = options
        .connect()
        .await
        .map_err(|e| refuse(format!("SQLite cannot open it: {e}")))?;
    let verdict = classify(&mut conn).await;
    // Closing cleanly releases the shared lock now rather than when the pool of
    // the caller opens the same file.
    let _ = conn.close().await;
    verdict.map_err(refuse)
}

/// The read-only checks, as a refusal reason.
async fn classify(conn: &mut sqlx::SqliteConnection) -> Result<(), String> {
    let application_id: i32 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| format!("SQLite cannot read it: {e}"))?;
    if !GEOPACKAGE_IDS.contains(&application_id) {
        return Err(format!(
            "it is an SQLite database whose application_id is {application_id:#010x}, not 'GPKG' ({:#010x})",
            GEOPACKAGE_IDS[0]
        ));
    }
    let has_table = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind(name)
    };
    let contents: i64 = has_table("gpkg_contents")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| format!("SQLite cannot read it: {e}"))?;
    if contents == 0 {
        return Err("it has a GeoPackage application_id but no gpkg_contents table".to_owned());
    }
    let ours: i64 = has_table("imgis_layers")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| format!("SQLite cannot read it: {e}"))?;
    if ours == 0 {
        return Err("it is a GeoPackage, but not an imgis store; \
                    its layers can be imported with `imgis import`"
            .to_owned());
    }
    Ok(())
}

/// Reads until `buf` is full or the file ends; returns how many bytes were read.
fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
