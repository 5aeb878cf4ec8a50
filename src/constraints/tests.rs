//! Constraints, identify and nearest over small hand-made layers near Kazan
//! (EPSG:4326 lon/lat degrees; areas and distances in EPSG:32639 metres).
//! The differential tests against PostGIS are in `tests/constraints.rs`.

use std::sync::Arc;

use geo::{BooleanOps, Distance, Euclidean};
use geo_types::{coord, Coord, Geometry, LineString, MultiPolygon, Polygon, Rect};
use serde_json::json;

use super::*;
use crate::crs::KAZAN_METRIC_SRS;
use crate::index::Snapshot;
use crate::model::{props, Feature, Layer, LayerSpec, Properties};

/// Degrees per metre near (49.1° E, 55.79° N), roughly: for building shapes only.
const LAT_PER_M: f64 = 1.0 / 111_300.0;
const LON_PER_M: f64 = 1.0 / 62_600.0;
const BASE: Coord<f64> = Coord { x: 49.1, y: 55.79 };

/// A rectangle `x0..x1` × `y0..y1` metres east and north of [`BASE`], lon/lat.
fn rect_m(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
    Rect::new(at_m(x0, y0), at_m(x1, y1)).to_polygon()
}

fn at_m(x: f64, y: f64) -> Coord<f64> {
    coord! { x: BASE.x + x * LON_PER_M, y: BASE.y + y * LAT_PER_M }
}

fn layer(
    code: &str,
    kind: LayerKind,
    department: &str,
    features: Vec<(Geometry<f64>, Properties)>,
) -> Arc<LayerIndex> {
    let spec = LayerSpec {
        code: code.parse().unwrap(),
        title: format!("Слой {code}"),
        description: String::new(),
        kind,
        department: Some(department.into()),
        geometry_type: GeometryType::Geometry,
        public: true,
    };
    let features: Vec<Feature> = features
        .into_iter()
        .enumerate()
        .map(|(i, (geometry, properties))| Feature {
            id: i as i64 + 1,
            geometry,
            cadastral: (kind == LayerKind::Parcels)
                .then(|| format!("16:50:000001:{}", i + 1).parse().unwrap()),
            properties,
        })
        .collect();
    let layer = Layer {
        spec,
        version: 3,
        updated_at: chrono::Utc::now(),
        feature_count: features.len() as i64,
    };
    Arc::new(LayerIndex::build(layer, features))
}

fn zone(geometry: impl Into<Geometry<f64>>, zone_type: &str) -> (Geometry<f64>, Properties) {
    (geometry.into(), props([("zone_type", json!(zone_type))]))
}

fn snapshot(layers: &[Arc<LayerIndex>]) -> Snapshot {
    layers
        .iter()
        .map(|l| (l.code().clone(), l.clone()))
        .collect()
}

fn metric() -> Metric {
    Metric::new(KAZAN_METRIC_SRS).unwrap()
}

fn drawn(p: &Polygon<f64>) -> Plot {
    let geometry = geojson::Geometry::from(p);
    let limits = PlotLimits {
        max_area_m2: 1e6,
        max_vertices: MAX_PLOT_VERTICES,
    };
    Plot::drawn(&geometry, limits, &metric()).unwrap()
}

/// plot ∩ zone measured directly, the whole zone at once: what pieces must add up to.
fn direct_overlap_m2(plot: &Polygon<f64>, zone: &Polygon<f64>) -> f64 {
    metric()
        .multi_polygon_area_m2(&plot.intersection(zone))
        .unwrap()
}

fn report(layers: &[Arc<LayerIndex>], plot: &Plot) -> ConstraintsReport {
    let prepared = Prepared::default();
    let zones = zone_layers(&snapshot(layers), None).unwrap();
    constraints(&prepared, &zones, plot, &metric(), 0.5).unwrap()
}

