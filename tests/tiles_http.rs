//! Vector tiles through real HTTP on 127.0.0.1, over a demo city in a real
//! GeoPackage: tiles decoded with an independent decoder (`mvt-reader`) and
//! compared with the index's features; edits invalidating exactly their
//! layer's cached tiles; conditional requests and gzip; TileJSON and the OGC
//! API – Tiles paths; bad requests.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Arc;

use geo::BoundingRect;
use geo_types::{Geometry, Rect};
use imgis::index::LayerIndex;
use imgis::model::{LayerCode, NewFeature};
use imgis::tiles::{render, TileCoord, TileOptions};
use mvt_reader::feature::Value as MvtValue;
use serde_json::Value;

use crate::common::server::{test_config, TestServer};
use crate::common::tile_of;

/// The demo city's centre (the Kremlin), lon/lat degrees.
const CENTRE: (f64, f64) = (49.1056, 55.7989);
const EXTENT: f64 = 4096.0;

async fn demo_server(parcels: usize, tile_cache_mb: usize) -> (tempfile::TempDir, TestServer) {
    let (dir, store) = crate::common::gpkg_demo(parcels, 7).await;
    let mut config = test_config();
    config.tile_cache_mb = tile_cache_mb;
    (dir, TestServer::start_with(config, store).await)
}

/// Lon/lat degrees → tile pixels (x right, y down) of tile z/x/y.
fn to_pixels(lon: f64, lat: f64, (z, x, y): (u8, u32, u32)) -> (f64, f64) {
    let n = f64::from(1u32 << z);
    let u = (lon + 180.0) / 360.0 * n - f64::from(x);
    let phi = lat.to_radians();
    let v =
        (1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0 * n - f64::from(y);
    (u * EXTENT, v * EXTENT)
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }
}

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = server.client.get(server.url(path));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().await.expect("the server answers");
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.bytes().await.expect("a body").to_vec(),
    }
}

fn layer(server: &TestServer, code: &str) -> Arc<LayerIndex> {
    server
        .app
        .index()
        .layer(&code.parse().unwrap())
        .unwrap_or_else(|| panic!("layer {code} is indexed"))
}

/// The source property as MVT carries it.
fn same_value(source: &Value, tile: &MvtValue) -> bool {
    match (source, tile) {
        (Value::String(a), MvtValue::String(b)) => a == b,
        (Value::Bool(a), MvtValue::Bool(b)) => a == b,
        (Value::Number(n), v) => {
            let b = match v {
                MvtValue::Int(i) | MvtValue::SInt(i) => *i as f64,
                MvtValue::UInt(u) => *u as f64,
                MvtValue::Double(d) => *d,
                MvtValue::Float(f) => f64::from(*f),
                _ => return false,
            };
            n.as_f64().is_some_and(|a| (a - b).abs() <= a.abs() * 1e-12)
        }
        _ => false,
    }
}

