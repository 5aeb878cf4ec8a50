//! API tokens in the GeoPackage (`migrations/gpkg/0004_api_tokens.sql`): hashes only.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::layers::{department_exists, next_updated_at, timestamp};
use crate::auth::{NewToken, TokenInfo};
use crate::store::rows::corrupt;
use crate::store::{Result, StoreError};

const COLUMNS: &str = "id, prefix, role, department, label, created_at, revoked_at";

fn parse_time(id: i64, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(format!("time of token {id}"), format!("'{s}': {e}")))
}

fn from_row(row: &SqliteRow) -> Result<TokenInfo> {
    let id: i64 = row.get("id");
    let role: String = row.get("role");
    let created_at: String = row.get("created_at");
    let revoked_at: Option<String> = row.get("revoked_at");
    Ok(TokenInfo {
        id,
        prefix: row.get("prefix"),
        role: role
            .parse()
            .map_err(|e| corrupt(format!("role of token {id}"), e))?,
        department: row.get("department"),
        label: row.get("label"),
        created_at: parse_time(id, &created_at)?,
        revoked_at: revoked_at.map(|t| parse_time(id, &t)).transpose()?,
    })
}

/// In the caller's write transaction.
pub(super) async fn create(conn: &mut SqliteConnection, new: &NewToken) -> Result<TokenInfo> {
    if let Some(d) = &new.department {
        if !department_exists(conn, d).await? {
            return Err(StoreError::UnknownDepartment(d.clone()));
        }
    }
    let row = sqlx::query(&format!(
        "INSERT INTO imgis_api_tokens (hash, prefix, role, department, label, created_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
    ))
    .bind(&new.hash)
    .bind(&new.prefix)
    .bind(new.role.as_str())
    .bind(&new.department)
    .bind(&new.label)
    .bind(timestamp(next_updated_at(None)))
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db("storing a token"))?;
    from_row(&row)
}

pub(super) async fn list(conn: &mut SqliteConnection) -> Result<Vec<TokenInfo>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM imgis_api_tokens ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::db("listing tokens"))?
    .iter()
    .map(from_row)
    .collect()
}

pub(super) async fn by_hash(conn: &mut SqliteConnection, hash: &str) -> Result<Option<TokenInfo>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM imgis_api_tokens WHERE hash = ?"
    ))
    .bind(hash)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("looking up a token"))?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// In the caller's write transaction; a second revoke keeps the first time.
pub(super) async fn revoke(conn: &mut SqliteConnection, id: i64) -> Result<TokenInfo> {
    sqlx::query(&format!(
        "UPDATE imgis_api_tokens SET revoked_at = coalesce(revoked_at, ?)
         WHERE id = ? RETURNING {COLUMNS}"
    ))
    .bind(timestamp(next_updated_at(None)))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("revoking a token"))?
    .as_ref()
    .map(from_row)
    .transpose()?
    .ok_or(StoreError::UnknownToken(id))
}
