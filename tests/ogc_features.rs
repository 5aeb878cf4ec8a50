//! OGC API – Features with real clients: GDAL's OAPIF driver (Debian
//! `gdal-bin`, installed by scripts/test.sh) reads the collections and fetches
//! a whole layer through paging; the items' bbox query returns exactly what
//! the index holds there; bad parameters get 400/404 JSON, never 500.

use std::collections::BTreeSet;

use geo_types::{coord, Rect};
use serde_json::Value;
use tokio::process::Command;

use crate::common::server::TestServer;

async fn demo_server(parcels: usize) -> (tempfile::TempDir, TestServer) {
    let (dir, store) = crate::common::gpkg_demo(parcels, 42).await;
    (dir, TestServer::start(store).await)
}

/// Runs a GDAL command line tool, failing the test with its output.
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

/// `Feature Count: N` of an `ogrinfo -so` summary.
fn feature_count(summary: &str) -> i64 {
    summary
        .lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .unwrap_or_else(|| panic!("no feature count in {summary}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdal_lists_the_collections_and_fetches_a_whole_layer_through_paging() {
    let (dir, server) = demo_server(1_500).await;
    let base = format!("OAPIF:{}", server.url("/"));

    // ogrinfo lists every public layer as a collection.
    let listed = gdal("ogrinfo", &["-ro", "-q", &base]).await;
    let snapshot = server.app.index().snapshot();
    let public: BTreeSet<String> = snapshot
        .values()
        .filter(|l| l.layer().spec.public)
        .map(|l| l.code().to_string())
        .collect();
    let names: BTreeSet<String> = listed
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, rest)| rest))
        .map(|rest| rest.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(names, public, "{listed}");

    // ogr2ogr copies the parcels, 200 per page, into a GeoPackage: every one.
    let out = dir.path().join("copy.gpkg");
    let out_path = out.to_str().unwrap();
    gdal(
        "ogr2ogr",
        &[
            "-f",
            "GPKG",
            out_path,
            &base,
            "parcels",
            "-oo",
            "PAGE_SIZE=200",
        ],
    )
    .await;
    let summary = gdal("ogrinfo", &["-ro", "-so", out_path, "parcels"]).await;
    let parcels = snapshot.get(&"parcels".parse().unwrap()).unwrap();
    assert_eq!(feature_count(&summary), parcels.len() as i64);
    assert!(summary.contains("cadastral"), "{summary}");

    // A bbox query through GDAL counts what the index holds there.
    let e = parcels.extent().unwrap();
    let (cx, cy) = ((e.min().x + e.max().x) / 2.0, (e.min().y + e.max().y) / 2.0);
    let (w, s, east, n) = (cx - 0.004, cy - 0.003, cx + 0.004, cy + 0.003);
    let in_index = parcels
        .intersecting(Rect::new(coord! {x: w, y: s}, coord! {x: east, y: n}))
        .count();
    assert!(in_index > 10, "the box holds some parcels");
    let spat = [w, s, east, n].map(|v| v.to_string());
    let summary = gdal(
        "ogrinfo",
        &[
            "-ro", "-so", &base, "parcels", "-spat", &spat[0], &spat[1], &spat[2], &spat[3],
        ],
    )
    .await;
    assert_eq!(feature_count(&summary), in_index as i64);
    server.stop().await;
}

