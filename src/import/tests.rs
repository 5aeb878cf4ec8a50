//! The readers against real files (`tests/fixtures/import/`, see its
//! SOURCES.md), checked against GDAL's `ogrinfo` (Debian `gdal-bin`, which
//! scripts/test.sh installs), and against damaged copies made here.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use geo::orient::{Direction, Orient};
use geo::CoordsIter;
use geo_types::{Geometry, MultiPolygon};
use serde_json::Value;

use super::read::zip::{unpack_in, Limits};
use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

/// The Dutch parcels in EPSG:4326, already a fixture of the constraints tests.
fn nl_4326() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nl_georust/nl_parcels_4326.geojson")
}

/// Runs a GDAL tool, failing the test with its output.
fn gdal(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (Debian gdal-bin) must be installed: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `Feature Count` of the (first) layer, as `ogrinfo -ro -so -al` reports it.
fn ogr_count(path: &Path) -> u64 {
    let summary = gdal("ogrinfo", &["-ro", "-so", "-al", path.to_str().unwrap()]);
    summary
        .lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .unwrap_or_else(|| panic!("no feature count for {}: {summary}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

struct Read {
    info: SourceInfo,
    features: Vec<SourceFeature>,
    errors: Vec<ReadError>,
}

fn read_with(path: &Path, options: &ReadOptions) -> Read {
    let source = open(path, options).unwrap_or_else(|e| panic!("{e}"));
    let info = source.info().clone();
    let (mut features, mut errors) = (Vec::new(), Vec::new());
    for item in source {
        match item {
            Ok(f) => features.push(f),
            Err(e) => errors.push(e),
        }
    }
    Read {
        info,
        features,
        errors,
    }
}

fn read(path: &Path) -> Read {
    read_with(path, &ReadOptions::default())
}

fn has_cyrillic(text: &str) -> bool {
    text.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
}

/// Whether a [`SourceInfo::crs`] is the one expected.
type CrsCheck = Box<dyn Fn(Option<&str>) -> bool>;

#[test]
fn every_fixture_gives_ogrinfo_s_count_and_its_crs() {
    // The plain ESRI WGS 84 of a .prj is named as the EPSG code it is.
    let wgs84_prj = |crs: &str| crs == "EPSG:4326";
    let rd_new_prj = |crs: &str| crs.starts_with("PROJCS[\"RD_New\"");
    let cases: Vec<(PathBuf, Format, CrsCheck)> = vec![
        (
            fixture("nl_parcels_28992.geojson"),
            Format::GeoJson,
            Box::new(|c| c == Some("EPSG:28992")),
        ),
        (
            fixture("nl_parcels_28992.gpkg"),
            Format::GeoPackage,
            Box::new(|c| c == Some("EPSG:28992")),
        ),
        (
            fixture("nl_parcels_28992_wkt.csv"),
            Format::Csv,
            Box::new(|c| c.is_none()),
        ),
        (
            fixture("nl_parcels_28992.shp"),
            Format::Shapefile,
            Box::new(move |c| c.is_some_and(rd_new_prj)),
        ),
        (
            nl_4326(),
            Format::GeoJson,
            Box::new(|c| c == Some("EPSG:4326")),
        ),
        (
            fixture("forestcity_zoning_first12.geojson"),
            Format::GeoJson,
            Box::new(|c| c == Some("EPSG:2264")),
        ),
        (
            fixture("IKK.geojson"),
            Format::GeoJson,
            Box::new(|c| c == Some("EPSG:4326")),
        ),
        (
            fixture("vakulivka.geojson"),
            Format::GeoJson,
            Box::new(|c| c == Some("EPSG:4326")),
        ),
        // RFC 7946 without a crs member: the file declares none.
        (
            fixture("kazan_districts_cianparser.geojson"),
            Format::GeoJson,
            Box::new(|c| c.is_none()),
        ),
        (
            fixture("vakulivka_cp1251.shp"),
            Format::Shapefile,
            Box::new(move |c| c.is_some_and(wgs84_prj)),
        ),
        (
            fixture("kazan_districts_utf8.shp"),
            Format::Shapefile,
            Box::new(move |c| c.is_some_and(wgs84_prj)),
        ),
        (
            fixture("buildings.gpkg"),
            Format::GeoPackage,
            Box::new(|c| c == Some("EPSG:4326")),
        ),
        (
            fixture("countries.fgb"),
            Format::FlatGeobuf,
            Box::new(|c| c == Some("EPSG:4326")),
        ),
        (
            fixture("poly00.fgb"),
            Format::FlatGeobuf,
            Box::new(|c| c == Some("EPSG:27700")),
        ),
        (
            fixture("heterogeneous.fgb"),
            Format::FlatGeobuf,
            Box::new(|c| c.is_none()),
        ),
        (
            fixture("mp_overlapping.fgb"),
            Format::FlatGeobuf,
            Box::new(|_| true),
        ),
        (fixture("empty.fgb"), Format::FlatGeobuf, Box::new(|_| true)),
    ];
    for (path, format, crs_ok) in cases {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let head = fs::read(&path).unwrap();
        assert_eq!(
            detect(&path, &head[..head.len().min(8192)]),
            Some(format),
            "{name}"
        );
        let r = read(&path);
        assert_eq!(r.info.format, format, "{name}");
        let expected = ogr_count(&path);
        assert_eq!(
            (r.features.len() + r.errors.len()) as u64,
            expected,
            "{name}: {:?}",
            r.errors.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        assert!(r.errors.is_empty(), "{name}: {}", r.errors[0]);
        if let Some(count) = r.info.count {
            assert_eq!(count, expected, "{name}: count up front");
        }
        assert!(
            crs_ok(r.info.crs.as_deref()),
            "{name}: crs {:?}",
            r.info.crs
        );
        let indexes: Vec<u64> = r.features.iter().map(|f| f.index).collect();
        assert_eq!(
            indexes,
            (0..expected).collect::<Vec<_>>(),
            "{name}: indexes"
        );
    }
}

/// A geometry as a MultiPolygon with standard ring orientation, so that
/// sources that orient rings differently (Shapefile: outer clockwise)
/// compare equal.
fn normal(g: &Geometry<f64>) -> MultiPolygon<f64> {
    match g {
        Geometry::Polygon(p) => MultiPolygon::new(vec![p.clone()]),
        Geometry::MultiPolygon(mp) => mp.clone(),
        other => panic!("not polygonal: {other:?}"),
    }
    .orient(Direction::Default)
}

/// Features keyed by their `part` attribute.
fn by_part(r: &Read) -> BTreeMap<i64, MultiPolygon<f64>> {
    r.features
        .iter()
        .map(|f| {
            let part = f.properties["part"].as_i64().expect("part is an integer");
            (part, normal(f.geometry.as_ref().expect("a geometry")))
        })
        .collect()
}

#[test]
fn dutch_parcels_are_the_same_from_geojson_geopackage_csv_and_shapefile() {
    let geojson = by_part(&read(&fixture("nl_parcels_28992.geojson")));
    assert_eq!(geojson.len(), 316);
    let holes: usize = geojson
        .values()
        .map(|mp| mp.0.iter().map(|p| p.interiors().len()).sum::<usize>())
        .sum();
    assert!(holes >= 27, "the parcels have holes: {holes}");
    for other in [
        "nl_parcels_28992.gpkg",
        "nl_parcels_28992_wkt.csv",
        "nl_parcels_28992.shp",
    ] {
        let other_parts = by_part(&read(&fixture(other)));
        assert_eq!(other_parts.len(), geojson.len(), "{other}");
        let mut largest: f64 = 0.0;
        for (part, a) in &geojson {
            let b = &other_parts[part];
            assert_eq!(a.0.len(), b.0.len(), "{other} part {part}: polygons");
            for (pa, pb) in a.0.iter().zip(&b.0) {
                assert_eq!(
                    pa.interiors().len(),
                    pb.interiors().len(),
                    "{other} part {part}: holes"
                );
            }
            assert_eq!(
                a.coords_count(),
                b.coords_count(),
                "{other} part {part}: vertices"
            );
            for (ca, cb) in a.coords_iter().zip(b.coords_iter()) {
                largest = largest.max((ca.x - cb.x).abs()).max((ca.y - cb.y).abs());
            }
        }
        assert!(
            largest <= 1e-6,
            "{other}: coordinates differ by up to {largest} m"
        );
    }
}

#[test]
fn null_geometry_comes_as_none() {
    let r = read(&fixture("IKK.geojson"));
    let nulls: Vec<u64> = r
        .features
        .iter()
        .filter(|f| f.geometry.is_none())
        .map(|f| f.index)
        .collect();
    assert_eq!(nulls.len(), 1, "IKK.geojson has one null geometry");
    assert!(
        r.features[nulls[0] as usize].properties.len() > 1,
        "its attributes are kept"
    );
}

#[test]
fn cyrillic_attributes_come_through_geojson_and_a_cp1251_shapefile() {
    let geojson = read(&fixture("vakulivka.geojson"));
    let shp = read(&fixture("vakulivka_cp1251.shp"));
    assert_eq!(geojson.features.len(), shp.features.len());
    assert!(
        shp.info.notes.is_empty(),
        "the .cpg names CP1251: {:?}",
        shp.info.notes
    );
    let mut cyrillic = 0;
    for (g, s) in geojson.features.iter().zip(&shp.features) {
        for field in ["cadnum", "category", "ownership", "purpose", "use"] {
            let (Some(gv), sv) = (g.properties[field].as_str(), &s.properties[field]) else {
                continue;
            };
            let sv = sv.as_str().unwrap_or_default();
            // GDAL cut values to the DBF's 254 bytes (= characters in CP1251).
            let expected: String = gv.chars().take(254).collect();
            assert_eq!(
                sv.trim_end(),
                expected.trim_end(),
                "{field} of feature {}",
                g.index
            );
            cyrillic += usize::from(has_cyrillic(sv));
        }
    }
    assert!(cyrillic > 1000, "Cyrillic values: {cyrillic}");

    // Without the .cpg (and without a language driver id), the encoding is
    // guessed: not UTF-8, so CP1251, with a note; the values are the same.
    let dir = tempfile::tempdir().unwrap();
    for ext in ["shp", "shx", "dbf", "prj"] {
        fs::copy(
            fixture(&format!("vakulivka_cp1251.{ext}")),
            dir.path().join(format!("v.{ext}")),
        )
        .unwrap();
    }
    let guessed = read(&dir.path().join("v.shp"));
    assert!(
        guessed.info.notes[0].contains("Windows-1251"),
        "{:?}",
        guessed.info.notes
    );
    assert_eq!(guessed.features, shp.features);

    // A UTF-8 table without .cpg is found to be UTF-8.
    for ext in ["shp", "shx", "dbf"] {
        fs::copy(
            fixture(&format!("kazan_districts_utf8.{ext}")),
            dir.path().join(format!("k.{ext}")),
        )
        .unwrap();
    }
    let utf8 = read(&dir.path().join("k.shp"));
    assert!(utf8.info.notes.is_empty(), "{:?}", utf8.info.notes);
    assert_eq!(utf8.info.crs, None, "no .prj");
    let original = read(&fixture("kazan_districts_cianparser.geojson"));
    let names = |r: &Read| -> Vec<Value> {
        r.features
            .iter()
            .map(|f| f.properties["district"].clone())
            .collect()
    };
    assert_eq!(names(&utf8), names(&original));
    assert!(has_cyrillic(names(&utf8)[0].as_str().unwrap()));
}

#[test]
fn osm_field_names_with_colons_survive() {
    let r = read(&fixture("buildings.gpkg"));
    assert_eq!(r.info.layer.as_deref(), Some("building_yes"));
    let streets = r
        .features
        .iter()
        .filter(|f| {
            f.properties
                .get("addr:street")
                .is_some_and(Value::is_string)
        })
        .count();
    assert!(streets > 0, "some buildings have addr:street");
    assert!(r
        .features
        .iter()
        .all(|f| f.properties.contains_key("addr:housenumber")));
    assert_eq!(
        list_layers(&fixture("buildings.gpkg")).unwrap(),
        ["building_yes"]
    );
}

#[test]
fn flatgeobuf_edge_cases() {
    let r = read(&fixture("heterogeneous.fgb"));
    let kinds: std::collections::BTreeSet<&str> = r
        .features
        .iter()
        .map(|f| match f.geometry.as_ref().expect("a geometry") {
            Geometry::Point(_) => "Point",
            Geometry::LineString(_) => "LineString",
            Geometry::Polygon(_) => "Polygon",
            Geometry::MultiPoint(_) => "MultiPoint",
            Geometry::MultiLineString(_) => "MultiLineString",
            Geometry::MultiPolygon(_) => "MultiPolygon",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds.len(), 3, "three kinds of geometry: {kinds:?}");

    let empty = read(&fixture("empty.fgb"));
    assert!(empty.features.is_empty() && empty.errors.is_empty());

    let countries = read(&fixture("countries.fgb"));
    assert!(countries
        .features
        .iter()
        .any(|f| f.properties.values().any(Value::is_string)));

    let e = open(&fixture("topp_states.fgb"), &ReadOptions::default())
        .err()
        .expect("version 2 is refused");
    let text = e.to_string();
    assert!(matches!(e, ReadError::Unsupported { .. }), "{e:?}");
    assert!(
        text.contains("topp_states.fgb") && text.contains("version 2"),
        "{text}"
    );
}

/// Copies `names` into `dir`, the first cut to `keep` of its length.
fn cut_copy(dir: &Path, names: &[&str], keep: f64) -> PathBuf {
    for (i, name) in names.iter().enumerate() {
        let bytes = fs::read(fixture(name)).unwrap();
        let len = if i == 0 {
            (bytes.len() as f64 * keep) as usize
        } else {
            bytes.len()
        };
        fs::write(dir.join(name), &bytes[..len]).unwrap();
    }
    dir.join(names[0])
}

/// The first error reading `path`, at open or while iterating.
fn first_error(path: &Path) -> Option<ReadError> {
    match open(path, &ReadOptions::default()) {
        Err(e) => Some(e),
        Ok(source) => source.filter_map(std::result::Result::err).next(),
    }
}

#[test]
fn truncated_files_give_a_clear_error_not_a_panic() {
    let sets: [&[&str]; 6] = [
        &["nl_parcels_28992.geojson"],
        &["nl_parcels_28992.gpkg"],
        &["countries.fgb"],
        &[
            "nl_parcels_28992.shp",
            "nl_parcels_28992.shx",
            "nl_parcels_28992.dbf",
        ],
        &[
            "nl_parcels_28992.dbf",
            "nl_parcels_28992.shp",
            "nl_parcels_28992.shx",
        ],
        &["nl_parcels_28992_wkt.csv"],
    ];
    for keep in [0.5, 0.9, 0.01] {
        for names in sets {
            let dir = tempfile::tempdir().unwrap();
            let path = cut_copy(dir.path(), names, keep);
            let open_path = if names[0].ends_with(".dbf") {
                dir.path().join(names[1])
            } else {
                path.clone()
            };
            let e = first_error(&open_path)
                .unwrap_or_else(|| panic!("{} cut to {keep}: no error", names[0]));
            let text = e.to_string();
            assert!(text.contains(names[0].split('.').next().unwrap()), "{text}");
            // A CSV cut inside its quoted WKT is refused whole, as any other cut file.
            assert!(!e.is_skippable(), "{}: {text}", names[0]);
        }
    }
    // A GeoJSON sequence cut inside its last record.
    let dir = tempfile::tempdir().unwrap();
    let seq = dir.path().join("cut.geojsonl");
    let out = seq.to_str().unwrap();
    gdal(
        "ogr2ogr",
        &["-f", "GeoJSONSeq", out, nl_4326().to_str().unwrap()],
    );
    let bytes = fs::read(&seq).unwrap();
    fs::write(&seq, &bytes[..bytes.len() / 2]).unwrap();
    let r = read(&seq);
    assert_eq!(r.errors.len(), 1);
    assert!(
        matches!(r.errors[0], ReadError::Broken { .. }),
        "{}",
        r.errors[0]
    );
    assert!(
        r.errors[0].to_string().contains("truncated"),
        "{}",
        r.errors[0]
    );
}

#[test]
fn geojson_sequences_newline_and_rfc8142() {
    let dir = tempfile::tempdir().unwrap();
    let src = nl_4326();
    for (name, rs) in [("nl.geojsonl", "NO"), ("nl.geojsons", "YES")] {
        let out = dir.path().join(name);
        gdal(
            "ogr2ogr",
            &[
                "-f",
                "GeoJSONSeq",
                "-lco",
                &format!("RS={rs}"),
                out.to_str().unwrap(),
                src.to_str().unwrap(),
            ],
        );
        // Detected by content, whatever the name.
        let renamed = dir.path().join(format!("{name}.txt"));
        fs::copy(&out, &renamed).unwrap();
        let head = fs::read(&renamed).unwrap();
        assert_eq!(
            detect(&renamed, &head[..4096]),
            Some(Format::GeoJsonSeq),
            "{name}"
        );
        let r = read(&renamed);
        assert_eq!(r.features.len(), 316, "{name}");
        assert!(r.errors.is_empty());
        assert_eq!(r.features[5].properties["part"], Value::from(5));
    }
}

#[test]
fn geojson_details() {
    let dir = tempfile::tempdir().unwrap();
    // crs after features; a feature with bad JSON inside is an error for that
    // feature only; 3D coordinates noted; a bare geometry where a feature is.
    let text = r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","geometry":{"type":"Point","coordinates":[1,2,3]},"properties":{"n":"a]}"}},
        {"type":"Feature","geometry":{"type":"Point","coordinates":[1,]},"properties":{}},
        {"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]},"properties":null}
      ],
      "crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::3857"}}}"#;
    let path = dir.path().join("t.json");
    fs::write(&path, text).unwrap();
    let r = read(&path);
    assert_eq!(r.info.crs.as_deref(), Some("EPSG:3857"));
    assert_eq!(r.features.len(), 2);
    assert_eq!(
        r.features[0].notes,
        ["3D coordinates kept as 2D (Z dropped)"]
    );
    assert_eq!(r.features[0].properties["n"], "a]}");
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].is_skippable());
    assert_eq!(r.errors[0].feature_index(), Some(1));
    assert_eq!(r.features[1].index, 2);

    // One Feature as the whole file; one bare geometry.
    fs::write(&path, r#"{"properties":{"a":1},"geometry":{"coordinates":[5,6],"type":"Point"},"type":"Feature"}"#).unwrap();
    let r = read(&path);
    assert_eq!(r.features.len(), 1);
    assert_eq!(r.features[0].properties["a"], 1);
    fs::write(&path, r#"{"type":"MultiPoint","coordinates":[[5,6]]}"#).unwrap();
    assert_eq!(read(&path).features.len(), 1);

    // Not GeoJSON at all.
    fs::write(&path, "[1, 2]").unwrap();
    let e = open(
        &path,
        &ReadOptions {
            format: Some(Format::GeoJson),
            ..ReadOptions::default()
        },
    )
    .err()
    .unwrap();
    assert!(matches!(e, ReadError::Invalid { .. }), "{e}");
    let e = open(&dir.path().join("missing.geojson"), &ReadOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, ReadError::Io { .. }), "{e}");
}