#[test]
fn overlaps_slivers_touches_and_misses() {
    let plot_polygon = rect_m(0.0, 0.0, 100.0, 100.0);
    let plot = drawn(&plot_polygon);
    // An L whose box covers the plot but whose arms miss it.
    let l_shape = Polygon::new(
        LineString::new(vec![
            at_m(-50.0, -50.0),
            at_m(300.0, -50.0),
            at_m(300.0, -10.0),
            at_m(-10.0, -10.0),
            at_m(-10.0, 300.0),
            at_m(-50.0, 300.0),
            at_m(-50.0, -50.0),
        ]),
        vec![],
    );
    let zones = layer(
        "heritage",
        LayerKind::Zones,
        "HERITAGE",
        vec![
            zone(rect_m(-10.0, -10.0, 200.0, 200.0), "heritage_protection"),
            zone(rect_m(50.0, -20.0, 150.0, 120.0), "heritage_protection"),
            // Shares the plot's east edge: touches, no area.
            zone(rect_m(100.0, 0.0, 150.0, 100.0), "shore_strip"),
            // 0.2 m² inside the plot's corner.
            zone(rect_m(99.8, 99.0, 101.0, 101.0), "sanitary_protection"),
            zone(l_shape, "airfield"),
        ],
    );
    let parcels = layer(
        "parcels",
        LayerKind::Parcels,
        "KZIO",
        vec![(plot_polygon.clone().into(), Properties::new())],
    );
    let r = report(&[zones, parcels], &plot);

    assert!((r.plot.area_m2 - direct_overlap_m2(&plot_polygon, &plot_polygon)).abs() < 1e-3);
    let ids: Vec<FeatureId> = r.constraints.iter().map(|c| c.feature_id).collect();
    assert_eq!(ids, [1, 2], "largest first: {r:#?}");
    let whole = &r.constraints[0];
    assert!((whole.overlap_percent - 100.0).abs() < 1e-3, "{whole:?}");
    assert_eq!(whole.department.as_deref(), Some("HERITAGE"));
    assert_eq!(
        whole.layer,
        LayerRef {
            code: "heritage".parse().unwrap(),
            version: 3
        }
    );
    let half = &r.constraints[1];
    let expected = direct_overlap_m2(&plot_polygon, &rect_m(50.0, -20.0, 150.0, 120.0));
    assert!(
        (half.overlap_m2 - expected).abs() < 1e-3,
        "{} vs {expected}",
        half.overlap_m2
    );
    assert!((half.overlap_percent - 50.0).abs() < 0.5, "{half:?}");

    let slivers: Vec<(FeatureId, f64)> = r
        .slivers
        .iter()
        .map(|s| (s.feature_id, s.overlap_m2))
        .collect();
    assert_eq!(slivers.len(), 2, "{slivers:?}");
    assert_eq!(slivers[0].0, 4);
    assert!((0.05..0.5).contains(&slivers[0].1), "{slivers:?}");
    assert_eq!(slivers[1], (3, 0.0), "a touch is a sliver of 0 m²");

    assert_eq!(
        r.checked_zone_types,
        [
            "airfield",
            "heritage_protection",
            "sanitary_protection",
            "shore_strip"
        ]
    );
    assert_eq!(
        r.zone_types_not_found,
        ["airfield", "sanitary_protection", "shore_strip"]
    );
    assert_eq!(
        r.checked_layers.len(),
        1,
        "only layers of kind zones are read"
    );
}

#[test]
fn a_zone_with_thousands_of_vertices_is_cut_and_adds_up() {
    // A wavy ring of 6 000 vertices, about 2 km across.
    let ring: Vec<Coord<f64>> = (0..=6000)
        .map(|i| {
            let a = std::f64::consts::TAU * f64::from(i % 6000) / 6000.0;
            let r = 1000.0 + 30.0 * (a * 40.0).sin();
            at_m(r * a.cos(), r * a.sin())
        })
        .collect();
    let big = Polygon::new(
        LineString::new(ring),
        vec![rect_m(-100.0, -100.0, 100.0, 100.0).exterior().clone()],
    );
    let zones = layer(
        "water_protection",
        LayerKind::Zones,
        "FISHERIES",
        vec![zone(big.clone(), "water_protection")],
    );
    let prepared = Prepared::default();
    let layers = vec![zones];
    for (x, y) in [
        (950.0, 0.0),
        (-40.0, 960.0),
        (0.0, 0.0),
        (-90.0, -90.0),
        (400.0, 400.0),
        (700.0, -700.0),
        (2000.0, 0.0),
    ] {
        let plot_polygon = rect_m(x, y, x + 60.0, y + 45.0);
        let r = constraints(&prepared, &layers, &drawn(&plot_polygon), &metric(), 0.5).unwrap();
        let got: f64 = r
            .constraints
            .iter()
            .chain(&r.slivers)
            .map(|c| c.overlap_m2)
            .sum();
        let expected = direct_overlap_m2(&plot_polygon, &big);
        assert!(
            (got - expected).abs() <= 1e-6 * expected.max(1.0) + 1e-3,
            "at ({x}, {y}): {got} vs {expected}"
        );
        assert_eq!(
            r.constraints.len() + r.slivers.len(),
            usize::from(expected > 0.0),
            "at ({x}, {y})"
        );
    }
}

