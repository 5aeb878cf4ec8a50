//! Constraints, identify and nearest over real HTTP, checked against PostGIS on
//! the same data (the real PostGIS of the test harness: `DATABASE_URL`, set by
//! scripts/test.sh; these tests fail without it, they never skip).
//!
//! - The demo city: for a few hundred plots, `/parcels/{c}/constraints` names
//!   exactly the zones PostGIS `ST_Intersects` finds, and each overlap equals
//!   `ST_Area(ST_Transform(ST_Intersection(plot, zone), 32639))` within 0.1 %.
//! - Real Dutch parcels × zoning (`tests/fixtures/nl_georust/`), in the Dutch
//!   metric CRS EPSG:28992 on both sides: each parcel posted to `POST /constraints`.
//! - Bad input gets a 4xx JSON error and changes nothing.
//! - Identify finds a plot from a point on it; the nearest gas pipe's distance
//!   equals PostGIS `ST_Distance` in EPSG:32639 within 1 cm.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use geo::InteriorPoint;
use imgis::model::{GeometryType, LayerKind, LayerSpec, NewFeature, Properties};
use imgis::store::postgis::PostgisStore;
use imgis::store::DynStore;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::server::{test_config, TestServer};

/// Overlaps agree with PostGIS within this fraction …
const RELATIVE_TOLERANCE: f64 = 0.001;
/// … or within this many m², for overlaps near zero: a plot that only touches
/// a zone has 0 m² in PostGIS and may have a few mm² here, where clipping
/// rounds coordinates to about 1e-10 degrees.
const ABSOLUTE_TOLERANCE_M2: f64 = 0.01;

/// A migrated PostGIS store in a fresh database, with the database's URL (the
/// tests query PostGIS directly for the reference answers).
async fn postgis() -> (DynStore, PgPool) {
    let url = crate::common::postgis::fresh_database().await;
    let store = PostgisStore::connect(&url)
        .await
        .expect("connecting to the fresh database");
    store.migrate().await.expect("migrating");
    let pool = PgPool::connect(&url)
        .await
        .expect("a pool for reference queries");
    (Arc::new(store), pool)
}

async fn demo(parcels: usize) -> (DynStore, PgPool) {
    let (store, pool) = postgis().await;
    crate::common::load_demo(&store, parcels, 42).await;
    (store, pool)
}

/// The zone overlaps of one answer, by (layer code, feature id), in m².
fn answered_overlaps(body: &Value) -> BTreeMap<(String, i64), f64> {
    let mut out = BTreeMap::new();
    for (list, is_constraint) in [("constraints", true), ("slivers", false)] {
        for c in body[list]
            .as_array()
            .unwrap_or_else(|| panic!("no {list}: {body}"))
        {
            let key = (
                c["layer"]["code"].as_str().unwrap().to_owned(),
                c["feature_id"].as_i64().unwrap(),
            );
            let m2 = c["overlap_m2"].as_f64().unwrap();
            assert_eq!(
                m2 >= body["sliver_tolerance_m2"].as_f64().unwrap(),
                is_constraint,
                "{list} holds {key:?} with {m2} m²"
            );
            assert!(
                out.insert(key.clone(), m2).is_none(),
                "{key:?} listed twice"
            );
        }
    }
    out
}

