//! Tile tests. Tiles are read back with two decoders that share no code with the
//! encoder: the `mvt-reader` crate (geometry, ids, properties) and a protobuf
//! field walker written here from the schema (layer tables, raw command streams).

use std::collections::{BTreeMap, BTreeSet};
use std::f64::consts::PI;

use geo::{BooleanOps, BoundingRect, Euclidean, Length, MapCoords};
use geo_types::{coord, line_string, point, Coord, Geometry, MultiLineString, Rect};
use mvt_reader::feature::Value as MvtValue;
use serde_json::json;

use super::*;
use crate::index::LayerIndex;
use crate::model::{props, Feature, GeometryType, Layer, LayerKind, LayerSpec, Properties};

const EXTENT: f64 = 4096.0;
const BUFFER: f64 = 64.0;

/// The Kazan Kremlin's tile at z14.
fn kremlin_z14() -> TileCoord {
    TileCoord::new(14, 10_426, 5_118).unwrap()
}

fn layer_meta(code: &str) -> Layer {
    Layer {
        spec: LayerSpec {
            code: code.parse().unwrap(),
            title: code.into(),
            description: String::new(),
            kind: LayerKind::Other,
            department: None,
            geometry_type: GeometryType::Geometry,
            public: true,
        },
        version: 1,
        updated_at: chrono::Utc::now(),
        feature_count: 0,
    }
}

fn feature(id: i64, geometry: impl Into<Geometry<f64>>, properties: Properties) -> Feature {
    Feature {
        id,
        geometry: geometry.into(),
        cadastral: None,
        properties,
    }
}

fn index(features: Vec<Feature>) -> LayerIndex {
    LayerIndex::build(layer_meta("test"), features)
}

/// Tile pixels of `tile` (extent 4096, y down) → lon/lat degrees; the slippy-map
/// formulas, written again here rather than borrowed from the code under test.
fn lonlat(tile: TileCoord, px: f64, py: f64) -> Coord<f64> {
    let n = f64::from(1u32 << tile.z);
    let u = (f64::from(tile.x) + px / EXTENT) / n;
    let v = (f64::from(tile.y) + py / EXTENT) / n;
    coord! { x: u * 360.0 - 180.0, y: (PI * (1.0 - 2.0 * v)).sinh().atan().to_degrees() }
}

/// A lon/lat polygon from tile-pixel corners (counter-clockwise on the map
/// when the pixel corners are listed clockwise on screen, as GeoJSON wants).
fn px_polygon(tile: TileCoord, ring: &[(f64, f64)]) -> geo_types::Polygon<f64> {
    geo_types::Polygon::new(
        ring.iter().map(|&(x, y)| lonlat(tile, x, y)).collect(),
        vec![],
    )
}

fn render_one(features: Vec<Feature>, tile: TileCoord) -> Vec<u8> {
    let idx = index(features);
    render(&[("test", &idx)], tile, &TileOptions::default()).unwrap()
}

/// The features of layer `n`, decoded by `mvt-reader`, coordinates in tile pixels.
fn decode(tile: &[u8], n: usize) -> Vec<mvt_reader::feature::Feature<f64>> {
    let reader = mvt_reader::Reader::new(tile.to_vec()).expect("a valid tile");
    reader.get_features_as::<f64>(n).expect("valid features")
}

/// Twice the signed area by the MVT spec's surveyor's formula (y down:
/// positive is clockwise on screen); `ring` may or may not repeat its first point.
fn doubled_area(ring: &geo_types::LineString<f64>) -> f64 {
    ring.0
        .iter()
        .zip(ring.0.iter().cycle().skip(1))
        .map(|(a, b)| a.x * b.y - b.x * a.y)
        .sum()
}

fn polygons(g: &Geometry<f64>) -> Vec<geo_types::Polygon<f64>> {
    match g {
        Geometry::Polygon(p) => vec![p.clone()],
        Geometry::MultiPolygon(mp) => mp.0.clone(),
        other => panic!("not a polygon: {other:?}"),
    }
}

