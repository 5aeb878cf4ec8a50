//! A fresh PostGIS database per test, cloned from a template that has the
//! extension installed (scripts/test.sh makes it; made here if missing).

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{Connection, PgConnection};

use imgis::store::postgis::PostgisStore;

const TEMPLATE: &str = "imgis_template";

/// The cluster the test harness started. Tests never skip themselves when it
/// is missing: a PostGIS test that silently passes without PostGIS is worse than none.
pub fn cluster_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL must point at a PostGIS cluster (postgres://…/postgres); scripts/test.sh starts one",
    )
}

fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url
        .rsplit_once('/')
        .expect("DATABASE_URL has a database path");
    format!("{base}/{name}")
}

/// Creates an empty database with PostGIS and returns its URL.
pub async fn fresh_database() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let url = cluster_url();
    let mut admin = PgConnection::connect(&url)
        .await
        .expect("connecting to the test cluster");
    // Two test binaries may race to make the template: serialise on an advisory lock.
    sqlx::query("SELECT pg_advisory_lock(4242)")
        .execute(&mut admin)
        .await
        .expect("lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(TEMPLATE)
            .fetch_one(&mut admin)
            .await
            .expect("looking for the template");
    if !exists {
        sqlx::query(&format!("CREATE DATABASE {TEMPLATE}"))
            .execute(&mut admin)
            .await
            .expect("template");
        let mut tpl = PgConnection::connect(&with_database(&url, TEMPLATE))
            .await
            .expect("template");
        sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis")
            .execute(&mut tpl)
            .await
            .expect("postgis");
        tpl.close().await.ok();
    }
    let name = format!(
        "imgis_t{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
        .execute(&mut admin)
        .await
        .expect("creating the test database");
    sqlx::query("SELECT pg_advisory_unlock(4242)")
        .execute(&mut admin)
        .await
        .expect("unlock");
    admin.close().await.ok();
    with_database(&url, &name)
}

/// A migrated, empty PostGIS store in its own database.
pub async fn postgis_store() -> PostgisStore {
    let url = fresh_database().await;
    let store = PostgisStore::connect(&url)
        .await
        .expect("connecting to the fresh database");
    store.migrate().await.expect("migrating the fresh database");
    store
}
