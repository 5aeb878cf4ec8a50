//! Request limits (issue 7) against real servers over the demo city in a real
//! PostGIS (`DATABASE_URL`), each limit configured small:
//! - a body over `max_body_kb` (whole or chunked) is 413 `body_too_large`, JSON;
//! - an import of more features than `max_import_features` is 413
//!   `too_many_features` over HTTP and an error of `imgis import`, and the
//!   layer stays as it was;
//! - `limit` is lowered to `max_items_limit` on items pages, refused above it
//!   on `/applications`; bad bboxes are 400;
//! - a composite tile of more than `max_tile_layers` layers is 400;
//! - a request not answered within `request_timeout_s` is 503 `timeout`;
//!   imports are exempt and have `import_timeout_s`;
//! - with every import permit taken, one more import is 429 at once; with
//!   every heavy permit taken, expensive reads wait `queue_timeout_ms` then
//!   get 429 (a cached tile and cheap reads do not wait), and a read that
//!   waits gets its turn when a permit is freed.
//!
//! Slow and stalled bodies are written by hand on a TCP connection: reqwest
//! sends bodies whole. Nothing here asserts how long anything took.

use std::time::Duration;

use imgis::config::Config;
use imgis::store::{DynStore, Store};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::server::{test_config, TestServer};
use crate::common::tile_of;

/// The demo city of a few hundred parcels in a fresh PostGIS database.
async fn demo_store() -> DynStore {
    crate::common::postgis_demo(300, 42).await
}

/// A server over `store` with the test config changed by `set`.
async fn server_with(store: &DynStore, set: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = test_config();
    set(&mut config);
    TestServer::start_with(config, store.clone()).await
}

async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("reading the answer");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the answer ({status}) is not JSON ({e}): {text}"));
    (status, body)
}

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

/// A FeatureCollection of `n` points in the demo city, EPSG:4326 lon/lat.
fn points(n: usize) -> Vec<u8> {
    let features: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "type": "Feature",
                "properties": { "n": i },
                "geometry": { "type": "Point", "coordinates": [49.10 + i as f64 * 1e-4, 55.79] },
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "type": "FeatureCollection", "features": features })).expect("JSON")
}

/// POSTs `bytes` to the import of layer `code` as a GeoJSON file.
async fn import(server: &TestServer, code: &str, query: &str, bytes: Vec<u8>) -> (u16, Value) {
    let r = server
        .client
        .post(server.url(&format!(
            "/layers/{code}/import?filename=points.geojson{query}"
        )))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("the upload reaches the server");
    answer(r).await
}

/// A layer's (version, feature count) in the store, `None` when it does not exist.
async fn stored(store: &DynStore, code: &str) -> Option<(i64, i64)> {
    store
        .layer(&code.parse().expect("a layer code"))
        .await
        .expect("reading the layer")
        .map(|l| (l.version, l.feature_count))
}

/// A layer's (version, feature count) as the server answers it, `None` for 404.
async fn served(server: &TestServer, code: &str) -> Option<(i64, i64)> {
    let (status, body) = server.get_json(&format!("/layers/{code}")).await;
    match status {
        404 => None,
        200 => Some((
            body["version"].as_i64().expect("a version"),
            body["feature_count"].as_i64().expect("a count"),
        )),
        other => panic!("GET /layers/{code}: {other} {body}"),
    }
}

/// A square plot of `side` degrees at (lon, lat) as a GeoJSON Polygon with
/// `vertices` points along its edges, EPSG:4326.
fn square(lon: f64, lat: f64, side: f64, vertices: usize) -> Value {
    let per_edge = (vertices / 4).max(1);
    let corners = [
        (lon, lat),
        (lon + side, lat),
        (lon + side, lat + side),
        (lon, lat + side),
    ];
    let mut ring = Vec::new();
    for k in 0..4 {
        let (x0, y0) = corners[k];
        let (x1, y1) = corners[(k + 1) % 4];
        for i in 0..per_edge {
            let t = i as f64 / per_edge as f64;
            ring.push(json!([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t]));
        }
    }
    ring.push(ring[0].clone());
    json!({ "type": "Polygon", "coordinates": [ring] })
}

// ====== Requests written by hand ======

/// An HTTP/1.1 request on its own connection, its body sent when the test
/// says: in parts, or never.
struct Raw(TcpStream);