#[test]
fn csv_details() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("points.csv");
    fs::write(
        &path,
        "\u{feff}name;Longitude;Latitude;code;n\n\
         Кремль;49.1056;55.7989;0123;12\n\
         bad;abc;55;7;1.5\n\
         empty;;;;\n\
         short;1\n\
         last;49.2;55.8;x;-3\n",
    )
    .unwrap();
    let r = read(&path);
    assert_eq!(r.info.crs, None);
    assert_eq!(
        r.features.len(),
        3,
        "{:?}",
        r.errors.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    let first = &r.features[0];
    assert_eq!(
        first.geometry,
        Some(geo_types::point!(x: 49.1056, y: 55.7989).into())
    );
    assert_eq!(
        first.properties["name"], "Кремль",
        "BOM skipped, Cyrillic kept"
    );
    assert_eq!(first.properties["code"], "0123", "leading zeros stay text");
    assert_eq!(first.properties["n"], 12);
    assert!(!first.properties.contains_key("Longitude"));
    assert_eq!(r.features[1].geometry, None);
    assert_eq!(r.features[1].properties["code"], Value::Null);
    assert_eq!(r.features[2].index, 4);
    let indexes: Vec<_> = r
        .errors
        .iter()
        .map(|e| e.feature_index().unwrap())
        .collect();
    assert_eq!(indexes, [1, 3]);
    assert!(r.errors.iter().all(ReadError::is_skippable));
    assert!(
        r.errors[0]
            .to_string()
            .contains("'abc' is not a coordinate"),
        "{}",
        r.errors[0]
    );

    let wkt = dir.path().join("wkt.csv");
    fs::write(
        &wkt,
        "id,the_geom\n1,\"POINT Z (1 2 3)\"\n2,\"POLYGON ((0 0, 1 0\"\n",
    )
    .unwrap();
    let r = read(&wkt);
    assert_eq!(
        r.features[0].notes,
        ["3D coordinates kept as 2D (Z dropped)"]
    );
    assert!(
        r.errors[0].to_string().contains("bad WKT"),
        "{}",
        r.errors[0]
    );

    let none = dir.path().join("none.csv");
    fs::write(&none, "a,b\n1,2\n").unwrap();
    let e = open(&none, &ReadOptions::default()).err().unwrap();
    assert!(
        matches!(e, ReadError::Columns { .. }) && e.to_string().contains("--wkt-column"),
        "{e}"
    );
    let r = read_with(
        &none,
        &ReadOptions {
            lon_column: Some("a".into()),
            lat_column: Some("b".into()),
            ..ReadOptions::default()
        },
    );
    assert_eq!(
        r.features[0].geometry,
        Some(geo_types::point!(x: 1.0, y: 2.0).into())
    );
}

