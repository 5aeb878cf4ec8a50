//! Access control over real HTTP: every role against every endpoint class,
//! allowed and refused, as one table; internal layers invisible to the
//! public on every path; tokens that are malformed, unknown or revoked.
//!
//! The city is the demo city in a GeoPackage, plus one internal zones layer
//! owned by the fisheries authority. Departments are found from the
//! application's own route, never hard-coded.

use std::collections::BTreeSet;

use imgis::app;
use imgis::auth::Role;
use imgis::model::{GeometryType, LayerKind, LayerSpec, NewFeature};
use imgis::store::DynStore;
use serde_json::{json, Value};

use crate::common::server::{client_with_token, TestServer};

/// The callers of the table, in column order.
const CALLERS: [&str; 7] = [
    "anonymous",
    "public",
    "intake",
    "routed_dept",
    "other_dept",
    "owner_dept",
    "admin",
];

/// The department owning the internal layer.
const OWNER: &str = "FISHERIES";

struct Row {
    what: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    /// Expected status per caller, in [`CALLERS`] order.
    expect: [u16; 7],
}

async fn city() -> (tempfile::TempDir, DynStore, String, String) {
    let (dir, store) = crate::common::gpkg_demo(400, 42).await;
    let parcels = store
        .features(&"parcels".parse().unwrap())
        .await
        .expect("parcels");
    let cadastral = |i: usize| parcels[i].cadastral.as_ref().unwrap().to_string();
    // An internal zone over the second parcel: its constraints differ by role.
    let spec = LayerSpec {
        code: "internal_notes".parse().unwrap(),
        title: "Internal notes".into(),
        description: String::new(),
        kind: LayerKind::Zones,
        department: Some(OWNER.into()),
        geometry_type: GeometryType::Polygon,
        public: false,
    };
    store.create_layer(&spec).await.expect("internal layer");
    let mut properties = serde_json::Map::new();
    properties.insert("zone_type".into(), json!("water_protection"));
    store
        .append_features(
            &spec.code,
            vec![NewFeature::new(parcels[1].geometry.clone(), properties)],
        )
        .await
        .expect("internal zone");
    (dir, store, cadastral(0), cadastral(1))
}

fn geojson_points(n: usize) -> Vec<u8> {
    let features: Vec<Value> = (0..n)
        .map(|i| {
            json!({"type": "Feature", "properties": {"zone_type": "water_protection"},
                "geometry": {"type": "Polygon", "coordinates": [[
                    [49.10 + i as f64 * 0.001, 55.79], [49.1005 + i as f64 * 0.001, 55.79],
                    [49.1005 + i as f64 * 0.001, 55.7905], [49.10 + i as f64 * 0.001, 55.79]]]}})
        })
        .collect();
    serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features})).unwrap()
}

