//! Faults and several instances, against real processes:
//! - PostGIS tells every committed layer change once (`LISTEN`/`NOTIFY`), so
//!   two servers over one database see each other's writes in their index
//!   and tiles within moments, not at the 30 s safety compare;
//! - the database stopped (`fast`, then `immediate`) and started again under
//!   read load: not one read fails, writes answer 503 with `Retry-After`,
//!   `/health` says degraded, and the pool connects again by itself (on a
//!   private cluster: the shared one serves the other tests meanwhile);
//! - SIGTERM: the request in flight finishes, new connections are refused,
//!   the process exits 0;
//! - `kill -9` in the middle of an import leaves no layer, row, staging table
//!   or partition behind.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use geo_types::{point, Geometry};
use imgis::app;
use imgis::model::{props, GeometryType, LayerCode, LayerKind, LayerSpec, NewFeature};
use imgis::store::postgis::PostgisStore;
use imgis::store::{DynStore, ImportWrite, Store, StoreError, StoreEvent, StoreWatch};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::common::cluster::PrivateCluster;
use crate::common::postgis::fresh_database;
use crate::common::server::TestServer;
use crate::common::tile_of;

// ---------------------------------------------------------------- helpers

fn code(s: &str) -> LayerCode {
    s.parse().expect("test layer codes are valid")
}

/// A public point layer of kind `other` (drawn at every zoom).
fn points_spec(c: &str) -> LayerSpec {
    LayerSpec {
        code: code(c),
        title: format!("Точки {c}"),
        description: "faults test layer".into(),
        kind: LayerKind::Other,
        department: None,
        geometry_type: GeometryType::Point,
        public: true,
    }
}

/// A point near the Kremlin in Kazan, lon/lat degrees, `i` steps of ~10 m east.
fn place(i: usize) -> (f64, f64) {
    (49.1056 + 0.000_15 * i as f64, 55.7989)
}

fn point_feature(i: usize) -> NewFeature {
    let (lon, lat) = place(i);
    NewFeature::new(
        Geometry::Point(point!(x: lon, y: lat)),
        props([("n", json!(i))]),
    )
}

/// A GeoJSON Feature body for `POST /collections/{layer}/items`.
fn point_body(lon: f64, lat: f64, name: &str) -> Value {
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"name": name},
    })
}