#[test]
fn geopackage_with_several_tables_needs_a_layer() {
    let dir = tempfile::tempdir().unwrap();
    let two = dir.path().join("two.gpkg");
    let out = two.to_str().unwrap();
    gdal(
        "ogr2ogr",
        &[
            "-f",
            "GPKG",
            out,
            fixture("nl_parcels_28992.gpkg").to_str().unwrap(),
            "-nln",
            "parcels",
        ],
    );
    gdal(
        "ogr2ogr",
        &[
            "-update",
            out,
            fixture("kazan_districts_cianparser.geojson")
                .to_str()
                .unwrap(),
            "-nln",
            "districts",
        ],
    );
    assert_eq!(list_layers(&two).unwrap(), ["districts", "parcels"]);
    let e = open(&two, &ReadOptions::default())
        .err()
        .expect("two tables, none chosen");
    assert!(matches!(e, ReadError::Layer { .. }), "{e}");
    assert!(
        e.to_string().contains("districts, parcels") && e.to_string().contains("--source-layer"),
        "{e}"
    );
    let e = open(
        &two,
        &ReadOptions {
            source_layer: Some("roads".into()),
            ..ReadOptions::default()
        },
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("no feature table 'roads'"), "{e}");
    let r = read_with(
        &two,
        &ReadOptions {
            source_layer: Some("districts".into()),
            ..ReadOptions::default()
        },
    );
    assert_eq!(r.features.len(), 7);
    assert_eq!(r.info.crs.as_deref(), Some("EPSG:4326"));
    assert!(has_cyrillic(
        r.features[0].properties["district"].as_str().unwrap()
    ));

    // An SQLite file that is no GeoPackage.
    let plain = dir.path().join("plain.gpkg");
    Command::new("sqlite3")
        .arg(&plain)
        .arg("CREATE TABLE t (a);")
        .status()
        .expect("sqlite3");
    let e = open(&plain, &ReadOptions::default()).err().unwrap();
    assert!(e.to_string().contains("not a GeoPackage"), "{e}");

    // Dropping a source half way stops its reading thread.
    let mut source = open(&fixture("buildings.gpkg"), &ReadOptions::default()).unwrap();
    assert!(source.next().unwrap().is_ok());
    drop(source);
}

