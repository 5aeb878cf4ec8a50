//! One partition of `features` per layer (`migrations/postgis/0003_layer_partitions.sql`):
//! its name, the DDL that makes, swaps in and drops it, and the store-wide
//! uniqueness of cadastral numbers, which no index of a partitioned table can
//! enforce.
//!
//! A new partition is made as a plain table (`features_s<layer id>`, "staging")
//! like `features_template`, filled, indexed, and then attached as
//! `features_l<layer id>`. Building its indexes once on a full table is what
//! makes an import fast: GiST maintained row by row costs several times more.
//! Table and index names come from the layer's integer id only, never from
//! user text.
//!
//! # Locking
//! Every transaction that changes which partitions `features` has (create,
//! swap, drop) or that can set cadastral numbers takes [`lock`] after its
//! layer's row (locked, or inserted) and before its first statement on
//! `features`; nothing takes a layer's row after it. That lock:
//! - makes "is this number held by another layer?" then "commit" one step
//!   for all writers, so two imports into two layers cannot both commit the
//!   same number;
//! - orders the strong locks the DDL takes on `features` (dropping a
//!   partition takes ACCESS EXCLUSIVE on it) behind it, so two writers never
//!   wait for each other's locks on `features` (a deadlock).
//!
//! An import that is still reading its file holds no lock on `features`: it
//! writes its staging table, which is made from `features_template`, not from
//! `features`.

use sqlx::PgConnection;

use crate::store::{Result, StoreError};

/// The key of the transaction-level advisory lock described in the module
/// documentation ("imgis_f1" in ASCII). One fixed key per database: advisory
/// locks are per database, so stores in two databases never wait for each other.
pub(super) const PARTITIONS_LOCK: i64 = 0x696d_6769_735f_6631;

/// The partition holding a layer's features.
pub(super) fn partition(layer_id: i32) -> String {
    format!("features_l{layer_id}")
}

/// The table an import writes before it becomes the layer's partition.
pub(super) fn staging(layer_id: i32) -> String {
    format!("features_s{layer_id}")
}

/// The indexes every partition has besides its primary key, as `(name
/// suffix, UNIQUE or not, definition)`: the ones the migration made on
/// `features`, which a partition must have equal for ATTACH to adopt them
/// (else ATTACH builds them again). Names are as PostgreSQL names them for
/// `CREATE TABLE … PARTITION OF`, so partitions of migrated layers and of new
/// ones look alike.
const INDEXES: [(&str, &str, &str); 2] = [
    ("geom_idx", "", "USING gist (geom)"),
    // Refuses a number twice in one layer (other layers: see the module documentation).
    (
        "cadastral_layer_id_idx",
        "UNIQUE",
        "(cadastral, layer_id) WHERE cadastral IS NOT NULL",
    ),
];

/// Takes [`PARTITIONS_LOCK`] until the transaction ends.
pub(super) async fn lock(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PARTITIONS_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("waiting for the partitions lock"))?;
    Ok(())
}

/// Creates the empty staging table of a layer. Its `CHECK (layer_id = …)` is
/// the partition's bound, so ATTACH takes it as proof instead of scanning
/// every row.
pub(super) async fn create_staging(conn: &mut PgConnection, layer_id: i32) -> Result<()> {
    let table = staging(layer_id);
    execute(
        conn,
        &format!(
            "CREATE TABLE {table} (LIKE features_template INCLUDING DEFAULTS INCLUDING CONSTRAINTS, \
             CONSTRAINT partition_bound CHECK (layer_id = {layer_id}))"
        ),
        "creating an import's table",
    )
    .await
}

/// Builds the staging table's indexes, each once over all rows (a sorted build).
pub(super) async fn index_staging(conn: &mut PgConnection, layer_id: i32) -> Result<()> {
    let table = staging(layer_id);
    execute(
        conn,
        &format!("ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (layer_id, id)"),
        "indexing an import's ids",
    )
    .await?;
    for (suffix, unique, definition) in INDEXES {
        execute(
            conn,
            &format!("CREATE {unique} INDEX {table}_{suffix} ON {table} {definition}"),
            "indexing an import",
        )
        .await?;
    }
    Ok(())
}

