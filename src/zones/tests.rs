use std::collections::BTreeMap;
use std::sync::Arc;

use geo::{Area, BooleanOps, Contains, Euclidean, Length, Validation};
use geo_types::{coord, Coord, LineString, MultiLineString, Point};
use serde_json::json;

use super::*;
use crate::crs::KAZAN_METRIC_SRS;
use crate::demo::{generate, DemoOptions};
use crate::model::{Layer, Properties};

/// Near the Kazan Kremlin in EPSG:32639 (UTM 39N), metres.
const ORIGIN: Coord<f64> = coord! { x: 381_000.0, y: 6_185_000.0 };

fn layer(code: &str, features: Vec<Feature>) -> LayerIndex {
    let spec = LayerSpec {
        code: code.parse().unwrap(),
        title: code.into(),
        description: String::new(),
        kind: LayerKind::Utilities,
        department: None,
        geometry_type: GeometryType::Geometry,
        public: true,
    };
    let count = i64::try_from(features.len()).unwrap();
    LayerIndex::build(
        Layer {
            spec,
            version: 7,
            updated_at: chrono::Utc::now(),
            feature_count: count,
        },
        features,
    )
}

/// A feature whose geometry is given in EPSG:32639 metres, stored in lon/lat.
fn feature(id: FeatureId, metric: Geometry<f64>, properties: Properties) -> Feature {
    let to_lonlat = Transformer::from_metric(KAZAN_METRIC_SRS).unwrap();
    Feature {
        id,
        geometry: to_lonlat.geometry(&metric).unwrap(),
        cadastral: None,
        properties,
    }
}

/// A straight line `length_m` long, eastward from `ORIGIN` shifted north by `dy`, metres.
fn east_line(dy: f64, length_m: f64) -> Geometry<f64> {
    LineString::new(vec![
        coord! { x: ORIGIN.x, y: ORIGIN.y + dy },
        coord! { x: ORIGIN.x + length_m, y: ORIGIN.y + dy },
    ])
    .into()
}

/// The zones of `layer`, each back in EPSG:32639 metres, with their properties.
fn zones_in_metres(layer: &LayerIndex, catalog: &Catalog) -> Vec<(MultiPolygon<f64>, Properties)> {
    let derived = derive_zones(layer, catalog, KAZAN_METRIC_SRS).unwrap();
    assert!(derived.skipped.is_empty(), "{:?}", derived.skipped);
    let to_metric = Transformer::to_metric(KAZAN_METRIC_SRS).unwrap();
    derived
        .zones
        .into_iter()
        .map(|z| {
            let g = to_metric.geometry(&z.geometry).unwrap();
            let mp = match g {
                Geometry::Polygon(p) => MultiPolygon(vec![p]),
                Geometry::MultiPolygon(mp) => mp,
                other => panic!("a zone is a polygon: {other:?}"),
            };
            (mp, z.properties)
        })
        .collect()
}

/// The zone's extent across a north-south cut at `x`, metres.
fn width_across(zone: &MultiPolygon<f64>, x: f64) -> f64 {
    let cut = MultiLineString(vec![LineString::new(vec![
        coord! { x: x, y: ORIGIN.y - 500.0 },
        coord! { x: x, y: ORIGIN.y + 500.0 },
    ])]);
    zone.clip(&cut, false)
        .0
        .iter()
        .map(|l| Euclidean.length(l))
        .sum()
}

#[test]
fn a_110_kv_line_gets_20_m_each_side() {
    let lines = layer(
        "power",
        vec![feature(
            1,
            east_line(0.0, 1000.0),
            props([("voltage_kv", json!(110)), ("placement", json!("overhead"))]),
        )],
    );
    let zones = zones_in_metres(&lines, &Catalog::builtin());
    assert_eq!(zones.len(), 1);
    let (zone, p) = &zones[0];
    assert!(zone.is_valid(), "{:?}", zone.validation_errors());
    for x in [ORIGIN.x + 1.0, ORIGIN.x + 500.0, ORIGIN.x + 999.0] {
        let w = width_across(zone, x);
        assert!((w - 40.0).abs() <= 0.1, "width at {x}: {w} m");
    }
    // Flat ends: nothing beyond the line's end points.
    assert!(width_across(zone, ORIGIN.x - 0.5) < 1e-9);
    assert!(width_across(zone, ORIGIN.x + 1000.5) < 1e-9);
    let area = zone.unsigned_area();
    assert!((area - 40.0 * 1000.0).abs() / 40_000.0 < 1e-3, "{area} m²");
    assert_eq!(p["zone_type"], "power_protection");
    assert_eq!(p["width_m"], json!(20.0));
    assert_eq!(p["source_layer"], "power");
    assert_eq!(p["source_feature"], 1);
    assert_eq!(p["condition"], "voltage_kv > 35, ≤ 110");
    assert_eq!(p["note"], "ВЛ 110 кВ");
    assert_eq!(p["department"], "POWER");
    assert!(p["basis"].as_str().unwrap().contains("160"));
}