/// A zip of `files` (name in the archive, content), deflated.
fn zip_of(path: &Path, files: &[(&str, Vec<u8>)]) {
    let mut zip = ::zip::ZipWriter::new(fs::File::create(path).unwrap());
    let options = ::zip::write::SimpleFileOptions::default()
        .compression_method(::zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn shapefile_set(stem: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    ["shp", "shx", "dbf", "prj"]
        .iter()
        .map(|ext| {
            (
                format!("{prefix}{stem}.{ext}"),
                fs::read(fixture(&format!("{stem}.{ext}"))).unwrap(),
            )
        })
        .collect()
}

#[test]
fn zipped_shapefiles() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("parcels.zip");
    let set = shapefile_set("nl_parcels_28992", "data/");
    let files: Vec<(&str, Vec<u8>)> = set.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    zip_of(&one, &files);
    let r = read(&one);
    assert_eq!(r.features.len(), 316);
    assert_eq!(r.info.layer.as_deref(), Some("nl_parcels_28992"));
    assert!(r.info.crs.as_deref().is_some_and(|c| c.contains("RD_New")));
    assert_eq!(list_layers(&one).unwrap(), ["nl_parcels_28992"]);

    let two = dir.path().join("two.zip");
    let mut set = shapefile_set("nl_parcels_28992", "");
    set.extend(shapefile_set("vakulivka_cp1251", ""));
    set.push(("vakulivka_cp1251.cpg".into(), b"CP1251".to_vec()));
    let files: Vec<(&str, Vec<u8>)> = set.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    zip_of(&two, &files);
    let e = open(&two, &ReadOptions::default()).err().unwrap();
    assert!(matches!(e, ReadError::Layer { .. }), "{e}");
    let r = read_with(
        &two,
        &ReadOptions {
            source_layer: Some("vakulivka_cp1251".into()),
            ..ReadOptions::default()
        },
    );
    assert_eq!(r.features.len(), 1816);
    assert!(r.features.iter().any(|f| f
        .properties
        .values()
        .any(|v| v.as_str().is_some_and(has_cyrillic))));
}

/// A zip written by hand: each entry `(name, declared uncompressed size,
/// deflated data)`. CRCs are left 0: the archives below are refused from
/// their central directory, before any entry is read.
fn raw_zip(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, size, data) in entries {
        let offset = out.len() as u32;
        let fixed = |sig: u32, out: &mut Vec<u8>| {
            out.extend_from_slice(&sig.to_le_bytes());
        };
        fixed(0x0403_4b50, &mut out);
        out.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0, 0]); // version, flags, deflate, time, date
        out.extend_from_slice(&0u32.to_le_bytes()); // crc
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        fixed(0x0201_4b50, &mut central);
        central.extend_from_slice(&[20, 3, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0]); // made by, needed, flags, deflate, time, date
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (start, len) = (out.len() as u32, central.len() as u32);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    let n = entries.len() as u16;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Deflated zeros: 1 MiB deflated once with a sync flush, its blocks
/// repeated `mib` times, then an empty final block: a real stream of `mib`
/// MiB of zeros, made in milliseconds.
fn deflated_zeros(mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(4 << 10);
    c.compress_vec(&vec![0u8; 1 << 20], &mut block, FlushCompress::Sync)
        .unwrap();
    let mut out = block.repeat(mib);
    out.extend_from_slice(&[0x03, 0x00]); // final, fixed Huffman, end of block
    out
}