fn lines(g: &Geometry<f64>) -> Vec<geo_types::LineString<f64>> {
    match g {
        Geometry::LineString(l) => vec![l.clone()],
        Geometry::MultiLineString(ml) => ml.0.clone(),
        other => panic!("not a line: {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// A protobuf walker from the schema, sharing nothing with `encode`.

/// One protobuf field: its number and its payload.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    /// Skipped: a fixed 64-bit field (Value.double_value).
    Fixed64,
    Bytes(&'a [u8]),
    /// Skipped: a fixed 32-bit field (Value.float_value).
    Fixed32,
}

fn read_varint(buf: &mut &[u8]) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (b, rest) = buf.split_first().expect("varint runs past the end");
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
    }
    panic!("varint longer than ten bytes")
}

fn fields(mut buf: &[u8]) -> Vec<(u64, Wire<'_>)> {
    let mut out = vec![];
    while !buf.is_empty() {
        let key = read_varint(&mut buf);
        let wire = match key & 7 {
            0 => Wire::Varint(read_varint(&mut buf)),
            1 => {
                buf = &buf[8..];
                Wire::Fixed64
            }
            2 => {
                let len = read_varint(&mut buf) as usize;
                let (b, rest) = buf.split_at(len);
                buf = rest;
                Wire::Bytes(b)
            }
            5 => {
                buf = &buf[4..];
                Wire::Fixed32
            }
            w => panic!("wire type {w}"),
        };
        out.push((key >> 3, wire));
    }
    out
}

fn packed(b: &[u8]) -> Vec<u32> {
    let mut buf = b;
    let mut out = vec![];
    while !buf.is_empty() {
        out.push(u32::try_from(read_varint(&mut buf)).unwrap());
    }
    out
}

#[derive(Debug, Default)]
struct RawLayer {
    name: String,
    version: u64,
    extent: u64,
    keys: Vec<String>,
    values: usize,
    features: Vec<RawFeature>,
}

#[derive(Debug, Default)]
struct RawFeature {
    id: Option<u64>,
    tags: Vec<u32>,
    kind: u64,
    geometry: Vec<u32>,
}

fn raw_layers(tile: &[u8]) -> Vec<RawLayer> {
    let mut layers = vec![];
    for (n, w) in fields(tile) {
        let Wire::Bytes(layer_bytes) = w else {
            panic!("tile field {n} is not a message")
        };
        assert_eq!(n, 3, "a tile holds layers only");
        let mut layer = RawLayer::default();
        for (n, w) in fields(layer_bytes) {
            match (n, w) {
                (1, Wire::Bytes(b)) => layer.name = String::from_utf8(b.to_vec()).unwrap(),
                (2, Wire::Bytes(b)) => {
                    let mut f = RawFeature::default();
                    for (n, w) in fields(b) {
                        match (n, w) {
                            (1, Wire::Varint(v)) => f.id = Some(v),
                            (2, Wire::Bytes(b)) => f.tags = packed(b),
                            (3, Wire::Varint(v)) => f.kind = v,
                            (4, Wire::Bytes(b)) => f.geometry = packed(b),
                            other => panic!("feature field {other:?}"),
                        }
                    }
                    layer.features.push(f);
                }
                (3, Wire::Bytes(b)) => layer.keys.push(String::from_utf8(b.to_vec()).unwrap()),
                (4, Wire::Bytes(_)) => layer.values += 1,
                (5, Wire::Varint(v)) => layer.extent = v,
                (15, Wire::Varint(v)) => layer.version = v,
                other => panic!("layer field {other:?}"),
            }
        }
        layers.push(layer);
    }
    layers
}

/// The command stream's shape, checked against the spec (4.3): for each
/// command, its id and count, e.g. `[(1, 1), (2, 3), (7, 1)]`.
fn commands(geometry: &[u32]) -> Vec<(u32, u32)> {
    let mut out = vec![];
    let mut i = 0;
    while i < geometry.len() {
        let (id, count) = (geometry[i] & 7, geometry[i] >> 3);
        out.push((id, count));
        i += 1 + match id {
            1 | 2 => 2 * count as usize,
            7 => 0,
            other => panic!("command {other}"),
        };
    }
    assert_eq!(i, geometry.len(), "parameters run past the end");
    out
}

// ---------------------------------------------------------------------------

#[test]
fn a_square_inside_decodes_clockwise_at_its_pixels_without_a_closing_repeat() {
    let tile = kremlin_z14();
    // Pixel corners listed counter-clockwise on screen: the encoder must turn them.
    let square = px_polygon(
        tile,
        &[
            (1000.0, 1000.0),
            (1000.0, 2000.0),
            (2000.0, 2000.0),
            (2000.0, 1000.0),
        ],
    );
    let bytes = render_one(vec![feature(7, square, props([]))], tile);
    let decoded = decode(&bytes, 0);
    assert_eq!(decoded.len(), 1);
    let ps = polygons(&decoded[0].geometry);
    assert_eq!(ps.len(), 1);
    let ring = ps[0].exterior();
    // mvt-reader repeats the first point at ClosePath: 4 corners + 1.
    assert_eq!(ring.0.len(), 5, "{ring:?}");
    for c in &ring.0 {
        let near = |v: f64| (v - 1000.0).abs() <= 1.0 || (v - 2000.0).abs() <= 1.0;
        assert!(near(c.x) && near(c.y), "{c:?}");
    }
    let corners: BTreeSet<(i64, i64)> = ring.0.iter().map(|c| (c.x as i64, c.y as i64)).collect();
    assert_eq!(corners.len(), 4);
    assert!(doubled_area(ring) > 0.0, "exterior clockwise on screen");
    assert!(
        (doubled_area(ring) / 2.0 - 1_000_000.0).abs() < 4_000.0,
        "{ring:?}"
    );
    // The raw stream: MoveTo(1) LineTo(3) ClosePath(1), no fifth point.
    let raw = raw_layers(&bytes);
    assert_eq!(raw.len(), 1);
    assert_eq!((raw[0].version, raw[0].extent), (2, 4096));
    assert_eq!(raw[0].name, "test");
    assert_eq!(raw[0].features[0].kind, 3);
    assert_eq!(
        commands(&raw[0].features[0].geometry),
        [(1, 1), (2, 3), (7, 1)]
    );
}

#[test]
fn a_hole_is_counter_clockwise_and_follows_its_exterior() {
    let tile = kremlin_z14();
    let outer = [
        (500.0, 500.0),
        (3500.0, 500.0),
        (3500.0, 3500.0),
        (500.0, 3500.0),
    ];
    // The hole listed in the same turn as the exterior: the encoder must turn it.
    let hole = [
        (1500.0, 1500.0),
        (2500.0, 1500.0),
        (2500.0, 2500.0),
        (1500.0, 2500.0),
    ];
    let p = geo_types::Polygon::new(
        px_polygon(tile, &outer).exterior().clone(),
        vec![px_polygon(tile, &hole).exterior().clone()],
    );
    let bytes = render_one(vec![feature(1, p, props([]))], tile);
    let ps = polygons(&decode(&bytes, 0)[0].geometry);
    assert_eq!(ps.len(), 1, "one polygon, not two: {ps:?}");
    assert_eq!(ps[0].interiors().len(), 1);
    assert!(doubled_area(ps[0].exterior()) > 0.0);
    assert!(doubled_area(&ps[0].interiors()[0]) < 0.0);
    let raw = raw_layers(&bytes);
    assert_eq!(
        commands(&raw[0].features[0].geometry),
        [(1, 1), (2, 3), (7, 1), (1, 1), (2, 3), (7, 1)]
    );
}

#[test]
fn a_multipolygon_is_one_feature_with_several_exteriors() {
    let tile = kremlin_z14();
    let a = px_polygon(tile, &[(100.0, 100.0), (200.0, 100.0), (200.0, 200.0)]);
    let b = px_polygon(tile, &[(300.0, 300.0), (400.0, 300.0), (400.0, 400.0)]);
    let mp = geo_types::MultiPolygon::new(vec![a, b]);
    let bytes = render_one(vec![feature(1, mp, props([]))], tile);
    let decoded = decode(&bytes, 0);
    assert_eq!(decoded.len(), 1);
    let ps = polygons(&decoded[0].geometry);
    assert_eq!(ps.len(), 2);
    assert!(ps.iter().all(|p| doubled_area(p.exterior()) > 0.0));
}

#[test]
fn a_polygon_over_the_edge_is_clipped_to_the_buffer() {
    let tile = kremlin_z14();
    let p = px_polygon(
        tile,
        &[
            (-1000.0, 1000.0),
            (1000.0, 1000.0),
            (1000.0, 2000.0),
            (-1000.0, 2000.0),
        ],
    );
    let bytes = render_one(vec![feature(1, p, props([]))], tile);
    let ps = polygons(&decode(&bytes, 0)[0].geometry);
    let b = ps[0].bounding_rect().unwrap();
    assert_eq!(b.min().x, -BUFFER, "cut at the buffer's edge");
    assert!((b.max().x - 1000.0).abs() <= 1.0);
    assert!((b.min().y - 1000.0).abs() <= 1.0 && (b.max().y - 2000.0).abs() <= 1.0);
    assert!(doubled_area(ps[0].exterior()) > 0.0);
}

#[test]
fn a_large_polygon_around_a_corner_keeps_its_corner() {
    // Densified edges, so that many vertices lie beyond one side and are culled
    // before projection; the corner vertex beyond two sides must stay.
    let tile = kremlin_z14();
    let corners = [
        (-3000.0, 2000.0),
        (-3000.0, -3000.0),
        (2000.0, -3000.0),
        (2000.0, 2000.0),
    ];
    let mut ring = vec![];
    for (i, &(x0, y0)) in corners.iter().enumerate() {
        let (x1, y1) = corners[(i + 1) % corners.len()];
        for k in 0..50 {
            let t = f64::from(k) / 50.0;
            ring.push(lonlat(tile, x0 + t * (x1 - x0), y0 + t * (y1 - y0)));
        }
    }
    let p = geo_types::Polygon::new(ring.into(), vec![]);
    let bytes = render_one(vec![feature(1, p, props([]))], tile);
    let ps = polygons(&decode(&bytes, 0)[0].geometry);
    assert_eq!(ps.len(), 1);
    let b = ps[0].bounding_rect().unwrap();
    assert_eq!((b.min().x, b.min().y), (-BUFFER, -BUFFER), "{ps:?}");
    assert!((b.max().x - 2000.0).abs() <= 1.0 && (b.max().y - 2000.0).abs() <= 1.0);
    let area = doubled_area(ps[0].exterior()) / 2.0;
    assert!(
        (area - 2064.0 * 2064.0).abs() < 2.0 * 2064.0 * 2.0,
        "{area}"
    );
}

#[test]
fn a_line_out_in_out_in_yields_only_the_parts_inside() {
    let tile = kremlin_z14();
    let px = [
        (-500.0, 1000.0),
        (2000.0, 1000.0),
        (2000.0, 5000.0),
        (3000.0, 5000.0),
        (3000.0, 2000.0),
    ];
    let line: geo_types::LineString<f64> = px.iter().map(|&(x, y)| lonlat(tile, x, y)).collect();
    let bytes = render_one(vec![feature(1, line, props([]))], tile);
    let decoded = decode(&bytes, 0);
    assert_eq!(decoded.len(), 1);
    let parts = lines(&decoded[0].geometry);
    let rounded: Vec<Vec<(i64, i64)>> = parts
        .iter()
        .map(|l| l.0.iter().map(|c| (c.x as i64, c.y as i64)).collect())
        .collect();
    let edge = (EXTENT + BUFFER) as i64;
    let near = |a: &[(i64, i64)], b: &[(i64, i64)]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(p, q)| (p.0 - q.0).abs() <= 1 && (p.1 - q.1).abs() <= 1)
    };
    assert_eq!(rounded.len(), 2, "{rounded:?}");
    assert!(
        near(&rounded[0], &[(-64, 1000), (2000, 1000), (2000, edge)]),
        "{rounded:?}"
    );
    assert!(
        near(&rounded[1], &[(3000, edge), (3000, 2000)]),
        "{rounded:?}"
    );
    let raw = raw_layers(&bytes);
    assert_eq!(raw[0].features[0].kind, 2);
    assert_eq!(
        commands(&raw[0].features[0].geometry),
        [(1, 1), (2, 2), (1, 1), (2, 1)]
    );
}

