//! The store contract (`tests/common/contract.rs`) run against every backend:
//! one `#[tokio::test]` per contract case and backend, named `<backend>_<case>`.

mod common;

use common::contract;

/// Instantiates contract cases for one backend. `setup` is an async fn returning
/// `(guard, store)`: the guard (a temporary directory, a database handle …) is
/// kept alive until the case ends, and `&store` must coerce to `&dyn Store`.
macro_rules! contract_tests {
    (setup: $setup:path; $($test:ident => $case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                let (_guard, store) = $setup().await;
                contract::$case(&store).await;
            }
        )*
    };
}

// GeoPackage: a fresh file per case.
contract_tests! {
    setup: common::gpkg_store;
    gpkg_round_trip_every_geometry_type => round_trip_every_geometry_type,
    gpkg_cadastral_lookup => cadastral_lookup,
    gpkg_layer_versions => layer_versions,
    gpkg_failed_write_leaves_previous_state => failed_write_leaves_previous_state,
    gpkg_errors_for_missing_and_existing_things => errors_for_missing_and_existing_things,
    gpkg_delete_layer_frees_cadastral_numbers => delete_layer_frees_cadastral_numbers,
    gpkg_single_feature_edits => single_feature_edits,
    gpkg_departments_upsert_and_list => departments_upsert_and_list,
    gpkg_catalog_revisions => catalog_revisions,
    gpkg_application_round_trip => application_round_trip,
    gpkg_application_decisions => application_decisions,
    gpkg_application_filters => application_filters,
}

// PostGIS: a fresh database per case (scripts/test.sh provides the cluster).
contract_tests! {
    setup: postgis_setup;
    postgis_round_trip_every_geometry_type => round_trip_every_geometry_type,
    postgis_cadastral_lookup => cadastral_lookup,
    postgis_layer_versions => layer_versions,
    postgis_failed_write_leaves_previous_state => failed_write_leaves_previous_state,
    postgis_errors_for_missing_and_existing_things => errors_for_missing_and_existing_things,
    postgis_delete_layer_frees_cadastral_numbers => delete_layer_frees_cadastral_numbers,
    postgis_single_feature_edits => single_feature_edits,
    postgis_departments_upsert_and_list => departments_upsert_and_list,
    postgis_catalog_revisions => catalog_revisions,
    postgis_application_round_trip => application_round_trip,
    postgis_application_decisions => application_decisions,
    postgis_application_filters => application_filters,
}

/// PostGIS: a fresh database per case, cloned from the PostGIS template.
async fn postgis_setup() -> ((), imgis::store::postgis::PostgisStore) {
    ((), common::postgis::postgis_store().await)
}