/// Twice the signed area by the MVT spec's formula (y down: positive is
/// clockwise on screen).
fn doubled_area(ring: &geo_types::LineString<f64>) -> f64 {
    ring.0
        .iter()
        .zip(ring.0.iter().cycle().skip(1))
        .map(|(a, b)| a.x * b.y - b.x * a.y)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_hold_the_index_features_within_a_pixel() {
    let (_dir, server) = demo_server(1500, 64).await;
    let codes = ["districts", "parcels", "streets", "gas", "heritage_zones"];
    let list = codes.join(",");
    let mut checked_parcels = 0;
    let mut features_seen = 0;
    for z in [14u8, 15, 16] {
        let (_, cx, cy) = tile_of(CENTRE.0, CENTRE.1, z);
        for (x, y) in [(cx, cy), (cx + 1, cy), (cx, cy + 1), (cx - 1, cy - 1)] {
            let tile = TileCoord::new(z, x, y).unwrap();
            let a = get(&server, &format!("/tiles/{list}/{z}/{x}/{y}.mvt"), &[]).await;
            assert_eq!(
                a.status,
                200,
                "{tile}: {}",
                String::from_utf8_lossy(&a.body)
            );
            assert_eq!(
                a.header("content-type"),
                "application/vnd.mapbox-vector-tile"
            );

            // The same bytes as the pipeline makes from the index for the
            // layers drawn at this zoom.
            let drawn: Vec<Arc<LayerIndex>> = codes
                .iter()
                .map(|c| layer(&server, c))
                .filter(|l| server.app.zoom_range(l).contains(z))
                .collect();
            let refs: Vec<(&str, &LayerIndex)> = drawn
                .iter()
                .map(|l| (l.code().as_str(), l.as_ref()))
                .collect();
            assert_eq!(
                a.body,
                render(&refs, tile, &TileOptions::default()).unwrap(),
                "{tile}"
            );

            let reader = mvt_reader::Reader::new(a.body.clone()).expect("a valid MVT");
            let names = reader.get_layer_names().unwrap();
            for (i, name) in names.iter().enumerate() {
                let index = layer(&server, name);
                assert!(server.app.zoom_range(&index).contains(z), "{name} at z{z}");
                let decoded = reader.get_features_as::<f64>(i).unwrap();
                let ids: BTreeSet<u64> = decoded.iter().map(|f| f.id.unwrap()).collect();
                assert_eq!(
                    ids.len(),
                    decoded.len(),
                    "{tile} {name}: one feature per id"
                );
                // Every feature whose envelope lies well inside the tile is drawn
                // (only sub-pixel ones may be dropped, and parcels are not).
                let b = tile.bounds_lonlat();
                let inner = Rect::new(
                    (b.min().x + b.width() * 0.02, b.min().y + b.height() * 0.02),
                    (b.max().x - b.width() * 0.02, b.max().y - b.height() * 0.02),
                );
                if *name == "parcels" {
                    let inside: Vec<u64> = index
                        .in_envelope(inner)
                        .filter(|f| {
                            let r = f.geometry.bounding_rect().unwrap();
                            inner.min().x <= r.min().x
                                && r.max().x <= inner.max().x
                                && inner.min().y <= r.min().y
                                && r.max().y <= inner.max().y
                        })
                        .map(|f| f.id as u64)
                        .collect();
                    assert!(!inside.is_empty(), "{tile}: parcels inside");
                    for id in &inside {
                        assert!(ids.contains(id), "{tile}: parcel {id} is missing");
                    }
                }
                for f in &decoded {
                    let id = f.id.unwrap() as i64;
                    let source = index.feature(id).unwrap_or_else(|| {
                        panic!("{tile} {name}: feature {id} is not in the layer")
                    });
                    features_seen += 1;
                    // Properties: every non-null source property, same value.
                    let props = f.properties.as_ref().expect("properties");
                    for (k, v) in &source.properties {
                        if v.is_null() {
                            continue;
                        }
                        let got = props
                            .get(k)
                            .unwrap_or_else(|| panic!("{tile} {name} {id}: no {k}"));
                        assert!(same_value(v, got), "{tile} {name} {id}: {k} {v} vs {got:?}");
                    }
                    if let Some(c) = &source.cadastral {
                        assert_eq!(props["cadastral"], MvtValue::String(c.to_string()));
                    }
                    // Rings: exteriors clockwise on screen, holes counter-clockwise.
                    let polygons = match &f.geometry {
                        Geometry::Polygon(p) => vec![p.clone()],
                        Geometry::MultiPolygon(mp) => mp.0.clone(),
                        _ => vec![],
                    };
                    for p in &polygons {
                        assert!(doubled_area(p.exterior()) > 0.0, "{tile} {name} {id}");
                        for hole in p.interiors() {
                            assert!(doubled_area(hole) < 0.0, "{tile} {name} {id} hole");
                        }
                    }
                    // Geometry within a pixel: a parcel wholly inside the tile
                    // has the same box in tile pixels as its source.
                    if *name == "parcels" {
                        let r = source.geometry.bounding_rect().unwrap();
                        if !(b.min().x < r.min().x
                            && r.max().x < b.max().x
                            && b.min().y < r.min().y
                            && r.max().y < b.max().y)
                        {
                            continue;
                        }
                        let (x0, y1) = to_pixels(r.min().x, r.min().y, (z, x, y));
                        let (x1, y0) = to_pixels(r.max().x, r.max().y, (z, x, y));
                        let d = f.geometry.bounding_rect().unwrap();
                        for (want, got) in [
                            (x0, d.min().x),
                            (y0, d.min().y),
                            (x1, d.max().x),
                            (y1, d.max().y),
                        ] {
                            assert!(
                                (want - got).abs() <= 1.0,
                                "{tile} parcel {id}: {want:.2} px in the source, {got} in the tile"
                            );
                        }
                        checked_parcels += 1;
                    }
                }
            }
        }
    }
    assert!(checked_parcels > 300, "{checked_parcels} parcels compared");
    assert!(features_seen > 1000, "{features_seen} features decoded");
    server.stop().await;
}

/// All features of a layer as new features (to write them back changed).
fn as_new(index: &LayerIndex) -> Vec<NewFeature> {
    let mut all: Vec<_> = index
        .in_envelope(index.extent().unwrap())
        .cloned()
        .collect();
    all.sort_by_key(|f| f.id);
    all.iter()
        .map(|f| {
            let mut n = NewFeature::new(f.geometry.clone(), f.properties.clone());
            if let Some(c) = &f.cadastral {
                n = n.with_cadastral(c.clone());
            }
            n
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_changes_its_layer_tiles_and_leaves_other_layers_cached() {
    let (_dir, server) = demo_server(800, 64).await;
    let z = 16;
    let (_, x, y) = tile_of(CENTRE.0, CENTRE.1, z);
    let parcels_path = format!("/tiles/parcels/{z}/{x}/{y}.mvt");
    let streets_path = format!("/tiles/streets/{z}/{x}/{y}.mvt");
    let both_path = format!("/tiles/parcels,streets/{z}/{x}/{y}.mvt");

    let first = get(&server, &parcels_path, &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-tile-cache"), "miss");
    let streets = get(&server, &streets_path, &[]).await;
    assert_eq!(streets.status, 200, "a street crosses the centre tile");
    let both = get(&server, &both_path, &[]).await;
    for path in [&parcels_path, &streets_path, &both_path] {
        let again = get(&server, path, &[]).await;
        assert_eq!(again.header("x-tile-cache"), "hit", "{path}");
    }

    // A GIS specialist renames the address of a parcel in this tile.
    let parcels = layer(&server, "parcels");
    let tile = TileCoord::new(z, x, y).unwrap();
    let target = parcels
        .intersecting(tile.bounds_lonlat())
        .next()
        .expect("a parcel in the tile")
        .clone();
    let new_address = "ул. Кремлёвская, 99 (исправлено)";
    let mut features = as_new(&parcels);
    let edited = features
        .iter_mut()
        .find(|f| f.cadastral == target.cadastral)
        .unwrap();
    edited
        .properties
        .insert("address".into(), Value::String(new_address.into()));
    let code: LayerCode = "parcels".parse().unwrap();
    let layer_after = server.app.replace_features(&code, features).await.unwrap();
    assert_eq!(layer_after.version, parcels.layer().version + 1);

    // The parcels tile is made anew, with the new address and a new ETag; the
    // old ETag no longer matches.
    let after = get(&server, &parcels_path, &[]).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.header("x-tile-cache"), "miss");
    assert_ne!(after.header("etag"), first.header("etag"));
    let reader = mvt_reader::Reader::new(after.body.clone()).unwrap();
    let found = reader
        .get_features_as::<f64>(0)
        .unwrap()
        .into_iter()
        .filter_map(|f| f.properties)
        .any(|p| p.get("address") == Some(&MvtValue::String(new_address.into())));
    assert!(found, "the edited address is in the new tile");
    let stale = get(
        &server,
        &parcels_path,
        &[("if-none-match", first.header("etag"))],
    )
    .await;
    assert_eq!(stale.status, 200, "an old copy is not current");
    // The composite with parcels changes too; the streets tile stays cached.
    let both_after = get(&server, &both_path, &[]).await;
    assert_eq!(both_after.header("x-tile-cache"), "miss");
    assert_ne!(both_after.header("etag"), both.header("etag"));
    let streets_after = get(&server, &streets_path, &[]).await;
    assert_eq!(streets_after.header("x-tile-cache"), "hit");
    assert_eq!(streets_after.header("etag"), streets.header("etag"));
    assert_eq!(streets_after.body, streets.body);

    // An append shows up too: a new plot in the middle of the tile.
    let centre = tile.bounds_lonlat().center();
    let (dx, dy) = (
        tile.bounds_lonlat().width() / 50.0,
        tile.bounds_lonlat().height() / 50.0,
    );
    let plot = geo_types::Polygon::new(
        vec![
            (centre.x, centre.y),
            (centre.x + dx, centre.y),
            (centre.x + dx, centre.y + dy),
            (centre.x, centre.y + dy),
            (centre.x, centre.y),
        ]
        .into(),
        vec![],
    );
    let mut props = serde_json::Map::new();
    props.insert("address".into(), Value::String("новый участок".into()));
    let appended = server
        .app
        .append_features(
            &code,
            vec![NewFeature::new(Geometry::Polygon(plot), props)
                .with_cadastral("16:50:999999:1".parse().unwrap())],
        )
        .await
        .unwrap();
    assert_eq!(appended.version, layer_after.version + 1);
    let after_append = get(&server, &parcels_path, &[]).await;
    assert_eq!(after_append.header("x-tile-cache"), "miss");
    let reader = mvt_reader::Reader::new(after_append.body.clone()).unwrap();
    let has_new = reader
        .get_features_as::<f64>(0)
        .unwrap()
        .into_iter()
        .filter_map(|f| f.properties)
        .any(|p| p.get("cadastral") == Some(&MvtValue::String("16:50:999999:1".into())));
    assert!(has_new, "the appended plot is in the tile");

    // The cache holds no tile of an old parcels version any more: the
    // streets tile, and the parcels tile of the last version.
    server.app.tile_cache().settle().await;
    let stats = server.app.tile_cache().stats();
    assert_eq!(stats.entries, 2, "{stats:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_requests_gzip_and_empty_tiles() {
    let (_dir, server) = demo_server(300, 64).await;
    let z = 15;
    let (_, x, y) = tile_of(CENTRE.0, CENTRE.1, z);
    let path = format!("/tiles/parcels,streets/{z}/{x}/{y}.mvt");
    let plain = get(&server, &path, &[]).await;
    assert_eq!(plain.status, 200);
    assert!(plain.header("cache-control").contains("no-cache"));
    assert_eq!(plain.header("vary"), "accept-encoding");
    let etag = plain.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let gz = get(&server, &path, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), "gzip");
    assert_ne!(
        gz.header("etag"),
        etag,
        "each representation has its own ETag"
    );
    assert!(gz.body.len() < plain.body.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.body);
    let refused = get(&server, &path, &[("accept-encoding", "gzip;q=0")]).await;
    assert_eq!(refused.header("content-encoding"), "");
    assert_eq!(refused.body, plain.body);

    for tag in [etag.as_str(), gz.header("etag"), "\"x\", *"] {
        let current = get(&server, &path, &[("if-none-match", tag)]).await;
        assert_eq!(current.status, 304, "{tag}");
        assert!(current.body.is_empty());
        assert!(!current.header("etag").is_empty());
    }
    let other = get(&server, &path, &[("if-none-match", "\"0000\"")]).await;
    assert_eq!(other.status, 200);

    // Open water far from the city, and parcels below their minzoom: no
    // content, consistently 204 with a validator.
    for empty in ["/tiles/parcels/16/0/0.mvt", "/tiles/parcels/10/0/0.mvt"] {
        let a = get(&server, empty, &[]).await;
        assert_eq!(a.status, 204, "{empty}");
        assert!(a.body.is_empty());
        assert!(!a.header("etag").is_empty());
    }
    server.stop().await;

    // With the cache off, tiles are rendered every time, the same bytes.
    let (_dir2, uncached) = demo_server(300, 0).await;
    let a = get(&uncached, &path, &[]).await;
    let b = get(&uncached, &path, &[]).await;
    assert_eq!(a.header("x-tile-cache"), "off");
    assert_eq!(b.header("x-tile-cache"), "off");
    assert_eq!(a.body, plain.body, "the same city renders the same tile");
    assert_eq!(b.body, a.body);
    assert_eq!(uncached.app.tile_cache().stats().entries, 0);
    uncached.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tile_requests_get_json_errors() {
    let (_dir, server) = demo_server(100, 16).await;
    let cases: &[(&str, u16, &str)] = &[
        ("/tiles/parcels/25/0/0.mvt", 400, "invalid_tile"),
        ("/tiles/parcels/21/0/0.mvt", 400, "invalid_tile"),
        ("/tiles/parcels/3/8/0.mvt", 400, "invalid_tile"),
        ("/tiles/parcels/3/0/8.mvt", 400, "invalid_tile"),
        ("/tiles/parcels/a/0/0.mvt", 400, "invalid_tile"),
        ("/tiles/parcels/1/-1/0.mvt", 400, "invalid_tile"),
        ("/tiles/parcels/1/0/zero.mvt", 400, "invalid_tile"),
        ("/tiles/parcels/99999999999/0/0.mvt", 400, "invalid_tile"),
        ("/tiles/parcels,parcels/1/0/0.mvt", 400, "invalid_tile"),
        ("/tiles/nope/1/0/0.mvt", 404, "unknown_layer"),
        ("/tiles/parcels,nope/1/0/0.mvt", 404, "unknown_layer"),
        ("/tiles/PARCELS/1/0/0.mvt", 404, "unknown_layer"),
        ("/tiles/..%2F..%2Fetc/1/0/0.mvt", 404, "unknown_layer"),
        ("/tiles/nope.json", 404, "unknown_layer"),
        ("/tiles/parcels", 404, "not_found"),
        ("/collections/nope/tiles", 404, "unknown_layer"),
        (
            "/collections/parcels/tiles/WorldCRS84Quad",
            404,
            "unknown_tile_matrix_set",
        ),
        (
            "/collections/parcels/tiles/WebMercatorQuad/3/0/8",
            400,
            "invalid_tile",
        ),
        (
            "/collections/parcels/tiles/WebMercatorQuad/x/0/0",
            400,
            "invalid_tile",
        ),
        ("/tileMatrixSets/Nope", 404, "unknown_tile_matrix_set"),
    ];
    for (path, status, code) in cases {
        let a = get(&server, path, &[]).await;
        assert_eq!(
            a.status,
            *status,
            "{path}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let body = a.json();
        assert_eq!(body["error"], *code, "{path}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let many = vec!["parcels"; 33].join(",");
    let a = get(&server, &format!("/tiles/{many}/1/0/0.mvt"), &[]).await;
    assert_eq!(a.status, 400);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tilejson_and_ogc_tiles_describe_the_same_tiles() {
    let (_dir, server) = demo_server(500, 16).await;
    let base = server.url("");
    let parcels = layer(&server, "parcels");

    let tj = get(&server, "/tiles/parcels.json", &[]).await.json();
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(tj["scheme"], "xyz");
    assert_eq!(
        tj["tiles"][0],
        format!("{base}/tiles/parcels/{{z}}/{{x}}/{{y}}.mvt")
    );
    assert_eq!(tj["minzoom"], 14);
    assert_eq!(tj["maxzoom"], 20);
    let e = parcels.extent().unwrap();
    let bounds: Vec<f64> = serde_json::from_value(tj["bounds"].clone()).unwrap();
    assert_eq!(bounds, vec![e.min().x, e.min().y, e.max().x, e.max().y]);
    let vl = &tj["vector_layers"][0];
    assert_eq!(vl["id"], "parcels");
    assert_eq!(vl["fields"]["cadastral"], "String");
    assert_eq!(vl["fields"]["area_m2"], "Number");
    assert_eq!(vl["fields"]["address"], "String");

    let composite = get(&server, "/tiles/districts,parcels,gas.json", &[])
        .await
        .json();
    let ids: Vec<&str> = composite["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["districts", "parcels", "gas"]);
    assert_eq!(composite["minzoom"], 0);
    assert_eq!(
        composite["tiles"][0],
        format!("{base}/tiles/districts,parcels,gas/{{z}}/{{x}}/{{y}}.mvt")
    );
    assert_eq!(composite["vector_layers"][2]["minzoom"], 12);

    // A reverse proxy's forwarded scheme and host make the links.
    let proxied = get(
        &server,
        "/tiles/parcels.json",
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "gis.example.org"),
        ],
    )
    .await
    .json();
    assert_eq!(
        proxied["tiles"][0],
        "https://gis.example.org/tiles/parcels/{z}/{x}/{y}.mvt"
    );

    // OGC API – Tiles: the tileset, its template, and tiles in z/row/col order.
    let sets = get(&server, "/collections/parcels/tiles", &[]).await.json();
    assert_eq!(sets["tilesets"][0]["dataType"], "vector");
    let tileset = get(&server, "/collections/parcels/tiles/WebMercatorQuad", &[])
        .await
        .json();
    assert_eq!(
        tileset["tileMatrixSetURI"],
        "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    );
    let item = tileset["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "item")
        .expect("an item link");
    assert_eq!(item["type"], "application/vnd.mapbox-vector-tile");
    let template = item["href"].as_str().unwrap();
    let limits = tileset["tileMatrixSetLimits"].as_array().unwrap();
    assert_eq!(limits.len(), 7, "z14 to z20");
    let (_, x, y) = tile_of(CENTRE.0, CENTRE.1, 15);
    let z15 = limits.iter().find(|l| l["tileMatrix"] == "15").unwrap();
    assert!(z15["minTileCol"].as_u64().unwrap() <= u64::from(x));
    assert!(u64::from(y) <= z15["maxTileRow"].as_u64().unwrap());
    let ogc_path = template
        .trim_start_matches(&base)
        .replace("{tileMatrix}", "15")
        .replace("{tileRow}", &y.to_string())
        .replace("{tileCol}", &x.to_string());
    let ogc = get(&server, &ogc_path, &[]).await;
    let xyz = get(&server, &format!("/tiles/parcels/15/{x}/{y}.mvt"), &[]).await;
    assert_eq!(ogc.status, 200);
    assert_eq!(
        ogc.header("content-type"),
        "application/vnd.mapbox-vector-tile"
    );
    assert_eq!(ogc.body, xyz.body);
    assert!(!ogc.body.is_empty());

    let tms = get(&server, "/tileMatrixSets/WebMercatorQuad", &[])
        .await
        .json();
    let matrices = tms["tileMatrices"].as_array().unwrap();
    assert_eq!(matrices.len(), 25);
    assert_eq!(matrices[14]["matrixWidth"], 16384);
    let cell0 = matrices[0]["cellSize"].as_f64().unwrap();
    assert!((cell0 - 156_543.033_928_041).abs() < 1e-6, "{cell0}");
    let list = get(&server, "/tileMatrixSets", &[]).await.json();
    assert_eq!(list["tileMatrixSets"][0]["id"], "WebMercatorQuad");

    // Layers list zoom ranges and tile links, in drawing order.
    let layers = get(&server, "/layers", &[]).await.json();
    let layers = layers["layers"].as_array().unwrap();
    let order: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l["code"].as_str().unwrap(), i))
        .collect();
    assert!(order["districts"] < order["parcels"]);
    assert!(order["parcels"] < order["heritage_zones"]);
    assert!(order["heritage_zones"] < order["streets"]);
    assert!(order["gas"] < order["gas_stations"]);
    let p = &layers[order["parcels"]];
    assert_eq!(p["minzoom"], 14);
    assert!(p["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["href"] == "/tiles/parcels.json"));
    server.stop().await;
}
