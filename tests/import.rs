//! Layer imports end to end (issue 5): real files uploaded to `POST
//! /layers/{code}/import` of a real server, and given to `imgis import`,
//! checked against GDAL (Debian `gdal-bin`, which scripts/test.sh installs):
//!
//! - `ogrinfo -so` counts the features of every fixture, and its SQLite
//!   dialect (SpatiaLite over GEOS) names the null, empty and invalid
//!   geometries: the import reads, skips and repairs exactly those;
//! - `ogr2ogr -t_srs EPSG:4326` is the reference reprojection: every imported
//!   vertex lands within 1 cm of it (and of the Dutch parcels' own EPSG:4326
//!   copy, from GeoJSON, GeoPackage, CSV, Shapefile and a zipped Shapefile);
//! - what the server then serves (`/layers`, `/collections/…/items`,
//!   `/parcels/…`) is what was imported;
//! - refusals (damaged files, evil zips, the reject policy, a wrong target)
//!   answer a clear 4xx and leave the layer exactly as it was.
//!
//! The tests need the PostGIS cluster of the test harness (`DATABASE_URL`,
//! set by scripts/test.sh); they never skip without it. Fixtures are in
//! `tests/fixtures/import/` (see its SOURCES.md); damaged copies, zips and
//! bombs are made here in temporary folders.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use geo_types::{coord, Rect};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::common::server::{test_config, TestServer};
use imgis::config::Config;
use imgis::store::postgis::PostgisStore;

// ====== Fixtures ======

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

fn fixture(name: &str) -> PathBuf {
    fixture_dir().join(name)
}

/// The Dutch parcels in EPSG:4326 (and their zoning), fixtures of the
/// constraints tests too.
fn nl_georust(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nl_georust")
        .join(name)
}

fn name_of(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("fixture names are UTF-8")
}

/// Every layer file of the fixtures: the import folder's GeoJSON, FlatGeobuf,
/// GeoPackage, CSV and Shapefiles, and the two EPSG:4326 files of
/// `nl_georust/`.
fn every_layer_file() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("the fixtures folder")
        .map(|e| e.expect("a fixture").path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["geojson", "fgb", "gpkg", "csv", "shp"].contains(&e))
        })
        .collect();
    files.sort();
    files.push(nl_georust("nl_parcels_4326.geojson"));
    files.push(nl_georust("nl_zoning_4326.geojson"));
    files
}

/// Files with rings of thousands of vertices, whose validity check (geo's, which
/// compares every pair of a ring's segments) takes seconds each in a debug
/// build. Reading and checking are the pipeline's, the same whatever the
/// store: they are imported into PostGIS only, and every other file into both.
const SLOW_TO_CHECK: [&str; 5] = [
    "forestcity_zoning.geojson",
    "nl_zoning_4326.geojson",
    "moscow_districts_cianparser.geojson",
    "IKK.geojson",
    "forestcity_muni.geojson",
];

/// What a file needs beyond `invalid=…`: the CSV of Dutch parcels names no CRS.
fn extra_query(path: &Path) -> &'static str {
    if name_of(path) == "nl_parcels_28992_wkt.csv" {
        "&srs=EPSG:28992"
    } else {
        ""
    }
}

/// A layer code made from a file name: `IKK.geojson` → `f_ikk_geojson`.
fn layer_code(path: &Path, suffix: &str) -> String {
    let base: String = name_of(path)
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("f_{base}{suffix}")
}

/// The files of a Shapefile set beside `shp` (`.shx`, `.dbf`, `.prj`, `.cpg`
/// when present), `.shp` first.
fn shapefile_parts(shp: &Path) -> Vec<PathBuf> {
    ["shp", "shx", "dbf", "prj", "cpg"]
        .iter()
        .map(|ext| shp.with_extension(ext))
        .filter(|p| p.exists())
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("reading a JSON file")).expect("a JSON file")
}

// ====== Servers and stores ======

#[derive(Debug, Clone, Copy)]
enum Backend {
    Postgis,
    Gpkg,
}

/// A real server over a fresh, empty store, and that store's flags for `imgis import`.
struct Env {
    server: TestServer,
    /// `["--database", url]` or `["--gpkg", path]`.
    store_args: [String; 2],
    /// The GeoPackage's folder, kept for as long as the server runs.
    _dir: Option<tempfile::TempDir>,
}

impl Env {
    async fn new(backend: Backend) -> Self {
        Self::with_config(backend, test_config()).await
    }

    async fn with_config(backend: Backend, config: Config) -> Self {
        match backend {
            Backend::Postgis => {
                let url = crate::common::postgis::fresh_database().await;
                let store = PostgisStore::connect(&url)
                    .await
                    .expect("connecting to the fresh database");
                store.migrate().await.expect("migrating");
                Self {
                    server: TestServer::start_with(config, Arc::new(store)).await,
                    store_args: ["--database".into(), url],
                    _dir: None,
                }
            }
            Backend::Gpkg => {
                let (dir, store) = crate::common::gpkg_store().await;
                let path = dir.path().join("store.gpkg").display().to_string();
                Self {
                    server: TestServer::start_with(config, Arc::new(store)).await,
                    store_args: ["--gpkg".into(), path],
                    _dir: Some(dir),
                }
            }
        }
    }

    fn store(&self) -> &imgis::store::DynStore {
        self.server.app.store()
    }
}

// ====== Uploads ======

async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("reading the answer");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the answer ({status}) is not JSON ({e}): {text}"));
    (status, body)
}

/// POSTs `bytes` as the bare body, named `name` by the `filename` parameter.
async fn upload(
    server: &TestServer,
    code: &str,
    query: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let url = server.url(&format!("/layers/{code}/import?{query}&filename={name}"));
    let r = server
        .client
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("the upload reaches the server");
    answer(r).await
}