/// A GeoJSON FeatureCollection of `n` points starting at `place(first)`.
fn points_geojson(first: usize, n: usize) -> String {
    let features: Vec<Value> = (first..first + n)
        .map(|i| {
            let (lon, lat) = place(i % 2_000);
            let lat = lat + 0.000_01 * (i / 2_000) as f64;
            json!({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {"n": i},
            })
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

/// A PostGIS store on `url`, migrated (idempotent: the second instance's
/// migration finds nothing to do).
async fn postgis_on(url: &str) -> PostgisStore {
    let store = PostgisStore::connect(url)
        .await
        .expect("connecting to the test database");
    store.migrate().await.expect("migrating");
    store
}

/// The feature ids in one layer's MVT tile (none for 204, an empty tile).
async fn tile_ids(server: &TestServer, layer: &str, (z, x, y): (u8, u32, u32)) -> Vec<u64> {
    let r = server
        .client
        .get(server.url(&format!("/tiles/{layer}/{z}/{x}/{y}.mvt")))
        .send()
        .await
        .expect("the tile request reaches the server");
    match r.status().as_u16() {
        204 => Vec::new(),
        200 => {
            let body = r.bytes().await.unwrap().to_vec();
            let reader = mvt_reader::Reader::new(body).expect("a valid MVT");
            let names = reader.get_layer_names().unwrap();
            let i = names.iter().position(|n| n == layer).expect("the layer");
            reader
                .get_features_as::<f64>(i)
                .unwrap()
                .iter()
                .filter_map(|f| f.id)
                .collect()
        }
        other => panic!("tile answered {other}"),
    }
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `seconds`.
async fn within<T, F, Fut>(seconds: u64, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let limit = Duration::from_secs(seconds);
    poll(
        Instant::now(),
        limit,
        Duration::from_millis(100),
        what,
        check,
    )
    .await
    .0
}

/// Like [`within`] for at most 5 s, polling every 10 ms, with the time `check`
/// took to pass counted from `since`: how long a change took to reach the
/// other instance.
async fn within_timed<T, F, Fut>(since: Instant, what: &str, check: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll(
        since,
        Duration::from_secs(5),
        Duration::from_millis(10),
        what,
        check,
    )
    .await
}

/// Calls `check` every `every` until it returns `Some`, failing the test when
/// `limit` has passed since `since`; gives the value and the time since `since`.
async fn poll<T, F, Fut>(
    since: Instant,
    limit: Duration,
    every: Duration,
    what: &str,
    mut check: F,
) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    loop {
        if let Some(v) = check().await {
            return (v, since.elapsed());
        }
        assert!(since.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(every).await;
    }
}

/// The next event of a store watch, failing the test after 10 s.
async fn next_event(watch: &mut StoreWatch) -> StoreEvent {
    tokio::time::timeout(Duration::from_secs(10), watch.recv())
        .await
        .expect("a store event within 10 s")
        .expect("the watcher runs")
}

/// No event within half a second (what must not be told is not).
async fn no_event(watch: &mut StoreWatch) {
    if let Ok(e) = tokio::time::timeout(Duration::from_millis(500), watch.recv()).await {
        panic!("unexpected store event {e:?}");
    }
}

/// How many connections of database `url` are listening for layer changes.
async fn listeners(url: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connecting");
    let n = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND query = 'LISTEN \"imgis_layers\"'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("reading pg_stat_activity");
    conn.close().await.ok();
    n
}

/// An answer's status, `Retry-After` and JSON body.
async fn answer(r: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry, body)
}

fn assert_unavailable(what: &str, (status, retry, body): &(u16, Option<String>, Value)) {
    assert_eq!(*status, 503, "{what}: {body}");
    assert!(retry.is_some(), "{what}: 503 without Retry-After");
    assert_eq!(body["error"], "store_unavailable", "{what}: {body}");
}

/// The id of a feature as a write answers it.
fn id_of(feature: &Value) -> i64 {
    feature["id"]
        .as_i64()
        .or_else(|| feature["id"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("no id in {feature}"))
}

// ---------------------------------------------------------------- 1. notifications

/// Every committed change of a layer is told exactly once, with its version;
/// a rolled-back import tells nothing; a deletion tells a null version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgis_tells_each_committed_layer_change_once() {
    let url = fresh_database().await;
    let writer = postgis_on(&url).await;
    let other = postgis_on(&url).await;
    let mut watch = other.watch().expect("PostGIS tells its changes");
    assert_eq!(next_event(&mut watch).await, StoreEvent::Resync);
    let changed = |c: &str, v: Option<i64>| StoreEvent::LayerChanged {
        code: code(c),
        version: v,
    };

    // An import that creates its layer: three updates of the layer's row
    // (inserted, narrowed, versioned), one event.
    let spec = LayerSpec {
        geometry_type: GeometryType::Geometry,
        ..points_spec("told")
    };
    let batches: Vec<Result<Vec<NewFeature>, StoreError>> = (0..3)
        .map(|b| Ok((0..50).map(|i| point_feature(b * 50 + i)).collect()))
        .collect();
    let written = writer
        .import_features(
            &ImportWrite {
                code: spec.code.clone(),
                create: Some(spec.clone()),
                replace: true,
            },
            futures::stream::iter(batches).boxed(),
        )
        .await
        .expect("the import");
    assert_eq!(written.layer.version, 1);
    assert_eq!(next_event(&mut watch).await, changed("told", Some(1)));
    no_event(&mut watch).await;

    // An import that fails half-way: rolled back, nothing told.
    let failing: Vec<Result<Vec<NewFeature>, StoreError>> = vec![
        Ok((0..50).map(point_feature).collect()),
        Err(StoreError::ImportAborted("the test stops it".into())),
    ];
    let refused = writer
        .import_features(
            &ImportWrite {
                code: spec.code.clone(),
                create: None,
                replace: true,
            },
            futures::stream::iter(failing).boxed(),
        )
        .await;
    assert!(refused.is_err());
    no_event(&mut watch).await;

    // An edit, an append, a layer made empty and one deleted: one event each.
    let id = written.features[0].id;
    writer
        .replace_feature(&spec.code, id, point_feature(999))
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await, changed("told", Some(2)));
    writer
        .append_features(&spec.code, vec![point_feature(1000)])
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await, changed("told", Some(3)));
    writer.create_layer(&points_spec("empty")).await.unwrap();
    assert_eq!(next_event(&mut watch).await, changed("empty", Some(0)));
    writer.delete_layer(&spec.code).await.unwrap();
    assert_eq!(next_event(&mut watch).await, changed("told", None));
    // Metadata alone (no new version) tells nothing: an index has nothing to reload.
    writer
        .update_layer(&LayerSpec {
            title: "renamed".into(),
            ..points_spec("empty")
        })
        .await
        .unwrap();
    no_event(&mut watch).await;

    // The watcher stops with its receiver: its connection goes.
    drop(watch);
    within(10, "the dropped watcher's connection closes", || async {
        (listeners(&url).await == 0).then_some(())
    })
    .await;
}

// ---------------------------------------------------------------- 2. two instances

/// Two servers over one PostGIS: what one writes (an added feature, an
/// import, a deletion) the other's index and tiles show within seconds, long
/// before its 30 s safety compare, so by the notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_one_instance_shows_on_the_other() {
    let url = fresh_database().await;
    let setup = postgis_on(&url).await;
    setup.create_layer(&points_spec("places")).await.unwrap();
    setup
        .append_features(&code("places"), (0..5).map(point_feature).collect())
        .await
        .unwrap();
    drop(setup);
    let a = TestServer::start(Arc::new(postgis_on(&url).await) as DynStore).await;
    let b = TestServer::start(Arc::new(postgis_on(&url).await) as DynStore).await;
    within(10, "both servers listen for changes", || async {
        (listeners(&url).await == 2).then_some(())
    })
    .await;
    assert!(app::SAFETY_SYNC_INTERVAL >= Duration::from_secs(30));

    // B's tile where the new point goes: drawn (and cached) before the write.
    let (lon, lat) = place(40);
    let tile = tile_of(lon, lat, 16);
    let before = tile_ids(&b, "places", tile).await;

    // 1. A adds a feature: B has it, and draws it in that tile. Each delay
    // is printed (`--nocapture`): the issue asks for under a second; the
    // bound here is looser so that a loaded machine does not fail the test.
    let (status, created) = a
        .post_json("/collections/places/items", &point_body(lon, lat, "from A"))
        .await;
    assert_eq!(status, 201, "{created}");
    let written = Instant::now();
    let id = id_of(&created);
    let path = format!("/collections/places/items/{id}");
    let (seen, delay) = within_timed(written, "B has A's new feature", || async {
        let (status, body) = b.get_json(&path).await;
        (status == 200).then_some(body)
    })
    .await;
    println!(
        "a feature added on A was served by B {} ms after A answered",
        delay.as_millis()
    );
    assert_eq!(seen["properties"]["name"], "from A");
    let after = tile_ids(&b, "places", tile).await;
    assert!(!before.contains(&(id as u64)));
    assert!(after.contains(&(id as u64)), "B's tile {tile:?}: {after:?}");

    // 2. B imports a file (append): A has every feature of it.
    let r = b
        .client
        .post(b.url("/layers/places/import?mode=append&filename=more.geojson"))
        .header("content-type", "application/octet-stream")
        .body(points_geojson(100, 30))
        .send()
        .await
        .unwrap();
    let (status, _, report) = answer(r).await;
    assert_eq!(status, 200, "{report}");
    let version = report["layer_version"].as_i64().expect("a layer version");
    let written = Instant::now();
    let ((), delay) = within_timed(written, "A has B's import", || async {
        let l = a.app.index().layer(&code("places"))?;
        (l.layer().version == version && l.len() == 36).then_some(())
    })
    .await;
    println!(
        "an import of 30 features on B was in A's index {} ms after B answered",
        delay.as_millis()
    );
    let (_, page) = a.get_json("/collections/places/items?limit=1").await;
    assert_eq!(page["numberMatched"], 36);

    // 3. A deletes the feature: B no longer has it, nor draws it.
    let r = a.client.delete(a.url(&path)).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let written = Instant::now();
    let ((), delay) = within_timed(written, "B drops the deleted feature", || async {
        let (status, _) = b.get_json(&path).await;
        (status == 404).then_some(())
    })
    .await;
    println!(
        "a feature deleted on A was gone from B {} ms after A answered",
        delay.as_millis()
    );
    assert!(!tile_ids(&b, "places", tile).await.contains(&(id as u64)));

    // Both agree on the layer's version.
    let version_of = |s: &TestServer| {
        s.app
            .index()
            .layer(&code("places"))
            .map(|l| l.layer().version)
    };
    within(5, "both at one version", || async {
        (version_of(&a) == version_of(&b)).then_some(())
    })
    .await;
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------- 3. database down

/// Reads that keep running while the database goes away and comes back.
#[derive(Default)]
struct ReadLoad {
    ok: AtomicU64,
    failed: AtomicU64,
    /// The first few failures, for the assertion message.
    failures: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl ReadLoad {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut f = self.failures.lock().unwrap();
        if f.len() < 10 {
            f.push(what);
        }
    }

    /// Reads `paths` in turn, from `start`, until told to stop.
    async fn run(self: Arc<Self>, base: String, paths: Arc<Vec<String>>, start: usize) {
        // Anonymous, as the public map reads; a read that hangs is a failure too.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut i = start;
        while !self.stop.load(Ordering::Relaxed) {
            let path = &paths[i % paths.len()];
            i += 1;
            match client.get(format!("{base}{path}")).send().await {
                Ok(r) if r.status().is_success() => match r.bytes().await {
                    Ok(_) => {
                        self.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => self.fail(format!("{path}: body: {e}")),
                },
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    self.fail(format!("{path}: {status} {body}"));
                }
                Err(e) => self.fail(format!("{path}: {e}")),
            }
        }
    }
}

/// What the server must refuse with 503 while the database is away: every
/// kind of write. Returns the answers, for the caller to assert on.
async fn writes_while_down(
    server: &TestServer,
    feature_id: i64,
    application: &Value,
    application_id: i64,
) -> Vec<(String, (u16, Option<String>, Value))> {
    let c = &server.client;
    let item = format!("/collections/notes/items/{feature_id}");
    let requests = vec![
        (
            "POST item",
            c.post(server.url("/collections/notes/items"))
                .json(&point_body(49.11, 55.79, "while down")),
        ),
        (
            "PUT item",
            c.put(server.url(&item))
                .json(&point_body(49.11, 55.79, "while down")),
        ),
        ("DELETE item", c.delete(server.url(&item))),
        (
            "POST import",
            c.post(server.url("/layers/notes/import?mode=append&filename=n.geojson"))
                .header("content-type", "application/octet-stream")
                .body(points_geojson(500, 3)),
        ),
        (
            "POST application",
            c.post(server.url("/applications")).json(application),
        ),
        (
            "POST decision",
            c.post(server.url(&format!("/applications/{application_id}/tasks/1/decision")))
                .json(&json!({"decision": "approved"})),
        ),
    ];
    // All at once. The four on `notes` queue on that layer's write lock: the
    // first waits out the pool's acquire timeout (3 s), the ones behind it
    // then answer at once instead of each waiting 3 s more.
    futures::future::join_all(requests.into_iter().map(|(what, request)| async move {
        let r = request.send().await.expect("the write reaches the server");
        (what.to_owned(), answer(r).await)
    }))
    .await
}

/// The database stopped and started twice (`fast`, as a restart does, then
/// `immediate`, as a crash) under read load: zero failed reads; meanwhile
/// `/health` is degraded and every write answers 503 with `Retry-After`;
/// afterwards the pool has connected again by itself (a write succeeds) and
/// a change written by another process meanwhile is in the index (resync).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_survive_the_database_stopping_and_starting() {
    let cluster = PrivateCluster::start().await;
    let url = cluster.url();
    let store: DynStore = Arc::new(postgis_on(&url).await);
    crate::common::load_demo(&store, 300, 42).await;
    store.create_layer(&points_spec("notes")).await.unwrap();
    store
        .append_features(&code("notes"), (0..3).map(point_feature).collect())
        .await
        .unwrap();
    let server = TestServer::start(store).await;
    let other_writer = postgis_on(&url).await;

    // What the map and the desk read: tiles (several zooms), pages of
    // features, single features, constraints of plots, identify, nearest.
    let snapshot = server.app.index().snapshot();
    let parcels = snapshot.get(&code("parcels")).expect("demo parcels");
    let mut paths = Vec::new();
    for f in parcels.features().iter().step_by(37).take(8) {
        let c = geo::Centroid::centroid(&f.geometry).expect("a plot has a centroid");
        for z in [14, 15, 16] {
            let (z, x, y) = tile_of(c.x(), c.y(), z);
            paths.push(format!("/tiles/parcels/{z}/{x}/{y}.mvt"));
        }
        paths.push(format!("/collections/parcels/items/{}", f.id));
        if let Some(number) = &f.cadastral {
            paths.push(format!("/parcels/{number}/constraints"));
        }
        paths.push(format!("/identify?lon={}&lat={}", c.x(), c.y()));
        paths.push(format!("/nearest?lon={}&lat={}", c.x(), c.y()));
    }
    for offset in [0, 50, 100, 250] {
        paths.push(format!(
            "/collections/parcels/items?limit=25&offset={offset}"
        ));
    }
    paths.push("/collections/notes/items".into());
    paths.push("/layers".into());
    let paths = Arc::new(paths);

    // An application before the outage, to decide on while it lasts.
    let (_, catalog) = server.get_json("/catalog").await;
    let service = catalog["services"][0]["code"].as_str().unwrap().to_owned();
    let (lon, lat) = place(7);
    let plot = json!({"type": "Polygon", "coordinates": [[
        [lon, lat], [lon + 0.0005, lat], [lon + 0.0005, lat + 0.0005], [lon, lat + 0.0005], [lon, lat]
    ]]});
    let application = json!({
        "service": service,
        "geometry": plot,
        "applicant": {"name": "Тестовый заявитель"},
    });
    let (status, registered) = server.post_json("/applications", &application).await;
    assert_eq!(status, 201, "{registered}");
    let application_id = id_of(&registered);
    let note = server.app.index().layer(&code("notes")).unwrap().features()[0].id;

    let load = Arc::new(ReadLoad::default());
    let base = format!("http://{}", server.addr);
    let readers: Vec<_> = (0..4)
        .map(|k| tokio::spawn(load.clone().run(base.clone(), paths.clone(), k * 7)))
        .collect();
    within(10, "reads are served", || async {
        (load.ok.load(Ordering::Relaxed) > 50).then_some(())
    })
    .await;

    for (round, mode) in ["fast", "immediate"].into_iter().enumerate() {
        let (status, health) = server.get_json("/health").await;
        assert_eq!((status, &health["status"]), (200, &json!("ok")), "{health}");
        let reads_before = load.ok.load(Ordering::Relaxed);

        cluster.stop(mode).await;
        let health = within(15, "health turns degraded", || async {
            let (status, body) = server.get_json("/health").await;
            (status == 503).then_some(body)
        })
        .await;
        assert_eq!(health["status"], "degraded", "{health}");
        assert_eq!(health["store"]["reachable"], false, "{health}");
        let sent = Instant::now();
        let answers = writes_while_down(&server, note, &application, application_id).await;
        let took = sent.elapsed();
        for (what, answer) in answers {
            assert_unavailable(&format!("{what} ({mode} stop)"), &answer);
        }
        // Served one after the other, the four writes on one layer would take
        // 12 s; behind the first that found the store away they answer at once.
        println!("six writes while the database is down ({mode}): all answered 503 in {took:?}");
        assert!(took < Duration::from_secs(8), "the writes queued: {took:?}");
        // Reads went on while the database was away.
        within(10, "reads go on while the database is down", || async {
            (load.ok.load(Ordering::Relaxed) > reads_before + 50).then_some(())
        })
        .await;

        cluster.start_again().await;
        // Another process writes at once, maybe before this server listens
        // again: the resync after reconnecting picks it up if the notification
        // went by unheard.
        let other = other_writer
            .append_features(&code("notes"), vec![point_feature(600 + round)])
            .await
            .expect("the other writer's pool connects again by itself");
        within(15, "health is ok again", || async {
            let (status, _) = server.get_json("/health").await;
            (status == 200).then_some(())
        })
        .await;
        within(10, "the other process's write is in the index", || async {
            let l = server.app.index().layer(&code("notes"))?;
            (l.layer().version >= other.layer.version).then_some(())
        })
        .await;
        // The pool connected again by itself: writes work.
        let (status, created) = server
            .post_json(
                "/collections/notes/items",
                &point_body(49.12, 55.8, &format!("after the {mode} stop")),
            )
            .await;
        assert_eq!(status, 201, "after the {mode} stop: {created}");
    }

    load.stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let (ok, failed) = (
        load.ok.load(Ordering::Relaxed),
        load.failed.load(Ordering::Relaxed),
    );
    eprintln!("reads: {ok} served, {failed} failed");
    assert_eq!(
        failed,
        0,
        "failed reads: {:?}",
        load.failures.lock().unwrap()
    );
    assert!(ok > 200, "only {ok} reads");
    server.stop().await;
}

