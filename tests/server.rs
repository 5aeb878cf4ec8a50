//! The HTTP server against real stores (a GeoPackage file and a PostGIS
//! database), real HTTP on 127.0.0.1: health, layers, parcels, bad input, and
//! the write path keeping index and store in step.

use geo::{polygon, HasDimensions};
use imgis::model::{Cadastral, LayerCode, NewFeature};
use imgis::store::DynStore;

use crate::common::server::TestServer;

const PARCELS: usize = 300;

async fn gpkg() -> (tempfile::TempDir, DynStore) {
    crate::common::gpkg_demo(PARCELS, 42).await
}

async fn postgis() -> ((), DynStore) {
    ((), crate::common::postgis_demo(PARCELS, 42).await)
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod gpkg_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_guard, store) = super::gpkg().await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgis_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_guard, store) = super::postgis().await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

on_both_backends!(
    health_reports_store_index_and_every_layer,
    layers_list_and_lookup,
    parcel_by_cadastral_number,
    bad_requests_get_json_errors,
    writes_reach_the_index_and_failed_writes_change_nothing,
    utility_edits_regenerate_protection_zones,
);

/// A utility network edited: its protection zones are derived anew, stored,
/// and indexed; a second start finds them current and leaves them alone.
async fn utility_edits_regenerate_protection_zones(store: DynStore) {
    let server = TestServer::start(store.clone()).await;
    let zones: LayerCode = "utility_protection_zones".parse().unwrap();
    let power: LayerCode = "power".parse().unwrap();
    let before = server.app.index().layer(&zones).expect("zones are indexed");
    let count_of = |l: &imgis::index::LayerIndex, source: &str| {
        let extent = l.extent().unwrap();
        l.in_envelope(extent)
            .filter(|f| f.properties["source_layer"] == source)
            .count()
    };
    let power_index = server.app.index().layer(&power).unwrap();
    assert_eq!(count_of(&before, "power"), power_index.len());

    // The power grid operator keeps only the first line of its layer.
    let first = power_index
        .in_envelope(power_index.extent().unwrap())
        .min_by_key(|f| f.id)
        .unwrap()
        .clone();
    server
        .app
        .replace_features(
            &power,
            vec![NewFeature::new(
                first.geometry.clone(),
                first.properties.clone(),
            )],
        )
        .await
        .unwrap();
    let after = server.app.index().layer(&zones).unwrap();
    assert_eq!(after.layer().version, before.layer().version + 1);
    assert_eq!(count_of(&after, "power"), 1);
    assert_eq!(count_of(&after, "gas"), count_of(&before, "gas"));
    let stored = store.features(&zones).await.unwrap();
    assert_eq!(
        stored.len(),
        after.len(),
        "the store holds what the index shows"
    );
    server.stop().await;

    let again = TestServer::start(store.clone()).await;
    let reopened = again.app.index().layer(&zones).unwrap();
    assert_eq!(
        reopened.layer().version,
        after.layer().version,
        "current zones are not derived again at start"
    );
    again.stop().await;
}

async fn health_reports_store_index_and_every_layer(store: DynStore) {
    let server = TestServer::start(store.clone()).await;
    // Read after the start: the server derives the utility protection zones
    // into a layer of their own.
    let layers = store.layers().await.unwrap();
    assert!(
        layers
            .iter()
            .any(|l| l.code().as_str() == "utility_protection_zones" && l.feature_count > 0),
        "derived protection zones are stored"
    );
    let (status, body) = server.get_json("/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"]["backend"], store.backend());
    assert_eq!(body["store"]["reachable"], true);
    assert_eq!(
        body["index"]["layers"].as_u64().unwrap() as usize,
        layers.len()
    );
    let total: i64 = layers.iter().map(|l| l.feature_count).sum();
    assert_eq!(body["index"]["features"].as_i64().unwrap(), total);
    for l in &layers {
        let entry = body["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["code"] == l.code().as_str())
            .unwrap_or_else(|| panic!("{} missing from /health", l.code()));
        assert_eq!(
            entry["features"].as_i64().unwrap(),
            l.feature_count,
            "{}",
            l.code()
        );
        assert_eq!(
            entry["version"].as_i64().unwrap(),
            l.version,
            "{}",
            l.code()
        );
    }
    server.stop().await;
}