#[test]
fn gas_and_water_widths_follow_the_regulations() {
    let gas = layer(
        "gas",
        vec![
            feature(
                1,
                east_line(0.0, 300.0),
                props([("material", json!("steel"))]),
            ),
            feature(
                2,
                east_line(100.0, 300.0),
                props([("material", json!("polyethylene"))]),
            ),
        ],
    );
    let water = layer(
        "water",
        vec![
            feature(
                1,
                east_line(0.0, 300.0),
                props([("diameter_mm", json!(1000))]),
            ),
            feature(
                2,
                east_line(200.0, 300.0),
                props([("diameter_mm", json!(1200))]),
            ),
        ],
    );
    let catalog = Catalog::builtin();
    let x = ORIGIN.x + 150.0;
    let widths = |l: &LayerIndex| -> Vec<f64> {
        zones_in_metres(l, &catalog)
            .iter()
            .map(|(z, _)| (width_across(z, x) * 100.0).round() / 100.0)
            .collect()
    };
    // Steel: 2 m each side; polyethylene: 3 m (the tracer wire's side is unknown).
    assert_eq!(widths(&gas), [4.0, 6.0]);
    // Water mains: 10 m each side up to 1000 mm, 20 m above.
    assert_eq!(widths(&water), [20.0, 40.0]);
}

#[test]
fn a_gas_station_gets_a_10_m_circle() {
    let centre = coord! { x: ORIGIN.x + 10.0, y: ORIGIN.y + 10.0 };
    let stations = layer(
        "gas_stations",
        vec![feature(
            5,
            Point(centre).into(),
            props([("kind", json!("ГРП"))]),
        )],
    );
    let zones = zones_in_metres(&stations, &Catalog::builtin());
    let (zone, p) = &zones[0];
    assert!(zone.is_valid());
    let area = zone.unsigned_area();
    let circle = std::f64::consts::PI * 100.0;
    assert!((area - circle).abs() / circle < 2e-3, "{area} m²");
    assert!(zone.contains(&Point(coord! { x: centre.x + 9.9, y: centre.y })));
    assert!(!zone.contains(&Point(coord! { x: centre.x + 10.1, y: centre.y })));
    assert_eq!(p["zone_type"], "gas_station_protection");
    assert_eq!(p["source_feature"], 5);
}

#[test]
fn round_ends_and_bends_are_drawn_as_asked() {
    let mut catalog = Catalog::builtin();
    for r in catalog.buffer_rules.iter_mut() {
        r.ends = LineEnds::Round;
    }
    let heat = layer(
        "heat",
        vec![feature(
            1,
            LineString::new(vec![
                ORIGIN,
                coord! { x: ORIGIN.x + 100.0, y: ORIGIN.y },
                coord! { x: ORIGIN.x + 100.0, y: ORIGIN.y + 100.0 },
            ])
            .into(),
            props([]),
        )],
    );
    let zones = zones_in_metres(&heat, &catalog);
    let (zone, _) = &zones[0];
    assert_eq!(zone.0.len(), 1);
    assert!(zone.is_valid());
    // 200 m of line, 6 m wide: 1200 m², plus a quarter disc at the outer
    // corner and a half disc at each end (the inner corner overlaps itself):
    // 1200 + 9π/4 + 9π − 9 (the inner corner's square counted twice).
    let expected = 1200.0 + 2.25 * std::f64::consts::PI * 5.0 - 9.0;
    let area = zone.unsigned_area();
    assert!(
        (area - expected).abs() < 0.2,
        "{area} m², expected {expected}"
    );
    // Round ends reach 3 m past the start.
    assert!(zone.contains(&Point(coord! { x: ORIGIN.x - 2.9, y: ORIGIN.y })));
}

#[test]
fn features_without_a_rule_are_reported_not_dropped_silently() {
    let power = layer(
        "power",
        vec![
            feature(1, east_line(0.0, 50.0), props([("voltage_kv", json!(10))])),
            feature(2, east_line(50.0, 50.0), props([("name", json!("?"))])),
        ],
    );
    let derived = derive_zones(&power, &Catalog::builtin(), KAZAN_METRIC_SRS).unwrap();
    assert_eq!(derived.zones.len(), 1);
    assert_eq!(
        derived.skipped,
        [Skipped {
            layer: "power".parse().unwrap(),
            feature: 2,
            reason: SkipReason::NoRule
        }]
    );
    assert_eq!(
        derived.sources,
        [Source {
            layer: "power".parse().unwrap(),
            version: 7,
            features: 2
        }]
    );
    let e = derive_zones(&power, &Catalog::builtin(), "EPSG:999999").unwrap_err();
    assert!(matches!(e, ZoneError::Crs(_)), "{e}");
}