#[tokio::test]
async fn each_role_against_each_endpoint_class() {
    let (_dir, store, plot, zoned) = city().await;
    let server = TestServer::start(store.clone()).await;

    // One application, registered by the intake desk, routed to some departments.
    let intake = server.token(Role::Intake, None).await;
    let intake_client = client_with_token(&intake);
    let application = json!({
        "service": "excavation_order", "cadastral": plot, "submitted": "2026-10-01",
        "applicant": {"name": "Ivanova Anna", "phone": "+7 843 000-00-00"},
    });
    let r = intake_client
        .post(server.url("/applications"))
        .json(&application)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    let tasks = created["tasks"].as_array().unwrap();
    let routed: BTreeSet<&str> = tasks
        .iter()
        .map(|t| t["department"].as_str().unwrap())
        .collect();
    let routed_dept = *routed.iter().find(|d| **d != OWNER).expect("a department");
    let task = tasks
        .iter()
        .find(|t| t["department"] == routed_dept)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (_, departments) = server.get_json("/departments").await;
    let other_dept = departments["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .find(|d| !routed.contains(d) && *d != OWNER)
        .expect("a department the application is not routed to")
        .to_owned();
    assert!(!routed.contains(OWNER), "the test wants the owner unrouted");

    let mut clients = Vec::new();
    for caller in CALLERS {
        let client = match caller {
            "anonymous" => server.anonymous.clone(),
            "public" => client_with_token(&server.token(Role::Public, None).await),
            "intake" => intake_client.clone(),
            "routed_dept" => {
                client_with_token(&server.token(Role::Department, Some(routed_dept)).await)
            }
            "other_dept" => {
                client_with_token(&server.token(Role::Department, Some(&other_dept)).await)
            }
            "owner_dept" => client_with_token(&server.token(Role::Department, Some(OWNER)).await),
            "admin" => server.client.clone(),
            _ => unreachable!(),
        };
        clients.push(client);
    }

    let get = |what, path: String, expect| Row {
        what,
        method: "GET",
        path,
        body: None,
        expect,
    };
    let post = |what, path: String, body: Value, expect| Row {
        what,
        method: "POST",
        path,
        body: Some(body),
        expect,
    };
    let internal_zone = json!({"type": "Feature", "properties": {"zone_type": "water_protection"},
        "geometry": {"type": "Polygon", "coordinates": [[[49.1, 55.79], [49.101, 55.79], [49.101, 55.791], [49.1, 55.79]]]}});
    let decision = json!({"decision": "revision_required", "comment": "move the trench by 2 m"});
    //                              anon public intake routed other owner admin
    let table = vec![
        get(
            "layer list",
            "/layers".into(),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        get(
            "published tile",
            "/tiles/parcels/14/10427/5157.mvt".into(),
            [0; 7],
        ),
        get("published TileJSON", "/tiles/parcels.json".into(), [200; 7]),
        get(
            "published features",
            "/collections/parcels/items?limit=5".into(),
            [200; 7],
        ),
        get("published parcel", format!("/parcels/{plot}"), [200; 7]),
        get(
            "constraints of a plot",
            format!("/parcels/{plot}/constraints"),
            [200; 7],
        ),
        get("catalog", "/catalog".into(), [200; 7]),
        get(
            "internal layer",
            "/layers/internal_notes".into(),
            [404, 404, 200, 200, 200, 200, 200],
        ),
        get(
            "internal TileJSON",
            "/tiles/internal_notes.json".into(),
            [404, 404, 200, 200, 200, 200, 200],
        ),
        get(
            "internal tiles",
            "/tiles/internal_notes/14/10427/5157.mvt".into(),
            [404, 404, 0, 0, 0, 0, 0],
        ),
        get(
            "internal OGC tiles",
            "/collections/internal_notes/tiles".into(),
            [404, 404, 200, 200, 200, 200, 200],
        ),
        get(
            "internal collection",
            "/collections/internal_notes".into(),
            [404, 404, 200, 200, 200, 200, 200],
        ),
        get(
            "internal features",
            "/collections/internal_notes/items".into(),
            [404, 404, 200, 200, 200, 200, 200],
        ),
        get(
            "constraints naming an internal layer",
            format!("/parcels/{zoned}/constraints?layers=internal_notes"),
            [404, 404, 200, 200, 200, 200, 200],
        ),
        post(
            "route (dry run)",
            "/route".into(),
            json!({"service": "excavation_order", "cadastral": plot}),
            [401, 403, 200, 200, 200, 200, 200],
        ),
        post(
            "register an application",
            "/applications".into(),
            application.clone(),
            [401, 403, 201, 403, 403, 403, 201],
        ),
        get(
            "list applications",
            "/applications".into(),
            [401, 403, 200, 200, 200, 200, 200],
        ),
        get(
            "read an application",
            format!("/applications/{id}"),
            [401, 403, 200, 200, 403, 403, 200],
        ),
        get(
            "statistics",
            "/stats".into(),
            [401, 403, 200, 200, 200, 200, 200],
        ),
        post(
            "decide a task",
            format!("/applications/{id}/tasks/{task}/decision"),
            decision,
            [401, 403, 403, 200, 403, 403, 200],
        ),
        post(
            "add a feature to an internal layer",
            "/collections/internal_notes/items".into(),
            internal_zone,
            [404, 404, 403, 403, 403, 201, 201],
        ),
        get(
            "metrics",
            "/metrics".into(),
            [401, 403, 403, 403, 403, 403, 200],
        ),
    ];
    let mut failures = Vec::new();
    for row in &table {
        for (i, client) in clients.iter().enumerate() {
            let url = server.url(&row.path);
            let request = match (row.method, &row.body) {
                ("GET", _) => client.get(&url),
                (_, Some(body)) => client.post(&url).json(body),
                _ => unreachable!(),
            };
            let r = request.send().await.expect("the server answers");
            let status = r.status().as_u16();
            let expected = row.expect[i];
            let ok = if expected == 0 {
                // A tile: drawn or empty, never refused.
                status == 200 || status == 204
            } else {
                status == expected
            };
            if (400..500).contains(&status) {
                let challenge = r.headers().contains_key("www-authenticate");
                let body: Value = r.json().await.expect("errors are JSON");
                let code = body["error"].as_str().unwrap_or_default().to_owned();
                let want = match status {
                    401 => "unauthorized",
                    403 => "forbidden",
                    _ => code.as_str(),
                };
                if code != want || (status == 401) != challenge {
                    failures.push(format!(
                        "{} as {}: {status} with error {code} (challenge {challenge})",
                        row.what, CALLERS[i]
                    ));
                }
            }
            if !ok {
                failures.push(format!(
                    "{} ({} {}) as {}: {status}, expected {expected}",
                    row.what, row.method, row.path, CALLERS[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The layer list itself: the internal layer is there for staff only.
    let codes = |v: Value| -> BTreeSet<String> {
        v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["code"].as_str().unwrap().to_owned())
            .collect()
    };
    let public_list = codes(
        server
            .anonymous
            .get(server.url("/layers"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    let staff_list = codes(
        intake_client
            .get(server.url("/layers"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    assert!(!public_list.contains("internal_notes") && staff_list.contains("internal_notes"));
    assert_eq!(staff_list.len(), public_list.len() + 1);
    for (path, key) in [("/collections", "collections"), ("/health", "layers")] {
        let v: Value = server
            .anonymous
            .get(server.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            !v[key].to_string().contains("internal_notes"),
            "{path} shows the internal layer to the public"
        );
    }

    // Constraints of the zoned parcel: the internal zone counts for staff only.
    let zones_of = |v: Value| -> Vec<String> {
        v["constraints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["layer"]["code"]
                    .as_str()
                    .or(c["layer"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let path = server.url(&format!("/parcels/{zoned}/constraints"));
    let public_zones = zones_of(
        server
            .anonymous
            .get(&path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    let staff_zones = zones_of(
        intake_client
            .get(&path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    assert!(
        !public_zones.iter().any(|c| c == "internal_notes"),
        "{public_zones:?}"
    );
    assert!(
        staff_zones.iter().any(|c| c == "internal_notes"),
        "{staff_zones:?}"
    );
    // Nor does identify show it to the public.
    let identify = server.url("/identify?lon=49.1&lat=55.79");
    let v: Value = server
        .anonymous
        .get(&identify)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!v.to_string().contains("internal_notes"));

    // A department lists the applications routed to it, not another's.
    let routed_client = &clients[3];
    let r = routed_client
        .get(server.url(&format!("/applications?department={other_dept}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let listed: Value = clients[4]
        .get(server.url("/applications"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["returned"], 0,
        "other_dept sees no application: {listed}"
    );
    let listed: Value = routed_client
        .get(server.url("/applications"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["returned"].as_u64().unwrap() >= 1);
    server.stop().await;
}

#[tokio::test]
async fn imports_belong_to_their_department() {
    let (_dir, store, _, _) = city().await;
    let server = TestServer::start(store.clone()).await;
    let owner = client_with_token(&server.token(Role::Department, Some(OWNER)).await);
    let gas = client_with_token(&server.token(Role::Department, Some("GAS")).await);
    let import = |client: &reqwest::Client, code: &str, query: &str| {
        client
            .post(server.url(&format!("/layers/{code}/import?filename=z.geojson&{query}")))
            .body(geojson_points(3))
            .send()
    };
    let version = |code: &str| {
        server
            .app
            .index()
            .layer(&code.parse().unwrap())
            .map(|l| (l.layer().version, l.len()))
    };
    let before = version("internal_notes");
    // Another department's layer: refused, nothing changes.
    let r = import(&gas, "internal_notes", "mode=append").await.unwrap();
    assert_eq!(r.status(), 403);
    let r = import(&server.anonymous, "internal_notes", "mode=append")
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(version("internal_notes"), before);
    // Its own layer: imported.
    let r = import(&owner, "internal_notes", "mode=append")
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (v, n) = version("internal_notes").unwrap();
    assert_eq!((v, n), (before.unwrap().0 + 1, before.unwrap().1 + 3));
    // A new layer is the importing department's; naming another is refused.
    let r = import(&gas, "gas_notes", "kind=zones").await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let made = server
        .app
        .index()
        .layer(&"gas_notes".parse().unwrap())
        .unwrap();
    assert_eq!(made.layer().spec.department.as_deref(), Some("GAS"));
    let r = import(&gas, "water_notes", "kind=zones&department=VODOKANAL")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(server
        .app
        .index()
        .layer(&"water_notes".parse().unwrap())
        .is_none());
    // An internal layer made by import: staff see it, the public does not.
    let r = import(&gas, "gas_internal", "kind=zones&internal=true")
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let anon = server
        .anonymous
        .get(server.url("/layers/gas_internal"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 404);
    let staff = gas
        .get(server.url("/layers/gas_internal"))
        .send()
        .await
        .unwrap();
    assert_eq!(staff.status(), 200);
    // And the parcels layer of the land committee is not the gas operator's.
    let r = import(&gas, "parcels", "mode=append&dry_run=true")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    server.stop().await;
}

#[tokio::test]
async fn bad_and_revoked_tokens_get_401() {
    let (_dir, store, _, _) = city().await;
    let server = TestServer::start(store.clone()).await;
    let intake = server.token(Role::Intake, None).await;
    let client = client_with_token(&intake);
    assert_eq!(
        client
            .get(server.url("/applications"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let zeros = format!("imgis_{}", "0".repeat(64));
    for header in [
        format!("Bearer {zeros}"),
        "Bearer not-a-token".into(),
        format!("Basic {intake}"),
        "Bearer".into(),
    ] {
        for path in ["/layers", "/applications", "/tiles/parcels.json"] {
            let r = server
                .anonymous
                .get(server.url(path))
                .header("authorization", &header)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{header} on {path}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized");
        }
    }

    // Revoked in the store (as `imgis token revoke` does): refused within the TTL.
    let id = store
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .find(|t| intake.starts_with(&t.prefix) && t.role == Role::Intake)
        .unwrap()
        .id;
    store.revoke_token(id).await.unwrap();
    let deadline = std::time::Instant::now() + app::auth::TOKEN_TTL * 3;
    loop {
        let status = client
            .get(server.url("/applications"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "a revoked token still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    server.stop().await;
}

/// `imgis token create|list|revoke` on the store a server uses: the token is
/// printed once and works; the list shows no secret; a revoked token is refused.
#[tokio::test]
async fn the_token_commands_make_list_and_revoke_tokens() {
    let (dir, store, _, _) = city().await;
    let gpkg = dir.path().join("store.gpkg");
    let imgis = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_imgis"))
            .args(["token"])
            .args(args)
            .args(["--gpkg", gpkg.to_str().unwrap()])
            .output()
            .expect("running imgis token");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, made, said) = imgis(&[
        "create",
        "--role",
        "department",
        "--department",
        OWNER,
        "--label",
        "Рыбнадзор, ГИС",
    ]);
    assert!(ok, "{said}");
    let secret = made.trim();
    assert!(
        imgis::auth::looks_like_token(secret),
        "stdout holds the token alone: {made:?}"
    );
    assert!(said.contains("department FISHERIES"), "{said}");
    // Refused: a department token without its department, an unknown role or department.
    for bad in [
        vec!["create", "--role", "department"],
        vec!["create", "--role", "root"],
        vec!["create", "--role", "department", "--department", "NOPE"],
        vec!["create", "--role", "intake", "--department", "GAS"],
    ] {
        let (ok, out, err) = imgis(&bad);
        assert!(
            !ok && out.is_empty() && err.contains("error"),
            "{bad:?}: {err}"
        );
    }
    let (ok, listed, _) = imgis(&["list", "--json"]);
    assert!(ok);
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["role"], "department");
    assert_eq!(listed[0]["label"], "Рыбнадзор, ГИС");
    assert!(
        !listed[0].to_string().contains(&secret[10..]),
        "the list shows no secret"
    );
    let id = listed[0]["id"].as_i64().unwrap();

    let server = TestServer::start(store.clone()).await;
    let owner = client_with_token(secret);
    let r = owner
        .get(server.url("/layers/internal_notes"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (ok, said, err) = imgis(&["revoke", &id.to_string()]);
    assert!(ok && said.contains("revoked"), "{said}{err}");
    let (ok, _, err) = imgis(&["revoke", "999"]);
    assert!(!ok && err.contains("999"), "{err}");
    let (_, listed, _) = imgis(&["list"]);
    assert!(
        !listed
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("\t-\tРыбнадзор, ГИС"),
        "{listed}"
    );
    let deadline = std::time::Instant::now() + app::auth::TOKEN_TTL * 3;
    while owner
        .get(server.url("/layers/internal_notes"))
        .send()
        .await
        .unwrap()
        .status()
        != 401
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a revoked token still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    server.stop().await;
}
