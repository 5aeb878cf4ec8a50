//! Helpers shared by the integration tests.
//!
//! A module of the one test binary (tests/integration.rs). Some helpers serve
//! only tests that are ignored by default, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod cluster;
pub mod contract;
pub mod postgis;
pub mod server;

use std::sync::Arc;

use imgis::demo::DemoOptions;
use imgis::store::gpkg::GpkgStore;
use imgis::store::DynStore;

/// A new, empty GeoPackage store in a temporary directory. Keep the `TempDir`
/// alive for as long as the store is used: dropping it deletes the file.
pub async fn gpkg_store() -> (tempfile::TempDir, GpkgStore) {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let store = GpkgStore::open(&dir.path().join("store.gpkg"))
        .await
        .expect("creating a new GeoPackage store");
    (dir, store)
}

/// Loads the demo city of `parcels` parcels into `store`; the same `seed`
/// gives the same city.
pub async fn load_demo(store: &DynStore, parcels: usize, seed: u64) {
    imgis::app::load_demo(store, DemoOptions { parcels, seed })
        .await
        .expect("loading the demo city");
}

/// A new GeoPackage store holding the demo city (see [`gpkg_store`] for the
/// `TempDir`).
pub async fn gpkg_demo(parcels: usize, seed: u64) -> (tempfile::TempDir, DynStore) {
    let (dir, store) = gpkg_store().await;
    let store: DynStore = Arc::new(store);
    load_demo(&store, parcels, seed).await;
    (dir, store)
}

/// A PostGIS store in a fresh database, holding the demo city.
pub async fn postgis_demo(parcels: usize, seed: u64) -> DynStore {
    let store: DynStore = Arc::new(postgis::postgis_store().await);
    load_demo(&store, parcels, seed).await;
    store
}

/// The XYZ tile (z, x, y) holding a point of lon/lat degrees (EPSG:4326) at
/// zoom `z`, by the spherical Mercator formulas, written here apart from the
/// server's so that the tests check its tile arithmetic rather than reuse it.
pub fn tile_of(lon: f64, lat: f64, z: u8) -> (u8, u32, u32) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let phi = lat.to_radians();
    let y = ((1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
    (z, x, y as u32)
}