impl Raw {
    /// Sends the request line, `headers` and the first part of the body.
    async fn start(
        server: &TestServer,
        request_line: &str,
        headers: &[(&str, String)],
        body_start: &[u8],
    ) -> Self {
        // As the server's `client`, the city's administrator.
        let mut head = format!(
            "{request_line} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\n",
            server.addr, server.admin_token
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = TcpStream::connect(server.addr)
            .await
            .expect("connecting to the server");
        stream.write_all(head.as_bytes()).await.expect("writing");
        stream.write_all(body_start).await.expect("writing");
        stream.flush().await.expect("flushing");
        Self(stream)
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).await.expect("writing");
        self.0.flush().await.expect("flushing");
    }

    /// The answer: status, `Retry-After` and the JSON body (read up to its
    /// Content-Length).
    async fn answer(mut self) -> (u16, Option<String>, Value) {
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.0.read(&mut buf).await.expect("reading the answer");
            assert!(n > 0, "the connection closed before an answer");
            data.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&data[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let header = |name: &str| {
            head.split("\r\n").skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .expect("a Content-Length");
        while data.len() < head_end + length {
            let n = self.0.read(&mut buf).await.expect("reading the answer");
            assert!(n > 0, "the connection closed inside the answer");
            data.extend_from_slice(&buf[..n]);
        }
        let body = &data[head_end..head_end + length];
        let body = serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!(
                "the answer ({status}) is not JSON ({e}): {}",
                String::from_utf8_lossy(body)
            )
        });
        (status, header("retry-after"), body)
    }
}

/// Waits until `check` holds: a condition the server reaches by itself soon.
async fn until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within 10 s");
}