#[test]
fn an_invalid_zone_is_measured_repaired_with_a_note() {
    // A bow-tie crossing itself at the plot's centre: two triangles.
    let bowtie = Polygon::new(
        LineString::new(vec![
            at_m(-50.0, -50.0),
            at_m(150.0, 150.0),
            at_m(150.0, -50.0),
            at_m(-50.0, 150.0),
            at_m(-50.0, -50.0),
        ]),
        vec![],
    );
    let zones = layer(
        "zoning",
        LayerKind::Zones,
        "UAIG",
        vec![zone(bowtie, "territorial")],
    );
    let plot_polygon = rect_m(0.0, 0.0, 100.0, 100.0);
    let r = report(&[zones], &drawn(&plot_polygon));
    assert_eq!(r.constraints.len(), 1);
    let c = &r.constraints[0];
    // The two triangles over the plot each cover a quarter of it.
    assert!((c.overlap_percent - 50.0).abs() < 0.5, "{c:?}");
    assert!(
        c.note.as_deref().is_some_and(|n| n.contains("not valid")),
        "{c:?}"
    );
}

#[test]
fn only_the_named_zone_layers_are_read_and_others_are_refused() {
    let a = layer(
        "zones_a",
        LayerKind::Zones,
        "UAIG",
        vec![zone(rect_m(0.0, 0.0, 10.0, 10.0), "territorial")],
    );
    let b = layer(
        "zones_b",
        LayerKind::Zones,
        "UAIG",
        vec![zone(rect_m(0.0, 0.0, 10.0, 10.0), "heritage_protection")],
    );
    let gas = layer("gas", LayerKind::Utilities, "GAS", vec![]);
    let s = snapshot(&[a, b, gas]);
    let only: Vec<LayerCode> = vec!["zones_b".parse().unwrap()];
    let layers = zone_layers(&s, Some(&only)).unwrap();
    let r = constraints(
        &Prepared::default(),
        &layers,
        &drawn(&rect_m(2.0, 2.0, 8.0, 8.0)),
        &metric(),
        0.5,
    )
    .unwrap();
    assert_eq!(r.checked_zone_types, ["heritage_protection"]);
    assert_eq!(r.constraints.len(), 1);
    assert!(matches!(
        zone_layers(&s, Some(&["nope".parse().unwrap()])),
        Err(ConstraintsError::UnknownLayer(_))
    ));
    assert!(matches!(
        zone_layers(&s, Some(&["gas".parse().unwrap()])),
        Err(ConstraintsError::NotZoneLayer { .. })
    ));
}

#[test]
fn drawn_plots_are_refused_unless_closed_valid_and_small() {
    let limits = PlotLimits {
        max_area_m2: 1_000_000.0,
        max_vertices: 100,
    };
    let m = metric();
    let check = |v: serde_json::Value| {
        let g = geojson::Geometry::from_json_value(v).unwrap();
        Plot::drawn(&g, limits, &m).err().map(|e| e.to_string())
    };
    let ok = json!({"type": "Polygon", "coordinates": [[[49.1, 55.79], [49.101, 55.79], [49.101, 55.791], [49.1, 55.79]]]});
    assert_eq!(check(ok), None);
    for (geometry, words) in [
        (
            json!({"type": "Point", "coordinates": [49.1, 55.79]}),
            "Polygon or MultiPolygon",
        ),
        (
            json!({"type": "Polygon", "coordinates": [[[49.1, 55.79], [49.101, 55.79], [49.101, 55.791], [49.1, 55.7905]]]}),
            "not closed",
        ),
        (
            json!({"type": "Polygon", "coordinates": [[[49.1, 55.79], [49.101, 55.79], [49.1, 55.79]]]}),
            "at least 4",
        ),
        (
            json!({"type": "Polygon", "coordinates": [[[49.1, 55.79], [49.101, 55.791], [49.101, 55.79], [49.1, 55.791], [49.1, 55.79]]]}),
            "self-intersect",
        ),
        (
            json!({"type": "Polygon", "coordinates": [[[249.1, 55.79], [249.101, 55.79], [249.101, 55.791], [249.1, 55.79]]]}),
            "longitude/latitude",
        ),
        (
            json!({"type": "Polygon", "coordinates": [[[49.0, 55.7], [49.1, 55.7], [49.1, 55.8], [49.0, 55.7]]]}),
            "more than the limit",
        ),
        (
            json!({"type": "MultiPolygon", "coordinates": []}),
            "no polygons",
        ),
    ] {
        let e = check(geometry.clone()).unwrap_or_else(|| panic!("{geometry} was accepted"));
        assert!(e.contains(words), "{geometry}: {e}");
    }
    let many: Vec<[f64; 2]> = (0..=200)
        .map(|i| {
            let a = std::f64::consts::TAU * f64::from(i % 200) / 200.0;
            [49.1 + 0.001 * a.cos(), 55.79 + 0.001 * a.sin()]
        })
        .collect();
    let e = check(json!({"type": "Polygon", "coordinates": [many]})).unwrap();
    assert!(e.contains("vertices"), "{e}");
}

