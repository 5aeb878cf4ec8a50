//! The store contract (`tests/common/contract.rs`) run against every backend:
//! one `#[tokio::test]` per contract case and backend, named `<backend>_<case>`.

use crate::common::contract;
use futures::StreamExt;

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
    setup: crate::common::gpkg_store;
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
    gpkg_import_creates_layer_and_narrows_type => import_creates_layer_and_narrows_type,
    gpkg_import_replace_and_append => import_replace_and_append,
    gpkg_failed_import_changes_nothing => failed_import_changes_nothing,
    gpkg_concurrent_imports_keep_cadastral_unique => concurrent_imports_keep_cadastral_unique,
    gpkg_api_tokens => api_tokens,
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
    postgis_import_creates_layer_and_narrows_type => import_creates_layer_and_narrows_type,
    postgis_import_replace_and_append => import_replace_and_append,
    postgis_failed_import_changes_nothing => failed_import_changes_nothing,
    postgis_concurrent_imports_keep_cadastral_unique => concurrent_imports_keep_cadastral_unique,
    postgis_api_tokens => api_tokens,
}

/// PostGIS: a fresh database per case, cloned from the PostGIS template.
async fn postgis_setup() -> ((), imgis::store::postgis::PostgisStore) {
    ((), crate::common::postgis::postgis_store().await)
}

// PostGIS only: how the features are laid out (migrations/postgis/0003).

/// The partitions of `features` (name → number of indexes, each adopted from
/// the parent's), and whether any import's staging table is left.
async fn partitions(store: &imgis::store::postgis::PostgisStore) -> (Vec<(String, i64, i64)>, i64) {
    let parts: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT c.relname::text, \
                (SELECT count(*) FROM pg_index x WHERE x.indrelid = c.oid), \
                (SELECT count(*) FROM pg_index x JOIN pg_inherits xi ON xi.inhrelid = x.indexrelid \
                  WHERE x.indrelid = c.oid) \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'features'::regclass ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .expect("listing partitions");
    let staging: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relname LIKE 'features\\_s%'")
            .fetch_one(store.pool())
            .await
            .expect("looking for staging tables");
    (parts, staging)
}

async fn layer_id(store: &imgis::store::postgis::PostgisStore, code: &str) -> i32 {
    sqlx::query_scalar("SELECT id FROM layers WHERE code = $1")
        .bind(code)
        .fetch_one(store.pool())
        .await
        .expect("layer id")
}

/// One partition per layer, named by its id, with the parent's three indexes
/// (adopted, not built twice), made by create_layer and by an import that
/// creates its layer, swapped by a replace, dropped with the layer.
#[tokio::test]
async fn postgis_partition_per_layer() {
    use imgis::model::{GeometryType, LayerKind, LayerSpec, NewFeature};
    use imgis::store::{ImportWrite, Store};

    let store = crate::common::postgis::postgis_store().await;
    let spec = |code: &str| LayerSpec {
        code: code.parse().expect("valid code"),
        title: code.into(),
        description: String::new(),
        kind: LayerKind::Parcels,
        department: None,
        geometry_type: GeometryType::Point,
        public: true,
    };
    let point = |i: u32| {
        NewFeature::new(
            geo_types::point!(x: 49.0 + f64::from(i) * 1e-4, y: 55.0).into(),
            imgis::model::Properties::new(),
        )
        .with_cadastral(format!("16:50:000031:{i}").parse().expect("valid number"))
    };
    store
        .create_layer(&spec("made"))
        .await
        .expect("create_layer");
    let made = layer_id(&store, "made").await;
    assert_eq!(
        partitions(&store).await,
        (vec![(format!("features_l{made}"), 3, 3)], 0)
    );

    for replace in [true, true, false] {
        store
            .import_features(
                &ImportWrite {
                    code: spec("made").code,
                    create: None,
                    replace,
                },
                futures::stream::iter(vec![Ok((0..10)
                    .map(|i| point(i + u32::from(!replace) * 10))
                    .collect())])
                .boxed(),
            )
            .await
            .expect("import");
    }
    let imported = spec("imported");
    store
        .import_features(
            &ImportWrite {
                code: imported.code.clone(),
                create: Some(imported),
                replace: true,
            },
            futures::stream::iter(vec![Ok(vec![point(100)])]).boxed(),
        )
        .await
        .expect("import creating its layer");
    let created = layer_id(&store, "imported").await;
    assert_eq!(
        partitions(&store).await,
        (
            vec![
                (format!("features_l{made}"), 3, 3),
                (format!("features_l{created}"), 3, 3)
            ],
            0
        )
    );
    let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM features_l{made}"))
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(rows, 20, "replaced twice, then appended");

    store
        .delete_layer(&spec("made").code)
        .await
        .expect("delete_layer");
    assert_eq!(
        partitions(&store).await,
        (vec![(format!("features_l{created}"), 3, 3)], 0)
    );
}