// ====== Sizes ======

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_over_max_body_kb_are_refused_as_json() {
    let store = demo_store().await;
    let server = server_with(&store, |c| c.limits.max_body_bytes = 4 * 1024).await;
    let before = served(&server, "parcels").await.expect("the demo parcels");

    // A plot of 40 vertices fits in 4 KB; one of 400 does not.
    let small = json!({ "geometry": square(49.10, 55.79, 0.001, 40) });
    assert!(serde_json::to_vec(&small).unwrap().len() < 4 * 1024);
    let (status, body) = server.post_json("/constraints", &small).await;
    assert_eq!(status, 200, "{body}");
    let big = json!({ "geometry": square(49.10, 55.79, 0.001, 400) });
    assert!(serde_json::to_vec(&big).unwrap().len() > 4 * 1024);
    let (status, body) = server.post_json("/constraints", &big).await;
    assert_error(status, &body, 413, "body_too_large", &["max_body_kb"]);

    // A feature too big to read is not added.
    let feature = json!({
        "type": "Feature",
        "geometry": square(49.2, 55.79, 0.0005, 8),
        "properties": { "cadastral": "16:50:999999:1", "note": "x".repeat(5_000) },
    });
    let (status, body) = server
        .post_json("/collections/parcels/items", &feature)
        .await;
    assert_error(status, &body, 413, "body_too_large", &[]);
    assert_eq!(served(&server, "parcels").await, Some(before));
    assert_eq!(stored(&store, "parcels").await, Some(before));

    // A chunked body, whose size no header tells, is cut at the limit too.
    let text = serde_json::to_vec(&big).unwrap();
    let mut chunked = Vec::new();
    for part in text.chunks(1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let raw = Raw::start(
        &server,
        "POST /constraints",
        &[
            ("Content-Type", "application/json".into()),
            ("Transfer-Encoding", "chunked".into()),
        ],
        &chunked,
    )
    .await;
    let (status, _, body) = raw.answer().await;
    assert_error(status, &body, 413, "body_too_large", &[]);

    // Malformed JSON under the limit is still a 400.
    let r = server
        .client
        .post(server.url("/constraints"))
        .header("content-type", "application/json")
        .body("{\"geometry\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = answer(r).await;
    assert_error(status, &body, 400, "invalid_json", &[]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imports_over_max_import_features_change_nothing() {
    let store = demo_store().await;
    let server = server_with(&store, |c| c.limits.max_import_features = 10).await;

    // Exactly the limit imports.
    let (status, report) = import(&server, "points", "", points(10)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 10);
    let before = served(&server, "points").await.expect("imported");
    assert_eq!(before.1, 10);

    // One more replaces nothing, dry run or not; appending neither.
    for query in ["", "&dry_run=true", "&mode=append"] {
        let (status, body) = import(&server, "points", query, points(11)).await;
        assert_error(
            status,
            &body,
            413,
            "too_many_features",
            &["more than 10 features", "max_import_features"],
        );
        assert_eq!(served(&server, "points").await, Some(before), "{query}");
        assert_eq!(stored(&store, "points").await, Some(before), "{query}");
    }
    // A new layer is not made; a FlatGeobuf says its count up front (179 countries).
    let countries = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/import/countries.fgb"),
    )
    .expect("the fixture");
    for (code, bytes, name) in [
        ("many_points", points(5_000), "points.geojson"),
        ("countries", countries, "countries.fgb"),
    ] {
        let r = server
            .client
            .post(server.url(&format!(
                "/layers/{code}/import?filename={name}&invalid=skip"
            )))
            .body(bytes)
            .send()
            .await
            .unwrap();
        let (status, body) = answer(r).await;
        assert_error(status, &body, 413, "too_many_features", &[]);
        assert_eq!(served(&server, code).await, None);
        assert_eq!(stored(&store, code).await, None);
    }
    server.stop().await;
}

/// `imgis import` refuses the file with a non-zero exit; the limit comes from
/// the flag or `IMGIS_MAX_IMPORT_FEATURES`.
#[tokio::test]
async fn the_cli_refuses_a_file_over_max_import_features() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("points.geojson");
    std::fs::write(&file, points(12)).unwrap();
    let gpkg = dir.path().join("store.gpkg");
    let run = |limit_flag: Option<&str>, limit_env: Option<&str>| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_imgis"));
        cmd.arg("import")
            .arg(&file)
            .args(["--layer", "points", "--quiet", "--gpkg"])
            .arg(&gpkg)
            .env_remove("IMGIS_MAX_IMPORT_FEATURES")
            .env_remove("IMGIS_CONFIG")
            .env_remove("IMGIS_DATABASE");
        if let Some(n) = limit_flag {
            cmd.args(["--max-import-features", n]);
        }
        if let Some(n) = limit_env {
            cmd.env("IMGIS_MAX_IMPORT_FEATURES", n);
        }
        cmd.output()
    };
    for (flag, env) in [
        (Some("11"), None),
        (None, Some("5")),
        (Some("11"), Some("100")),
    ] {
        let out = run(flag, env).await.expect("running imgis");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag:?} {env:?}: {stderr}");
        assert!(
            stderr.contains("more than") && stderr.contains("max_import_features"),
            "{stderr}"
        );
    }
    let count = || async {
        let store = imgis::store::gpkg::GpkgStore::open(&gpkg).await.unwrap();
        store
            .layer(&"points".parse().unwrap())
            .await
            .unwrap()
            .map(|l| l.feature_count)
    };
    assert_eq!(count().await, None, "nothing was imported");
    let out = run(None, Some("12")).await.expect("running imgis");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count().await, Some(12));
}

