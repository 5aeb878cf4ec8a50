//! The GeoPackage store as a file: a standard GeoPackage that GDAL reads, that
//! survives a reopen, and that is never written when the file is not ours.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use geo_types::{
    line_string, point, polygon, Geometry, GeometryCollection, MultiLineString, Polygon,
};
use imgis::model::{props, GeometryType, LayerKind, LayerSpec, NewFeature, Properties};
use imgis::store::gpkg::GpkgStore;
use imgis::store::{Store, StoreError};
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

fn spec(code: &str, title: &str, geometry_type: GeometryType) -> LayerSpec {
    LayerSpec {
        code: code.parse().unwrap(),
        title: title.into(),
        description: String::new(),
        kind: LayerKind::Other,
        department: None,
        geometry_type,
        public: true,
    }
}

fn square(x: f64, y: f64, size: f64) -> Polygon<f64> {
    polygon![(x: x, y: y), (x: x + size, y: y), (x: x + size, y: y + size), (x: x, y: y + size)]
}

/// Every file in a directory with a hash of its bytes: "nothing changed" means
/// this map is equal before and after (no file modified, created or removed).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, u64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let mut h = DefaultHasher::new();
            bytes.hash(&mut h);
            (path, (bytes.len() as u64, h.finish()))
        })
        .collect()
}

/// A read-only connection for inspecting what the store wrote.
async fn inspect(path: &Path) -> sqlx::SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_store_is_a_standard_geopackage() {
    let (dir, store) = crate::common::gpkg_store().await;
    let path = dir.path().join("store.gpkg");
    assert_eq!(store.backend(), "gpkg");
    assert_eq!(store.location(), path.display().to_string());
    store.close().await;

    let header = std::fs::read(&path).unwrap();
    assert_eq!(&header[..16], b"SQLite format 3\0");
    let mut conn = inspect(&path).await;
    let application_id: i32 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(application_id, 0x4750_4B47, "'GPKG'");
    let user_version: i32 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(user_version, 10400, "GeoPackage 1.4.0");
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let srs: Vec<i64> =
        sqlx::query_scalar("SELECT srs_id FROM gpkg_spatial_ref_sys ORDER BY srs_id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(srs, [-1, 0, 4326]);
    for table in [
        "gpkg_contents",
        "gpkg_geometry_columns",
        "imgis_departments",
        "imgis_layers",
        "imgis_cadastre",
    ] {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind(table)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(n, 1, "{table}");
    }
    let rtree: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name LIKE 'rtree%'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        rtree, 0,
        "no R-tree extension: its triggers need GDAL's SQL functions"
    );
    conn.close().await.unwrap();
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let (dir, store) = crate::common::gpkg_store().await;
    let path = dir.path().join("store.gpkg");
    let code = "roads".parse().unwrap();
    store
        .create_layer(&spec("roads", "Улицы", GeometryType::LineString))
        .await
        .unwrap();
    let line: Geometry<f64> = line_string![(x: 49.1, y: 55.7), (x: 49.2, y: 55.8)].into();
    let written = store
        .replace_features(
            &code,
            vec![NewFeature::new(
                line,
                props([("name", json!("ул. Баумана"))]),
            )],
        )
        .await
        .unwrap();
    store.close().await;
    drop(store);

    let reopened = GpkgStore::open(&path)
        .await
        .expect("our own file reopens (migrations are idempotent)");
    assert_eq!(
        reopened.layer(&code).await.unwrap(),
        Some(written.layer.clone())
    );
    assert_eq!(reopened.features(&code).await.unwrap(), written.features);
    reopened.close().await;
}

/// Writers take the lock up front and queue (busy timeout) instead of failing
/// with "database is locked" half-way; readers run beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_queue_and_all_commit() {
    let (_dir, store) = crate::common::gpkg_store().await;
    let store = std::sync::Arc::new(store);
    for code in ["a", "b"] {
        store
            .create_layer(&spec(code, code, GeometryType::Polygon))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for round in 0..8_u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let code = if round % 2 == 0 { "a" } else { "b" }.parse().unwrap();
            let features = (0..2_000_u32)
                .map(|i| {
                    let x = 49.0 + f64::from(i) * 0.001;
                    NewFeature::new(
                        square(x, 55.0 + f64::from(round), 0.0005).into(),
                        Properties::new(),
                    )
                })
                .collect();
            store.append_features(&code, features).await.unwrap();
            // A read in the middle of other writes.
            store.features(&code).await.unwrap().len()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap() >= 2_000);
    }
    for code in ["a", "b"] {
        let layer = store.layer(&code.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!((layer.version, layer.feature_count), (4, 8_000), "{code}");
    }
}