/// A database at 0002 with features (and a deleted one) migrates to
/// partitions: every feature and number is where it was, and ids go on after
/// the largest ever given, not just the largest kept.
#[tokio::test]
async fn postgis_migration_to_partitions() {
    use imgis::model::{Cadastral, NewFeature, Properties};
    use imgis::store::Store;

    let url = crate::common::postgis::fresh_database().await;
    // Migrations 0001 and 0002 only: the same files (so the same checksums) in a folder of their own.
    let old = tempfile::tempdir().expect("temp dir");
    for name in ["0001_core.sql", "0002_applications.sql"] {
        std::fs::copy(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations/postgis")
                .join(name),
            old.path().join(name),
        )
        .expect("copying a migration");
    }
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("reading migrations")
        .run(&pool)
        .await
        .expect("migrating to 0002");
    sqlx::raw_sql(
        "INSERT INTO layers (code, title, kind, geometry_type) VALUES
             ('parcels', 'Parcels', 'parcels', 'POLYGON'), ('wells', 'Wells', 'other', 'POINT'),
             ('empty', 'Empty', 'zones', 'POLYGON');
         INSERT INTO features (layer_id, geom, cadastral, properties)
             SELECT 1, ST_Buffer(ST_SetSRID(ST_MakePoint(49 + i * 0.001, 55.8), 4326), 0.0001, 2),
                    '16:50:000032:' || i, jsonb_build_object('n', i)
             FROM generate_series(1, 5) i;
         INSERT INTO features (layer_id, geom) VALUES
             (2, ST_SetSRID(ST_MakePoint(49.1, 55.7), 4326)), (2, ST_SetSRID(ST_MakePoint(49.2, 55.7), 4326));
         DELETE FROM features WHERE id = 7;
         UPDATE layers SET version = 1, feature_count = 5 WHERE id = 1;
         UPDATE layers SET version = 1, feature_count = 1 WHERE id = 2;",
    )
    .execute(&pool)
    .await
    .expect("data as 0002 held it");
    pool.close().await;

    let store = imgis::store::postgis::PostgisStore::connect(&url)
        .await
        .expect("connect");
    store.migrate().await.expect("migrating to partitions");
    let code = |c: &str| c.parse::<imgis::model::LayerCode>().expect("valid code");
    let parcels = store.features(&code("parcels")).await.expect("features()");
    assert_eq!(
        parcels.iter().map(|f| f.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(parcels[2].properties.get("n"), Some(&serde_json::json!(3)));
    let wells = store.features(&code("wells")).await.expect("features()");
    assert_eq!(wells.iter().map(|f| f.id).collect::<Vec<_>>(), [6]);
    let number: Cadastral = "16:50:000032:4".parse().expect("valid number");
    let (layer, found) = store
        .parcel(&number)
        .await
        .expect("parcel()")
        .expect("found");
    assert_eq!((layer.as_str(), found.id), ("parcels", 4));
    let (parts, staging) = partitions(&store).await;
    assert_eq!(
        parts,
        [1, 2, 3]
            .map(|id| (format!("features_l{id}"), 3, 3))
            .to_vec()
    );
    assert_eq!(staging, 0);

    // Id 7 was given once: the next is 8.
    let out = store
        .append_features(
            &code("wells"),
            vec![NewFeature::new(
                geo_types::point!(x: 49.3, y: 55.7).into(),
                Properties::new(),
            )],
        )
        .await
        .expect("append");
    assert_eq!(out.features[0].id, 8);
    assert_eq!(out.layer.version, 2);
    // Numbers stay unique across layers, and a migrated layer can be replaced.
    let taken = NewFeature::new(
        geo_types::point!(x: 49.3, y: 55.7).into(),
        Properties::new(),
    )
    .with_cadastral(number.clone());
    assert!(matches!(
        store.append_features(&code("wells"), vec![taken]).await,
        Err(imgis::store::StoreError::DuplicateCadastral(n)) if n == "16:50:000032:4"
    ));
    let out = store
        .replace_features(
            &code("parcels"),
            parcels[..2]
                .iter()
                .map(|f| NewFeature {
                    geometry: f.geometry.clone(),
                    cadastral: f.cadastral.clone(),
                    properties: f.properties.clone(),
                })
                .collect(),
        )
        .await
        .expect("replace a migrated layer");
    assert_eq!(out.layer.feature_count, 2);
    assert_eq!(store.parcel(&number).await.expect("parcel()"), None);
}

/// How long imports into PostGIS take: 354 000 polygons of 21 vertices and 6
/// properties (the size of benches/compare_postgis_import.sh's file), in
/// batches of 4096, made beforehand so that only the store is timed. Run:
/// `cargo test --release --test integration store_contract::postgis_import_speed -- --ignored --nocapture`
/// (IMPORT_FEATURES to change the count, IMPORT_NUMBERED=1 to give every
/// feature a cadastral number).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run it on purpose, in release"]
async fn postgis_import_speed() {
    use sqlx::Connection;
    let url = crate::common::postgis::fresh_database().await;
    let store = imgis::store::postgis::PostgisStore::connect(&url)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let timed =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(import_speed(&store))).await;
    // A few hundred MB: do not leave them behind, even when the run failed.
    store.pool().close().await;
    let name = url.rsplit('/').next().expect("a database name");
    let mut admin = sqlx::PgConnection::connect(&crate::common::postgis::cluster_url())
        .await
        .expect("connect to the cluster");
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("dropping the benchmark's database");
    if let Err(panic) = timed {
        std::panic::resume_unwind(panic);
    }
}

/// [`postgis_import_speed`] for the GeoPackage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run it on purpose, in release"]
async fn gpkg_import_speed() {
    let (_dir, store) = crate::common::gpkg_store().await;
    import_speed(&store).await;
}

async fn import_speed(store: &dyn imgis::store::Store) {
    use imgis::model::{GeometryType, LayerKind, LayerSpec, NewFeature};
    use imgis::store::ImportWrite;
    use serde_json::json;

    let n: usize = std::env::var("IMPORT_FEATURES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(354_000);
    let numbered = std::env::var("IMPORT_NUMBERED").is_ok_and(|v| v == "1");
    // Polygon i: a 20-gon (21 vertices, closed) of radius ~50 m on a grid over Kazan.
    let feature = |i: usize| {
        let (cx, cy) = (
            49.0 + (i % 600) as f64 * 0.001,
            55.7 + (i / 600) as f64 * 0.001,
        );
        let ring: Vec<(f64, f64)> = (0..20)
            .map(|k| {
                let a = f64::from(k) * std::f64::consts::TAU / 20.0;
                (cx + 0.0004 * a.cos(), cy + 0.0004 * a.sin())
            })
            .collect();
        let f = NewFeature::new(
            geo_types::Polygon::new(ring.into(), vec![]).into(),
            imgis::model::props([
                ("PIN", json!(format!("P{i}"))),
                ("ACRES", json!((i % 10_000) as f64 / 100.0)),
                ("OWNER", json!(format!("SOMEBODY NAME {i}"))),
                ("ZONING", json!("R-1")),
                ("ADDRESS", json!(format!("{i} MAIN ST"))),
                ("YEAR", json!(1950 + i % 70)),
            ]),
        );
        if numbered {
            f.with_cadastral(
                format!("16:50:{:06}:{}", i / 1000, i % 1000)
                    .parse()
                    .expect("valid"),
            )
        } else {
            f
        }
    };
    let batches = |from: usize, count: usize| -> imgis::store::FeatureBatches {
        let all: Vec<NewFeature> = (from..from + count).map(feature).collect();
        let mut batches = Vec::new();
        let mut rest = all.into_iter();
        loop {
            let b: Vec<NewFeature> = rest.by_ref().take(4096).collect();
            if b.is_empty() {
                break;
            }
            batches.push(Ok(b));
        }
        futures::stream::iter(batches).boxed()
    };

    let spec = LayerSpec {
        code: "bench_parcels".parse().expect("valid"),
        title: "bench".into(),
        description: String::new(),
        kind: if numbered {
            LayerKind::Parcels
        } else {
            LayerKind::Other
        },
        department: None,
        geometry_type: GeometryType::Geometry,
        public: true,
    };
    let replace = ImportWrite {
        code: spec.code.clone(),
        create: None,
        replace: true,
    };
    let timed = |what: &'static str, write: ImportWrite, stream: imgis::store::FeatureBatches| async move {
        let t = std::time::Instant::now();
        let out = store.import_features(&write, stream).await.expect(what);
        println!(
            "{what}: {} features in {:.2} s (layer version {}, {} features)",
            out.features.len(),
            t.elapsed().as_secs_f64(),
            out.layer.version,
            out.layer.feature_count
        );
    };
    timed(
        "first import (creates the layer)",
        ImportWrite {
            code: spec.code.clone(),
            create: Some(spec.clone()),
            replace: true,
        },
        batches(0, n),
    )
    .await;
    timed("replace over the first", replace.clone(), batches(0, n)).await;
    timed("replace again", replace.clone(), batches(0, n)).await;
    timed(
        "append 10 000",
        ImportWrite {
            replace: false,
            ..replace.clone()
        },
        batches(n, 10_000),
    )
    .await;
}

/// GeoPackage only: a layer an import creates as GEOMETRY is narrowed in the
/// file too, as the GeoPackage requires: the geometry column's declared type
/// equals `gpkg_geometry_columns.geometry_type_name` (requirement 31).
#[tokio::test]
async fn gpkg_import_narrows_the_table_too() {
    use imgis::model::{GeometryType, LayerKind, LayerSpec, NewFeature, Properties};
    use imgis::store::{ImportWrite, Store};

    let (dir, store) = crate::common::gpkg_store().await;
    let square = |x: f64| {
        geo_types::Polygon::new(
            vec![(x, 55.0), (x + 0.01, 55.0), (x + 0.01, 55.01)].into(),
            vec![],
        )
    };
    let spec = LayerSpec {
        code: "narrowed".parse().expect("valid"),
        title: "narrowed".into(),
        description: String::new(),
        kind: LayerKind::Other,
        department: None,
        geometry_type: GeometryType::Geometry,
        public: true,
    };
    let batches = vec![
        Ok(vec![NewFeature::new(
            square(49.0).into(),
            Properties::new(),
        )]),
        Ok(vec![NewFeature::new(
            geo_types::MultiPolygon(vec![square(49.1)]).into(),
            Properties::new(),
        )]),
    ];
    let out = store
        .import_features(
            &ImportWrite {
                code: spec.code.clone(),
                create: Some(spec),
                replace: true,
            },
            futures::stream::iter(batches).boxed(),
        )
        .await
        .expect("import");
    assert_eq!(out.layer.spec.geometry_type, GeometryType::MultiPolygon);
    store.close().await;

    let file = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("store.gpkg").display()
    ))
    .await
    .expect("open the file");
    let declared: String =
        sqlx::query_scalar("SELECT type FROM pragma_table_info('narrowed') WHERE name = 'geom'")
            .fetch_one(&file)
            .await
            .expect("table_info");
    let registered: String = sqlx::query_scalar(
        "SELECT geometry_type_name FROM gpkg_geometry_columns WHERE table_name = 'narrowed'",
    )
    .fetch_one(&file)
    .await
    .expect("gpkg_geometry_columns");
    assert_eq!(
        (declared.as_str(), registered.as_str()),
        ("MULTIPOLYGON", "MULTIPOLYGON")
    );
    let stray: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name LIKE 'imgis_retype%'")
            .fetch_one(&file)
            .await
            .expect("sqlite_master");
    assert_eq!(stray, 0, "no copy left behind");
}