/// The demo city's layers as an index snapshot, ids from 1 in each layer.
fn demo_snapshot(parcels: usize) -> Snapshot {
    let city = generate(&DemoOptions { parcels, seed: 42 }).unwrap();
    city.layers
        .into_iter()
        .map(|l| {
            let features: Vec<Feature> = l
                .features
                .into_iter()
                .zip(1..)
                .map(|(f, id)| f.into_feature(id))
                .collect();
            let code = l.spec.code.clone();
            let count = i64::try_from(features.len()).unwrap();
            let index = LayerIndex::build(
                Layer {
                    spec: l.spec,
                    version: 1,
                    updated_at: chrono::Utc::now(),
                    feature_count: count,
                },
                features,
            );
            (code, Arc::new(index))
        })
        .collect()
}

#[test]
fn every_demo_utility_feature_gets_exactly_one_valid_zone() {
    let snapshot = demo_snapshot(300);
    let catalog = Catalog::builtin();
    let derived = derive_all(&snapshot, &catalog, KAZAN_METRIC_SRS).unwrap();
    assert!(derived.skipped.is_empty(), "{:?}", derived.skipped);
    let spec = layer_spec();
    assert_eq!(
        (spec.code.as_str(), spec.kind),
        (LAYER_CODE, LayerKind::Zones)
    );
    let mut per_feature: BTreeMap<(String, i64), usize> = BTreeMap::new();
    let to_metric = Transformer::to_metric(KAZAN_METRIC_SRS).unwrap();
    for z in &derived.zones {
        let p = &z.properties;
        let key = (
            p["source_layer"].as_str().unwrap().to_owned(),
            p["source_feature"].as_i64().unwrap(),
        );
        *per_feature.entry(key.clone()).or_default() += 1;
        let source = snapshot[&key.0.parse::<LayerCode>().unwrap()]
            .feature(key.1)
            .unwrap();
        let rule = catalog
            .buffer_rule_for(&key.0.parse().unwrap(), &source.properties)
            .unwrap();
        assert_eq!(p["width_m"], json!(rule.width_m), "{key:?}");
        assert_eq!(p["zone_type"], json!(rule.zone_type), "{key:?}");
        assert!(catalog.zone_type(&rule.zone_type).is_some());
        assert!(spec.geometry_type.accepts(&z.geometry), "{key:?}");
        assert!(z.geometry.is_valid(), "{key:?}: lon/lat zone invalid");
        let metric = to_metric.geometry(&z.geometry).unwrap();
        assert!(metric.is_valid(), "{key:?}: metric zone invalid");
        // A zone covers at least its width times its source's length (flat
        // ends); points have no length, and their circle is checked above.
        let length = to_metric
            .geometry(&source.geometry)
            .ok()
            .and_then(|g| match g {
                Geometry::LineString(l) => Some(Euclidean.length(&l)),
                _ => None,
            })
            .unwrap_or(0.0);
        let area = metric.unsigned_area();
        assert!(
            area >= 2.0 * rule.width_m * length * 0.999,
            "{key:?}: {area} m² for {length} m"
        );
    }
    let utility_layers: Vec<&LayerCode> = catalog
        .buffer_rules
        .iter()
        .map(|r| &r.layer)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut expected = 0;
    for code in utility_layers {
        let l = &snapshot[code];
        assert!(!l.is_empty(), "the demo has {code}");
        for id in 1..=i64::try_from(l.len()).unwrap() {
            expected += 1;
            assert_eq!(
                per_feature.get(&(code.to_string(), id)),
                Some(&1),
                "{code} #{id}"
            );
        }
    }
    assert_eq!(derived.zones.len(), expected);
    assert_eq!(derived.sources.len(), 7);
}

/// Timing on the 300 000-parcel demo city; run with
/// `cargo test --release --lib zones::tests::timing -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: generates the 300 000-parcel city"]
fn timing_of_the_300_000_parcel_city() {
    let t = std::time::Instant::now();
    let snapshot = demo_snapshot(300_000);
    let generated = t.elapsed();
    let catalog = Catalog::builtin();
    let t = std::time::Instant::now();
    let derived = derive_all(&snapshot, &catalog, KAZAN_METRIC_SRS).unwrap();
    let took = t.elapsed();
    let sources: usize = derived.sources.iter().map(|s| s.features).sum();
    let vertices: usize = derived
        .zones
        .iter()
        .map(|z| geo::CoordsIter::coords_count(&z.geometry))
        .sum();
    println!(
        "city generated and indexed in {generated:.2?}; {} zones from {sources} features in {took:.2?} \
         ({:.1} µs a zone, {vertices} vertices, {} skipped)",
        derived.zones.len(),
        took.as_secs_f64() * 1e6 / derived.zones.len() as f64,
        derived.skipped.len()
    );
    assert!(derived.skipped.is_empty());
}