/// Nothing was written in `parent` or beside it.
fn untouched(parent: &Path) {
    assert_eq!(fs::read_dir(parent).unwrap().count(), 0, "nothing unpacked");
    assert!(!parent.parent().unwrap().join("evil.shp").exists());
}

#[test]
fn evil_zips_are_refused_quickly_writing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("unpack");
    fs::create_dir(&parent).unwrap();
    let shp = fs::read(fixture("nl_parcels_28992.shp")).unwrap();
    for evil in [
        "../evil.shp",
        "data/../../evil.shp",
        "/tmp/evil.shp",
        "C:/evil.shp",
    ] {
        let path = dir.path().join("evil.zip");
        fs::write(&path, raw_zip(&[(evil, 100, &shp[..100])])).unwrap();
        let e = unpack_in(&path, None, Limits::default(), &parent)
            .err()
            .expect(evil);
        assert!(matches!(e, ReadError::Archive { .. }), "{evil}: {e}");
        assert!(e.to_string().contains("outside"), "{e}");
        untouched(&parent);
    }

    // 1 GiB of zeros in about 1 MiB: refused by its ratio, before inflating.
    let bomb = dir.path().join("bomb.zip");
    let zeros = deflated_zeros(1024);
    fs::write(
        &bomb,
        raw_zip(&[
            ("layer.shp", 100, &shp[..100]),
            ("layer.dbf", 1 << 30, &zeros),
        ]),
    )
    .unwrap();
    let started = Instant::now();
    let e = unpack_in(&bomb, None, Limits::default(), &parent)
        .err()
        .expect("a bomb");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(e.to_string().contains("zip bomb"), "{e}");
    untouched(&parent);
    let e = open(&bomb, &ReadOptions::default())
        .err()
        .expect("a bomb through open");
    assert!(matches!(e, ReadError::Archive { .. }), "{e}");

    // Four entries of 1.5 GiB each (their data never read: the ratio is
    // not checked here) are refused by the total.
    let total = dir.path().join("total.zip");
    let entries: Vec<(&str, u32, &[u8])> = ["a.shp", "a.dbf", "a.shx", "a.prj"]
        .iter()
        .map(|n| (*n, 3u32 << 29, &b"x"[..]))
        .collect();
    fs::write(&total, raw_zip(&entries)).unwrap();
    let limits = Limits {
        total: 4 << 30,
        ratio: u64::MAX,
    };
    let e = unpack_in(&total, None, limits, &parent)
        .err()
        .expect("too big");
    assert!(e.to_string().contains("more than 4294967296 bytes"), "{e}");
    untouched(&parent);

    // An honest archive passes with the same checks.
    let good = dir.path().join("good.zip");
    let set = shapefile_set("nl_parcels_28992", "");
    let files: Vec<(&str, Vec<u8>)> = set.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    zip_of(&good, &files);
    let unpacked = unpack_in(&good, None, Limits::default(), &parent).unwrap();
    assert!(unpacked.shp.starts_with(&parent));
    drop(unpacked);
    untouched(&parent);
}