#[tokio::test]
async fn items_pages_and_bbox_follow_the_index() {
    let (_dir, server) = demo_server(800).await;
    let parcels = server
        .app
        .index()
        .layer(&"parcels".parse().unwrap())
        .unwrap();

    // Landing page and conformance for clients; the web map for browsers.
    let r = server
        .client
        .get(server.url("/"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let landing: Value = r.json().await.unwrap();
    let rels: BTreeSet<&str> = landing["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert!(rels.is_superset(&BTreeSet::from(["self", "conformance", "data"])));
    let html = server
        .client
        .get(server.url("/"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert!(html.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let (_, conformance) = server.get_json("/conformance").await;
    assert!(conformance["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().ends_with("/conf/geojson")));

    // Walk every page by `next`: each id once, in order, all of them.
    let mut url = server.url("/collections/parcels/items?limit=300");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = server.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/geo+json");
        let page: Value = r.json().await.unwrap();
        assert_eq!(page["numberMatched"], parcels.len());
        let features = page["features"].as_array().unwrap();
        assert_eq!(page["numberReturned"], features.len());
        for f in features {
            seen.push(f["id"].as_i64().unwrap());
            assert!(f["properties"]["cadastral"].is_string());
        }
        pages += 1;
        match page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
        {
            Some(next) => url = next["href"].as_str().unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, parcels.len().div_ceil(300));
    let expected: Vec<i64> = parcels.features().iter().map(|f| f.id).collect();
    assert_eq!(seen, expected);

    // A bbox returns exactly the index's features there.
    let e = parcels.extent().unwrap();
    let (cx, cy) = ((e.min().x + e.max().x) / 2.0, (e.min().y + e.max().y) / 2.0);
    let bbox = Rect::new(
        coord! {x: cx - 0.003, y: cy - 0.002},
        coord! {x: cx + 0.003, y: cy + 0.002},
    );
    let mut in_index: Vec<i64> = parcels.intersecting(bbox).map(|f| f.id).collect();
    in_index.sort_unstable();
    let (status, page) = server
        .get_json(&format!(
            "/collections/parcels/items?limit=10000&bbox={},{},{},{}",
            bbox.min().x,
            bbox.min().y,
            bbox.max().x,
            bbox.max().y
        ))
        .await;
    assert_eq!(status, 200);
    let got: Vec<i64> = page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert!(!in_index.is_empty());
    assert_eq!(got, in_index);

    // A property filter and one item.
    let first = &parcels.features()[0];
    let cadastral = first.cadastral.as_ref().unwrap().to_string();
    let (status, page) = server
        .get_json(&format!("/collections/parcels/items?cadastral={cadastral}"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["numberMatched"], 1);
    assert_eq!(page["features"][0]["id"], first.id);
    let (status, one) = server
        .get_json(&format!("/collections/parcels/items/{}", first.id))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["properties"]["cadastral"], cadastral);
    assert_eq!(one["geometry"]["type"], "Polygon");

    // Bad parameters: 400 or 404 JSON, never 500.
    for (path, status, code) in [
        (
            "/collections/parcels/items?limit=-1",
            400,
            "invalid_parameter",
        ),
        (
            "/collections/parcels/items?limit=0",
            400,
            "invalid_parameter",
        ),
        (
            "/collections/parcels/items?limit=abc",
            400,
            "invalid_parameter",
        ),
        (
            "/collections/parcels/items?offset=-5",
            400,
            "invalid_parameter",
        ),
        (
            "/collections/parcels/items?bbox=1,2,3",
            400,
            "invalid_parameter",
        ),
        (
            "/collections/parcels/items?bbox=a,b,c,d",
            400,
            "invalid_parameter",
        ),
        (
            "/collections/parcels/items?bbox=10,10,5,5",
            400,
            "invalid_parameter",
        ),
        (
            "/collections/parcels/items?bbox=0,0,200,10",
            400,
            "invalid_parameter",
        ),
        (
            "/collections/parcels/items?colour=red",
            400,
            "invalid_parameter",
        ),
        (
            "/collections/parcels/items?limit=1&limit=2",
            400,
            "invalid_parameter",
        ),
        ("/collections/parcels/items?f=xml", 400, "invalid_parameter"),
        ("/collections/nowhere/items", 404, "unknown_layer"),
        ("/collections/NOPE", 404, "unknown_layer"),
        ("/collections/parcels/items/abc", 404, "unknown_feature"),
        (
            "/collections/parcels/items/999999999",
            404,
            "unknown_feature",
        ),
    ] {
        let (s, b) = server.get_json(path).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (status, Some(code)),
            "{path}: {b}"
        );
    }
    // Pages are gzipped for clients that ask, and inflate to the same page.
    let path = server.url("/collections/parcels/items?limit=200");
    let plain = server
        .client
        .get(&path)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let r = server
        .client
        .get(&path)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let packed = r.bytes().await.unwrap();
    assert!(
        packed.len() * 3 < plain.len(),
        "{} vs {}",
        packed.len(),
        plain.len()
    );
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&packed[..]),
        &mut inflated,
    )
    .unwrap();
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&plain).unwrap(),
        serde_json::from_slice(&inflated).unwrap(),
    );
    assert_eq!(a["features"], b["features"]);

    // Above the maximum, `limit` is lowered, not refused.
    let (s, b) = server
        .get_json("/collections/parcels/items?limit=999999")
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["numberReturned"], parcels.len().min(10_000));
    server.stop().await;
}

/// The ids of a page.
fn page_ids(page: &Value) -> Vec<i64> {
    page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect()
}

/// `lon lat` pairs to EPSG:32639 by GDAL's own `gdaltransform`.
async fn gdaltransform_to_utm(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new("gdaltransform")
        .args([
            "-s_srs",
            "+proj=longlat +datum=WGS84 +no_defs",
            "-t_srs",
            "EPSG:32639",
            "-output_xy",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gdaltransform (Debian gdal-bin) must be installed");
    let mut input = String::new();
    for (x, y) in points {
        input.push_str(&format!("{x} {y}\n"));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Vec<f64> = l.split_whitespace().map(|n| n.parse().unwrap()).collect();
            (v[0], v[1])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_in_other_crss_and_boxes_given_in_them() {
    let (_dir, server) = demo_server(600).await;
    let parcels = server
        .app
        .index()
        .layer(&"parcels".parse().unwrap())
        .unwrap();
    let e = parcels.extent().unwrap();
    let (cx, cy) = ((e.min().x + e.max().x) / 2.0, (e.min().y + e.max().y) / 2.0);
    let (w, s, east, n) = (cx - 0.004, cy - 0.003, cx + 0.004, cy + 0.003);
    let (_, crs84) = server
        .get_json(&format!(
            "/collections/parcels/items?limit=10000&bbox={w},{s},{east},{n}"
        ))
        .await;
    let expected = page_ids(&crs84);
    assert!(expected.len() > 5);

    // The same box in EPSG:4326's axis order (latitude first) …
    let (status, lat_first) = server
        .get_json(&format!(
            "/collections/parcels/items?limit=10000&bbox={s},{w},{n},{east}&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326"
        ))
        .await;
    assert_eq!(status, 200, "{lat_first}");
    assert_eq!(page_ids(&lat_first), expected);
    // … and in Web Mercator metres, where a lon/lat box stays a box.
    let merc = |lon: f64, lat: f64| {
        let r = 6_378_137.0_f64;
        (
            r * lon.to_radians(),
            r * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
                .tan()
                .ln(),
        )
    };
    let ((mx1, my1), (mx2, my2)) = (merc(w, s), merc(east, n));
    let (status, mercator) = server
        .get_json(&format!(
            "/collections/parcels/items?limit=10000&bbox={mx1},{my1},{mx2},{my2}&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857"
        ))
        .await;
    assert_eq!(status, 200, "{mercator}");
    assert_eq!(page_ids(&mercator), expected);

    // Items in the city's metric CRS: where GDAL puts them, and said so.
    let r = server
        .client
        .get(server.url(
            "/collections/parcels/items?limit=20&crs=http://www.opengis.net/def/crs/EPSG/0/32639",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-crs"],
        "<http://www.opengis.net/def/crs/EPSG/0/32639>"
    );
    let utm: Value = r.json().await.unwrap();
    let (_, plain) = server.get_json("/collections/parcels/items?limit=20").await;
    let ring = |page: &Value, k: usize| -> Vec<(f64, f64)> {
        page["features"][k]["geometry"]["coordinates"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect()
    };
    for k in 0..20 {
        let by_gdal = gdaltransform_to_utm(&ring(&plain, k)).await;
        let ours = ring(&utm, k);
        assert_eq!(by_gdal.len(), ours.len());
        for (a, b) in by_gdal.iter().zip(&ours) {
            assert!(
                (a.0 - b.0).abs() < 0.01 && (a.1 - b.1).abs() < 0.01,
                "{a:?} vs {b:?}"
            );
        }
    }
    // EPSG:4326 answers latitude first.
    let (_, swapped) = server
        .get_json(
            "/collections/parcels/items?limit=1&crs=http://www.opengis.net/def/crs/EPSG/0/4326",
        )
        .await;
    let a = &plain["features"][0]["geometry"]["coordinates"][0][0];
    let b = &swapped["features"][0]["geometry"]["coordinates"][0][0];
    assert_eq!((a[0].clone(), a[1].clone()), (b[1].clone(), b[0].clone()));

    // The collection lists the CRSs; one not offered is refused.
    let (_, c) = server.get_json("/collections/parcels").await;
    assert_eq!(c["crs"].as_array().unwrap().len(), 4);
    for path in [
        "/collections/parcels/items?crs=http://www.opengis.net/def/crs/EPSG/0/2264",
        "/collections/parcels/items?crs=EPSG:4326",
        "/collections/parcels/items?bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857",
        "/collections/parcels/items?bbox=0,0,1,1&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/9999",
        "/collections/parcels/items/1?crs=nonsense",
        "/collections/parcels/items/1?limit=3",
    ] {
        let (s, b) = server.get_json(path).await;
        assert_eq!((s, b["error"].as_str()), (400, Some("invalid_parameter")), "{path}: {b}");
    }
    server.stop().await;
}

/// The Python that has OWSLib: `IMGIS_TEST_PYTHON` (scripts/test.sh makes a
/// virtual environment with it), else `python3`.
fn python() -> String {
    std::env::var("IMGIS_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owslib_reads_conformance_collections_and_items() {
    let (_dir, server) = demo_server(700).await;
    let parcels = server
        .app
        .index()
        .layer(&"parcels".parse().unwrap())
        .unwrap();
    let e = parcels.extent().unwrap();
    let (cx, cy) = ((e.min().x + e.max().x) / 2.0, (e.min().y + e.max().y) / 2.0);
    let bbox = Rect::new(
        coord! {x: cx - 0.003, y: cy - 0.002},
        coord! {x: cx + 0.003, y: cy + 0.002},
    );
    let mut in_index: Vec<i64> = parcels.intersecting(bbox).map(|f| f.id).collect();
    in_index.sort_unstable();
    assert!(!in_index.is_empty());
    let limit = 500;
    let args: Vec<String> = vec![
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/owslib/features.py").into(),
        server.url(""),
        "parcels".into(),
        bbox.min().x.to_string(),
        bbox.min().y.to_string(),
        bbox.max().x.to_string(),
        bbox.max().y.to_string(),
        limit.to_string(),
    ];
    let out = Command::new(python())
        .args(&args)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "OWSLib failed (scripts/test.sh installs it in a virtual environment): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    assert!(read["conformance"].as_array().unwrap().iter().any(|c| c
        .as_str()
        .unwrap()
        .ends_with("ogcapi-features-1/1.0/conf/core")));
    let public: BTreeSet<String> = server
        .app
        .index()
        .snapshot()
        .values()
        .filter(|l| l.layer().spec.public)
        .map(|l| l.code().to_string())
        .collect();
    let collections: BTreeSet<String> = read["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(collections, public);
    assert_eq!(read["collection_id"], "parcels");
    let ids: Vec<i64> = read["bbox_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(ids, in_index);
    assert_eq!(read["bbox_matched"], in_index.len());
    let first: Vec<i64> = read["first_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = parcels
        .features()
        .iter()
        .take(limit)
        .map(|f| f.id)
        .collect();
    assert_eq!(first, expected);
    assert_eq!(
        read["first_next"].as_array().unwrap().len(),
        1,
        "700 parcels: a second page"
    );
    server.stop().await;
}

#[tokio::test]
async fn cql2_filters_select_what_the_index_holds() {
    use geo::Intersects;
    let (_dir, server) = demo_server(900).await;
    let parcels = server
        .app
        .index()
        .layer(&"parcels".parse().unwrap())
        .unwrap();
    let get =
        |f: &imgis::model::Feature, k: &str| f.properties.get(k).cloned().unwrap_or(Value::Null);
    let ids_where = |keep: &dyn Fn(&imgis::model::Feature) -> bool| -> Vec<i64> {
        parcels
            .features()
            .iter()
            .filter(|f| keep(f))
            .map(|f| f.id)
            .collect()
    };
    let query = |filter: &str, extra: &str| {
        let q = serde_urlencoded::to_string([("filter", filter)]).unwrap();
        format!("/collections/parcels/items?limit=10000&{q}{extra}")
    };

    // Comparison and logic.
    let mut areas: Vec<f64> = parcels
        .features()
        .iter()
        .filter_map(|f| get(f, "area_m2").as_f64())
        .collect();
    areas.sort_by(f64::total_cmp);
    let median = areas[areas.len() / 2];
    let expected = ids_where(&|f| {
        get(f, "area_m2").as_f64().is_some_and(|a| a > median) && get(f, "ownership") != "private"
    });
    assert!(!expected.is_empty());
    let (status, page) = server
        .get_json(&query(
            &format!("area_m2 > {median} AND ownership <> 'private'"),
            "",
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_ids(&page), expected);
    assert_eq!(page["numberMatched"], expected.len());

    // A spatial predicate, with paging.
    let e = parcels.extent().unwrap();
    let (cx, cy) = ((e.min().x + e.max().x) / 2.0, (e.min().y + e.max().y) / 2.0);
    let triangle = geo_types::Polygon::new(
        geo_types::LineString::from(vec![
            (cx - 0.004, cy - 0.003),
            (cx + 0.004, cy - 0.003),
            (cx, cy + 0.003),
            (cx - 0.004, cy - 0.003),
        ]),
        vec![],
    );
    let wkt = format!(
        "POLYGON(({} {}, {} {}, {} {}, {} {}))",
        cx - 0.004,
        cy - 0.003,
        cx + 0.004,
        cy - 0.003,
        cx,
        cy + 0.003,
        cx - 0.004,
        cy - 0.003
    );
    let expected = ids_where(&|f| f.geometry.intersects(&triangle));
    assert!(expected.len() > 3);
    let (status, page) = server
        .get_json(&query(&format!("S_INTERSECTS(geometry, {wkt})"), ""))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_ids(&page), expected);
    let q = serde_urlencoded::to_string([("filter", format!("S_INTERSECTS(geometry, {wkt})"))])
        .unwrap();
    let (status, first) = server
        .get_json(&format!("/collections/parcels/items?limit=2&{q}"))
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(page_ids(&first), expected[..2]);
    assert_eq!(first["numberMatched"], expected.len());

    // CQL2 JSON.
    let json = format!(r#"{{"op": "<=", "args": [{{"property": "area_m2"}}, {median}]}}"#);
    let expected = ids_where(&|f| get(f, "area_m2").as_f64().is_some_and(|a| a <= median));
    let (status, page) = server
        .get_json(&query(&json, "&filter-lang=cql2-json"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_ids(&page), expected);

    // Bad filters: 400 JSON.
    for (filter, extra) in [
        ("area_m2 >>> 3", ""),
        ("colour = 'red'", ""),
        ("area_m2 > 3", "&filter-lang=sql"),
        (
            "area_m2 > 3",
            "&filter-crs=http://www.opengis.net/def/crs/EPSG/0/3857",
        ),
        ("S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 0)", ""),
    ] {
        let (s, b) = server.get_json(&query(filter, extra)).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_parameter")),
            "{filter}{extra}: {b}"
        );
    }
    let (s, _) = server
        .get_json("/collections/parcels/items?filter-lang=cql2-text")
        .await;
    assert_eq!(s, 400);
    let (_, conformance) = server.get_json("/conformance").await;
    assert!(conformance["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().ends_with("cql2/1.0/conf/cql2-text")));
    server.stop().await;
}

/// A request with a JSON body and a method; status and JSON answer (none for 204).
async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut r = server.client.request(method, server.url(path));
    if let Some(b) = body {
        r = r
            .header("content-type", "application/geo+json")
            .body(b.to_string());
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    )
}

#[tokio::test]
async fn features_are_created_replaced_patched_and_deleted() {
    use reqwest::Method;
    let (_dir, server) = demo_server(400).await;
    let code = "parcels".parse().unwrap();
    let version = |s: &TestServer| s.app.index().layer(&code).unwrap().layer().version;
    let v0 = version(&server);
    let square = |x: f64, y: f64| serde_json::json!({"type": "Polygon", "coordinates": [[[x, y], [x + 0.0005, y], [x + 0.0005, y + 0.0003], [x, y + 0.0003], [x, y]]]});
    let (x, y) = (49.2, 55.9);

    // Create a parcel.
    let body = serde_json::json!({"type": "Feature", "geometry": square(x, y), "properties": {
        "cadastral": "16:50:999001:1", "address": "г. Казань, ул. Новая, д. 1", "area_m2": 600}});
    let (status, created) = send(
        &server,
        Method::POST,
        "/collections/parcels/items",
        Some(&body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(version(&server), v0 + 1);
    let (status, got) = server
        .get_json(&format!("/collections/parcels/items/{id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["properties"]["address"], "г. Казань, ул. Новая, д. 1");
    let (status, _) = server.get_json("/parcels/16:50:999001:1").await;
    assert_eq!(status, 200, "the cadastral lookup knows the new parcel");
    let near = |x: f64, y: f64| {
        format!(
            "/collections/parcels/items?bbox={},{},{},{}",
            x - 0.0001,
            y - 0.0001,
            x + 0.0001,
            y + 0.0001
        )
    };
    let (_, found) = server.get_json(&near(x + 0.0002, y + 0.0001)).await;
    assert_eq!(page_ids(&found), [id]);

    // Replace it elsewhere: the index moves it.
    let moved = serde_json::json!({"type": "Feature", "geometry": square(x + 0.01, y), "properties": {
        "cadastral": "16:50:999001:1", "address": "г. Казань, ул. Новая, д. 3"}});
    let (status, replaced) = send(
        &server,
        Method::PUT,
        &format!("/collections/parcels/items/{id}"),
        Some(&moved),
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["id"], id);
    assert_eq!(version(&server), v0 + 2);
    let (_, old_place) = server.get_json(&near(x + 0.0002, y + 0.0001)).await;
    assert!(page_ids(&old_place).is_empty());
    let (_, new_place) = server.get_json(&near(x + 0.0102, y + 0.0001)).await;
    assert_eq!(page_ids(&new_place), [id]);
    assert!(
        replaced["properties"].get("area_m2").is_none(),
        "PUT replaces the properties"
    );

    // Patch: merged properties, null removes, geometry kept.
    let (status, patched) = send(
        &server,
        Method::PATCH,
        &format!("/collections/parcels/items/{id}"),
        Some(&serde_json::json!({"properties": {"ownership": "municipal", "address": null}})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["properties"]["ownership"], "municipal");
    assert!(patched["properties"].get("address").is_none());
    assert_eq!(patched["properties"]["cadastral"], "16:50:999001:1");
    assert_eq!(patched["geometry"], replaced["geometry"]);

    // Refusals change nothing.
    let before = version(&server);
    let bowtie = serde_json::json!({"type": "Polygon", "coordinates": [[[x, y], [x + 0.001, y + 0.001], [x + 0.001, y], [x, y + 0.001], [x, y]]]});
    let other = server.app.index().layer(&code).unwrap().features()[0].clone();
    let cases: Vec<(Method, String, Value, u16, &str)> = vec![
        (
            Method::POST,
            "/collections/parcels/items".into(),
            serde_json::json!({"type": "Feature", "geometry": bowtie, "properties": {"cadastral": "16:50:999001:2"}}),
            400,
            "invalid_geometry",
        ),
        (
            Method::POST,
            "/collections/parcels/items".into(),
            serde_json::json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": {"cadastral": "16:50:999001:2"}}),
            400,
            "invalid_geometry",
        ),
        (
            Method::POST,
            "/collections/parcels/items".into(),
            serde_json::json!({"type": "Feature", "geometry": square(x, y), "properties": {}}),
            400,
            "invalid_parameter",
        ),
        (
            Method::POST,
            "/collections/parcels/items".into(),
            serde_json::json!({"type": "Feature", "geometry": square(x, y), "properties": {"cadastral": "16-50"}}),
            400,
            "malformed_cadastral_number",
        ),
        (
            Method::POST,
            "/collections/parcels/items".into(),
            serde_json::json!({"type": "Feature", "geometry": square(x, y), "properties": {"cadastral": other.cadastral.as_ref().unwrap().to_string()}}),
            409,
            "duplicate_cadastral",
        ),
        (
            Method::POST,
            "/collections/parcels/items".into(),
            serde_json::json!({"type": "Feature", "geometry": square(500.0, y), "properties": {"cadastral": "16:50:999001:2"}}),
            400,
            "invalid_geometry",
        ),
        (
            Method::POST,
            "/collections/parcels/items".into(),
            serde_json::json!({"geometry": square(x, y)}),
            400,
            "invalid_json",
        ),
        (
            Method::POST,
            "/collections/nowhere/items".into(),
            body.clone(),
            404,
            "unknown_layer",
        ),
        (
            Method::PUT,
            "/collections/parcels/items/999999999".into(),
            moved.clone(),
            404,
            "unknown_feature",
        ),
        (
            Method::PUT,
            format!("/collections/parcels/items/{id}"),
            serde_json::json!({"type": "Feature", "id": id + 1, "geometry": square(x, y), "properties": {"cadastral": "16:50:999001:1"}}),
            400,
            "invalid_parameter",
        ),
        (
            Method::PATCH,
            format!("/collections/parcels/items/{id}"),
            serde_json::json!({"colour": "red"}),
            400,
            "invalid_json",
        ),
        (
            Method::DELETE,
            "/collections/parcels/items/999999999".into(),
            Value::Null,
            404,
            "unknown_feature",
        ),
    ];
    for (method, path, body, status, code) in &cases {
        let body = (!body.is_null()).then_some(body);
        let (s, b) = send(&server, method.clone(), path, body).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (*status, Some(*code)),
            "{method} {path}: {b}"
        );
    }
    let (s, b) = send(&server, Method::POST, "/collections/parcels/items", None).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        version(&server),
        before,
        "no refused write changed the layer"
    );

    // The derived zones are not edited by hand; a new gas pipe makes its zone.
    let zones = "utility_protection_zones".parse().unwrap();
    let zone_id = server.app.index().layer(&zones).unwrap().features()[0].id;
    let (s, b) = send(
        &server,
        Method::DELETE,
        &format!("/collections/utility_protection_zones/items/{zone_id}"),
        None,
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (409, Some("derived_layer")),
        "{b}"
    );
    let pipe = serde_json::json!({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[x, y], [x + 0.002, y]]},
        "properties": {"network": "gas", "pressure": "low", "material": "steel", "diameter_mm": 110}});
    let (s, new_pipe) = send(&server, Method::POST, "/collections/gas/items", Some(&pipe)).await;
    assert_eq!(s, 201, "{new_pipe}");
    let pipe_id = new_pipe["id"].as_i64().unwrap();
    let derived: Vec<i64> = server
        .app
        .index()
        .layer(&zones)
        .unwrap()
        .features()
        .iter()
        .filter(|z| {
            z.properties.get("source_layer") == Some(&serde_json::json!("gas"))
                && z.properties.get("source_feature") == Some(&serde_json::json!(pipe_id))
        })
        .map(|z| z.id)
        .collect();
    assert_eq!(derived.len(), 1, "the new pipe has its protection zone");

    // Delete the parcel.
    let (s, _) = send(
        &server,
        Method::DELETE,
        &format!("/collections/parcels/items/{id}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = server
        .get_json(&format!("/collections/parcels/items/{id}"))
        .await;
    assert_eq!(s, 404);
    let (s, _) = server.get_json("/parcels/16:50:999001:1").await;
    assert_eq!(s, 404);
    assert_eq!(version(&server), before + 1);
    server.stop().await;
}