/// POSTs `files` (name, content) as the file parts of a `multipart/form-data` body.
async fn upload_form(
    server: &TestServer,
    code: &str,
    query: &str,
    files: &[(String, Vec<u8>)],
) -> (u16, Value) {
    // reqwest's multipart feature is not enabled for the tests: the form is
    // simple enough to write by hand (RFC 7578).
    const BOUNDARY: &str = "imgis-test-boundary-7d3f1c";
    let mut body = Vec::new();
    for (i, (name, bytes)) in files.iter().enumerate() {
        write!(
            body,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file{i}\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{BOUNDARY}--\r\n").unwrap();
    let r = server
        .client
        .post(server.url(&format!("/layers/{code}/import?{query}")))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .expect("the upload reaches the server");
    answer(r).await
}

fn read_parts(paths: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    paths
        .iter()
        .map(|p| (name_of(p).to_owned(), std::fs::read(p).expect("a fixture")))
        .collect()
}

/// Uploads a file as a GIS specialist would: a Shapefile as its parts in a
/// form, anything else as the bare body.
async fn upload_file(server: &TestServer, code: &str, query: &str, path: &Path) -> (u16, Value) {
    if path.extension().is_some_and(|e| e == "shp") {
        upload_form(server, code, query, &read_parts(&shapefile_parts(path))).await
    } else {
        let bytes = std::fs::read(path).expect("a fixture");
        upload(server, code, query, name_of(path), bytes).await
    }
}

/// A count of a report.
fn count(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no count '{key}' in {report}"))
}

/// The issues of a report as (index, problem, action).
fn issues(report: &Value) -> Vec<(u64, String, String)> {
    report["issues"]
        .as_array()
        .unwrap_or_else(|| panic!("no issues in {report}"))
        .iter()
        .map(|i| {
            (
                i["index"].as_u64().expect("an index"),
                i["problem"].as_str().expect("a problem").to_owned(),
                i["action"].as_str().expect("an action").to_owned(),
            )
        })
        .collect()
}

/// Asserts an error answer: status, code, and words the message must hold.
fn assert_error(status: u16, body: &Value, want_status: u16, code: &str, words: &[&str]) {
    assert_eq!(
        (status, body["error"].as_str()),
        (want_status, Some(code)),
        "{body}"
    );
    let message = body["message"].as_str().expect("a message");
    for w in words {
        assert!(message.contains(w), "'{w}' not in: {message}");
    }
}

/// All features of a layer as the items endpoint serves them, in id order
/// (the order of the file).
async fn items(server: &TestServer, code: &str) -> Vec<Value> {
    let (status, page) = server
        .get_json(&format!("/collections/{code}/items?limit=10000"))
        .await;
    assert_eq!(status, 200, "{page}");
    let features = page["features"].as_array().expect("features").clone();
    assert_eq!(
        page["numberMatched"],
        features.len(),
        "one page holds them all"
    );
    let ids: Vec<i64> = features.iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "items in id order");
    features
}

/// What must not change when an import is refused: the layer as the index
/// serves it (version, count, its first feature) and as the store holds it.
#[derive(Debug, PartialEq)]
struct LayerState {
    version: Value,
    feature_count: Value,
    number_matched: Value,
    first: Value,
    stored: Option<(i64, i64)>,
}

async fn layer_state(env: &Env, code: &str) -> LayerState {
    let (status, layer) = env.server.get_json(&format!("/layers/{code}")).await;
    assert_eq!(status, 200, "{layer}");
    let (status, page) = env
        .server
        .get_json(&format!("/collections/{code}/items?limit=1"))
        .await;
    assert_eq!(status, 200, "{page}");
    let stored = env
        .store()
        .layer(&code.parse().unwrap())
        .await
        .expect("reading the store")
        .map(|l| (l.version, l.feature_count));
    LayerState {
        version: layer["version"].clone(),
        feature_count: layer["feature_count"].clone(),
        number_matched: page["numberMatched"].clone(),
        first: page["features"][0].clone(),
        stored,
    }
}

/// The layer exists neither in the index nor in the store.
async fn assert_absent(env: &Env, code: &str) {
    let (status, body) = env.server.get_json(&format!("/layers/{code}")).await;
    assert_eq!(status, 404, "layer {code} should not exist: {body}");
    let stored = env
        .store()
        .layer(&code.parse().unwrap())
        .await
        .expect("reading the store");
    assert!(stored.is_none(), "layer {code} is in the store: {stored:?}");
}

// ====== GDAL, the reference ======

/// Runs a GDAL tool, failing the test with its output.
async fn gdal(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{tool} (Debian gdal-bin) must be installed: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A layer as `ogrinfo -ro -so -al` describes it.
#[derive(Debug)]
struct OgrLayer {
    name: String,
    count: u64,
    /// The geometry column to name in SQL (`geometry` when the format has none).
    geometry_column: String,
}

async fn ogr_layers(path: &Path) -> Vec<OgrLayer> {
    let summary = gdal("ogrinfo", &["-ro", "-so", "-al", path.to_str().unwrap()]).await;
    let mut layers: Vec<OgrLayer> = Vec::new();
    for line in summary.lines() {
        if let Some(name) = line.strip_prefix("Layer name: ") {
            layers.push(OgrLayer {
                name: name.trim().to_owned(),
                count: 0,
                geometry_column: "geometry".into(),
            });
        } else if let (Some(l), Some(n)) = (layers.last_mut(), line.strip_prefix("Feature Count: "))
        {
            l.count = n.trim().parse().expect("a count");
        } else if let (Some(l), Some(c)) =
            (layers.last_mut(), line.strip_prefix("Geometry Column = "))
        {
            l.geometry_column = c.trim().to_owned();
        }
    }
    assert!(!layers.is_empty(), "ogrinfo lists no layer: {summary}");
    layers
}

/// `ogrinfo -dialect sqlite -sql …`, its rows as column → value text.
async fn gdal_sql(path: &Path, sql: &str) -> Vec<Vec<(String, String)>> {
    let out = gdal(
        "ogrinfo",
        &[
            "-ro",
            "-q",
            "-dialect",
            "sqlite",
            "-sql",
            sql,
            path.to_str().unwrap(),
        ],
    )
    .await;
    let mut rows: Vec<Vec<(String, String)>> = Vec::new();
    for line in out.lines() {
        if line.starts_with("OGRFeature(") {
            rows.push(Vec::new());
        } else if let (Some(row), Some((field, value))) = (rows.last_mut(), line.split_once(" = "))
        {
            let field = field.trim().split(' ').next().unwrap_or("").to_owned();
            row.push((field, value.trim().to_owned()));
        }
    }
    rows
}

/// GDAL's verdict on the geometries of a layer: GEOS through SpatiaLite.
#[derive(Debug)]
struct GdalVerdict {
    /// (FID, "none" for a null or empty geometry, or "invalid"), in FID order.
    bad: Vec<(u64, &'static str)>,
    /// FIDs are positions in the file plus this (0 for most formats, 1 for
    /// GeoPackage); `None` when they are not (a GeoJSON with its own ids).
    fid_offset: Option<u64>,
}

impl GdalVerdict {
    fn count(&self, what: &str) -> u64 {
        self.bad.iter().filter(|(_, w)| *w == what).count() as u64
    }

    /// Positions in the file of the features GDAL finds `what`, when FIDs tell.
    fn positions(&self, what: &str) -> Option<Vec<u64>> {
        let offset = self.fid_offset?;
        Some(
            self.bad
                .iter()
                .filter(|(_, w)| *w == what)
                .map(|(fid, _)| fid - offset)
                .collect(),
        )
    }
}

async fn gdal_verdict(path: &Path, layer: &OgrLayer) -> GdalVerdict {
    let (g, t) = (&layer.geometry_column, &layer.name);
    // GDAL reads GeoJSON's `"coordinates": []` as a null geometry: null and
    // empty are one class here ("none"), as they are for the import (both skipped).
    let sql = format!(
        "SELECT row_id, verdict FROM (SELECT 'n' || rowid AS row_id, CASE \
           WHEN \"{g}\" IS NULL THEN 'none' \
           WHEN ST_IsEmpty(\"{g}\") = 1 THEN 'none' \
           WHEN ST_IsValid(\"{g}\") = 1 THEN 'valid' \
           WHEN ST_IsValid(\"{g}\") = 0 THEN 'invalid' \
           ELSE 'unknown' END AS verdict FROM \"{t}\") WHERE verdict <> 'valid'"
    );
    let mut bad = Vec::new();
    for row in gdal_sql(path, &sql).await {
        // Text, or GDAL would take an integer column for the FID of its answer.
        let fid: u64 = row[0].1.trim_start_matches('n').parse().expect("a FID");
        let verdict = match row[1].1.as_str() {
            "none" => "none",
            "invalid" => "invalid",
            other => panic!(
                "GDAL cannot judge feature {fid} of {}: {other}",
                path.display()
            ),
        };
        bad.push((fid, verdict));
    }
    bad.sort_unstable();
    let fid_offset = fid_offset(path, layer).await;
    GdalVerdict { bad, fid_offset }
}

/// GDAL's verdict on the geometries of `path` as the store holds them, in
/// EPSG:4326: a file in another CRS (`source_crs` of the import's report;
/// `srs`, given when the file names none) is judged on an `ogr2ogr -t_srs
/// EPSG:4326` copy. A sliver that is valid in the file's CRS can fold over
/// itself once reprojected: Forest City's zoning features 441 and 442 are
/// valid in US survey feet and invalid in degrees, for GEOS as for geo.
async fn gdal_verdict_in_4326(
    path: &Path,
    layer: &OgrLayer,
    source_crs: &str,
    srs: Option<&str>,
    dir: &Path,
) -> GdalVerdict {
    if source_crs == "EPSG:4326" {
        return gdal_verdict(path, layer).await;
    }
    // A GeoPackage keeps the doubles exactly, the features in file order
    // (FID = position + 1), and null geometries.
    let copy = dir.join(format!("judged_{}.gpkg", name_of(path).replace('.', "_")));
    let mut args = vec!["-f", "GPKG", "-t_srs", "EPSG:4326", "-nln", "judged"];
    if let Some(srs) = srs {
        args.extend(["-s_srs", srs]);
    }
    args.extend([copy.to_str().unwrap(), path.to_str().unwrap()]);
    gdal("ogr2ogr", &args).await;
    let judged = ogr_layers(&copy).await.remove(0);
    assert_eq!(judged.count, layer.count, "ogr2ogr copied every feature");
    gdal_verdict(&copy, &judged).await
}

/// What FIDs add to positions in the file: 0 for most formats, 1 for
/// GeoPackage; `None` when FIDs are not positions (a GeoJSON with its own ids).
async fn fid_offset(path: &Path, layer: &OgrLayer) -> Option<u64> {
    let range = gdal_sql(
        path,
        &format!(
            "SELECT min(rowid) AS lo, max(rowid) AS hi, count(*) AS n FROM \"{}\"",
            layer.name
        ),
    )
    .await;
    let value = |i: usize| range[0][i].1.parse::<u64>().ok();
    match (value(0), value(1), value(2)) {
        (Some(lo), Some(hi), Some(n)) if hi - lo + 1 == n && lo <= 1 => Some(lo),
        _ => None,
    }
}

/// The features at `positions` of a file, alone in a GeoPackage in the
/// file's CRS with its exact coordinates, in file order.
async fn extract(path: &Path, layer: &OgrLayer, positions: &[u64], out: &Path) -> PathBuf {
    let offset = fid_offset(path, layer).await.expect("FIDs are positions");
    let fids: Vec<String> = positions.iter().map(|p| (p + offset).to_string()).collect();
    let sql = format!(
        "SELECT * FROM \"{}\" WHERE rowid IN ({}) ORDER BY rowid",
        layer.name,
        fids.join(", ")
    );
    gdal(
        "ogr2ogr",
        &[
            "-f",
            "GPKG",
            "-nln",
            "extract",
            "-dialect",
            "sqlite",
            "-sql",
            &sql,
            out.to_str().unwrap(),
            path.to_str().unwrap(),
        ],
    )
    .await;
    out.to_owned()
}

/// Reprojects a file to EPSG:4326 GeoJSON with GDAL (from `srs` when the
/// file names no CRS).
async fn ogr2ogr_4326(source: &Path, srs: Option<&str>, out: &Path) -> Value {
    let mut args = vec!["-t_srs", "EPSG:4326", "-f", "GeoJSON"];
    if let Some(srs) = srs {
        args.extend(["-s_srs", srs]);
    }
    args.extend([out.to_str().unwrap(), source.to_str().unwrap()]);
    gdal("ogr2ogr", &args).await;
    read_json(out)
}

/// Features of a GeoJSON document as a FeatureCollection JSON string.
fn feature_collection(features: &[Value]) -> String {
    json!({ "type": "FeatureCollection", "features": features }).to_string()
}

// ====== Geometry comparison ======

/// The coordinate sequences of a GeoJSON geometry (a point, each line, each
/// ring, in order) and its family: a one-part multi geometry compares equal
/// to its single part.
fn paths(g: &Value) -> (&'static str, Vec<Vec<[f64; 2]>>) {
    fn point(c: &Value) -> [f64; 2] {
        [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()]
    }
    fn line(c: &Value) -> Vec<[f64; 2]> {
        c.as_array().unwrap().iter().map(point).collect()
    }
    fn rings(c: &Value) -> Vec<Vec<[f64; 2]>> {
        c.as_array().unwrap().iter().map(line).collect()
    }
    let c = &g["coordinates"];
    match g["type"].as_str().expect("a geometry type") {
        "Point" => ("point", vec![vec![point(c)]]),
        "MultiPoint" => ("point", vec![line(c)]),
        "LineString" => ("line", vec![line(c)]),
        "MultiLineString" => ("line", rings(c)),
        "Polygon" => ("polygon", rings(c)),
        "MultiPolygon" => (
            "polygon",
            c.as_array().unwrap().iter().flat_map(rings).collect(),
        ),
        other => panic!("no comparison for {other}"),
    }
}

/// Metres between two lon/lat points, from their degree differences at that
/// latitude (a flat approximation, exact enough at centimetres).
fn metres(a: [f64; 2], b: [f64; 2]) -> f64 {
    let lat = ((a[1] + b[1]) / 2.0).to_radians();
    let per_degree_lat = 111_132.954 - 559.822 * (2.0 * lat).cos();
    let per_degree_lon = 111_412.84 * lat.cos();
    ((a[0] - b[0]) * per_degree_lon).hypot((a[1] - b[1]) * per_degree_lat)
}

/// The largest distance in metres between corresponding vertices of two
/// geometries, or why they cannot be compared vertex by vertex. A ring may
/// come back the other way round (an outer ring made counter-clockwise).
fn vertex_distance(got: &Value, want: &Value) -> Result<f64, String> {
    let ((got_family, got_paths), (want_family, want_paths)) = (paths(got), paths(want));
    if got_family != want_family || got_paths.len() != want_paths.len() {
        return Err(format!(
            "{got_family} of {} parts vs {want_family} of {} parts",
            got_paths.len(),
            want_paths.len()
        ));
    }
    let mut worst: f64 = 0.0;
    for (i, (a, b)) in got_paths.iter().zip(&want_paths).enumerate() {
        if a.len() != b.len() {
            return Err(format!("path {i}: {} vertices vs {}", a.len(), b.len()));
        }
        let same = a
            .iter()
            .zip(b)
            .map(|(p, q)| metres(*p, *q))
            .fold(0.0, f64::max);
        let reversed = a
            .iter()
            .zip(b.iter().rev())
            .map(|(p, q)| metres(*p, *q))
            .fold(0.0, f64::max);
        worst = worst.max(same.min(reversed));
    }
    Ok(worst)
}

/// Every imported feature against the reference, in file order: each vertex
/// within 1 cm. Returns the largest distance seen, in metres.
fn assert_same_vertices(what: &str, got: &[Value], want: &[Value]) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: feature count");
    let mut worst: f64 = 0.0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = vertex_distance(&g["geometry"], &w["geometry"])
            .unwrap_or_else(|e| panic!("{what}, feature {i}: {e}"));
        assert!(d < 0.01, "{what}, feature {i}: a vertex is {d:.4} m away");
        worst = worst.max(d);
    }
    worst
}

// ====== The CLI ======

/// Runs `imgis` with no configuration from the environment.
async fn imgis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imgis"))
        .args(args)
        .env_remove("IMGIS_DATABASE")
        .env_remove("IMGIS_GPKG")
        .env_remove("IMGIS_CONFIG")
        .env_remove("IMGIS_CITY_BBOX")
        .env("IMGIS_LOG", "warn")
        .output()
        .await
        .expect("running imgis")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The four counts of the CLI's summary line,
/// "N read, N imported, N skipped, N repaired in X s (…)".
fn summary_counts(stdout: &str) -> [u64; 4] {
    let line = stdout
        .lines()
        .find(|l| l.contains(" read, ") && l.contains(" repaired in "))
        .unwrap_or_else(|| panic!("no summary line in: {stdout}"));
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let get = |label: &str| -> u64 {
        words
            .windows(2)
            .find(|w| w[1] == label)
            .and_then(|w| w[0].parse().ok())
            .unwrap_or_else(|| panic!("no '{label}' count in: {line}"))
    };
    [
        get("read"),
        get("imported"),
        get("skipped"),
        get("repaired"),
    ]
}

/// Waits up to `seconds` for the server to show `code` with `features` features.
async fn wait_for_layer(server: &TestServer, code: &str, features: u64, seconds: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let (status, layer) = server.get_json(&format!("/layers/{code}")).await;
        if status == 200 && layer["feature_count"] == features {
            return layer;
        }
        assert!(
            Instant::now() < deadline,
            "the server does not show {code} with {features} features after {seconds} s: {layer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ====== 1. Every file, as GDAL counts it ======

/// What [`check_file`] found worth counting.
#[derive(Default)]
struct Checked {
    /// The file is not in EPSG:4326 and was compared with GDAL's reprojection.
    reprojected: bool,
    /// The file has invalid geometries and was imported again with repair.
    repaired: bool,
}

/// Imports one file and checks the import against GDAL (see
/// [`every_file_imports_as_gdal_counts_it`]).
async fn check_file(env: &Env, backend: Backend, path: &Path, dir: &Path) -> Checked {
    let server = &env.server;
    let mut checked = Checked::default();
    let name = name_of(path);
    let code = layer_code(path, "");
    let query = format!("invalid=skip{}", extra_query(path));
    if name == "topp_states.fgb" {
        // FlatGeobuf version 2, which neither GDAL 3.6 nor we read.
        let (status, body) = upload_file(server, &code, &query, path).await;
        assert_error(status, &body, 400, "invalid_file", &["version 2"]);
        assert_absent(env, &code).await;
        return checked;
    }
    let layers = ogr_layers(path).await;
    assert_eq!(layers.len(), 1, "{name}: {layers:?}");
    let layer = &layers[0];
    let (status, report) = upload_file(server, &code, &query, path).await;
    assert_eq!(status, 200, "{name}: {report}");
    assert_eq!(report["outcome"], "imported", "{name}");
    let srs = extra_query(path).strip_prefix("&srs=");
    let source_crs = report["source_crs"].as_str().expect("a source CRS");
    let verdict = gdal_verdict_in_4326(path, layer, source_crs, srs, dir).await;
    let (read, imported, skipped) = (
        count(&report, "read"),
        count(&report, "imported"),
        count(&report, "skipped"),
    );
    assert_eq!(read, layer.count, "{name}: read as ogrinfo counts");
    assert_eq!(imported, read - skipped, "{name}");
    assert_eq!(count(&report, "repaired"), 0, "{name}");
    let listed = issues(&report);
    assert_eq!(listed.len() as u64, skipped, "{name}: {listed:?}");
    assert!(
        listed.iter().all(|i| i.2 == "skipped"),
        "{name}: {listed:?}"
    );
    assert_eq!(
        skipped,
        verdict.bad.len() as u64,
        "{name}: skipped {listed:?}, GDAL/GEOS finds {verdict:?}"
    );
    // The same features, for the same reasons.
    let ours: Vec<(u64, &str)> = listed
        .iter()
        .map(|(i, problem, _)| {
            let class = match problem.as_str() {
                "null" | "empty" => "none",
                other => other,
            };
            (*i, class)
        })
        .collect();
    if let Some(offset) = verdict.fid_offset {
        let theirs: Vec<(u64, &str)> = verdict
            .bad
            .iter()
            .map(|(fid, w)| (fid - offset, *w))
            .collect();
        assert_eq!(
            ours, theirs,
            "{name}: (position, problem), ours then GDAL's"
        );
    } else {
        let mut problems: Vec<&str> = ours.iter().map(|o| o.1).collect();
        let mut theirs: Vec<&str> = verdict.bad.iter().map(|b| b.1).collect();
        problems.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(problems, theirs, "{name}");
    }

    // Served as imported.
    let (status, served) = server.get_json(&format!("/layers/{code}")).await;
    assert_eq!(status, 200, "{name}: {served}");
    assert_eq!(served["feature_count"], imported, "{name}");
    assert_eq!(served["version"], report["layer_version"], "{name}");
    assert_eq!(report["layer_features"], imported, "{name}");
    assert_eq!(report["created"], true, "{name}");
    let (_, page) = server
        .get_json(&format!("/collections/{code}/items?limit=1"))
        .await;
    assert_eq!(page["numberMatched"], imported, "{name}");

    // A file in another CRS lands where `ogr2ogr -t_srs EPSG:4326` puts
    // it: every vertex of every imported feature within 1 cm (Forest
    // City's zoning in US survey feet, the Dutch parcels in RD New, the
    // British grid of poly00.fgb).
    if source_crs != "EPSG:4326" {
        let out = dir.join(format!("{code}_4326.geojson"));
        let reference = ogr2ogr_4326(path, srs, &out).await;
        let skipped: Vec<u64> = listed.iter().map(|i| i.0).collect();
        let kept: Vec<Value> = reference["features"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .filter(|(i, _)| !skipped.contains(&(*i as u64)))
            .map(|(_, f)| f.clone())
            .collect();
        let served = items(server, &code).await;
        let worst = assert_same_vertices(name, &served, &kept);
        eprintln!("{name} ({source_crs}): the farthest vertex is {worst:.5} m from GDAL's");
        checked.reprojected = true;
    }

    // Repair is the pipeline's, whatever the store: tried on one backend.
    if verdict.count("invalid") == 0 || !matches!(backend, Backend::Postgis) {
        return checked;
    }
    // Again, repairing what GEOS finds invalid; null and empty stay
    // skipped. A file slow to check gives only its bad features (an
    // extract GDAL makes): the others are checked above.
    let code = layer_code(path, "_r");
    let query = format!("invalid=repair{}", extra_query(path));
    let positions = verdict.positions("invalid").expect("FIDs are positions");
    let (status, report, read, positions) = if SLOW_TO_CHECK.contains(&name) {
        let bad: Vec<u64> = verdict
            .positions("none")
            .into_iter()
            .flatten()
            .chain(positions.iter().copied())
            .collect();
        let mut bad = bad;
        bad.sort_unstable();
        let out = extract(path, layer, &bad, &dir.join(format!("{code}.gpkg"))).await;
        let (status, report) = upload_file(server, &code, &query, &out).await;
        // Positions in the extract.
        let positions: Vec<u64> = bad
            .iter()
            .enumerate()
            .filter(|(_, p)| positions.contains(p))
            .map(|(i, _)| i as u64)
            .collect();
        (status, report, bad.len() as u64, positions)
    } else {
        let (status, report) = upload_file(server, &code, &query, path).await;
        (status, report, read, positions)
    };
    assert_eq!(status, 200, "{name}: {report}");
    let listed = issues(&report);
    assert_eq!(count(&report, "read"), read, "{name}");
    assert_eq!(
        count(&report, "repaired"),
        verdict.count("invalid"),
        "{name}: {listed:?} vs GDAL's {verdict:?}"
    );
    assert_eq!(count(&report, "skipped"), verdict.count("none"), "{name}");
    assert_eq!(
        count(&report, "imported"),
        read - verdict.count("none"),
        "{name}"
    );
    let repaired: Vec<u64> = listed
        .iter()
        .filter(|i| i.2 == "repaired")
        .map(|i| i.0)
        .collect();
    assert_eq!(repaired, positions, "{name}: repaired features");
    let served = items(server, &code).await;
    assert_eq!(served.len() as u64, read - verdict.count("none"), "{name}");
    // GEOS finds every geometry of the repaired layer valid.
    let copy = dir.join(format!("{code}.geojson"));
    std::fs::write(&copy, feature_collection(&served)).unwrap();
    let copy_layer = ogr_layers(&copy).await.remove(0);
    let after = gdal_verdict(&copy, &copy_layer).await;
    assert!(after.bad.is_empty(), "{name}: GEOS after repair: {after:?}");
    checked.repaired = true;
    checked
}

/// Every layer file: read as `ogrinfo` counts, skipped exactly where GDAL/GEOS
/// finds a null, empty or invalid geometry (judged in EPSG:4326, as stored),
/// the rest imported and served (`/layers`, `numberMatched`), a file in
/// another CRS within 1 cm of GDAL's reprojection at every vertex; then (on
/// PostGIS) for files with invalid geometries, repaired exactly those (the
/// whole file, or for a file slow to check, GDAL's extract of its bad
/// features), null and empty ones skipped, into geometries GEOS finds valid.
/// `topp_states.fgb` (FlatGeobuf 2) is a 400 naming the version.
async fn every_file_imports_as_gdal_counts_it(backend: Backend) {
    use futures::StreamExt;
    // Three imports side by side, one more than the server runs by default.
    let mut config = test_config();
    config.limits.max_concurrent_imports = 3;
    let env = Env::with_config(backend, config).await;
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = every_layer_file()
        .into_iter()
        .filter(|p| matches!(backend, Backend::Postgis) || !SLOW_TO_CHECK.contains(&name_of(p)))
        .collect();
    // The slow ones first, so that they overlap each other rather than end
    // the test alone.
    files.sort_by_key(|p| !SLOW_TO_CHECK.contains(&name_of(p)));
    // PostGIS: three files at a time, each into its own layer, side by side
    // (the test takes half the time). The GeoPackage store: one at a time,
    // since its imports hold SQLite's write lock from start to end and a
    // second writer gives up after 10 s with "database is locked" (a 500:
    // see the report of these tests).
    let at_once = match backend {
        Backend::Postgis => 3,
        Backend::Gpkg => 1,
    };
    let results: Vec<(String, Checked)> = futures::stream::iter(&files)
        .map(|path| async {
            let checked = check_file(&env, backend, path, dir.path()).await;
            (name_of(path).to_owned(), checked)
        })
        .buffer_unordered(at_once)
        .collect()
        .await;
    let names = |f: fn(&Checked) -> bool| -> Vec<&str> {
        let mut v: Vec<&str> = results
            .iter()
            .filter(|(_, c)| f(c))
            .map(|(n, _)| n.as_str())
            .collect();
        v.sort_unstable();
        v
    };
    let (repaired_files, reprojected) = (names(|c| c.repaired), names(|c| c.reprojected));
    // Invalid geometries in stored (EPSG:4326) form are in five files
    // (SOURCES.md); seven files are not read in EPSG:4326 (a `.prj` holding
    // the plain ESRI WGS 84 is read as EPSG:4326). A changed count
    // means a fixture changed, or the reference stopped working.
    if matches!(backend, Backend::Postgis) {
        assert_eq!(repaired_files.len(), 5, "{repaired_files:?}");
        assert_eq!(reprojected.len(), 7, "{reprojected:?}");
    }
    env.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_file_imports_as_gdal_counts_it_into_postgis() {
    every_file_imports_as_gdal_counts_it(Backend::Postgis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_file_imports_as_gdal_counts_it_into_a_geopackage() {
    every_file_imports_as_gdal_counts_it(Backend::Gpkg).await;
}

/// `empty.fgb`: no features, read as none, and a new empty layer made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_features_reads_none() {
    let env = Env::new(Backend::Postgis).await;
    let (status, report) = upload_file(&env.server, "nothing", "", &fixture("empty.fgb")).await;
    assert_eq!(status, 200, "{report}");
    for key in ["read", "imported", "skipped", "repaired"] {
        assert_eq!(count(&report, key), 0, "{key}: {report}");
    }
    let (status, layer) = env.server.get_json("/layers/nothing").await;
    assert_eq!(status, 200, "{layer}");
    assert_eq!(layer["feature_count"], 0);
}

// ====== 2. The Dutch parcels from five sources ======

/// The Dutch parcels in EPSG:28992 from GeoJSON (legacy `crs`), GeoPackage,
/// CSV (with `srs`), a Shapefile uploaded as its parts, and the same zipped:
/// each feature, in file order, within 1 cm of the EPSG:4326 copy at every vertex.
async fn dutch_parcels_from_every_format(backend: Backend) {
    let env = Env::new(backend).await;
    let server = &env.server;
    let reference = read_json(&nl_georust("nl_parcels_4326.geojson"));
    let reference = reference["features"].as_array().unwrap();
    assert_eq!(reference.len(), 316);

    let shp = fixture("nl_parcels_28992.shp");
    let parts = read_parts(&shapefile_parts(&shp));
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut zipped);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in &parts {
            zip.start_file(format!("export/{name}"), options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    let zipped = zipped.into_inner();

    let mut worst: f64 = 0.0;
    for (code, format, crs_from) in [
        ("nl_geojson", "GeoJSON", "file"),
        ("nl_gpkg", "GeoPackage", "file"),
        ("nl_csv", "CSV", "--srs"),
        ("nl_shp", "Shapefile", "file"),
        ("nl_zip", "Shapefile", "file"),
    ] {
        let (status, report) = match code {
            "nl_geojson" => {
                upload_file(server, code, "", &fixture("nl_parcels_28992.geojson")).await
            }
            "nl_gpkg" => upload_file(server, code, "", &fixture("nl_parcels_28992.gpkg")).await,
            "nl_csv" => {
                upload_file(
                    server,
                    code,
                    "srs=EPSG:28992",
                    &fixture("nl_parcels_28992_wkt.csv"),
                )
                .await
            }
            "nl_shp" => upload_form(server, code, "", &parts).await,
            _ => upload(server, code, "", "nl_parcels.zip", zipped.clone()).await,
        };
        assert_eq!(status, 200, "{code}: {report}");
        assert_eq!(report["format"], format, "{code}");
        assert_eq!(report["crs_from"], crs_from, "{code}: {report}");
        assert_eq!(
            (count(&report, "read"), count(&report, "imported")),
            (316, 316),
            "{code}: {report}"
        );
        let served = items(server, code).await;
        for (i, f) in served.iter().enumerate() {
            // `part` numbers the parcels in file order (text in the CSV).
            let part = &f["properties"]["part"];
            let part = part
                .as_u64()
                .or_else(|| part.as_str().and_then(|s| s.parse().ok()));
            assert_eq!(part, Some(i as u64), "{code}: feature {i}: {f}");
        }
        worst = worst.max(assert_same_vertices(code, &served, reference));
    }
    eprintln!("Dutch parcels ({backend:?}): the farthest vertex is {worst:.5} m away");
    env.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dutch_parcels_from_every_format_land_within_a_centimetre_in_postgis() {
    dutch_parcels_from_every_format(Backend::Postgis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dutch_parcels_from_every_format_land_within_a_centimetre_in_a_geopackage() {
    dutch_parcels_from_every_format(Backend::Gpkg).await;
}

// ====== 3. Cyrillic ======

fn has_cyrillic(s: &str) -> bool {
    s.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
}

/// Every text property of `want` (the reference reading) equals the served
/// one, feature by feature; returns how many held Cyrillic.
fn assert_same_texts(what: &str, served: &[Value], want: &[Value]) -> usize {
    assert_eq!(served.len(), want.len(), "{what}");
    let mut cyrillic = 0;
    for (i, (got, want)) in served.iter().zip(want).enumerate() {
        for (key, value) in want["properties"].as_object().unwrap() {
            let Some(text) = value.as_str() else { continue };
            assert_eq!(
                got["properties"][key].as_str(),
                Some(text),
                "{what}, feature {i}, property {key}"
            );
            cyrillic += usize::from(has_cyrillic(text));
        }
    }
    cyrillic
}

/// The Ukrainian village: Cyrillic values from GeoJSON (as serde_json reads
/// the file) and from the CP1251 Shapefile, with its `.cpg` and without (as
/// GDAL reads the set with its `.cpg`), come back the same over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cyrillic_values_come_back_as_the_source_holds_them() {
    let env = Env::new(Backend::Postgis).await;
    let server = &env.server;

    let geojson = fixture("vakulivka.geojson");
    let (status, report) = upload_file(server, "vakulivka", "", &geojson).await;
    assert_eq!(status, 200, "{report}");
    let source = read_json(&geojson);
    let cyrillic = assert_same_texts(
        "vakulivka.geojson",
        &items(server, "vakulivka").await,
        source["features"].as_array().unwrap(),
    );
    assert!(cyrillic > 1000, "{cyrillic} Cyrillic values compared");

    let shp = fixture("vakulivka_cp1251.shp");
    let dir = tempfile::tempdir().unwrap();
    let reference = ogr2ogr_4326(&shp, None, &dir.path().join("vakulivka_gdal.geojson")).await;
    let reference = reference["features"].as_array().unwrap();
    let all_parts = shapefile_parts(&shp);
    assert!(all_parts.iter().any(|p| p.extension().unwrap() == "cpg"));
    let without_cpg: Vec<PathBuf> = all_parts
        .iter()
        .filter(|p| p.extension().unwrap() != "cpg")
        .cloned()
        .collect();
    for (code, parts) in [
        ("vakulivka_shp", &all_parts),
        ("vakulivka_nocpg", &without_cpg),
    ] {
        let (status, report) = upload_form(server, code, "", &read_parts(parts)).await;
        assert_eq!(status, 200, "{code}: {report}");
        assert_eq!(count(&report, "imported"), 1816, "{code}");
        let cyrillic = assert_same_texts(code, &items(server, code).await, reference);
        assert!(
            cyrillic > 1000,
            "{code}: {cyrillic} Cyrillic values compared"
        );
    }
    env.server.stop().await;
}

// ====== 4. Refusals change nothing ======

/// `bytes` cut to `fraction` of its length.
fn cut(bytes: &[u8], fraction: f64) -> Vec<u8> {
    bytes[..(bytes.len() as f64 * fraction) as usize].to_vec()
}

/// A CSV cut in the middle of a quoted field (a WKT).
fn csv_cut_inside_quotes(bytes: &[u8]) -> Vec<u8> {
    let mut at = bytes.len() / 2;
    loop {
        let quotes = bytes[..at].iter().filter(|&&b| b == b'"').count();
        // Inside a quoted field, a few characters past its opening quote.
        if quotes % 2 == 1 && bytes[at - 10..at].iter().all(|&b| b != b'"') {
            return bytes[..at].to_vec();
        }
        at += 1;
    }
}

/// A zip of `files` (name in the archive, content), deflated.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

/// A zip bomb: a real Shapefile's `.shp` and `.shx`, and a `.dbf` of 200 MB
/// of zeros that deflates to a few hundred KB.
fn zip_bomb() -> Vec<u8> {
    let shp = std::fs::read(fixture("nl_parcels_28992.shp")).unwrap();
    let shx = std::fs::read(fixture("nl_parcels_28992.shx")).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("layer.shp", options).unwrap();
    zip.write_all(&shp).unwrap();
    zip.start_file("layer.shx", options).unwrap();
    zip.write_all(&shx).unwrap();
    zip.start_file("layer.dbf", options).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..200 {
        zip.write_all(&zeros).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

/// Damaged, unsupported, evil and oversized files, a reject policy meeting
/// invalid geometries, and a replace that would empty the layer: each a clear
/// 4xx, and the layer's version, count and first feature as before, in the
/// index and in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_imports_change_nothing() {
    let mut config = test_config();
    config.max_upload_bytes = 1 << 20;
    let env = Env::with_config(Backend::Postgis, config).await;
    let server = &env.server;
    let (status, report) = upload_file(
        server,
        "parcels_nl",
        "",
        &nl_georust("nl_parcels_4326.geojson"),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let before = layer_state(&env, "parcels_nl").await;
    assert_eq!(before.feature_count, 316);

    // The reject policy: every invalid feature listed, nothing written.
    let countries = fixture("countries.fgb");
    let (status, report) = upload_file(server, "countries", "invalid=skip", &countries).await;
    assert_eq!(status, 200, "{report}");
    let countries_before = layer_state(&env, "countries").await;
    let layer = ogr_layers(&countries).await.remove(0);
    let verdict = gdal_verdict(&countries, &layer).await;
    let want = verdict
        .positions("invalid")
        .expect("FlatGeobuf FIDs are positions");
    assert_eq!(want.len(), 2);
    let (status, body) = upload_file(server, "countries", "invalid=reject", &countries).await;
    assert_error(
        status,
        &body,
        422,
        "import_rejected",
        &["2 feature(s) refused"],
    );
    let report = &body["report"];
    assert_eq!(report["outcome"], "rejected");
    assert_eq!(count(report, "rejected"), 2);
    assert_eq!(count(report, "imported"), 0);
    assert_eq!(report["layer_version"], Value::Null);
    let listed = issues(report);
    assert_eq!(listed.iter().map(|i| i.0).collect::<Vec<_>>(), want);
    assert!(
        listed.iter().all(|i| i.1 == "invalid" && i.2 == "rejected"),
        "{listed:?}"
    );
    assert_eq!(layer_state(&env, "countries").await, countries_before);

    let dir = tempfile::tempdir().unwrap();
    let read = |name: &str| std::fs::read(fixture(name)).unwrap();
    // A GeoJSON sequence of the same parcels (ogr2ogr writes it).
    let seq = dir.path().join("nl.geojsonl");
    gdal(
        "ogr2ogr",
        &[
            "-f",
            "GeoJSONSeq",
            seq.to_str().unwrap(),
            nl_georust("nl_parcels_4326.geojson").to_str().unwrap(),
        ],
    )
    .await;
    let seq = std::fs::read(&seq).unwrap();
    let shp_parts = read_parts(&shapefile_parts(&fixture("nl_parcels_28992.shp")));
    let mut cut_shp = shp_parts.clone();
    cut_shp[0].1 = cut(&cut_shp[0].1, 0.5);
    let shp = read("nl_parcels_28992.shp");
    let dbf = read("nl_parcels_28992.dbf");

    // (what, upload, status, error code, words of the message). Every one
    // with invalid=skip: a damaged file is not a feature to leave out.
    enum Body {
        Bare(&'static str, Vec<u8>),
        Form(Vec<(String, Vec<u8>)>),
    }
    let cases: Vec<(&str, Body, u16, &str, Vec<&str>)> = vec![
        (
            "GeoJSON cut in the middle",
            Body::Bare("cut.geojson", cut(&read("nl_parcels_28992.geojson"), 0.5)),
            400,
            "invalid_file",
            vec!["cut.geojson", "truncated"],
        ),
        (
            "GeoJSON sequence cut inside a record",
            Body::Bare("cut.geojsonl", cut(&seq, 0.5)),
            400,
            "invalid_file",
            vec!["cut.geojsonl", "truncated"],
        ),
        (
            "Shapefile with its .shp cut",
            Body::Form(cut_shp),
            400,
            "invalid_file",
            vec!["nl_parcels_28992.shp", "truncated"],
        ),
        (
            "GeoPackage cut",
            Body::Bare("cut.gpkg", cut(&read("nl_parcels_28992.gpkg"), 0.5)),
            400,
            "invalid_file",
            vec!["cut.gpkg", "truncated"],
        ),
        (
            "FlatGeobuf cut",
            Body::Bare("cut.fgb", cut(&read("countries.fgb"), 0.5)),
            400,
            "invalid_file",
            vec!["cut.fgb", "truncated"],
        ),
        (
            "FlatGeobuf version 2",
            Body::Bare("topp_states.fgb", read("topp_states.fgb")),
            400,
            "invalid_file",
            vec!["version 2"],
        ),
        (
            "a zip with a ../ entry",
            Body::Form(vec![(
                "evil.zip".into(),
                zip_of(&[
                    ("../evil.shp", shp.as_slice()),
                    ("evil.shx", read("nl_parcels_28992.shx").as_slice()),
                    ("evil.dbf", dbf.as_slice()),
                ]),
            )]),
            400,
            "invalid_file",
            vec!["../evil.shp", "outside", "nothing was unpacked"],
        ),
        (
            "a zip bomb",
            Body::Bare("bomb.zip", zip_bomb()),
            400,
            "invalid_file",
            vec!["zip bomb", "nothing was unpacked"],
        ),
        (
            "an upload over max_upload_mb",
            Body::Bare("big.geojson", read("vakulivka.geojson")),
            413,
            "upload_too_large",
            vec!["1 MB"],
        ),
        (
            "a file without features over a layer with some",
            Body::Bare("empty.fgb", read("empty.fgb")),
            409,
            "import_conflict",
            vec!["empty the layer"],
        ),
        // Last: a CSV ending inside a quoted field is taken for a bad last
        // row and skipped, so the layer is replaced by the rows before it
        // (a bug of the CSV reader; see the report).
        (
            "CSV cut inside a quoted WKT",
            Body::Bare(
                "cut.csv",
                csv_cut_inside_quotes(&read("nl_parcels_28992_wkt.csv")),
            ),
            400,
            "invalid_file",
            vec!["cut.csv"],
        ),
    ];
    for (what, body, want_status, code, words) in cases {
        let started = Instant::now();
        let (status, answer) = match body {
            Body::Bare(name, bytes) => {
                // The CSV names no CRS: without srs it would be refused for that.
                let query = if name.ends_with(".csv") {
                    "invalid=skip&srs=EPSG:28992"
                } else {
                    "invalid=skip"
                };
                upload(server, "parcels_nl", query, name, bytes).await
            }
            Body::Form(files) => upload_form(server, "parcels_nl", "invalid=skip", &files).await,
        };
        assert_error(status, &answer, want_status, code, &words);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: {:?}",
            started.elapsed()
        );
        assert_eq!(
            layer_state(&env, "parcels_nl").await,
            before,
            "{what} changed the layer"
        );
    }

    env.server.stop().await;
}

// ====== 5. No CRS ======

/// Projected coordinates with no CRS anywhere: a 400 naming `srs` over HTTP,
/// an error naming `--srs` from the CLI, and no layer made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_a_crs_asks_for_srs() {
    let env = Env::new(Backend::Postgis).await;
    let csv = fixture("nl_parcels_28992_wkt.csv");
    let (status, body) = upload_file(&env.server, "nl_csv", "", &csv).await;
    assert_error(
        status,
        &body,
        400,
        "crs_required",
        &["srs", "not longitude/latitude"],
    );
    assert_absent(&env, "nl_csv").await;

    let [flag, store] = &env.store_args;
    let out = imgis(&[
        "import",
        csv.to_str().unwrap(),
        "--layer",
        "nl_csv",
        flag,
        store,
        "--quiet",
    ])
    .await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        stderr.contains("error: ") && stderr.contains("--srs"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_absent(&env, "nl_csv").await;

    // A wrong --srs that PROJ does not know is the same kind of error.
    let (status, body) = upload_file(&env.server, "nl_csv", "srs=EPSG:999999", &csv).await;
    assert_error(status, &body, 400, "crs_required", &["--srs"]);
    env.server.stop().await;
}

// ====== 6. Parcels and cadastral numbers ======

/// The Dutch parcels (EPSG:4326) as a GeoJSON file whose features carry
/// `cad_num` from `number(i)`, written to `path`.
fn parcels_file(path: &Path, count: usize, number: impl Fn(usize) -> String) {
    let mut source = read_json(&nl_georust("nl_parcels_4326.geojson"));
    let features = source["features"].as_array_mut().unwrap();
    features.truncate(count);
    for (i, f) in features.iter_mut().enumerate() {
        f["properties"]["cad_num"] = json!(number(i));
    }
    std::fs::write(path, source.to_string()).unwrap();
}

/// Russian-format cadastral numbers on real parcels: a duplicate and a
/// malformed number skipped (or rejecting the import), the rest found by
/// `GET /parcels/{number}`; a second parcels layer cannot take a number the
/// first holds, over HTTP or from the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parcels_are_found_by_cadastral_number_and_numbers_stay_unique() {
    let env = Env::new(Backend::Postgis).await;
    let server = &env.server;
    let dir = tempfile::tempdir().unwrap();
    let number = |i: usize| format!("16:50:011101:{}", i + 1);
    let (dup, first, bad) = (10usize, 5usize, 20usize);
    // A second server on the same database, started now, that never follows
    // the store (its router alone, without `app::run`'s polling): its index
    // will not know the numbers imported below.
    let stale = {
        let url = &env.store_args[1];
        let store = PostgisStore::connect(url).await.expect("connecting");
        let app = imgis::app::App::with_store(test_config(), Arc::new(store))
            .await
            .expect("a second app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, imgis::api::router(app)).await });
        addr
    };
    let file = dir.path().join("parcels.geojson");
    parcels_file(&file, 316, |i| match i {
        i if i == dup => number(first),
        i if i == bad => "16:50:11101:21".into(),
        i => number(i),
    });

    // Under reject: both listed, nothing made.
    let (status, body) =
        upload_file(server, "parcels_b", "kind=parcels&invalid=reject", &file).await;
    assert_error(status, &body, 422, "import_rejected", &["2 feature(s)"]);
    assert_eq!(
        issues(&body["report"])
            .iter()
            .map(|i| (i.0, i.2.as_str()))
            .collect::<Vec<_>>(),
        vec![(dup as u64, "rejected"), (bad as u64, "rejected")]
    );
    assert_absent(&env, "parcels_b").await;

    let (status, report) =
        upload_file(server, "parcels_a", "kind=parcels&invalid=skip", &file).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["cadastral_field"], "cad_num");
    assert_eq!(
        (count(&report, "imported"), count(&report, "skipped")),
        (314, 2)
    );
    let listed = issues(&report);
    assert_eq!(
        listed,
        vec![
            (dup as u64, "duplicate_cadastral".into(), "skipped".into()),
            (bad as u64, "cadastral".into(), "skipped".into()),
        ]
    );
    let reasons: Vec<&str> = report["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].contains(&number(first)) && reasons[0].contains(&format!("feature {first}")),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("16:50:11101:21"), "{reasons:?}");
    for i in (0..316).filter(|&i| i != dup && i != bad) {
        let (status, parcel) = server.get_json(&format!("/parcels/{}", number(i))).await;
        assert_eq!(status, 200, "parcel {i}: {parcel}");
        assert_eq!(parcel["properties"]["part"], i, "{parcel}");
        assert_eq!(parcel["properties"]["cadastral"], number(i));
        assert_eq!(parcel["layer"]["code"], "parcels_a");
    }
    // Neither the skipped duplicate nor the malformed number made a parcel.
    let (status, _) = server.get_json(&format!("/parcels/{}", number(dup))).await;
    assert_eq!(status, 404);
    let (status, _) = server.get_json(&format!("/parcels/{}", number(bad))).await;
    assert_eq!(status, 404);

    // A second parcels layer reusing a number of the first.
    let taken = 7usize;
    let second = dir.path().join("second.geojson");
    parcels_file(&second, 3, |i| {
        if i == 1 {
            number(taken)
        } else {
            format!("16:50:011102:{}", i + 1)
        }
    });
    let (status, report) =
        upload_file(server, "parcels_c", "kind=parcels&invalid=skip", &second).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        issues(&report),
        vec![(1, "duplicate_cadastral".into(), "skipped".into())]
    );
    assert!(
        report["issues"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("parcels_a"),
        "{report}"
    );
    let (_, parcel) = server
        .get_json(&format!("/parcels/{}", number(taken)))
        .await;
    assert_eq!(parcel["layer"]["code"], "parcels_a");
    assert_eq!(parcel["properties"]["part"], taken);
    let (_, parcel) = server.get_json("/parcels/16:50:011102:3").await;
    assert_eq!(parcel["layer"]["code"], "parcels_c");

    // From the command line (which does not know the other layers' numbers
    // up front) the store refuses the duplicate at commit: nothing written.
    let third = dir.path().join("third.geojson");
    parcels_file(&third, 3, |i| {
        if i == 1 {
            number(taken)
        } else {
            format!("16:50:011103:{}", i + 1)
        }
    });
    let [flag, store] = &env.store_args;
    let out = imgis(&[
        "import",
        third.to_str().unwrap(),
        "--layer",
        "parcels_d",
        "--kind",
        "parcels",
        "--invalid",
        "skip",
        flag,
        store,
        "--quiet",
    ])
    .await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(stderr.contains(&number(taken)), "{stderr}");
    assert!(
        env.store()
            .layer(&"parcels_d".parse().unwrap())
            .await
            .unwrap()
            .is_none(),
        "nothing of parcels_d was written"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The stale server does not know the number is taken; the store refuses
    // it at commit: 409 duplicate_cadastral, nothing written.
    let bytes = std::fs::read(&third).unwrap();
    let r = server
        .client
        .post(format!(
            "http://{stale}/layers/parcels_e/import?kind=parcels&invalid=skip&filename=third.geojson"
        ))
        .body(bytes)
        .send()
        .await
        .expect("the stale server answers");
    let (status, body) = answer(r).await;
    assert_error(status, &body, 409, "duplicate_cadastral", &[&number(taken)]);
    assert!(env
        .store()
        .layer(&"parcels_e".parse().unwrap())
        .await
        .unwrap()
        .is_none());
    env.server.stop().await;
}

// ====== 7. Modes and the CLI ======

/// Dry runs write nothing; append adds and replace replaces, one version
/// each; kind and department must fit an existing layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dry_runs_appends_and_targets() {
    let env = Env::new(Backend::Postgis).await;
    let server = &env.server;
    let nl = nl_georust("nl_parcels_4326.geojson");

    let (status, report) = upload_file(server, "dry", "dry_run=true", &nl).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["outcome"], "checked");
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        (count(&report, "read"), count(&report, "imported")),
        (316, 316)
    );
    assert_eq!(report["layer_version"], Value::Null);
    assert_absent(&env, "dry").await;

    let (status, report) = upload_file(server, "modes", "", &nl).await;
    assert_eq!(status, 200, "{report}");
    let v1 = report["layer_version"].as_i64().expect("a version");
    // A dry run over an existing layer changes nothing either.
    let before = layer_state(&env, "modes").await;
    let (status, report) = upload_file(server, "modes", "dry_run=true&mode=append", &nl).await;
    assert_eq!(
        (status, &report["outcome"]),
        (200, &json!("checked")),
        "{report}"
    );
    assert_eq!(layer_state(&env, "modes").await, before);

    // The layer's kind and department must be the ones named.
    let (status, body) = upload_file(server, "modes", "kind=parcels", &nl).await;
    assert_error(
        status,
        &body,
        409,
        "import_conflict",
        &["modes", "other", "parcels"],
    );
    assert_eq!(layer_state(&env, "modes").await, before);
    let (status, report) = upload_file(server, "owned", "department=KZIO&kind=zones", &nl).await;
    assert_eq!(status, 200, "{report}");
    let (_, layer) = server.get_json("/layers/owned").await;
    assert_eq!(
        (&layer["department"], &layer["kind"]),
        (&json!("KZIO"), &json!("zones"))
    );
    let owned = layer_state(&env, "owned").await;
    let (status, body) = upload_file(server, "owned", "department=UAIG", &nl).await;
    assert_error(status, &body, 409, "import_conflict", &["KZIO", "UAIG"]);
    assert_eq!(layer_state(&env, "owned").await, owned);

    // Append: the file's features added, one version, in the store and in
    // what the server serves.
    let (status, report) = upload_file(server, "modes", "mode=append", &nl).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["layer_version"], v1 + 1);
    assert_eq!(report["layer_features"], 632);
    assert_eq!(report["created"], false);
    let state = layer_state(&env, "modes").await;
    assert_eq!(
        (
            state.version,
            state.feature_count,
            state.number_matched,
            state.stored
        ),
        (json!(v1 + 1), json!(632), json!(632), Some((v1 + 1, 632))),
        "(index version, index count, items numberMatched, store (version, count))"
    );
    // Replace: the file's features only.
    let (status, report) = upload_file(server, "modes", "mode=replace", &nl).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["layer_version"], v1 + 2);
    assert_eq!(
        wait_for_layer(server, "modes", 316, 0).await["version"],
        v1 + 2
    );
    env.server.stop().await;
}

/// `imgis import` against the server's own PostGIS: the summary line's four
/// counts, `--json` equal to them, `--dry-run`, `--invalid reject` listing
/// the refused features with a non-zero exit, and the running server showing
/// the CLI's import within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_imports_into_the_store_a_running_server_follows() {
    let env = Env::new(Backend::Postgis).await;
    let server = &env.server;
    let [flag, store] = &env.store_args;
    let countries = fixture("countries.fgb");
    let countries_path = countries.to_str().unwrap();
    let layer = ogr_layers(&countries).await.remove(0);
    let verdict = gdal_verdict(&countries, &layer).await;
    let invalid = verdict.positions("invalid").unwrap();
    assert_eq!((layer.count, invalid.len()), (179, 2));

    let out = imgis(&[
        "import",
        countries_path,
        "--layer",
        "world",
        "--invalid",
        "skip",
        flag,
        store,
        "--quiet",
    ])
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(summary_counts(&stdout), [179, 177, 2, 0], "{stdout}");
    for i in &invalid {
        assert!(
            stdout.contains(&format!("feature {i}: skipped (invalid)")),
            "{stdout}"
        );
    }
    // The server polls the store every second.
    let started = Instant::now();
    wait_for_layer(server, "world", 177, 5).await;
    eprintln!(
        "the server showed the CLI's import after {:?}",
        started.elapsed()
    );
    let (_, page) = server.get_json("/collections/world/items?limit=1").await;
    assert_eq!(page["numberMatched"], 177);

    // Reject: the refused features listed, exit non-zero, nothing written.
    let out = imgis(&[
        "import",
        countries_path,
        "--layer",
        "world_r",
        flag,
        store,
        "--quiet",
    ])
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{stdout}");
    for i in &invalid {
        assert!(
            stdout.contains(&format!("feature {i}: rejected (invalid)")),
            "{stdout}"
        );
    }
    assert!(stderr.contains("error: 2 feature(s) refused"), "{stderr}");
    assert!(stdout.contains("REJECTED"), "{stdout}");
    assert_absent(&env, "world_r").await;

    // --json: the report, with the counts GDAL's verdict gives.
    let out = imgis(&[
        "import",
        countries_path,
        "--layer",
        "world_fixed",
        "--invalid",
        "repair",
        "--json",
        flag,
        store,
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json prints JSON ({e}): {}", text(&out.stdout)));
    assert_eq!(
        [
            count(&report, "read"),
            count(&report, "imported"),
            count(&report, "skipped"),
            count(&report, "repaired")
        ],
        [179, 179, 0, 2],
        "{report}"
    );
    assert_eq!(report["format"], "FlatGeobuf");
    wait_for_layer(server, "world_fixed", 179, 5).await;

    // --dry-run: the same counts, nothing written.
    let out = imgis(&[
        "import",
        countries_path,
        "--layer",
        "world_dry",
        "--invalid",
        "skip",
        "--dry-run",
        flag,
        store,
        "--quiet",
    ])
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(summary_counts(&stdout), [179, 177, 2, 0], "{stdout}");
    assert!(stdout.contains("dry run, nothing written"), "{stdout}");
    assert_absent(&env, "world_dry").await;
    env.server.stop().await;
}

/// `imgis import --gpkg`: the layer GDAL then reads from the GeoPackage store
/// has the features the summary says were imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_imports_into_a_geopackage_gdal_reads() {
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("city.gpkg");
    let source = fixture("forestcity_parcels_from_topojson.geojson");
    let out = imgis(&[
        "import",
        source.to_str().unwrap(),
        "--layer",
        "parcels_fc",
        "--kind",
        "parcels",
        "--invalid",
        "repair",
        "--gpkg",
        gpkg.to_str().unwrap(),
    ])
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let [read, imported, skipped, repaired] = summary_counts(&stdout);
    let layer = ogr_layers(&source).await.remove(0);
    let verdict = gdal_verdict(&source, &layer).await;
    assert_eq!(
        [read, skipped, repaired],
        [layer.count, verdict.count("none"), verdict.count("invalid")],
        "{stdout}"
    );
    // No cadastral field in Forest City's data: said, not refused.
    assert!(stdout.contains("no cadastral number field"), "{stdout}");
    let stored = ogr_layers(&gpkg).await;
    let stored = stored
        .iter()
        .find(|l| l.name == "parcels_fc")
        .unwrap_or_else(|| panic!("GDAL finds no parcels_fc in {stored:?}"));
    assert_eq!(stored.count, imported);
    let after = gdal_verdict(&gpkg, stored).await;
    assert!(after.bad.is_empty(), "GEOS on the stored layer: {after:?}");
}

// ====== 8. Bad targets and parameters ======

/// The derived protection zones cannot be imported into; bad parameters and
/// layer codes are 400s; nothing is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_layers_and_bad_parameters_are_refused() {
    let env = Env::new(Backend::Postgis).await;
    let server = &env.server;
    let nl = nl_georust("nl_parcels_4326.geojson");
    let (status, body) = upload_file(server, "utility_protection_zones", "", &nl).await;
    assert_error(
        status,
        &body,
        409,
        "derived_layer",
        &["utility_protection_zones"],
    );

    // A small file: these are answered before the body is read, and a
    // server that answers early closes the connection with the rest of the
    // body unsent, which a client may see as a broken connection.
    let point = json!({
        "type": "FeatureCollection",
        "features": [{ "type": "Feature", "properties": {},
                       "geometry": { "type": "Point", "coordinates": [49.1, 55.8] } }]
    })
    .to_string()
    .into_bytes();
    for (code, query, words) in [
        ("bad", "mode=sideways", vec!["sideways", "replace"]),
        ("bad", "invalid=ignore", vec!["ignore", "repair"]),
        ("bad", "kind=roads", vec!["roads"]),
        ("bad", "format=dwg", vec!["dwg"]),
        ("bad", "colour=red", vec!["colour"]),
        ("Bad-Layer", "", vec!["Bad-Layer"]),
    ] {
        let (status, body) = upload(server, code, query, "point.geojson", point.clone()).await;
        assert_error(status, &body, 400, "invalid_parameter", &words);
    }
    assert_absent(&env, "bad").await;
    let (status, body) = upload(server, "bad", "", "nothing.geojson", Vec::new()).await;
    assert_error(status, &body, 400, "invalid_file", &[]);
    assert_absent(&env, "bad").await;
    env.server.stop().await;
}

/// With the city's bounds configured (Kazan), Kazan's districts import and
/// the Dutch parcels are refused as out of bounds, with a hint at the CRS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_outside_the_city_are_refused() {
    let mut config = test_config();
    config.city_bbox = Rect::new(coord! { x: 48.8, y: 55.55 }, coord! { x: 49.45, y: 56.0 });
    let env = Env::with_config(Backend::Postgis, config).await;
    let server = &env.server;
    let (status, report) = upload_file(
        server,
        "districts",
        "",
        &fixture("kazan_districts_cianparser.geojson"),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(count(&report, "imported"), 7);

    let nl = nl_georust("nl_parcels_4326.geojson");
    let (status, body) = upload_file(server, "nl", "", &nl).await;
    assert_error(status, &body, 422, "import_rejected", &["316 feature(s)"]);
    let listed = issues(&body["report"]);
    assert_eq!(listed.len(), 316);
    assert!(listed.iter().all(|i| i.1 == "out_of_bounds"), "{listed:?}");
    let reason = body["report"]["issues"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("--srs"), "{reason}");
    assert_absent(&env, "nl").await;

    // The CLI takes the bounds as a flag.
    let [flag, store] = &env.store_args;
    let out = imgis(&[
        "import",
        nl.to_str().unwrap(),
        "--layer",
        "nl",
        "--city-bbox",
        "48.8,55.55,49.45,56.0",
        flag,
        store,
        "--quiet",
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("out_of_bounds"),
        "{}",
        text(&out.stdout)
    );
    assert_absent(&env, "nl").await;
    env.server.stop().await;
}
