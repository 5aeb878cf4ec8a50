//! Observability against a real server on 127.0.0.1 over a demo city in a real
//! GeoPackage: `GET /metrics` parsed line by line after known requests
//! (request counters by route template and status, latency histograms, tile
//! cache hits and misses, each layer's features as the store counts them,
//! imports, the pool, the store), in Prometheus text and OpenMetrics; no
//! label holding a request's path; `x-request-id` kept, made and answered;
//! and the `imgis` binary's JSON logs carrying the request's span without its
//! query string.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imgis::store::DynStore;
use serde_json::Value;

use crate::common::server::TestServer;
use crate::common::tile_of;

/// The demo city's centre (the Kremlin), lon/lat degrees.
const CENTRE: (f64, f64) = (49.1056, 55.7989);
/// The route template of the XYZ tiles, as the router has it (the handler
/// takes `.mvt` off `{y}`).
const TILE_ROUTE: &str = "/tiles/{layers}/{z}/{x}/{y}";
/// An application id the test asks for; it must not show up in any label.
const APPLICATION_ID: &str = "987654321";

/// One sample line: `name{label="value",…} value`.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the sample lines of a Prometheus or OpenMetrics text exposition
/// (comment lines are skipped; label values unescaped).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| parse_line(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or("no value after the metric name")?;
    let name = line[..name_end].to_owned();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        loop {
            let mut key = String::new();
            loop {
                match chars.next() {
                    Some((_, '=')) => break,
                    Some((_, c)) => key.push(c),
                    None => return Err("unterminated label name".into()),
                }
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key} has no quoted value"));
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(c) => value.push(c),
                        None => return Err("dangling escape".into()),
                    },
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            }
            if labels.insert(key.clone(), value).is_some() {
                return Err(format!("label {key} twice"));
            }
            match chars.next() {
                Some((_, ',')) => {}
                Some((i, '}')) => {
                    rest = &inner[i + 1..];
                    break;
                }
                other => return Err(format!("expected , or }} after a label, got {other:?}")),
            }
        }
    }
    let value = rest
        .trim()
        .split(' ')
        .next()
        .ok_or("no value")?
        .parse::<f64>()
        .map_err(|e| format!("value: {e}"))?;
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// The one sample of `name` with exactly these labels (and no others).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name && s.labels == want)
        .collect();
    assert!(
        found.len() <= 1,
        "{name}{labels:?} appears {} times",
        found.len()
    );
    found.first().map(|s| s.value)
}

fn must(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    value(samples, name, labels).unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

async fn demo_server() -> (tempfile::TempDir, TestServer) {
    let (dir, store) = crate::common::gpkg_demo(300, 11).await;
    (dir, TestServer::start(store).await)
}

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(path))
        .send()
        .await
        .expect("request reaches the server")
}

/// Scrapes `/metrics` (Prometheus text) and parses it; also checks that
/// every sample belongs to a family declared by a `# TYPE` line before it.
async fn scrape(server: &TestServer) -> (String, Vec<Sample>) {
    let r = get(server, "/metrics").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    let mut declared = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(
                declared.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{name} declared twice"
            );
        } else if !line.starts_with('#') {
            let sample = parse_line(line).unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    sample
                        .name
                        .strip_suffix(suffix)
                        .filter(|f| declared.get(*f).map(String::as_str) == Some("histogram"))
                })
                .unwrap_or(&sample.name);
            assert!(
                declared.contains_key(family),
                "{} has no # TYPE before it",
                sample.name
            );
        }
    }
    assert!(!text.contains("# EOF"), "not in Prometheus text 0.0.4");
    let samples = parse(&text);
    (text, samples)
}