// ====== Pages, boxes and tiles ======

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_are_capped_at_max_items_limit_and_bad_boxes_refused() {
    let store = demo_store().await;
    let server = server_with(&store, |c| c.limits.max_items_limit = 7).await;
    for query in ["limit=999999", "", "limit=7"] {
        let (status, page) = server
            .get_json(&format!("/collections/parcels/items?{query}"))
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["numberReturned"], 7, "{query}");
        assert_eq!(page["features"].as_array().unwrap().len(), 7);
        let next = page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .expect("a next page");
        assert!(next["href"].as_str().unwrap().contains("limit=7"), "{next}");
    }
    let (status, page) = server.get_json("/collections/parcels/items?limit=3").await;
    assert_eq!((status, page["numberReturned"].as_u64()), (200, Some(3)));

    let (status, body) = server.get_json("/applications?limit=7").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.get_json("/applications?limit=8").await;
    assert_error(status, &body, 400, "invalid_parameter", &["0 to 7"]);

    for bbox in [
        "49.0,55.7,200,55.9",
        "49.0,-95,49.2,55.9",
        "49.2,55.7,49.0,55.9",
        "49.0,55.9,49.2,55.7",
        "49.0,55.7,49.2",
        "a,b,c,d",
    ] {
        let (status, body) = server
            .get_json(&format!("/collections/parcels/items?bbox={bbox}"))
            .await;
        assert_error(status, &body, 400, "invalid_parameter", &["bbox"]);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn composite_tiles_over_max_tile_layers_are_refused() {
    let store = demo_store().await;
    let server = server_with(&store, |c| c.limits.max_tile_layers = 2).await;
    let (_, layers) = server.get_json("/layers").await;
    let codes: Vec<String> = layers["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["public"] == true)
        .map(|l| l["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(codes.len() >= 3, "{codes:?}");
    let two = codes[..2].join(",");
    let three = codes[..3].join(",");
    let r = server
        .client
        .get(server.url(&format!("/tiles/{two}/10/650/320.mvt")))
        .send()
        .await
        .unwrap();
    assert!([200, 204].contains(&r.status().as_u16()), "{}", r.status());
    for path in [
        format!("/tiles/{three}/10/650/320.mvt"),
        format!("/tiles/{three}.json"),
    ] {
        let (status, body) = server.get_json(&path).await;
        assert_error(
            status,
            &body,
            400,
            "invalid_tile",
            &["at most 2 layers", "max_tile_layers"],
        );
    }
    server.stop().await;
}

// ====== Time ======

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_not_answered_in_time_get_a_json_503() {
    let store = demo_store().await;
    let server = server_with(&store, |c| {
        c.limits.request_timeout = Duration::from_millis(700);
        c.limits.import_timeout = Duration::from_millis(700);
    })
    .await;
    // A body that never comes: the answer cannot be made, only refused.
    let raw = Raw::start(
        &server,
        "POST /constraints",
        &[
            ("Content-Type", "application/json".into()),
            ("Content-Length", "1000".into()),
        ],
        b"{\"geometry\": ",
    )
    .await;
    let (status, retry_after, body) = raw.answer().await;
    assert_error(
        status,
        &body,
        503,
        "timeout",
        &["700 ms", "request_timeout_s"],
    );
    assert!(retry_after.is_some(), "Retry-After");

    // An import stalled in its upload runs out of import_timeout_s, and
    // nothing is made.
    let raw = Raw::start(
        &server,
        "POST /layers/stalled/import?filename=points.geojson",
        &[("Content-Length", "100000".into())],
        &points(3)[..20],
    )
    .await;
    let (status, _, body) = raw.answer().await;
    assert_error(status, &body, 503, "timeout", &["import_timeout_s"]);
    assert_eq!(stored(&store, "stalled").await, None);
    assert_eq!(served(&server, "stalled").await, None);

    // Requests answered in time are not touched.
    let (status, body) = server.get_json("/layers").await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

// ====== Concurrency ======

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_import_too_many_is_refused_at_once() {
    let store = demo_store().await;
    let server = server_with(&store, |c| {
        c.limits.max_concurrent_imports = 1;
        // Imports are exempt from the request time limit: the first one
        // below outlasts it.
        c.limits.request_timeout = Duration::from_millis(300);
    })
    .await;
    let permits = server.app.import_permits().clone();
    let file = points(20);
    let (first_half, second_half) = file.split_at(file.len() / 2);
    let mut slow = Raw::start(
        &server,
        "POST /layers/slow/import?filename=points.geojson",
        &[
            ("Content-Type", "application/octet-stream".into()),
            ("Content-Length", file.len().to_string()),
        ],
        first_half,
    )
    .await;
    until("the first import taking its permit", || {
        permits.available_permits() == 0
    })
    .await;

    let r = server
        .client
        .post(server.url("/layers/second/import?filename=points.geojson"))
        .body(points(3))
        .send()
        .await
        .unwrap();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = answer(r).await;
    assert_error(
        status,
        &body,
        429,
        "too_many_requests",
        &["max_concurrent_imports"],
    );
    assert_eq!(retry_after.as_deref(), Some("30"));
    assert_eq!(stored(&store, "second").await, None);
    assert_eq!(stored(&store, "slow").await, None);

    // The first import goes on past the request time limit and finishes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    slow.send(second_half).await;
    let (status, _, report) = slow.answer().await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 20);
    assert_eq!(stored(&store, "slow").await.map(|s| s.1), Some(20));
    until("the permit coming back", || {
        permits.available_permits() == 1
    })
    .await;
    let (status, body) = import(&server, "second", "", points(3)).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expensive_reads_wait_their_turn_then_get_429() {
    let store = demo_store().await;
    let server = server_with(&store, |c| {
        c.limits.max_concurrent_heavy = 1;
        c.limits.queue_timeout = Duration::from_millis(200);
    })
    .await;
    let (_, page) = server.get_json("/collections/parcels/items?limit=1").await;
    let parcel = &page["features"][0];
    let cadastral = parcel["properties"]["cadastral"]
        .as_str()
        .unwrap()
        .to_owned();
    // The first vertex of a Polygon or MultiPolygon.
    let mut corner = &parcel["geometry"]["coordinates"];
    while corner[0].is_array() {
        corner = &corner[0];
    }
    let (lon, lat) = (corner[0].as_f64().unwrap(), corner[1].as_f64().unwrap());
    let (_, catalog) = server.get_json("/catalog").await;
    let service = catalog["services"][0]["code"].as_str().unwrap().to_owned();
    let (z, x, y) = tile_of(lon, lat, 16);
    let cached_tile = format!("/tiles/parcels/{z}/{x}/{y}.mvt");
    let cold_tile = format!("/tiles/parcels/{z}/{}/{y}.mvt", x + 1);
    let r = server
        .client
        .get(server.url(&cached_tile))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, applications) = server.get_json("/applications").await;
    let registered = applications["returned"].clone();

    // Every permit taken (by the test, as a burst of requests would).
    let held = server
        .app
        .heavy_permits()
        .clone()
        .acquire_owned()
        .await
        .unwrap();
    let plot = square(lon, lat, 0.0005, 8);
    let route = json!({ "service": service, "geometry": plot });
    let mut application = route.clone();
    application["applicant"] = json!({ "name": "Test Applicant" });
    let refused: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/collections/parcels/items".into(), None),
        ("GET", format!("/parcels/{cadastral}/constraints"), None),
        (
            "POST",
            "/constraints".into(),
            Some(json!({ "geometry": plot })),
        ),
        ("GET", format!("/identify?lon={lon}&lat={lat}"), None),
        ("GET", format!("/nearest?lon={lon}&lat={lat}"), None),
        ("POST", "/route".into(), Some(route.clone())),
        ("POST", "/applications".into(), Some(application)),
        ("GET", cold_tile.clone(), None),
    ];
    let answers = futures::future::join_all(refused.iter().map(|(method, path, body)| {
        let request = match body {
            Some(b) => server.client.post(server.url(path)).json(b),
            None if *method == "GET" => server.client.get(server.url(path)),
            None => unreachable!(),
        };
        async move {
            let r = request.send().await.unwrap();
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let (status, body) = answer(r).await;
            (status, retry_after, body)
        }
    }))
    .await;
    for ((method, path, _), (status, retry_after, body)) in refused.iter().zip(answers) {
        assert_eq!(
            (status, body["error"].as_str()),
            (429, Some("too_many_requests")),
            "{method} {path}: {body}"
        );
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("max_concurrent_heavy"));
        assert_eq!(retry_after.as_deref(), Some("1"), "{method} {path}");
    }
    // Nothing was registered; a cached tile and cheap reads do not wait.
    let (_, applications) = server.get_json("/applications").await;
    assert_eq!(applications["returned"], registered);
    let r = server
        .client
        .get(server.url(&cached_tile))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-tile-cache"], "hit");
    for path in ["/layers", "/collections/parcels", "/catalog"] {
        let (status, body) = server.get_json(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    // A permit freed: the reads get their turn.
    drop(held);
    let (status, body) = server.post_json("/route", &route).await;
    assert_eq!(status, 200, "{body}");
    let r = server
        .client
        .get(server.url(&cold_tile))
        .send()
        .await
        .unwrap();
    assert!([200, 204].contains(&r.status().as_u16()));

    // A read that finds every permit taken waits for one (here up to a minute).
    let patient = server_with(&store, |c| {
        c.limits.max_concurrent_heavy = 1;
        c.limits.queue_timeout = Duration::from_secs(60);
    })
    .await;
    let held = patient
        .app
        .heavy_permits()
        .clone()
        .acquire_owned()
        .await
        .unwrap();
    let waiting = tokio::spawn({
        let request = patient
            .client
            .get(patient.url("/collections/parcels/items?limit=2"));
        async move { answer(request.send().await.unwrap()).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the read waits for its turn");
    drop(held);
    let (status, page) = waiting.await.unwrap();
    assert_eq!((status, page["numberReturned"].as_u64()), (200, Some(2)));
    patient.stop().await;
    server.stop().await;
}