#[test]
fn ids_and_properties_survive_and_repeated_values_are_stored_once() {
    let tile = kremlin_z14();
    let street = "г. Казань, ул. Баумана, д. 19";
    let one = Feature {
        id: 123_456_789_012,
        geometry: point!(lonlat(tile, 100.0, 100.0)).into(),
        cadastral: Some("16:50:011101:12".parse().unwrap()),
        properties: props([
            ("адрес", json!(street)),
            ("floors", json!(5)),
            ("below", json!(-3)),
            ("area_m2", json!(612.5)),
            ("public", json!(true)),
            ("nested", json!({"a": [1, 2]})),
            ("nothing", json!(null)),
            // Shadowed by the feature's checked cadastral number.
            ("cadastral", json!("16:50:011101:12")),
        ]),
    };
    let two = Feature {
        id: 2,
        geometry: point!(lonlat(tile, 200.0, 200.0)).into(),
        cadastral: None,
        properties: props([("адрес", json!(street)), ("floors", json!(5))]),
    };
    let bytes = render_one(vec![one, two], tile);
    let decoded = decode(&bytes, 0);
    let by_id: BTreeMap<u64, _> = decoded.iter().map(|f| (f.id.unwrap(), f)).collect();
    assert_eq!(
        by_id.keys().copied().collect::<Vec<_>>(),
        [2, 123_456_789_012]
    );
    let p = by_id[&123_456_789_012].properties.as_ref().unwrap();
    assert_eq!(p["адрес"], MvtValue::String(street.into()));
    assert_eq!(p["floors"], MvtValue::UInt(5));
    assert_eq!(p["below"], MvtValue::SInt(-3));
    assert_eq!(p["area_m2"], MvtValue::Double(612.5));
    assert_eq!(p["public"], MvtValue::Bool(true));
    assert_eq!(p["nested"], MvtValue::String(r#"{"a":[1,2]}"#.into()));
    assert_eq!(p["cadastral"], MvtValue::String("16:50:011101:12".into()));
    assert!(!p.contains_key("nothing"));
    assert_eq!(p.len(), 7);
    let raw = raw_layers(&bytes);
    let f = raw[0].features.iter().find(|f| f.id == Some(2)).unwrap();
    assert_eq!(f.kind, 1);
    assert_eq!(commands(&f.geometry), [(1, 1)]);
    // Keys: cadastral, адрес, floors, below, area_m2, public, nested; values:
    // the number, the address, 5, −3, 612.5, true, the JSON text; feature 2's
    // address and 5 are the same entries.
    assert_eq!(raw[0].keys.len(), 7, "{:?}", raw[0].keys);
    assert_eq!(raw[0].values, 7);
    // Tags come in pairs that point into the tables.
    for f in &raw[0].features {
        assert_eq!(f.tags.len() % 2, 0);
        for pair in f.tags.chunks(2) {
            assert!((pair[0] as usize) < raw[0].keys.len() && (pair[1] as usize) < raw[0].values);
        }
    }
}

#[test]
fn features_beyond_the_buffer_are_absent_and_those_in_it_present() {
    let tile = kremlin_z14();
    let at = |x: f64, y: f64| Geometry::from(point!(lonlat(tile, x, y)));
    let features = vec![
        feature(1, at(4096.0 + 32.0, 100.0), props([])),
        feature(2, at(4096.0 + 100.0, 100.0), props([])),
        feature(3, at(-100.0, -100.0), props([])),
        feature(
            4,
            px_polygon(tile, &[(4300.0, 0.0), (4400.0, 0.0), (4400.0, 100.0)]),
            props([]),
        ),
        feature(
            5,
            line_string![lonlat(tile, -200.0, 5000.0), lonlat(tile, 5000.0, 5000.0)],
            props([]),
        ),
        feature(6, at(-10.0, 4100.0), props([])),
        // Its envelope covers the tile's corner, the line itself stays beyond.
        feature(
            7,
            line_string![
                lonlat(tile, 5000.0, 2000.0),
                lonlat(tile, 5000.0, 5000.0),
                lonlat(tile, 2000.0, 5000.0)
            ],
            props([]),
        ),
    ];
    let bytes = render_one(features, tile);
    let ids: BTreeSet<u64> = decode(&bytes, 0).iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(ids, BTreeSet::from([1, 6]));
}

#[test]
fn a_parcel_smaller_than_a_pixel_is_dropped_and_a_tile_of_nothing_is_empty() {
    // A 67 m parcel (200 px at z14) by the Kremlin: at z0 a tile pixel is
    // about 5.5 km there.
    let tile = kremlin_z14();
    let parcel = px_polygon(
        tile,
        &[
            (2000.0, 2000.0),
            (2200.0, 2000.0),
            (2200.0, 2200.0),
            (2000.0, 2200.0),
        ],
    );
    let idx = index(vec![feature(1, parcel, props([("k", json!("v"))]))]);
    let opts = TileOptions::default();
    let z0 = TileCoord::new(0, 0, 0).unwrap();
    assert_eq!(render(&[("p", &idx)], z0, &opts).unwrap(), Vec::<u8>::new());
    // At z16 it is drawn; a tile over the Pacific has nothing.
    let z16 = TileCoord::new(16, 41_706, 20_474).unwrap();
    assert!(!render(&[("p", &idx)], z16, &opts).unwrap().is_empty());
    let pacific = TileCoord::new(14, 500, 8000).unwrap();
    assert!(render(&[("p", &idx)], pacific, &opts).unwrap().is_empty());
    // With no minimum area, the z0 parcel rounds to a point and is still dropped.
    let no_min = TileOptions {
        min_area: 0.0,
        ..opts
    };
    assert!(render(&[("p", &idx)], z0, &no_min).unwrap().is_empty());
}

#[test]
fn several_layers_keep_their_order_and_empty_ones_are_left_out() {
    let tile = kremlin_z14();
    let a = index(vec![feature(
        1,
        point!(lonlat(tile, 10.0, 10.0)),
        props([]),
    )]);
    let empty = index(vec![]);
    let b = index(vec![feature(
        1,
        point!(lonlat(tile, 20.0, 20.0)),
        props([]),
    )]);
    let opts = TileOptions::default();
    let bytes = render(&[("b", &b), ("none", &empty), ("a", &a)], tile, &opts).unwrap();
    let names: Vec<String> = raw_layers(&bytes).into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["b", "a"]);
    assert_eq!(
        render(&[("a", &a), ("a", &b)], tile, &opts),
        Err(TileError::DuplicateLayer("a".into()))
    );
    for bad in [
        TileOptions { extent: 0, ..opts },
        TileOptions {
            buffer: 5000,
            ..opts
        },
        TileOptions {
            simplify_tolerance: f64::NAN,
            ..opts
        },
        TileOptions {
            min_area: -1.0,
            ..opts
        },
    ] {
        assert!(matches!(
            render(&[], tile, &bad),
            Err(TileError::InvalidOptions(_))
        ));
    }
}

#[test]
fn simplification_keeps_shapes_within_a_pixel() {
    // A street with a vertex every 10 cm at z14 (0.3 tile px): nearly all go.
    let tile = kremlin_z14();
    let line: geo_types::LineString<f64> = (0..=3000)
        .map(|i| {
            let x = 500.0 + f64::from(i);
            lonlat(tile, x, 2000.0 + 0.3 * (x / 50.0).sin())
        })
        .collect();
    let bytes = render_one(vec![feature(1, line, props([]))], tile);
    let parts = lines(&decode(&bytes, 0)[0].geometry);
    assert_eq!(parts.len(), 1);
    assert!(parts[0].0.len() < 10, "{} vertices", parts[0].0.len());
    assert!(parts[0].0.iter().all(|c| (c.y - 2000.0).abs() <= 1.0));
}

// ---------------------------------------------------------------------------
// The demo city against exact answers.

/// Every layer of a demo city, with store-like ids from 1.
fn demo_layers(parcels: usize) -> Vec<(String, LayerIndex)> {
    let city = crate::demo::generate(&crate::demo::DemoOptions { parcels, seed: 42 }).unwrap();
    let mut next_id = 0;
    city.layers
        .into_iter()
        .map(|l| {
            let features = l
                .features
                .into_iter()
                .map(|f| {
                    next_id += 1;
                    f.into_feature(next_id)
                })
                .collect();
            let meta = Layer {
                spec: l.spec,
                version: 1,
                updated_at: chrono::Utc::now(),
                feature_count: 0,
            };
            (meta.code().to_string(), LayerIndex::build(meta, features))
        })
        .collect()
}

/// A feature's geometry in `tile`'s pixels, through PROJ's EPSG:3857 (not our
/// closed-form projection), cut to the tile plus buffer.
struct ExactTile {
    to_mercator: crate::crs::Transformer,
    tile: TileCoord,
}

impl ExactTile {
    fn px(&self, g: &Geometry<f64>) -> Geometry<f64> {
        let m = self.to_mercator.geometry(g).unwrap();
        let b = self.tile.bounds_mercator();
        let size = b.width();
        m.map_coords(|c| {
            coord! {
                x: (c.x - b.min().x) / size * EXTENT,
                y: (b.max().y - c.y) / size * EXTENT,
            }
        })
    }

    /// How much of `g` lies in the tile plus buffer: area for polygons, length
    /// for lines, and the box of what is inside (tile pixels).
    fn inside(&self, g: &Geometry<f64>) -> (f64, Option<Rect<f64>>) {
        let clip = Rect::new(
            coord! { x: -BUFFER, y: -BUFFER },
            coord! { x: EXTENT + BUFFER, y: EXTENT + BUFFER },
        )
        .to_polygon();
        match self.px(g) {
            Geometry::Polygon(p) => {
                let cut = p.intersection(&clip);
                (geo::Area::unsigned_area(&cut), cut.bounding_rect())
            }
            Geometry::MultiPolygon(mp) => {
                let cut = mp.intersection(&clip);
                (geo::Area::unsigned_area(&cut), cut.bounding_rect())
            }
            Geometry::LineString(l) => {
                let cut = clip.clip(&MultiLineString::new(vec![l]), false);
                (Euclidean.length(&cut), cut.bounding_rect())
            }
            Geometry::MultiLineString(ml) => {
                let cut = clip.clip(&ml, false);
                (Euclidean.length(&cut), cut.bounding_rect())
            }
            other => (0.0, other.bounding_rect()),
        }
    }
}

#[test]
fn demo_city_tiles_hold_exactly_the_features_the_index_says_are_there() {
    let layers = demo_layers(2000);
    let opts = TileOptions::default();
    let mut drawn_total = 0;
    let mut dropped_total = 0;
    // The centre at z13 to z16: a 3 × 3 block of tiles around the Kremlin each.
    for (z, cx, cy) in [
        (13, 5213, 2559),
        (14, 10_426, 5_118),
        (15, 20_853, 10_236),
        (16, 41_707, 20_472),
    ] {
        for (x, y) in (cx - 1..=cx + 1).flat_map(|x| (cy - 1..=cy + 1).map(move |y| (x, y))) {
            let tile = TileCoord::new(z, x, y).unwrap();
            let exact = ExactTile {
                to_mercator: crate::crs::Transformer::new("EPSG:4326", "EPSG:3857").unwrap(),
                tile,
            };
            let refs: Vec<(&str, &LayerIndex)> =
                layers.iter().map(|(n, l)| (n.as_str(), l)).collect();
            let bytes = render(&refs, tile, &opts).unwrap();
            let raw = raw_layers(&bytes);
            let reader = mvt_reader::Reader::new(bytes.clone()).unwrap();
            let names = reader.get_layer_names().unwrap();
            assert_eq!(
                names,
                raw.iter().map(|l| l.name.clone()).collect::<Vec<_>>()
            );
            let grown = tile.bounds_lonlat_grown(BUFFER / EXTENT);
            for (name, idx) in &layers {
                let expected: BTreeMap<u64, _> =
                    idx.intersecting(grown).map(|f| (f.id as u64, f)).collect();
                let decoded = names
                    .iter()
                    .position(|n| n == name)
                    .map(|i| reader.get_features_as::<f64>(i).unwrap())
                    .unwrap_or_default();
                let drawn: BTreeSet<u64> = decoded.iter().map(|f| f.id.unwrap()).collect();
                assert_eq!(
                    drawn.len(),
                    decoded.len(),
                    "{tile} {name}: one MVT feature per feature"
                );
                let extra: Vec<_> = drawn
                    .iter()
                    .filter(|id| !expected.contains_key(id))
                    .collect();
                assert!(
                    extra.is_empty(),
                    "{tile} {name}: drawn but not in the tile: {extra:?}"
                );
                for (id, f) in &expected {
                    if drawn.contains(id) {
                        continue;
                    }
                    // Left out: only what is sub-pixel in the tile (a dot, or a
                    // sliver along the buffer's edge).
                    let (size, bbox) = exact.inside(&f.geometry);
                    let thin = bbox.is_none_or(|b| b.width().min(b.height()) < 1.5);
                    assert!(
                        thin || size < 2.0 * opts.min_area.max(1.0),
                        "{tile} {name}: feature {id} left out, {size} px inside, box {bbox:?}"
                    );
                    dropped_total += 1;
                }
                drawn_total += drawn.len();
                for f in &decoded {
                    check_geometry(&f.geometry, &format!("{tile} {name} {:?}", f.id));
                }
            }
            for l in &raw {
                for f in &l.features {
                    commands(&f.geometry);
                }
            }
        }
    }
    eprintln!("DBG drawn {drawn_total} dropped {dropped_total}");
    assert!(drawn_total > 5000, "{drawn_total} features drawn");
    assert!(
        dropped_total * 100 < drawn_total,
        "{dropped_total} dropped of {drawn_total}"
    );
}

/// Every coordinate within the tile plus buffer; exteriors clockwise on screen,
/// holes counter-clockwise; rings of at least three distinct points.
fn check_geometry(g: &Geometry<f64>, what: &str) {
    use geo::CoordsIter;
    for c in g.coords_iter() {
        assert!(
            (-BUFFER..=EXTENT + BUFFER).contains(&c.x)
                && (-BUFFER..=EXTENT + BUFFER).contains(&c.y),
            "{what}: {c:?}"
        );
    }
    if let Geometry::Polygon(_) | Geometry::MultiPolygon(_) = g {
        for p in polygons(g) {
            assert!(doubled_area(p.exterior()) > 0.0, "{what}: exterior {p:?}");
            assert!(p.exterior().0.len() >= 4, "{what}");
            for h in p.interiors() {
                assert!(doubled_area(h) < 0.0, "{what}: hole {h:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------

/// Throughput on a 300 000-parcel city (release build):
/// `cargo test --release --lib tiles -- --ignored --nocapture`.
#[test]
#[ignore = "a timing run, minutes in a debug build"]
fn tiles_per_second_on_a_300k_parcel_city() {
    use std::time::Instant;
    let parcels: usize = std::env::var("IMGIS_BENCH_PARCELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let started = Instant::now();
    let layers = demo_layers(parcels);
    println!(
        "{parcels} parcels: city and index in {:.1?}",
        started.elapsed()
    );
    let (_, parcel_index) = layers.iter().find(|(n, _)| n == "parcels").unwrap();
    let extent = parcel_index.extent().unwrap();
    let opts = TileOptions::default();
    let all: Vec<(&str, &LayerIndex)> = layers.iter().map(|(n, l)| (n.as_str(), l)).collect();
    let parcels_only = [("parcels", parcel_index)];
    for (what, set) in [("parcels", &parcels_only[..]), ("all 17 layers", &all[..])] {
        let (mut all_tiles, mut all_one, mut all_two) = (0, 0.0, 0.0);
        for z in 14..=16u8 {
            let tiles = tiles_over(extent, z);
            let (mut bytes, mut features) = (0, 0);
            for &tile in &tiles {
                let tile = render(set, tile, &opts).unwrap();
                bytes += tile.len();
                features += raw_layers(&tile)
                    .iter()
                    .map(|l| l.features.len())
                    .sum::<usize>();
            }
            let (one, two) = (best_seconds(set, &tiles, 1), best_seconds(set, &tiles, 2));
            (all_tiles, all_one, all_two) = (all_tiles + tiles.len(), all_one + one, all_two + two);
            let n = tiles.len() as f64;
            println!(
                "{what}, z{z}: {} tiles, {:.0} features and {:.0} KiB a tile; {:.0} tiles/s on 1 thread, {:.0} on 2",
                tiles.len(),
                features as f64 / n,
                bytes as f64 / n / 1024.0,
                n / one,
                n / two,
            );
        }
        println!(
            "{what}, z14-z16 together: {all_tiles} tiles; {:.0} tiles/s on 1 thread, {:.0} on 2",
            all_tiles as f64 / all_one,
            all_tiles as f64 / all_two,
        );
    }
}

/// The best of three runs of rendering every tile on `threads` threads
/// (interleaved, so that each gets its share of dense tiles), seconds.
fn best_seconds(set: &[(&str, &LayerIndex)], tiles: &[TileCoord], threads: usize) -> f64 {
    let opts = TileOptions::default();
    (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            std::thread::scope(|s| {
                for first in 0..threads {
                    s.spawn(move || {
                        for &tile in tiles.iter().skip(first).step_by(threads) {
                            std::hint::black_box(render(set, tile, &opts).unwrap());
                        }
                    });
                }
            });
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Every tile at zoom `z` that meets a lon/lat box.
fn tiles_over(bbox: Rect<f64>, z: u8) -> Vec<TileCoord> {
    let n = f64::from(1u32 << z);
    let col = |lon: f64| ((lon + 180.0) / 360.0 * n) as u32;
    let row = |lat: f64| {
        let y = lat.to_radians().tan().asinh();
        ((1.0 - y / PI) / 2.0 * n) as u32
    };
    let (x0, x1) = (col(bbox.min().x), col(bbox.max().x));
    let (y0, y1) = (row(bbox.max().y), row(bbox.min().y));
    (x0..=x1)
        .flat_map(|x| (y0..=y1).map(move |y| TileCoord::new(z, x, y).unwrap()))
        .collect()
}

// ---------------------------------------------------------------------------
// The hand-written encoder against geozero's MVT support (prost types).

/// One MVT feature as the pipeline hands it to the encoder: its source (id,
/// cadastral number, properties) and its geometry, already clipped, simplified
/// and rounded to tile pixels.
struct EncoderInput {
    source: std::sync::Arc<Feature>,
    kind: encode::GeomType,
    /// The points, line parts or rings (rings without their closing point).
    parts: Vec<Vec<[i32; 2]>>,
    /// The same geometry as geo-types in tile pixels, rings closed: what
    /// geozero's `ToMvt` reads.
    pixels: Geometry<f64>,
}

/// The encoder's input for one feature of a rendered tile, read back with
/// `mvt-reader`; properties from the index.
fn encoder_input(index: &LayerIndex, f: mvt_reader::feature::Feature<f64>) -> EncoderInput {
    use encode::GeomType;
    // Decoded tile pixels are integers: the casts are exact.
    let px = |c: &Coord<f64>| [c.x as i32, c.y as i32];
    let line = |l: &geo_types::LineString<f64>| l.0.iter().map(px).collect::<Vec<_>>();
    let rings = |p: &geo_types::Polygon<f64>| {
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(|r| {
                let mut ring = line(r);
                assert_eq!(ring.pop().as_ref(), ring.first(), "a closed ring");
                ring
            })
            .collect::<Vec<_>>()
    };
    let (kind, parts) = match &f.geometry {
        Geometry::Point(p) => (GeomType::Point, vec![vec![px(&p.0)]]),
        Geometry::MultiPoint(mp) => (
            GeomType::Point,
            vec![mp.0.iter().map(|p| px(&p.0)).collect()],
        ),
        Geometry::LineString(l) => (GeomType::LineString, vec![line(l)]),
        Geometry::MultiLineString(ml) => (GeomType::LineString, ml.0.iter().map(line).collect()),
        Geometry::Polygon(p) => (GeomType::Polygon, rings(p)),
        Geometry::MultiPolygon(mp) => (GeomType::Polygon, mp.0.iter().flat_map(rings).collect()),
        other => panic!("mvt-reader gave {other:?}"),
    };
    let id = f.id.expect("every feature has an id");
    EncoderInput {
        source: index.feature(id as i64).expect("a feature of the index"),
        kind,
        parts,
        pixels: f.geometry,
    }
}

const BENCH_LAYER: &str = "parcels";

/// Ours, as `render` drives it: the writers are kept from tile to tile.
fn encode_ours(
    input: &[EncoderInput],
    layer: &mut encode::LayerWriter,
    g: &mut encode::GeometryWriter,
) -> Vec<u8> {
    use encode::GeomType;
    layer.clear();
    for f in input {
        g.clear();
        match f.kind {
            GeomType::Point => g.points(&f.parts[0]),
            GeomType::LineString => f.parts.iter().for_each(|p| g.line(p)),
            GeomType::Polygon => f.parts.iter().for_each(|p| g.ring(p)),
        }
        let s = &f.source;
        layer.begin_tags();
        if let Some(c) = &s.cadastral {
            layer.tag_str("cadastral", c.as_str());
        }
        for (k, v) in &s.properties {
            if s.cadastral.is_none() || k != "cadastral" {
                layer.tag_json(k, v);
            }
        }
        layer.feature(u64::try_from(s.id).ok(), f.kind, &g.bytes);
    }
    let mut bytes = Vec::with_capacity(layer.encoded_len(BENCH_LAYER, 4096));
    layer.finish(BENCH_LAYER, 4096, &mut bytes);
    bytes
}

/// A property as geozero's MVT value, as `LayerWriter::tag_json` maps it.
fn tile_value(v: &serde_json::Value) -> Option<geozero::mvt::TileValue> {
    use geozero::mvt::TileValue;
    use serde_json::Value;
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => TileValue::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => TileValue::Uint(u),
            (None, Some(i)) => TileValue::Sint(i),
            (None, None) => TileValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => TileValue::Str(s.clone()),
        other => TileValue::Str(other.to_string()),
    })
}

/// A feature's tags through `insert` (key, value → their positions).
fn geozero_tags(
    f: &Feature,
    tags: &mut Vec<u32>,
    mut insert: impl FnMut(&str, geozero::mvt::TileValue) -> (u32, u32),
) {
    use geozero::mvt::TileValue;
    if let Some(c) = &f.cadastral {
        let (k, v) = insert("cadastral", TileValue::Str(c.as_str().to_owned()));
        tags.extend([k, v]);
    }
    for (k, v) in &f.properties {
        if f.cadastral.is_some() && k == "cadastral" {
            continue;
        }
        if let Some(v) = tile_value(v) {
            let (k, v) = insert(k, v);
            tags.extend([k, v]);
        }
    }
}

/// Key and value tables de-duplicated with std `HashMap`s, as a user would.
#[derive(Default)]
struct HashTables {
    keys: std::collections::HashMap<String, u32>,
    key_list: Vec<String>,
    values: std::collections::HashMap<geozero::mvt::TileValue, u32>,
    value_list: Vec<geozero::mvt::tile::Value>,
}

impl HashTables {
    fn insert(&mut self, k: &str, v: geozero::mvt::TileValue) -> (u32, u32) {
        let k = match self.keys.get(k) {
            Some(&i) => i,
            None => {
                let i = self.key_list.len() as u32;
                self.keys.insert(k.to_owned(), i);
                self.key_list.push(k.to_owned());
                i
            }
        };
        let v = match self.values.get(&v) {
            Some(&i) => i,
            None => {
                let i = self.value_list.len() as u32;
                self.value_list.push(v.clone().into());
                self.values.insert(v, i);
                i
            }
        };
        (k, v)
    }
}

fn geozero_layer(
    features: Vec<geozero::mvt::tile::Feature>,
    keys: Vec<String>,
    values: Vec<geozero::mvt::tile::Value>,
) -> geozero::mvt::Tile {
    geozero::mvt::Tile {
        layers: vec![geozero::mvt::tile::Layer {
            version: 2,
            name: BENCH_LAYER.to_owned(),
            features,
            keys,
            values,
            extent: Some(4096),
        }],
    }
}

/// geozero's helpers: `ToMvt::to_mvt_unscaled` on the tile-pixel geometry,
/// and tags through its `TagsBuilder` (with `builder`) or std `HashMap`s.
fn geozero_tile(input: &[EncoderInput], builder: bool) -> geozero::mvt::Tile {
    use geozero::mvt::TagsBuilder;
    use geozero::ToMvt;
    let (mut builder, mut tables) = (builder.then(TagsBuilder::new), HashTables::default());
    let mut features = Vec::with_capacity(input.len());
    for f in input {
        let mut feature = f.pixels.to_mvt_unscaled().expect("geozero encodes it");
        feature.id = u64::try_from(f.source.id).ok();
        match &mut builder {
            Some(b) => geozero_tags(&f.source, &mut feature.tags, |k, v| b.insert_ref(k, v)),
            None => geozero_tags(&f.source, &mut feature.tags, |k, v| tables.insert(k, v)),
        }
        features.push(feature);
    }
    match builder {
        Some(b) => {
            let (keys, values) = b.into_tags();
            geozero_layer(features, keys, values.into_iter().map(Into::into).collect())
        }
        None => geozero_layer(features, tables.key_list, tables.value_list),
    }
}

/// A feature's command integers, written here from the integer parts in
/// the simplest way (geozero's `Command` helpers are private).
fn command_integers(f: &EncoderInput) -> Vec<u32> {
    use encode::GeomType;
    let zigzag = |v: i32| ((v << 1) ^ (v >> 31)) as u32;
    let points: usize = f.parts.iter().map(Vec::len).sum();
    let mut geometry = Vec::with_capacity(2 * points + 3 * f.parts.len());
    let mut cursor = [0, 0];
    let mut to = |geometry: &mut Vec<u32>, p: [i32; 2]| {
        geometry.extend([zigzag(p[0] - cursor[0]), zigzag(p[1] - cursor[1])]);
        cursor = p;
    };
    for part in &f.parts {
        match f.kind {
            GeomType::Point => geometry.push(1 | (part.len() as u32) << 3),
            _ => {
                geometry.push(1 | 1 << 3);
                to(&mut geometry, part[0]);
                geometry.push(2 | ((part.len() - 1) as u32) << 3);
            }
        }
        let first = usize::from(f.kind != GeomType::Point);
        for &p in &part[first..] {
            to(&mut geometry, p);
        }
        if f.kind == GeomType::Polygon {
            geometry.push(7 | 1 << 3);
        }
    }
    geometry
}

/// prost types, command integers from [`command_integers`], tags through
/// std `HashMap`s.
fn prost_tile(input: &[EncoderInput]) -> geozero::mvt::Tile {
    let mut tables = HashTables::default();
    let mut features = Vec::with_capacity(input.len());
    for f in input {
        let mut feature = geozero::mvt::tile::Feature {
            id: u64::try_from(f.source.id).ok(),
            tags: Vec::new(),
            r#type: Some(f.kind as i32),
            geometry: command_integers(f),
        };
        geozero_tags(&f.source, &mut feature.tags, |k, v| tables.insert(k, v));
        features.push(feature);
    }
    geozero_layer(features, tables.key_list, tables.value_list)
}

/// A property value borrowed from its feature where it can be: a key of the
/// value table that costs no allocation when the value is there already.
#[derive(PartialEq, Eq, Hash)]
enum ValueKey<'a> {
    Str(std::borrow::Cow<'a, str>),
    Uint(u64),
    Sint(i64),
    /// The bits of a double.
    Double(u64),
    Bool(bool),
}

impl<'a> ValueKey<'a> {
    /// As `LayerWriter::tag_json` maps a property; `None` for null.
    fn of(v: &'a serde_json::Value) -> Option<Self> {
        use serde_json::Value;
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Self::Uint(u),
                (None, Some(i)) => Self::Sint(i),
                (None, None) => Self::Double(n.as_f64().unwrap_or(f64::NAN).to_bits()),
            },
            Value::String(s) => Self::Str(s.as_str().into()),
            other => Self::Str(other.to_string().into()),
        })
    }

    fn to_value(&self) -> geozero::mvt::tile::Value {
        use geozero::mvt::TileValue;
        match self {
            Self::Str(s) => TileValue::Str(s.to_string()),
            Self::Uint(u) => TileValue::Uint(*u),
            Self::Sint(i) => TileValue::Sint(*i),
            Self::Double(bits) => TileValue::Double(f64::from_bits(*bits)),
            Self::Bool(b) => TileValue::Bool(*b),
        }
        .into()
    }
}

/// The best a careful user does with the prost types: command integers from
/// [`command_integers`], and key and value tables keyed by borrowed data
/// (hashbrown's default hasher), so that only new entries allocate.
fn prost_tile_borrowed(input: &[EncoderInput]) -> geozero::mvt::Tile {
    use geozero::mvt::tile;
    let mut keys: hashbrown::HashMap<&str, u32> = hashbrown::HashMap::new();
    let mut values: hashbrown::HashMap<ValueKey<'_>, u32> = hashbrown::HashMap::new();
    let (mut key_list, mut value_list) = (Vec::new(), Vec::new());
    let mut features = Vec::with_capacity(input.len());
    for f in input {
        let s = &f.source;
        let cadastral = s
            .cadastral
            .as_ref()
            .map(|c| ("cadastral", ValueKey::Str(c.as_str().into())));
        let properties = s
            .properties
            .iter()
            .filter(|(k, _)| s.cadastral.is_none() || *k != "cadastral")
            .filter_map(|(k, v)| Some((k.as_str(), ValueKey::of(v)?)));
        let mut tags = Vec::with_capacity(2 * (s.properties.len() + 1));
        for (k, v) in cadastral.into_iter().chain(properties) {
            let next = key_list.len() as u32;
            let k = *keys.entry(k).or_insert_with(|| {
                key_list.push(k.to_owned());
                next
            });
            let next = value_list.len() as u32;
            let v = *values.entry(v).or_insert_with_key(|v| {
                value_list.push(v.to_value());
                next
            });
            tags.extend([k, v]);
        }
        features.push(tile::Feature {
            id: u64::try_from(s.id).ok(),
            tags,
            r#type: Some(f.kind as i32),
            geometry: command_integers(f),
        });
    }
    geozero_layer(features, key_list, value_list)
}

/// Our encoder against geozero's on the parcels of a 300 000-parcel city, z14
/// to z16, encoding only (release build):
/// `cargo test --release --lib tiles::tests::encoder_against_geozero -- --ignored --nocapture`.
///
/// Each tile is rendered once; its features (ids, properties, geometry in
/// integer tile pixels) are read back and are the encoders' common input.
/// Timed, best of three, one thread: making the tile's bytes from that input,
/// ours (`LayerWriter`), geozero's helpers, and the prost types filled by hand
/// (two ways), all checked to decode to the same features; for scale, prost's
/// `encode_to_vec` alone on trees built beforehand, and `render` itself.
/// The input is read from memory, where the pipeline's is in hot scratch
/// buffers, so every encoder's time here is somewhat above its share of a tile.
#[test]
#[ignore = "a timing run"]
fn encoder_against_geozero() {
    use geozero::mvt::Message;
    use std::hint::black_box;
    use std::time::Instant;
    let parcels: usize = std::env::var("IMGIS_BENCH_PARCELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let layers = demo_layers(parcels);
    let (_, index) = layers.iter().find(|(n, _)| n == BENCH_LAYER).unwrap();
    let set = [(BENCH_LAYER, index)];
    let opts = TileOptions::default();
    const NAMES: [&str; 7] = [
        "ours",
        "geozero ToMvt + HashMap",
        "geozero ToMvt + TagsBuilder",
        "prost, commands here + HashMap",
        "prost, commands + borrowed keys",
        "prost encode_to_vec only",
        "render, whole tile (for scale)",
    ];
    println!(
        "{parcels} parcels, layer '{BENCH_LAYER}' alone; µs a tile, encoding only, best of 3, 1 thread"
    );
    let mut totals = [0.0f64; NAMES.len()];
    let mut total_tiles = 0;
    for z in 14..=16u8 {
        // The input, made once: every tile over the parcels that has one.
        let (mut coords, mut rendered, mut inputs) = (vec![], vec![], vec![]);
        for tile in tiles_over(index.extent().unwrap(), z) {
            let bytes = render(&set, tile, &opts).unwrap();
            if bytes.is_empty() {
                continue;
            }
            inputs.push(
                decode(&bytes, 0)
                    .into_iter()
                    .map(|f| encoder_input(index, f))
                    .collect::<Vec<_>>(),
            );
            rendered.push(bytes);
            coords.push(tile);
        }
        // Same input, same content: ours makes render's very bytes, and every
        // geozero tile decodes to the same features.
        let (mut layer, mut g) = Default::default();
        let mut sizes = [0usize; 2];
        for (input, bytes) in inputs.iter().zip(&rendered) {
            let ours = encode_ours(input, &mut layer, &mut g);
            assert_eq!(&ours, bytes, "ours from the input is render's tile");
            let expected = decode(&ours, 0);
            for theirs in [
                geozero_tile(input, false),
                geozero_tile(input, true),
                prost_tile(input),
                prost_tile_borrowed(input),
            ] {
                let theirs = theirs.encode_to_vec();
                let decoded = decode(&theirs, 0);
                assert_eq!(decoded.len(), expected.len());
                for (a, b) in decoded.iter().zip(&expected) {
                    assert_eq!(a.id, b.id);
                    assert_eq!(a.properties, b.properties, "{:?}", a.id);
                    assert_eq!(a.geometry, b.geometry, "{:?}", a.id);
                }
                sizes[1] = sizes[1].max(theirs.len().abs_diff(ours.len()));
            }
            sizes[0] += ours.len();
        }
        let prebuilt: Vec<_> = inputs.iter().map(|i| geozero_tile(i, true)).collect();
        // Rounds interleaved, so that drift hits every variant alike.
        let mut best = [f64::INFINITY; NAMES.len()];
        for _ in 0..3 {
            let mut runs: [&mut dyn FnMut() -> usize; NAMES.len()] = [
                &mut || {
                    inputs
                        .iter()
                        .map(|i| black_box(encode_ours(i, &mut layer, &mut g)).len())
                        .sum()
                },
                &mut || {
                    inputs
                        .iter()
                        .map(|i| black_box(geozero_tile(i, false).encode_to_vec()).len())
                        .sum()
                },
                &mut || {
                    inputs
                        .iter()
                        .map(|i| black_box(geozero_tile(i, true).encode_to_vec()).len())
                        .sum()
                },
                &mut || {
                    inputs
                        .iter()
                        .map(|i| black_box(prost_tile(i).encode_to_vec()).len())
                        .sum()
                },
                &mut || {
                    inputs
                        .iter()
                        .map(|i| black_box(prost_tile_borrowed(i).encode_to_vec()).len())
                        .sum()
                },
                &mut || {
                    prebuilt
                        .iter()
                        .map(|t| black_box(t.encode_to_vec()).len())
                        .sum()
                },
                // For scale: the whole tile, query to bytes.
                &mut || {
                    coords
                        .iter()
                        .map(|&t| black_box(render(&set, t, &opts).unwrap()).len())
                        .sum()
                },
            ];
            for (b, run) in best.iter_mut().zip(runs.iter_mut()) {
                let t = Instant::now();
                black_box(run());
                *b = b.min(t.elapsed().as_secs_f64());
            }
        }
        let n = inputs.len() as f64;
        let features: usize = inputs.iter().map(Vec::len).sum();
        println!(
            "z{z}: {} tiles, {:.0} features and {:.1} KiB a tile (geozero's within {} bytes)",
            inputs.len(),
            features as f64 / n,
            sizes[0] as f64 / n / 1024.0,
            sizes[1],
        );
        for (i, name) in NAMES.iter().enumerate() {
            println!(
                "  {name:<32} {:>8.1} µs  ×{:.2} ours",
                best[i] / n * 1e6,
                best[i] / best[0]
            );
        }
        for (t, b) in totals.iter_mut().zip(best) {
            *t += b;
        }
        total_tiles += inputs.len();
    }
    println!("z14-z16 together, {total_tiles} tiles:");
    for (i, name) in NAMES.iter().enumerate() {
        println!(
            "  {name:<32} {:>8.1} µs  ×{:.2} ours",
            totals[i] / total_tiles as f64 * 1e6,
            totals[i] / totals[0]
        );
    }
}