/// Makes the indexed staging table the layer's partition, dropping the
/// partition it had (if `replaces`). Takes ACCESS EXCLUSIVE on `features` when
/// it drops one, until commit: call it last, under [`lock`].
pub(super) async fn swap_in(conn: &mut PgConnection, layer_id: i32, replaces: bool) -> Result<()> {
    let (from, to) = (staging(layer_id), partition(layer_id));
    if replaces {
        execute(
            conn,
            &format!("DROP TABLE IF EXISTS {to}"),
            "dropping a layer's old features",
        )
        .await?;
    }
    execute(
        conn,
        &format!("ALTER TABLE {from} RENAME TO {to}"),
        "renaming an import's table",
    )
    .await?;
    // Renaming the primary key's index renames its constraint too.
    for suffix in std::iter::once("pkey").chain(INDEXES.iter().map(|(s, _, _)| *s)) {
        execute(
            conn,
            &format!("ALTER INDEX {from}_{suffix} RENAME TO {to}_{suffix}"),
            "renaming an import's index",
        )
        .await?;
    }
    execute(
        conn,
        &format!("ALTER TABLE features ATTACH PARTITION {to} FOR VALUES IN ({layer_id})"),
        "attaching a layer's features",
    )
    .await?;
    // The bound is now the partition's own constraint.
    execute(
        conn,
        &format!("ALTER TABLE {to} DROP CONSTRAINT partition_bound"),
        "attaching a layer's features",
    )
    .await
}

/// Creates a new layer's empty partition, under [`lock`].
pub(super) async fn create(conn: &mut PgConnection, layer_id: i32) -> Result<()> {
    create_staging(conn, layer_id).await?;
    index_staging(conn, layer_id).await?;
    swap_in(conn, layer_id, false).await
}

/// Drops a layer's partition with its features, under [`lock`].
pub(super) async fn drop(conn: &mut PgConnection, layer_id: i32) -> Result<()> {
    execute(
        conn,
        &format!("DROP TABLE IF EXISTS {}", partition(layer_id)),
        "dropping a layer's features",
    )
    .await
}

/// The first number (in id order) of the staging table that another layer
/// holds, under [`lock`]. The layer's own partition does not count: the
/// staging table replaces it.
pub(super) async fn taken_by_staging(
    conn: &mut PgConnection,
    layer_id: i32,
) -> Result<Option<String>> {
    first_taken(conn, &staging(layer_id), layer_id, 0).await
}

/// The first number (in id order) of the layer's features from id `first_id`
/// on (what an append wrote) that another layer holds, under [`lock`].
pub(super) async fn taken_since(
    conn: &mut PgConnection,
    layer_id: i32,
    first_id: i64,
) -> Result<Option<String>> {
    first_taken(conn, &partition(layer_id), layer_id, first_id).await
}

/// The first number (in id order) of `table`'s rows from id `first_id` on
/// that a layer other than `layer_id` holds.
async fn first_taken(
    conn: &mut PgConnection,
    table: &str,
    layer_id: i32,
    first_id: i64,
) -> Result<Option<String>> {
    // Every clash first, then the first of them. Written as
    // `… ORDER BY n.id LIMIT 1` alone, the planner walks the new rows in id
    // order probing every other layer's index for each (it expects a clash
    // soon): a second for 300 000 numbers. Behind the OFFSET 0 fence it
    // merges the two cadastral indexes instead (~0.15 s against a city's parcels).
    sqlx::query_scalar(&format!(
        "SELECT cadastral FROM ( \
             SELECT n.id, n.cadastral FROM {table} n JOIN features f ON f.cadastral = n.cadastral \
             WHERE f.layer_id <> $1 AND n.id >= $2 OFFSET 0 \
         ) clash ORDER BY id LIMIT 1"
    ))
    .bind(layer_id)
    .bind(first_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db(
        "looking for cadastral numbers other layers hold",
    ))
}

/// Whether a layer other than `layer_id` holds `number`, under [`lock`].
pub(super) async fn held_elsewhere(
    conn: &mut PgConnection,
    layer_id: i32,
    number: &str,
) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM features WHERE cadastral = $1 AND layer_id <> $2)",
    )
    .bind(number)
    .bind(layer_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db(
        "looking for a cadastral number in other layers",
    ))
}

/// Runs one DDL statement; a cadastral number twice in one layer (found by
/// building the unique index) is `DuplicateCadastral`, as elsewhere.
async fn execute(conn: &mut PgConnection, sql: &str, context: &'static str) -> Result<()> {
    // DDL text differs per layer: not worth keeping a prepared statement each.
    sqlx::query(sql)
        .persistent(false)
        .execute(&mut *conn)
        .await
        .map_err(super::write_error(context))?;
    Ok(())
}