#[test]
fn detection_by_content_beats_the_name() {
    let dir = tempfile::tempdir().unwrap();
    for (name, format) in [
        ("poly00.fgb", Format::FlatGeobuf),
        ("nl_parcels_28992.gpkg", Format::GeoPackage),
        ("nl_parcels_28992.shp", Format::Shapefile),
        ("nl_parcels_28992.geojson", Format::GeoJson),
    ] {
        let renamed = dir.path().join(format!("{name}.dat"));
        fs::copy(fixture(name), &renamed).unwrap();
        let head = fs::read(&renamed).unwrap();
        assert_eq!(
            detect(&renamed, &head[..head.len().min(8192)]),
            Some(format),
            "{name}"
        );
    }
    assert_eq!(detect(Path::new("x.csv"), b"id,wkt\n"), Some(Format::Csv));
    assert_eq!(detect(Path::new("x.dat"), b"id,wkt\n"), None);
    let unknown = dir.path().join("parcels.dat");
    fs::copy(fixture("nl_parcels_28992_wkt.csv"), &unknown).unwrap();
    let e = open(&unknown, &ReadOptions::default()).err().unwrap();
    assert!(matches!(e, ReadError::UnknownFormat { .. }), "{e}");
    let r = read_with(
        &unknown,
        &ReadOptions {
            format: Some(Format::Csv),
            ..ReadOptions::default()
        },
    );
    assert_eq!(r.features.len(), 316);
    assert_eq!("GPKG".parse::<Format>(), Ok(Format::GeoPackage));
    assert_eq!("ndjson".parse::<Format>(), Ok(Format::GeoJsonSeq));
    assert!("kml"
        .parse::<Format>()
        .unwrap_err()
        .contains("geojson, geojsonseq"));
}