/// Compares one plot's answer with PostGIS's; returns the worst relative error.
fn compare(
    what: &str,
    ours: &BTreeMap<(String, i64), f64>,
    postgis: &BTreeMap<(String, i64), f64>,
) -> f64 {
    let ours_set: BTreeSet<_> = ours.keys().collect();
    let postgis_set: BTreeSet<_> = postgis.keys().collect();
    assert_eq!(
        ours_set, postgis_set,
        "{what}: the zones found must be those ST_Intersects finds"
    );
    let mut worst: f64 = 0.0;
    for (key, &expected) in postgis {
        let got = ours[key];
        let error = (got - expected).abs();
        assert!(
            error <= expected * RELATIVE_TOLERANCE || error <= ABSOLUTE_TOLERANCE_M2,
            "{what}: zone {key:?}: {got} m² here, {expected} m² in PostGIS"
        );
        if expected > 1.0 {
            worst = worst.max(error / expected);
        }
    }
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_city_constraints_agree_with_postgis() {
    let (store, pool) = demo(3000).await;
    // The server first: at start it may derive zones (utility protection zones)
    // into the store, and PostGIS must see the same zones.
    let server = TestServer::start(store).await;
    // Every 12th plot, and every 5th plot that a zone other than the territorial
    // zoning reaches (heritage, water, sanitary, utility protection): partial overlaps.
    let plots: Vec<(String, f64)> = sqlx::query_as(
        "WITH p AS (
           SELECT f.id, f.cadastral, f.geom FROM features f JOIN layers l ON l.id = f.layer_id
           WHERE l.code = 'parcels')
         SELECT p.cadastral, ST_Area(ST_Transform(p.geom, 32639)) FROM p
         WHERE p.id % 12 = 0 OR p.id % 5 = 0 AND EXISTS (
           SELECT 1 FROM features z JOIN layers zl ON zl.id = z.layer_id
           WHERE zl.kind = 'zones' AND zl.code <> 'territorial_zones' AND ST_Intersects(p.geom, z.geom))
         ORDER BY p.cadastral",
    )
    .fetch_all(&pool)
    .await
    .expect("choosing plots");
    assert!(plots.len() >= 300, "only {} plots", plots.len());

    let rows: Vec<(String, String, i64, f64)> = sqlx::query_as(
        "SELECT p.cadastral, zl.code, z.id,
                ST_Area(ST_Transform(ST_Intersection(p.geom,
                  CASE WHEN ST_IsValid(z.geom) THEN z.geom ELSE ST_MakeValid(z.geom) END), 32639))
         FROM features p JOIN layers pl ON pl.id = p.layer_id AND pl.code = 'parcels',
              features z JOIN layers zl ON zl.id = z.layer_id AND zl.kind = 'zones'
         WHERE p.cadastral = ANY($1) AND ST_Intersects(p.geom, z.geom)",
    )
    .bind(plots.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>())
    .fetch_all(&pool)
    .await
    .expect("the reference overlaps");
    let mut expected: BTreeMap<String, BTreeMap<(String, i64), f64>> = BTreeMap::new();
    for (cadastral, layer, id, m2) in rows {
        expected
            .entry(cadastral)
            .or_default()
            .insert((layer, id), m2);
    }

    let (mut worst, mut overlaps, mut partial) = (0.0_f64, 0, 0);
    for (cadastral, area_m2) in &plots {
        let (status, body) = server
            .get_json(&format!("/parcels/{cadastral}/constraints"))
            .await;
        assert_eq!(status, 200, "{cadastral}: {body}");
        let plot_area = body["plot"]["area_m2"].as_f64().unwrap();
        assert!(
            (plot_area - area_m2).abs() <= area_m2 * 1e-6,
            "{cadastral}: plot area {plot_area} vs {area_m2}"
        );
        assert_eq!(body["plot"]["cadastral"], cadastral.as_str());
        let ours = answered_overlaps(&body);
        let reference = expected.remove(cadastral).unwrap_or_default();
        worst = worst.max(compare(cadastral, &ours, &reference));
        overlaps += reference.len();
        partial += reference
            .values()
            .filter(|&&m2| m2 < area_m2 * 0.999)
            .count();
        // The zone types not found are those checked minus those of the constraints.
        let checked: BTreeSet<&str> = body["checked_zone_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let found: BTreeSet<&str> = body["constraints"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["zone_type"].as_str())
            .collect();
        let not_found: BTreeSet<&str> = body["zone_types_not_found"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            not_found,
            checked.difference(&found).copied().collect(),
            "{cadastral}"
        );
        assert!(checked.contains("territorial") && checked.contains("heritage_protection"));
    }
    assert!(partial >= 50, "too few partial overlaps to test: {partial}");
    println!(
        "{} plots, {overlaps} overlaps ({partial} partial), worst relative error {worst:e}",
        plots.len()
    );
    server.stop().await;
}

/// The real Dutch data: `(geometry as GeoJSON, geo geometry)` per feature.
fn fixture(name: &str) -> Vec<(Value, geo_types::Geometry<f64>)> {
    let path = format!(
        "{}/tests/fixtures/nl_georust/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let collection: Value = serde_json::from_str(&text).expect("fixture is JSON");
    collection["features"]
        .as_array()
        .expect("a FeatureCollection")
        .iter()
        .map(|f| {
            let g: geojson::Geometry =
                serde_json::from_value(f["geometry"].clone()).expect("GeoJSON");
            (f["geometry"].clone(), g.try_into().expect("a geo geometry"))
        })
        .collect()
}

fn nl_spec(code: &str, kind: LayerKind) -> LayerSpec {
    LayerSpec {
        code: code.parse().unwrap(),
        title: code.into(),
        description: "nl_georust fixture (Harderwijk)".into(),
        kind,
        department: None,
        geometry_type: GeometryType::Polygon,
        public: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dutch_parcels_and_zoning_agree_with_postgis_in_rd_new() {
    let (store, pool) = postgis().await;
    let parcels = fixture("nl_parcels_4326.geojson");
    let zoning = fixture("nl_zoning_4326.geojson");
    assert_eq!((parcels.len(), zoning.len()), (316, 91));
    // Parcels without cadastral numbers (Dutch numbers do not fit the Russian
    // format); the zoning plan areas get a made-up zone type, the one the
    // catalog gives territorial zoning.
    for (code, kind, features) in [
        ("nl_parcels", LayerKind::Parcels, &parcels),
        ("nl_zoning", LayerKind::Zones, &zoning),
    ] {
        store
            .create_layer(&nl_spec(code, kind))
            .await
            .expect("create layer");
        let features = features
            .iter()
            .enumerate()
            .map(|(i, (_, g))| {
                let mut properties = Properties::new();
                properties.insert("part".into(), json!(i));
                if kind == LayerKind::Zones {
                    properties.insert("zone_type".into(), json!("territorial"));
                }
                NewFeature::new(g.clone(), properties)
            })
            .collect();
        store
            .replace_features(&code.parse().unwrap(), features)
            .await
            .expect("writing the fixture");
    }
    let rows: Vec<(i64, i64, f64)> = sqlx::query_as(
        "SELECT (p.properties->>'part')::bigint, z.id,
                ST_Area(ST_Transform(ST_Intersection(p.geom,
                  CASE WHEN ST_IsValid(z.geom) THEN z.geom ELSE ST_MakeValid(z.geom) END), 28992))
         FROM features p JOIN layers pl ON pl.id = p.layer_id AND pl.code = 'nl_parcels',
              features z JOIN layers zl ON zl.id = z.layer_id AND zl.code = 'nl_zoning'
         WHERE ST_Intersects(p.geom, z.geom)",
    )
    .fetch_all(&pool)
    .await
    .expect("the reference overlaps");
    let mut expected: BTreeMap<i64, BTreeMap<(String, i64), f64>> = BTreeMap::new();
    for (part, zone, m2) in rows {
        expected
            .entry(part)
            .or_default()
            .insert(("nl_zoning".into(), zone), m2);
    }
    let invalid_zones: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM features z JOIN layers l ON l.id = z.layer_id
         WHERE l.code = 'nl_zoning' AND NOT ST_IsValid(z.geom)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        invalid_zones, 1,
        "the fixture's self-intersecting zone is in the test"
    );

    let mut config = test_config();
    config.metric_srs = "EPSG:28992".into();
    let server = TestServer::start_with(config, store).await;
    let (mut worst, mut overlaps, mut noted) = (0.0_f64, 0, 0);
    for (part, (geometry, _)) in parcels.iter().enumerate() {
        let response = server
            .client
            .post(server.url("/constraints"))
            .json(&json!({ "geometry": geometry, "layers": ["nl_zoning"] }))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(status, 200, "parcel {part}: {body}");
        assert_eq!(body["metric_srs"], "EPSG:28992");
        let ours = answered_overlaps(&body);
        let reference = expected.remove(&(part as i64)).unwrap_or_default();
        worst = worst.max(compare(&format!("parcel {part}"), &ours, &reference));
        overlaps += reference.len();
        noted += body["constraints"]
            .as_array()
            .unwrap()
            .iter()
            .chain(body["slivers"].as_array().unwrap())
            .filter(|c| c["note"].is_string())
            .count();
    }
    assert!(overlaps > 316, "{overlaps} overlaps");
    println!("316 parcels, {overlaps} overlaps ({noted} with the repaired zone), worst relative error {worst:e}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_errors_and_changes_nothing() {
    let (store, _pool) = demo(300).await;
    let server = TestServer::start(store.clone()).await;
    let before = store.layers().await.unwrap();
    let some_plot = store.features(&"parcels".parse().unwrap()).await.unwrap()[0]
        .cadastral
        .clone()
        .expect("demo plots have numbers");
    let square = |w: f64| json!({"type": "Polygon", "coordinates": [[[49.1, 55.79], [49.1 + w, 55.79], [49.1 + w, 55.79 + w], [49.1, 55.79 + w], [49.1, 55.79]]]});
    let post = |body: String| {
        let request = server
            .client
            .post(server.url("/constraints"))
            .header("content-type", "application/json")
            .body(body);
        async move {
            let r = request.send().await.expect("request");
            (
                r.status().as_u16(),
                r.json::<Value>().await.expect("a JSON answer"),
            )
        }
    };
    let (status, body) = post(json!({ "geometry": square(0.001) }).to_string()).await;
    assert_eq!(status, 200, "a good request first: {body}");
    // A small plot traced with too many vertices (the limit bounds the work of one request).
    let mut ring: Vec<[f64; 2]> = (0..1200)
        .map(|i| {
            let a = std::f64::consts::TAU * f64::from(i) / 1200.0;
            [49.1 + 0.0005 * a.cos(), 55.79 + 0.0005 * a.sin()]
        })
        .collect();
    ring.push(ring[0]);
    let many_vertices =
        json!({ "geometry": {"type": "Polygon", "coordinates": [ring]} }).to_string();

    for (body, status, code) in [
        ("{\"geometry\": ".to_owned(), 400, "invalid_json"),
        ("[]".to_owned(), 400, "invalid_json"),
        (json!({ "geometry": square(0.001), "layer": ["x"] }).to_string(), 400, "invalid_json"),
        (json!({ "geometry": {"type": "Point", "coordinates": [49.1, 55.79]} }).to_string(), 400, "invalid_geometry"),
        (json!({ "geometry": {"type": "Polygon", "coordinates": "no"} }).to_string(), 400, "invalid_geometry"),
        (
            json!({ "geometry": {"type": "Polygon", "coordinates": [[[49.1, 55.79], [49.101, 55.79], [49.101, 55.791], [49.1, 55.791]]]} }).to_string(),
            400,
            "invalid_geometry",
        ),
        (
            json!({ "geometry": {"type": "Polygon", "coordinates": [[[49.1, 55.79], [49.101, 55.791], [49.101, 55.79], [49.1, 55.791], [49.1, 55.79]]]} }).to_string(),
            400,
            "invalid_geometry",
        ),
        (json!({ "geometry": square(0.05) }).to_string(), 413, "geometry_too_large"),
        (many_vertices, 413, "geometry_too_large"),
        (json!({ "geometry": square(0.001), "layers": ["no_such_layer"] }).to_string(), 404, "unknown_layer"),
        (json!({ "geometry": square(0.001), "layers": ["parcels"] }).to_string(), 400, "invalid_parameter"),
        (json!({ "geometry": square(0.001), "layers": [] }).to_string(), 400, "invalid_parameter"),
    ] {
        let (got, answer) = post(body.clone()).await;
        assert_eq!((got, answer["error"].as_str()), (status, Some(code)), "{body}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }
    let wrong_layer = format!("/parcels/{some_plot}/constraints?layers=parcels");
    let (status, body) = server
        .get_json(&format!(
            "/parcels/{some_plot}/constraints?layers=territorial_zones"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    for (path, status, code) in [
        (
            "/parcels/16:50:999999:999/constraints",
            404,
            "unknown_parcel",
        ),
        (
            "/parcels/16-50-011101-12/constraints",
            400,
            "malformed_cadastral_number",
        ),
        (wrong_layer.as_str(), 400, "invalid_parameter"),
        ("/identify?lon=49.1", 400, "invalid_parameter"),
        ("/identify?lon=abc&lat=55.79", 400, "invalid_parameter"),
        ("/identify?lon=200&lat=55.79", 400, "invalid_parameter"),
        ("/nearest", 400, "invalid_parameter"),
        (
            "/nearest?cadastral=16:50:011101:1&lon=49.1&lat=55.79",
            400,
            "invalid_parameter",
        ),
        (
            "/nearest?lon=49.1&lat=55.79&network=parcels",
            400,
            "invalid_parameter",
        ),
        (
            "/nearest?lon=49.1&lat=55.79&network=gas_stations",
            400,
            "invalid_parameter",
        ),
        (
            "/nearest?lon=49.1&lat=55.79&network=no_such_layer",
            404,
            "unknown_layer",
        ),
        ("/nearest?cadastral=16:50:999999:999", 404, "unknown_parcel"),
    ] {
        let (got, answer) = server.get_json(path).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{path}: {answer}"
        );
    }
    assert_eq!(
        store.layers().await.unwrap(),
        before,
        "no request wrote anything"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_and_nearest_agree_with_postgis() {
    let (store, pool) = demo(300).await;
    let parcels = store.features(&"parcels".parse().unwrap()).await.unwrap();
    let server = TestServer::start(store.clone()).await;

    // A point on a plot identifies it.
    for f in parcels.iter().step_by(23) {
        let p = f
            .geometry
            .interior_point()
            .expect("a plot has an interior point");
        let (status, body) = server
            .get_json(&format!("/identify?lon={}&lat={}", p.x(), p.y()))
            .await;
        assert_eq!(status, 200, "{body}");
        let layer = body["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["layer"]["code"] == "parcels")
            .unwrap_or_else(|| panic!("no parcel at {p:?}: {body}"));
        let ids: Vec<i64> = layer["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [f.id]);
        assert_eq!(
            layer["features"][0]["cadastral"],
            f.cadastral.as_ref().unwrap().as_str()
        );
    }

    // The nearest gas pipe from points around the city, and from plots.
    let (w, s, e, n): (f64, f64, f64, f64) = sqlx::query_as(
        "SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) FROM
           (SELECT ST_Extent(f.geom)::geometry x FROM features f JOIN layers l ON l.id = f.layer_id
            WHERE l.code = 'parcels') t",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // PostGIS's nearest gas pipes (all within 1 cm of the nearest: ties) and the distance.
    let from_point = |lon: f64, lat: f64| {
        sqlx::query_as::<_, (Vec<i64>, f64)>(
            "WITH d AS (
               SELECT f.id, ST_Distance(ST_Transform(f.geom, 32639),
                        ST_Transform(ST_SetSRID(ST_MakePoint($1, $2), 4326), 32639)) d
               FROM features f JOIN layers l ON l.id = f.layer_id WHERE l.code = 'gas')
             SELECT array_agg(id), min(d) FROM d WHERE d <= (SELECT min(d) FROM d) + 0.01",
        )
        .bind(lon)
        .bind(lat)
        .fetch_one(&pool)
    };
    let from_plot = |cadastral: String| {
        sqlx::query_as::<_, (Vec<i64>, f64)>(
            "WITH d AS (
               SELECT f.id, ST_Distance(ST_Transform(f.geom, 32639), ST_Transform(p.geom, 32639)) d
               FROM features f JOIN layers l ON l.id = f.layer_id, features p
               WHERE l.code = 'gas' AND p.cadastral = $1)
             SELECT array_agg(id), min(d) FROM d WHERE d <= (SELECT min(d) FROM d) + 0.01",
        )
        .bind(cadastral)
        .fetch_one(&pool)
    };
    let mut checked = 0;
    for i in 0..7 {
        for j in 0..7 {
            let lon = w - 0.01 + (e - w + 0.02) * f64::from(i) / 6.0;
            let lat = s - 0.01 + (n - s + 0.02) * f64::from(j) / 6.0;
            let (status, body) = server
                .get_json(&format!("/nearest?lon={lon}&lat={lat}&network=gas"))
                .await;
            assert_eq!(status, 200, "{body}");
            let line = &body["networks"][0];
            let (ids, metres) = from_point(lon, lat)
                .await
                .expect("the reference nearest pipe");
            let got = line["distance_m"].as_f64().unwrap();
            assert!(
                (got - metres).abs() < 0.01,
                "({lon}, {lat}): {got} m vs PostGIS {metres} m"
            );
            assert!(
                ids.contains(&line["feature_id"].as_i64().unwrap()),
                "({lon}, {lat}): {line} vs {ids:?}"
            );
            assert!(line["properties"]["diameter_mm"].is_number(), "{line}");
            checked += 1;
        }
    }
    for f in parcels.iter().step_by(29) {
        let cadastral = f.cadastral.as_ref().unwrap().to_string();
        let (status, body) = server
            .get_json(&format!("/nearest?cadastral={cadastral}"))
            .await;
        assert_eq!(status, 200, "{body}");
        let gas = body["networks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["layer"]["code"] == "gas")
            .unwrap_or_else(|| panic!("no gas line: {body}"));
        let (ids, metres) = from_plot(cadastral.clone())
            .await
            .expect("the reference nearest pipe");
        assert!(
            ids.contains(&gas["feature_id"].as_i64().unwrap()),
            "{cadastral}: {gas} vs {ids:?}"
        );
        let got = gas["distance_m"].as_f64().unwrap();
        assert!(
            (got - metres).abs() < 0.01,
            "{cadastral}: {got} m vs PostGIS {metres} m"
        );
        let codes: BTreeSet<&str> = body["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["layer"]["code"].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            ["gas", "heat", "power", "sewer", "telecom", "water"]
                .into_iter()
                .collect(),
            "every utility network of lines, and only those"
        );
        checked += 1;
    }
    assert!(checked > 55);
    server.stop().await;
}