// ---------------------------------------------------------------- 4. SIGTERM

/// A port nobody listens on (free again once this returns).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `imgis token create --role admin` on that store, if this build has tokens.
async fn admin_token(store_args: &[&str]) -> Option<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_imgis"))
        .args([
            "token",
            "create",
            "--role",
            "admin",
            "--label",
            "faults test",
        ])
        .args(store_args)
        .env("IMGIS_LOG", "warn")
        .output()
        .await
        .ok()?;
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !token.is_empty()).then_some(token)
}

/// Reads an HTTP/1.1 response head: its status and headers (lower-cased names).
async fn read_head(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).await.unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (status, headers)
}

/// SIGTERM while an upload is half sent: the server stops accepting
/// connections at once, yet the upload finishes and its import answers 200;
/// then the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("imgis.gpkg");
    let gpkg = gpkg.to_str().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgis"))
        .args(["serve", "--listen", &listen, "--gpkg", gpkg])
        .args(["--demo-parcels", "200"])
        .env_remove("IMGIS_DATABASE")
        .env_remove("IMGIS_CONFIG")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    within(120, "the server comes up", || async {
        let r = client.get(format!("http://{listen}/health")).send().await;
        r.ok().filter(|r| r.status().is_success()).map(drop)
    })
    .await;
    let token = admin_token(&["--gpkg", gpkg]).await;

    // The upload: headers, then half the body. `Expect: 100-continue` makes
    // the server say when the handler starts reading the body: from then on
    // the request is in flight.
    let body = points_geojson(0, 3_000);
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut head = format!(
        "POST /layers/drained/import?filename=drained.geojson HTTP/1.1\r\n\
         Host: {listen}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(t) = &token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    let stream = TcpStream::connect(&listen).await.unwrap();
    let mut reader = BufReader::new(stream);
    reader.get_mut().write_all(head.as_bytes()).await.unwrap();
    let (status, _) = read_head(&mut reader).await;
    assert_eq!(status, 100, "the server reads the upload");
    reader.get_mut().write_all(first).await.unwrap();
    reader.get_mut().flush().await.unwrap();

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    // Draining: no new connection is accepted.
    within(10, "new connections are refused", || async {
        TcpStream::connect(&listen).await.err().map(drop)
    })
    .await;
    // The upload goes on and its import is answered.
    reader.get_mut().write_all(rest).await.unwrap();
    reader.get_mut().flush().await.unwrap();
    let (status, headers) = read_head(&mut reader).await;
    let mut response = String::new();
    reader.read_to_string(&mut response).await.unwrap();
    assert_eq!(status, 200, "{headers:?} {response}");
    let report: Value = serde_json::from_str(&response)
        .or_else(|_| {
            // A chunked body: the JSON is between the chunk sizes.
            let start = response.find('{').unwrap_or(0);
            let end = response.rfind('}').map_or(response.len(), |e| e + 1);
            serde_json::from_str(&response[start..end])
        })
        .unwrap_or_else(|e| panic!("{e}: {response}"));
    assert_eq!(report["imported"], 3_000, "{report}");

    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server exits after draining")
        .unwrap();
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("SIGTERM"), "{log}");
}