async fn layers_list_and_lookup(store: DynStore) {
    let server = TestServer::start(store.clone()).await;
    let (status, body) = server.get_json("/layers").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = body["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["code"].as_str().unwrap())
        .collect();
    let mut stored = store.layers().await.unwrap();
    // Drawing order: areas, then lines, then points; within each, by kind, then code.
    stored.sort_by(|a, b| {
        (a.spec.draw_rank(), a.code().as_str()).cmp(&(b.spec.draw_rank(), b.code().as_str()))
    });
    let stored: Vec<String> = stored.iter().map(|l| l.code().to_string()).collect();
    assert_eq!(
        listed, stored,
        "every stored layer is listed, in drawing order"
    );
    assert_eq!(listed.first(), Some(&"districts"));
    assert_eq!(listed.last(), Some(&"gas_stations"));
    for code in [
        "parcels",
        "water",
        "gas",
        "power",
        "heat",
        "telecom",
        "sewer",
        "heritage_zones",
        "territorial_zones",
    ] {
        assert!(listed.contains(&code), "demo layer {code} missing");
    }

    let (status, parcels) = server.get_json("/layers/parcels").await;
    assert_eq!(status, 200);
    assert_eq!(parcels["feature_count"], PARCELS);
    assert_eq!(parcels["kind"], "parcels");
    assert_eq!(parcels["department"], "KZIO");
    assert_eq!(parcels["version"], 1);
    // The demo city lies in Kazan: the extent is within the city's lon/lat box.
    let bbox: Vec<f64> = parcels["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        bbox[0] > 48.8 && bbox[2] < 49.4 && bbox[1] > 55.6 && bbox[3] < 56.0,
        "{bbox:?}"
    );
    server.stop().await;
}

async fn parcel_by_cadastral_number(store: DynStore) {
    let code: LayerCode = "parcels".parse().unwrap();
    let stored = store.features(&code).await.unwrap();
    let server = TestServer::start(store.clone()).await;
    for f in stored.iter().step_by(37) {
        let cadastral = f
            .cadastral
            .as_ref()
            .expect("demo parcels have cadastral numbers");
        let (status, body) = server.get_json(&format!("/parcels/{cadastral}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["type"], "Feature");
        assert_eq!(body["id"], f.id);
        assert_eq!(body["properties"]["cadastral"], cadastral.as_str());
        assert_eq!(body["layer"]["code"], "parcels");
        // The geometry is the stored one, coordinate for coordinate.
        let geometry: geojson::Geometry = serde_json::from_value(body["geometry"].clone()).unwrap();
        let geometry: geo_types::Geometry<f64> = geometry.try_into().unwrap();
        assert_eq!(geometry, f.geometry);
        // Geodesic area from the API against the generator's planar UTM area: within 0.5 %.
        let api = body["area_m2"].as_f64().unwrap();
        let planar = f.properties["area_m2"].as_f64().unwrap();
        assert!(
            !f.geometry.is_empty() && (api - planar).abs() / planar < 0.005,
            "{api} vs {planar}"
        );
    }
    server.stop().await;
}

async fn bad_requests_get_json_errors(store: DynStore) {
    let server = TestServer::start(store).await;
    for (path, status, code) in [
        ("/layers/no_such_layer", 404, "unknown_layer"),
        ("/layers/NOT%20A%20CODE", 404, "unknown_layer"),
        ("/parcels/16:50:999999:999", 404, "unknown_parcel"),
        (
            "/parcels/16-50-011101-12",
            400,
            "malformed_cadastral_number",
        ),
        ("/parcels/16:50:0111:1", 400, "malformed_cadastral_number"),
        ("/no/such/path", 404, "not_found"),
    ] {
        let (got, body) = server.get_json(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"], code, "{path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
    let (_, body) = server.get_json("/parcels/abc").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("NN:NN:NNNNNN[N]:N"),
        "the message names the expected format: {body}"
    );
    server.stop().await;
}

async fn writes_reach_the_index_and_failed_writes_change_nothing(store: DynStore) {
    let server = TestServer::start(store.clone()).await;
    let code: LayerCode = "parcels".parse().unwrap();
    let before = server.app.index().layer(&code).unwrap();
    let existing = before.layer().version;

    // A new parcel, away from the others.
    let square = polygon![
        (x: 49.0, y: 55.9), (x: 49.001, y: 55.9), (x: 49.001, y: 55.9006), (x: 49.0, y: 55.9006)
    ];
    let number: Cadastral = "16:50:990001:1".parse().unwrap();
    let layer = server
        .app
        .append_features(
            &code,
            vec![NewFeature::new(square.clone().into(), Default::default())
                .with_cadastral(number.clone())],
        )
        .await
        .expect("append commits");
    assert_eq!(layer.version, existing + 1);
    let (status, body) = server.get_json(&format!("/parcels/{number}")).await;
    assert_eq!(
        status, 200,
        "the index answers with the new parcel at once: {body}"
    );
    let (_, meta) = server.get_json("/layers/parcels").await;
    assert_eq!(meta["version"], existing + 1);
    assert_eq!(meta["feature_count"], PARCELS + 1);

    // A replace that fails at its very end (a duplicate cadastral number) leaves everything as it was.
    let mut features: Vec<NewFeature> = (0..500)
        .map(|i| {
            NewFeature::new(square.clone().into(), Default::default())
                .with_cadastral(format!("16:50:990002:{i}").parse().unwrap())
        })
        .collect();
    features.push(
        NewFeature::new(square.into(), Default::default())
            .with_cadastral("16:50:990002:7".parse().unwrap()),
    );
    let err = server
        .app
        .replace_features(&code, features)
        .await
        .expect_err("a duplicate must fail");
    assert!(err.to_string().contains("16:50:990002:7"), "{err}");
    let after = server.app.index().layer(&code).unwrap();
    assert_eq!(after.layer().version, existing + 1);
    assert_eq!(after.len(), PARCELS + 1);
    let stored = store.layer(&code).await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.feature_count),
        (existing + 1, PARCELS as i64 + 1)
    );
    assert!(store
        .parcel(&"16:50:990002:1".parse().unwrap())
        .await
        .unwrap()
        .is_none());
    assert!(store.parcel(&number).await.unwrap().is_some());
    server.stop().await;
}