#[tokio::test]
async fn metrics_count_requests_tiles_layers_imports_and_the_store() {
    let (_dir, server) = demo_server().await;
    let tile_path = {
        let (_, x, y) = tile_of(CENTRE.0, CENTRE.1, 15);
        format!("/tiles/parcels/15/{x}/{y}.mvt")
    };

    // Before any request: nothing counted, every import outcome at 0.
    let (_, before) = scrape(&server).await;
    assert_eq!(
        value(
            &before,
            "imgis_http_requests_total",
            &[("method", "GET"), ("route", TILE_ROUTE), ("status", "200")]
        ),
        None
    );
    for outcome in ["imported", "checked", "rejected", "failed"] {
        assert_eq!(
            must(&before, "imgis_imports_total", &[("outcome", outcome)]),
            0.0,
            "{outcome}"
        );
    }
    assert_eq!(must(&before, "imgis_tile_cache_hits_total", &[]), 0.0);

    // A tile twice: rendered, then from the cache.
    for expected in ["miss", "hit"] {
        let r = get(&server, &tile_path).await;
        assert_eq!(r.status(), 200, "{tile_path}");
        assert_eq!(r.headers()["x-tile-cache"], expected);
        assert!(!r.bytes().await.unwrap().is_empty());
    }
    // No route; a parcel found and one not found; an application not found.
    assert_eq!(get(&server, "/no/such/thing").await.status(), 404);
    let cadastral = server
        .app
        .index()
        .snapshot()
        .get(&"parcels".parse().unwrap())
        .and_then(|l| l.features().iter().find_map(|f| f.cadastral.clone()))
        .expect("a demo parcel")
        .to_string();
    assert_eq!(
        get(&server, &format!("/parcels/{cadastral}"))
            .await
            .status(),
        200
    );
    assert_eq!(get(&server, "/parcels/16:50:999999:1").await.status(), 404);
    let app_status = get(&server, &format!("/applications/{APPLICATION_ID}"))
        .await
        .status()
        .as_u16();
    assert!(app_status >= 400, "{app_status}");
    // A page of features.
    assert_eq!(
        get(&server, "/collections/parcels/items?limit=5")
            .await
            .status(),
        200
    );
    // An import of a new layer over HTTP.
    let geojson = r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"name":"a"},"geometry":{"type":"Point","coordinates":[49.11,55.79]}},
        {"type":"Feature","properties":{"name":"b"},"geometry":{"type":"Point","coordinates":[49.12,55.80]}}]}"#;
    let r = server
        .client
        .post(server.url("/layers/metrics_points/import?filename=points.geojson"))
        .header("content-type", "application/octet-stream")
        .body(geojson)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let (text, after) = scrape(&server).await;
    let requests = |route: &str, status: &str| {
        value(
            &after,
            "imgis_http_requests_total",
            &[("method", "GET"), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests(TILE_ROUTE, "200"), Some(2.0), "{text}");
    assert_eq!(requests("unmatched", "404"), Some(1.0));
    assert_eq!(requests("/parcels/{cadastral}", "200"), Some(1.0));
    assert_eq!(requests("/parcels/{cadastral}", "404"), Some(1.0));
    assert_eq!(
        requests("/applications/{id}", &app_status.to_string()),
        Some(1.0)
    );
    assert_eq!(requests("/collections/{layer}/items", "200"), Some(1.0));
    assert_eq!(
        value(
            &after,
            "imgis_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/layers/{code}/import"),
                ("status", "200")
            ]
        ),
        Some(1.0)
    );
    // The first scrape was counted too, once it was answered.
    assert_eq!(requests("/metrics", "200"), Some(1.0));

    // Latency: as many observations as requests, every one under +Inf, and
    // the buckets cumulative.
    let tile_route = [("method", "GET"), ("route", TILE_ROUTE)];
    assert_eq!(
        must(
            &after,
            "imgis_http_request_duration_seconds_count",
            &tile_route
        ),
        2.0
    );
    assert!(
        must(
            &after,
            "imgis_http_request_duration_seconds_sum",
            &tile_route
        ) > 0.0
    );
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter(|s| {
            s.name == "imgis_http_request_duration_seconds_bucket"
                && s.labels["route"] == TILE_ROUTE
                && s.labels["method"] == "GET"
        })
        .map(|s| {
            let le = &s.labels["le"];
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, s.value)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(buckets.first().unwrap().0, 0.0005);
    assert_eq!(buckets[buckets.len() - 2].0, 30.0);
    assert_eq!(*buckets.last().unwrap(), (f64::INFINITY, 2.0));
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    // Only this scrape is in flight.
    assert_eq!(must(&after, "imgis_http_requests_in_flight", &[]), 1.0);

    // The tile cache: one miss, one hit, the tile held.
    assert_eq!(must(&after, "imgis_tile_cache_misses_total", &[]), 1.0);
    assert_eq!(must(&after, "imgis_tile_cache_hits_total", &[]), 1.0);
    assert_eq!(must(&after, "imgis_tile_cache_entries", &[]), 1.0);
    assert!(must(&after, "imgis_tile_cache_bytes", &[]) > 0.0);
    assert!(
        must(&after, "imgis_tile_cache_bytes", &[])
            <= must(&after, "imgis_tile_cache_capacity_bytes", &[])
    );

    // Every layer's features and version as the store has them.
    let stored = server.app.store().layers().await.unwrap();
    assert!(stored.iter().any(|l| l.code().as_str() == "metrics_points"));
    for layer in &stored {
        let code = layer.code().as_str();
        assert_eq!(
            must(&after, "imgis_index_features", &[("layer", code)]),
            layer.feature_count as f64,
            "{code}"
        );
        assert_eq!(
            must(&after, "imgis_index_layer_version", &[("layer", code)]),
            layer.version as f64,
            "{code}"
        );
    }
    assert_eq!(
        must(
            &after,
            "imgis_index_features",
            &[("layer", "metrics_points")]
        ),
        2.0
    );
    let layers_seen: BTreeSet<&str> = after
        .iter()
        .filter(|s| s.name == "imgis_index_features")
        .map(|s| s.labels["layer"].as_str())
        .collect();
    assert_eq!(layers_seen.len(), stored.len());
    assert!(must(&after, "imgis_index_memory_bytes", &[]) > 0.0);

    // The import, and nothing else.
    assert_eq!(
        must(&after, "imgis_imports_total", &[("outcome", "imported")]),
        1.0
    );
    for outcome in ["checked", "rejected", "failed"] {
        assert_eq!(
            must(&after, "imgis_imports_total", &[("outcome", outcome)]),
            0.0
        );
    }

    // The store and its pool.
    assert_eq!(must(&after, "imgis_store_up", &[]), 1.0);
    let idle = must(&after, "imgis_db_pool_connections", &[("state", "idle")]);
    let in_use = must(&after, "imgis_db_pool_connections", &[("state", "in_use")]);
    let max = must(&after, "imgis_db_pool_max", &[]);
    assert!(
        idle + in_use >= 1.0 && idle + in_use <= max,
        "{idle} {in_use} {max}"
    );
    assert_eq!(
        must(
            &after,
            "imgis_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    // No label holds a path: no cadastral number, no application id, and
    // every route label is a template or `unmatched`.
    for s in &after {
        for (k, v) in &s.labels {
            assert!(
                !v.contains(&cadastral) && !v.contains(APPLICATION_ID) && !v.contains("16:50"),
                "{}{{{k}={v:?}}}",
                s.name
            );
        }
        if let Some(route) = s.labels.get("route") {
            assert!(
                route == "unmatched" || route.starts_with('/') && !route.contains("/no/such"),
                "{route}"
            );
        }
    }
    let routes: BTreeSet<&str> = after
        .iter()
        .filter_map(|s| s.labels.get("route").map(String::as_str))
        .collect();
    assert!(!routes.iter().any(|r| r.contains(".mvt")), "{routes:?}");

    server.stop().await;
}

#[tokio::test]
async fn metrics_answer_openmetrics_when_the_scraper_prefers_it() {
    let (_dir, server) = demo_server().await;
    assert_eq!(get(&server, "/health").await.status(), 200);
    let r = server
        .client
        .get(server.url("/metrics"))
        // What Prometheus sends.
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
             version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    // OpenMetrics names a counter's family without `_total`; its samples have it.
    assert!(text.contains("# TYPE imgis_http_requests counter\n"));
    assert!(text.contains("# UNIT imgis_http_request_duration_seconds seconds\n"));
    let samples = parse(&text);
    assert_eq!(
        must(
            &samples,
            "imgis_http_requests_total",
            &[("method", "GET"), ("route", "/health"), ("status", "200")]
        ),
        1.0
    );
    server.stop().await;
}

#[tokio::test]
async fn request_ids_are_kept_when_sane_and_made_otherwise() {
    let (_dir, server) = demo_server().await;
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .expect("every answer carries x-request-id")
            .to_str()
            .unwrap()
            .to_owned()
    };
    // A sane id comes back as it was, on success and on error.
    for path in ["/health", "/no/such/thing", "/parcels/not-a-number"] {
        let r = server
            .client
            .get(server.url(path))
            .header("x-request-id", "client-42.a_B")
            .send()
            .await
            .unwrap();
        assert_eq!(id_of(&r), "client-42.a_B", "{path}");
    }
    // None sent: a fresh 128-bit hex id per request, errors included.
    let mut made = BTreeSet::new();
    for path in ["/health", "/health", "/no/such/thing"] {
        let r = get(&server, path).await;
        let id = id_of(&r);
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        made.insert(id);
    }
    assert_eq!(made.len(), 3, "ids are distinct: {made:?}");
    // Not sane (too long, spaces, quotes): replaced by a fresh one.
    let long = "a".repeat(65);
    for sent in [long.as_str(), "two words", "x\"y", "a,b"] {
        let r = server
            .client
            .get(server.url("/health"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let id = id_of(&r);
        assert_ne!(id, sent);
        assert_eq!(id.len(), 32, "{sent:?} → {id}");
    }
    // The 64-character limit is inclusive.
    let longest = "b".repeat(64);
    let r = server
        .client
        .get(server.url("/health"))
        .header("x-request-id", &longest)
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&r), longest);
    server.stop().await;
}

/// `imgis serve` with `IMGIS_LOG_FORMAT=json`: every log line is one JSON
/// object; the access line carries the request's span (request id, route,
/// path, status, latency); the query string and an application's id are
/// never logged.
#[tokio::test]
async fn the_binary_logs_json_lines_with_the_request_span() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let gpkg = dir.path().join("logs.gpkg");
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgis"))
        .args([
            "serve",
            "--listen",
            &listen,
            "--gpkg",
            gpkg.to_str().unwrap(),
            "--demo-parcels",
            "0",
            "--tiles-dir",
            "/nonexistent/imgis-test-tiles",
        ])
        .current_dir(dir.path())
        .env_remove("IMGIS_DATABASE")
        .env_remove("IMGIS_GPKG")
        .env("IMGIS_LOG_FORMAT", "json")
        .env("IMGIS_LOG", "info,imgis::access=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client
            .get(format!("http://{listen}/health"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the server exited early"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = client
        .get(format!("http://{listen}/health?note=private-marker"))
        .header("x-request-id", "log-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!(
            "http://{listen}/applications/{APPLICATION_ID}?applicant=Ivanova"
        ))
        .header("x-request-id", "log-test-2")
        .send()
        .await
        .unwrap();
    let app_status = r.status().as_u16();

    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();

    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines
        .iter()
        .all(|l| l["timestamp"].is_string() && l["level"].is_string()));
    let access = |id: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"] == "answered" && l["span"]["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line of {id}:\n{stderr}"))
    };
    let health = access("log-test-1");
    assert_eq!(health["target"], "imgis::access");
    assert_eq!(health["span"]["method"], "GET");
    assert_eq!(health["span"]["route"], "/health");
    assert_eq!(health["span"]["path"], "/health");
    assert_eq!(health["span"]["status"], 200);
    assert!(health["span"]["latency_ms"].as_f64().unwrap() >= 0.0);
    let application = access("log-test-2");
    assert_eq!(application["span"]["route"], "/applications/{id}");
    assert_eq!(application["span"]["path"], "/applications/{id}");
    assert_eq!(application["span"]["status"], app_status);
    for secret in ["private-marker", APPLICATION_ID, "Ivanova"] {
        assert!(!stderr.contains(secret), "{secret} was logged:\n{stderr}");
    }
}

/// The PostGIS store's pool and ping, as `/metrics` reads them (the pool opens
/// at most 16 connections).
#[tokio::test]
async fn metrics_read_the_postgis_pool() {
    let store: DynStore = Arc::new(crate::common::postgis::postgis_store().await);
    let server = TestServer::start(store).await;
    let (_, samples) = scrape(&server).await;
    assert_eq!(must(&samples, "imgis_store_up", &[]), 1.0);
    let idle = must(&samples, "imgis_db_pool_connections", &[("state", "idle")]);
    let in_use = must(
        &samples,
        "imgis_db_pool_connections",
        &[("state", "in_use")],
    );
    assert_eq!(must(&samples, "imgis_db_pool_max", &[]), 16.0);
    assert!(
        idle + in_use >= 1.0 && idle + in_use <= 16.0,
        "{idle} {in_use}"
    );
    server.stop().await;
}