/// `GpkgStore::open` on a file that is not an imgis GeoPackage: refused, and
/// the directory holding it is byte-identical afterwards.
async fn assert_refused_untouched(path: &Path, reason_contains: &str) {
    let dir = path.parent().unwrap();
    let before = snapshot(dir);
    match GpkgStore::open(path).await {
        Err(StoreError::NotAGeoPackage { path: p, reason }) => {
            assert_eq!(p, path.display().to_string());
            assert!(
                reason.contains(reason_contains),
                "reason for {}: '{reason}' should mention '{reason_contains}'",
                path.display()
            );
        }
        Err(other) => panic!("{}: expected NotAGeoPackage, got {other}", path.display()),
        Ok(_) => panic!("{}: a foreign file was opened as a store", path.display()),
    }
    assert_eq!(snapshot(dir), before, "{}: files changed", path.display());
}

#[tokio::test]
async fn foreign_files_are_refused_and_left_untouched() {
    // Each file in its own directory, so the snapshot sees any side file (-wal, -journal).
    let text_dir = tempfile::tempdir().unwrap();
    let text = text_dir.path().join("notes.gpkg");
    std::fs::write(&text, "Земельные участки\nnot a database\n").unwrap();
    assert_refused_untouched(&text, "not an SQLite database").await;

    let empty_dir = tempfile::tempdir().unwrap();
    let empty = empty_dir.path().join("empty.gpkg");
    std::fs::write(&empty, b"").unwrap();
    assert_refused_untouched(&empty, "empty").await;

    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_dir.path().join("other.sqlite");
    let mut conn = SqliteConnectOptions::new()
        .filename(&sqlite)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts VALUES (1, 'x')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_refused_untouched(&sqlite, "application_id").await;

    // A GeoPackage made by someone else (minimal, by hand): a GeoPackage, not a store.
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = foreign_dir.path().join("qgis.gpkg");
    let mut conn = SqliteConnectOptions::new()
        .filename(&foreign)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::query(
        "PRAGMA application_id = 0x47504B47;
         PRAGMA user_version = 10200;
         CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL);
         CREATE TABLE buildings (fid INTEGER PRIMARY KEY, geom BLOB);
         INSERT INTO gpkg_contents VALUES ('buildings', 'features');",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert_refused_untouched(&foreign, "imgis import").await;

    // A GeoPackage 1.0 ('GP10') without gpkg_contents is not a valid GeoPackage.
    let old_dir = tempfile::tempdir().unwrap();
    let old = old_dir.path().join("old.gpkg");
    let mut conn = SqliteConnectOptions::new()
        .filename(&old)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::query("PRAGMA application_id = 0x47503130; CREATE TABLE t (x)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_refused_untouched(&old, "gpkg_contents").await;

    // And one GDAL wrote, when GDAL is installed.
    if let Ok(version) = Command::new("ogr2ogr").arg("--version").output() {
        assert!(version.status.success());
        let gdal_dir = tempfile::tempdir().unwrap();
        let src = gdal_dir.path().join("src.geojson");
        std::fs::write(
            &src,
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Кремль"},"geometry":{"type":"Point","coordinates":[49.1,55.8]}}]}"#,
        )
        .unwrap();
        let gpkg = gdal_dir.path().join("gdal.gpkg");
        let out = Command::new("ogr2ogr")
            .args(["-f", "GPKG"])
            .arg(&gpkg)
            .arg(&src)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ogr2ogr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&src).unwrap();
        assert_refused_untouched(&gpkg, "imgis import").await;
    }
}

/// `ogrinfo` with its arguments; fails the test with a clear message if GDAL is missing.
fn ogrinfo(args: &[&str], file: &Path) -> String {
    let out = Command::new("ogrinfo")
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `ogrinfo` ({e}); it is the reference GeoPackage reader for this test. \
             Install GDAL (Debian: apt-get install gdal-bin)"
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ogrinfo {args:?} failed: {stderr}");
    assert!(
        !stderr.contains("ERROR"),
        "ogrinfo {args:?} reported errors: {stderr}"
    );
    String::from_utf8(out.stdout).expect("ogrinfo writes UTF-8")
}

