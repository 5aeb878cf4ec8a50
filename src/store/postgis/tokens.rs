//! API tokens in PostGIS (`migrations/postgis/0005_api_tokens.sql`): hashes only.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::auth::{NewToken, TokenInfo};
use crate::store::rows::corrupt;
use crate::store::{Result, StoreError};

const COLUMNS: &str = "id, prefix, role, department, label, created_at, revoked_at";

fn from_row(row: &PgRow) -> Result<TokenInfo> {
    let id: i64 = row.get("id");
    let role: String = row.get("role");
    Ok(TokenInfo {
        id,
        prefix: row.get("prefix"),
        role: role
            .parse()
            .map_err(|e| corrupt(format!("role of token {id}"), e))?,
        department: row.get("department"),
        label: row.get("label"),
        created_at: row.get::<DateTime<Utc>, _>("created_at"),
        revoked_at: row.get::<Option<DateTime<Utc>>, _>("revoked_at"),
    })
}

pub(super) async fn create(pool: &PgPool, new: &NewToken) -> Result<TokenInfo> {
    let row = sqlx::query(&format!(
        "INSERT INTO api_tokens (hash, prefix, role, department, label)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(&new.hash)
    .bind(&new.prefix)
    .bind(new.role.as_str())
    .bind(&new.department)
    .bind(&new.label)
    .fetch_one(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::UnknownDepartment(new.department.clone().unwrap_or_default())
        }
        _ => StoreError::Database {
            context: "storing a token",
            source: e,
        },
    })?;
    from_row(&row)
}

pub(super) async fn list(pool: &PgPool) -> Result<Vec<TokenInfo>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM api_tokens ORDER BY id"))
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("listing tokens"))?
        .iter()
        .map(from_row)
        .collect()
}

pub(super) async fn by_hash(pool: &PgPool, hash: &str) -> Result<Option<TokenInfo>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM api_tokens WHERE hash = $1"))
        .bind(hash)
        .fetch_optional(pool)
        .await
        .map_err(StoreError::db("looking up a token"))?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Revokes once: a second revoke keeps the first time.
pub(super) async fn revoke(pool: &PgPool, id: i64) -> Result<TokenInfo> {
    sqlx::query(&format!(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(StoreError::db("revoking a token"))?
    .as_ref()
    .map(from_row)
    .transpose()?
    .ok_or(StoreError::UnknownToken(id))
}
