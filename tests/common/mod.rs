//! Helpers shared by the integration tests.
//!
//! A module of the one test binary (tests/integration.rs). Some helpers serve
//! only tests that are ignored by default, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod cluster;
pub mod contract;
pub mod postgis;
pub mod server;

use imgis::store::gpkg::GpkgStore;

/// A new, empty GeoPackage store in a temporary directory. Keep the `TempDir`
/// alive for as long as the store is used: dropping it deletes the file.
pub async fn gpkg_store() -> (tempfile::TempDir, GpkgStore) {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let store = GpkgStore::open(&dir.path().join("store.gpkg"))
        .await
        .expect("creating a new GeoPackage store");
    (dir, store)
}