#[test]
fn nearest_lines_match_a_search_of_every_segment() {
    let lines: Vec<(Geometry<f64>, Properties)> = (0..40)
        .map(|i| {
            let y = f64::from(i) * 37.0 - 700.0;
            let wiggle: Vec<Coord<f64>> = (0..12)
                .map(|k| {
                    at_m(
                        f64::from(k) * 90.0 - 500.0 + f64::from(i * 7 % 13),
                        y + f64::from(k * i % 5) * 6.0,
                    )
                })
                .collect();
            (
                LineString::new(wiggle).into(),
                props([("diameter_mm", json!(100 + i))]),
            )
        })
        .collect();
    let gas = layer("gas", LayerKind::Utilities, "GAS", lines.clone());
    let prepared = Prepared::default();
    let m = metric();
    let layers = network_layers(&snapshot(&[gas]), None).unwrap();
    for (x, y) in [
        (0.0, 0.0),
        (13.0, -311.0),
        (-480.0, 820.0),
        (900.0, 5.0),
        (250.0, -2000.0),
    ] {
        let at = at_m(x, y);
        let found = nearest(&prepared, &layers, &NearestFrom::Point(at), &m).unwrap();
        let p = geo_types::Point::from(m.coord(at).unwrap());
        let brute = lines
            .iter()
            .map(|(g, _)| match g {
                Geometry::LineString(l) => Euclidean.distance(&m.line_string(l).unwrap(), &p),
                _ => unreachable!(),
            })
            .fold(f64::INFINITY, f64::min);
        assert_eq!(found.len(), 1);
        assert!(
            (found[0].distance_m - brute).abs() < 1e-3,
            "at ({x}, {y}): {} vs {brute}",
            found[0].distance_m
        );
    }
    // From a plot: 0 when a line crosses it, else the gap between the shapes.
    let plot = drawn(&rect_m(-20.0, -20.0, 20.0, 20.0));
    let found = nearest(&prepared, &layers, &NearestFrom::Plot(&plot), &m).unwrap();
    let projected = MultiPolygon::new(vec![m.polygon(&rect_m(-20.0, -20.0, 20.0, 20.0)).unwrap()]);
    let brute = lines
        .iter()
        .map(|(g, _)| match g {
            Geometry::LineString(l) => Euclidean.distance(&m.line_string(l).unwrap(), &projected),
            _ => unreachable!(),
        })
        .fold(f64::INFINITY, f64::min);
    assert!(
        (found[0].distance_m - brute).abs() < 1e-3,
        "{} vs {brute}",
        found[0].distance_m
    );
}

#[test]
fn identify_lists_the_features_at_a_point_per_layer() {
    let parcels = layer(
        "parcels",
        LayerKind::Parcels,
        "KZIO",
        vec![
            (rect_m(0.0, 0.0, 10.0, 10.0).into(), Properties::new()),
            (rect_m(20.0, 0.0, 30.0, 10.0).into(), Properties::new()),
        ],
    );
    let zones = layer(
        "zoning",
        LayerKind::Zones,
        "UAIG",
        vec![zone(rect_m(-5.0, -5.0, 40.0, 40.0), "territorial")],
    );
    let hits = identify(&snapshot(&[parcels, zones]), at_m(25.0, 5.0)).unwrap();
    let codes: Vec<&str> = hits.iter().map(|h| h.layer.code.as_str()).collect();
    assert_eq!(
        codes,
        ["zoning", "parcels"],
        "zones are drawn above parcels"
    );
    assert_eq!(hits[1].features.len(), 1);
    assert_eq!(
        hits[1].features[0].cadastral.as_ref().map(|c| c.as_str()),
        Some("16:50:000001:2")
    );
    assert!(identify(&snapshot(&[]), coord! { x: 200.0, y: 0.0 }).is_err());
}

#[test]
fn a_zone_whose_hole_lies_inside_the_plot_is_measured_without_the_hole() {
    let plot_polygon = rect_m(0.0, 0.0, 100.0, 100.0);
    let holed = Polygon::new(
        rect_m(-50.0, -50.0, 150.0, 150.0).exterior().clone(),
        vec![rect_m(20.0, 20.0, 40.0, 40.0).exterior().clone()],
    );
    let zones = layer(
        "zoning",
        LayerKind::Zones,
        "UAIG",
        vec![zone(holed.clone(), "territorial")],
    );
    let plot = drawn(&plot_polygon);
    let r = report(&[zones], &plot);
    let expected = direct_overlap_m2(&plot_polygon, &holed);
    assert!(
        (r.constraints[0].overlap_m2 - expected).abs() < 1e-3,
        "{:?} vs {expected}",
        r.constraints[0]
    );
    assert!(
        (r.constraints[0].overlap_percent - 96.0).abs() < 0.2,
        "{:?}",
        r.constraints[0]
    );
}