// ---------------------------------------------------------------- 5. kill -9

/// Runs `imgis` with no configuration from the environment.
fn imgis_command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imgis"));
    c.args(args)
        .env_remove("IMGIS_DATABASE")
        .env_remove("IMGIS_GPKG")
        .env_remove("IMGIS_CONFIG")
        .env_remove("IMGIS_CITY_BBOX")
        .env("IMGIS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// What an import may leave in the database, as (code, version, feature
/// count, rows in its partition) per layer, and the staging and partition
/// tables that exist.
async fn traces(conn: &mut PgConnection) -> (Vec<(String, i64, i64, i64)>, Vec<String>) {
    let layers: Vec<(String, i32, i64, i64)> =
        sqlx::query_as("SELECT code, id, version, feature_count FROM layers ORDER BY code")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let mut out = Vec::new();
    for (code, id, version, count) in layers {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM features WHERE layer_id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        out.push((code, version, count, rows));
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relkind IN ('r', 'p') \
         AND relname ~ '^features_[ls][0-9]+$' ORDER BY relname",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    (out, tables)
}

/// Rows the `COPY` of an import in this database has sent so far, if one runs.
async fn copied(conn: &mut PgConnection) -> Option<i64> {
    sqlx::query_scalar(
        "SELECT tuples_processed FROM pg_stat_progress_copy WHERE datname = current_database()",
    )
    .fetch_optional(&mut *conn)
    .await
    .unwrap()
}

/// Sessions of imgis processes in this database.
async fn sessions_of_imgis(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND application_name = 'imgis'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

/// `imgis import` killed with SIGKILL while its `COPY` is sending rows, into
/// a new layer and over an existing one: afterwards the database is exactly
/// as before (no layer, no version, no staging table, no partition), and the
/// same import then runs through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_with_sigkill_leaves_no_trace() {
    let url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.geojson");
    std::fs::write(&small, points_geojson(0, 20)).unwrap();
    let big = dir.path().join("big.geojson");
    std::fs::write(&big, points_geojson(0, 400_000)).unwrap();
    let (small, big) = (small.to_str().unwrap(), big.to_str().unwrap());

    let out = imgis_command(&["import", small, "--layer", "kept", "--database", &url])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let before = traces(&mut conn).await;
    assert_eq!(before.0, vec![("kept".to_owned(), 1, 20, 20)]);

    for layer in ["kept", "fresh"] {
        let mut child = imgis_command(&["import", big, "--layer", layer, "--database", &url])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while copied(&mut conn).await.is_none_or(|n| n < 1_000) {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the import ended before it was killed: {status:?}");
            }
            assert!(Instant::now() < deadline, "no COPY within 120 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.start_kill().unwrap();
        let status = child.wait().await.unwrap();
        assert!(!status.success());
        // The server ends the orphaned transaction when it finds its client gone.
        let deadline = Instant::now() + Duration::from_secs(30);
        while sessions_of_imgis(&mut conn).await > 0 {
            assert!(
                Instant::now() < deadline,
                "the killed import's sessions stay"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            traces(&mut conn).await,
            before,
            "after killing the import into '{layer}'"
        );
    }

    // The same import, left alone, runs through.
    let out = imgis_command(&["import", small, "--layer", "fresh", "--database", &url])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (layers, tables) = traces(&mut conn).await;
    assert_eq!(
        layers,
        vec![
            ("fresh".to_owned(), 1, 20, 20),
            ("kept".to_owned(), 1, 20, 20)
        ]
    );
    assert_eq!(tables.len(), 2, "{tables:?}");
    assert!(tables.iter().all(|t| t.starts_with("features_l")));
    conn.close().await.ok();
}