#[tokio::test]
async fn gdal_reads_every_layer() {
    let (dir, store) = crate::common::gpkg_store().await;
    let path = dir.path().join("store.gpkg");
    let cyrillic = "Земельный участок №1";

    let layers: Vec<(LayerSpec, Vec<Geometry<f64>>, &str)> = vec![
        (
            spec("parcels", "Земельные участки", GeometryType::Polygon),
            (0..3)
                .map(|i| square(49.1 + f64::from(i) * 0.01, 55.7, 0.005).into())
                .collect(),
            "Polygon",
        ),
        (
            spec("gas", "Газопроводы", GeometryType::MultiLineString),
            vec![
                MultiLineString::new(vec![line_string![(x: 49.0, y: 55.0), (x: 49.1, y: 55.1)]])
                    .into(),
                MultiLineString::new(vec![line_string![(x: 49.2, y: 55.2), (x: 49.3, y: 55.1)]])
                    .into(),
            ],
            "Multi Line String",
        ),
        (
            spec("wells", "Колодцы", GeometryType::Point),
            (0..4)
                .map(|i| point!(x: 49.0 + f64::from(i), y: 55.0).into())
                .collect(),
            "Point",
        ),
        (
            spec("mixed", "Разное", GeometryType::Geometry),
            vec![Geometry::GeometryCollection(GeometryCollection::new_from(
                vec![
                    point!(x: 49.0, y: 55.0).into(),
                    square(49.0, 55.0, 0.1).into(),
                ],
            ))],
            "Unknown (any)",
        ),
        (
            spec("empty", "Пустой", GeometryType::LineString),
            vec![],
            "Line String",
        ),
    ];
    for (s, geometries, _) in &layers {
        store.create_layer(s).await.unwrap();
        let features = geometries
            .iter()
            .map(|g| {
                NewFeature::new(
                    g.clone(),
                    props([
                        ("name", json!(cyrillic)),
                        ("area", json!(12.5)),
                        ("tags", json!(["a", "б"])),
                    ]),
                )
            })
            .collect();
        store.replace_features(&s.code, features).await.unwrap();
    }
    // Exercise the append path's extent too.
    store
        .append_features(
            &"parcels".parse().unwrap(),
            vec![NewFeature::new(
                square(48.9, 55.6, 0.01).into(),
                Properties::new(),
            )],
        )
        .await
        .unwrap();
    store.close().await;

    // The layer list shows our layers and registry, not sqlx's or the cadastre's tables.
    let listing = ogrinfo(&["-so"], &path);
    for hidden in ["_sqlx_migrations", "imgis_cadastre"] {
        assert!(
            !listing.contains(hidden),
            "ogrinfo lists {hidden}:\n{listing}"
        );
    }
    assert!(
        listing.contains(": imgis_layers (None)"),
        "the layer registry is an attributes table:\n{listing}"
    );

    let summary = ogrinfo(&["-so", "-al"], &path);
    for (s, geometries, gdal_type) in &layers {
        let code = s.code.as_str();
        let count = geometries.len() + usize::from(code == "parcels");
        let block = summary
            .split("Layer name: ")
            .find(|b| b.starts_with(&format!("{code}\n")))
            .unwrap_or_else(|| panic!("ogrinfo does not list layer {code}:\n{summary}"));
        assert!(
            block.contains(&format!("Geometry: {gdal_type}\n")),
            "{code} geometry type:\n{block}"
        );
        assert!(
            block.contains(&format!("Feature Count: {count}\n")),
            "{code} count:\n{block}"
        );
    }
    let parcels = summary
        .split("Layer name: ")
        .find(|b| b.starts_with("parcels\n"))
        .unwrap();
    assert!(
        parcels.contains("Extent: (48.900000, 55.600000) - (49.125000, 55.705000)"),
        "the extent covers replace and append:\n{parcels}"
    );
    assert!(
        parcels.contains("properties: String(JSON)"),
        "properties is a JSON field:\n{parcels}"
    );

    let full = ogrinfo(&["-al"], &path);
    assert!(
        full.contains(cyrillic),
        "ogrinfo -al shows the Cyrillic value:\n{full}"
    );
    assert!(
        full.contains("POLYGON ((49.1 55.7,"),
        "geometries decode in GDAL:\n{full}"
    );
}

/// Run with `cargo test --release --test integration gpkg_file:: -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a timing, not a check; run in release"]
async fn time_replace_300k_polygons() {
    let (_dir, store) = crate::common::gpkg_store().await;
    let code = "parcels".parse().unwrap();
    let mut s = spec("parcels", "Земельные участки", GeometryType::Polygon);
    s.kind = LayerKind::Parcels;
    store.create_layer(&s).await.unwrap();
    let make = || -> Vec<NewFeature> {
        (0..300_000u32)
            .map(|i| {
                let (col, row) = (f64::from(i % 600), f64::from(i / 600));
                NewFeature::new(
                    square(48.9 + col * 0.0005, 55.6 + row * 0.0005, 0.0004).into(),
                    props([("n", json!(i)), ("use", json!("ИЖС"))]),
                )
                .with_cadastral(
                    format!("16:50:{:06}:{}", i / 1000, i % 1000)
                        .parse()
                        .unwrap(),
                )
            })
            .collect()
    };
    for round in ["into an empty layer", "over 300 000 existing"] {
        let features = make();
        let t = Instant::now();
        let outcome = store.replace_features(&code, features).await.unwrap();
        println!(
            "replace 300 000 polygons with cadastral numbers {round}: {:.2} s (version {})",
            t.elapsed().as_secs_f64(),
            outcome.layer.version
        );
    }
    let t = Instant::now();
    let read = store.features(&code).await.unwrap();
    println!(
        "features(): {} read in {:.2} s",
        read.len(),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(read.len(), 300_000);
}
