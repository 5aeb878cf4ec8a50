use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Instant;

use geo::{Centroid, Contains, Validation};
use geo_types::{Geometry, Point};

use super::*;

/// The default city, made once for all tests that only read it.
fn default_city() -> &'static DemoCity {
    static CITY: OnceLock<DemoCity> = OnceLock::new();
    CITY.get_or_init(|| generate(&DemoOptions::default()).unwrap())
}

fn layer<'a>(city: &'a DemoCity, code: &str) -> &'a DemoLayer {
    city.layer(code)
        .unwrap_or_else(|| panic!("no layer {code}"))
}

fn polygons(g: &Geometry<f64>) -> Vec<&geo_types::Polygon<f64>> {
    match g {
        Geometry::Polygon(p) => vec![p],
        Geometry::MultiPolygon(mp) => mp.0.iter().collect(),
        _ => vec![],
    }
}

#[test]
fn the_same_options_give_the_same_city() {
    let opts = DemoOptions {
        parcels: 700,
        seed: 7,
    };
    let (a, b) = (generate(&opts).unwrap(), generate(&opts).unwrap());
    assert_eq!(a, b);
    // Byte-identical, too: the serialized geometries and properties.
    for code in ["parcels", "streets", "water", "rivers", "territorial_zones"] {
        let text = |c: &DemoCity| format!("{:?}", layer(c, code).features);
        assert_eq!(text(&a), text(&b), "{code}");
    }
    let other = generate(&DemoOptions {
        parcels: 700,
        seed: 8,
    })
    .unwrap();
    assert_ne!(
        layer(&a, "parcels").features,
        layer(&other, "parcels").features,
        "the seed matters"
    );
}

#[test]
fn makes_exactly_the_parcels_asked_for() {
    for n in [1, 11, 12, 13, 250] {
        let city = generate(&DemoOptions {
            parcels: n,
            seed: 42,
        })
        .unwrap();
        assert_eq!(layer(&city, "parcels").features.len(), n, "{n}");
        assert_eq!(
            layer(&city, "quarters").features.len(),
            n.div_ceil(12),
            "{n}"
        );
    }
    assert_eq!(layer(default_city(), "parcels").features.len(), 5000);
    assert!(matches!(
        generate(&DemoOptions {
            parcels: 0,
            seed: 42
        }),
        Err(DemoError::Parcels { requested: 0, .. })
    ));
    assert!(matches!(
        generate(&DemoOptions {
            parcels: 100_000_000,
            seed: 42
        }),
        Err(DemoError::Parcels { .. })
    ));
}

#[test]
fn cadastral_numbers_are_unique_and_well_formed() {
    let city = default_city();
    let quarters: BTreeSet<&str> = layer(city, "quarters")
        .features
        .iter()
        .map(|f| f.properties["quarter"].as_str().unwrap())
        .collect();
    let mut seen = BTreeSet::new();
    for f in &layer(city, "parcels").features {
        let c = f
            .cadastral
            .as_ref()
            .expect("every parcel has a cadastral number");
        assert_eq!(c.as_str().parse::<Cadastral>().unwrap(), *c);
        assert_eq!(f.properties["cadastral"], json!(c.as_str()));
        assert!(c.as_str().starts_with("16:50:0"), "{c}");
        assert!(quarters.contains(c.quarter()), "{c} is in no quarter");
        assert!(seen.insert(c.clone()), "{c} twice");
    }
}

#[test]
fn parcels_lie_in_the_city_and_out_of_the_water() {
    let city = default_city();
    let districts: Vec<&Geometry<f64>> = layer(city, "districts")
        .features
        .iter()
        .map(|f| &f.geometry)
        .collect();
    let rivers: Vec<&Geometry<f64>> = layer(city, "rivers")
        .features
        .iter()
        .map(|f| &f.geometry)
        .collect();
    assert_eq!(districts.len(), 7);
    assert_eq!(rivers.len(), 2);
    for f in &layer(city, "parcels").features {
        let c: Point<f64> = f.geometry.centroid().unwrap();
        assert!(
            districts.iter().any(|d| d.contains(&c)),
            "{:?} outside the city",
            f.cadastral
        );
        assert!(
            !rivers.iter().any(|r| r.contains(&c)),
            "{:?} in a river",
            f.cadastral
        );
    }
}

#[test]
fn every_geometry_is_valid_and_of_its_layers_type() {
    let city = default_city();
    for l in &city.layers {
        for (n, f) in l.features.iter().enumerate() {
            assert!(
                l.spec.geometry_type.accepts(&f.geometry),
                "{} #{n}",
                l.spec.code
            );
            assert!(
                !geo::HasDimensions::is_empty(&f.geometry),
                "{} #{n} empty",
                l.spec.code
            );
            assert!(
                f.geometry.is_valid(),
                "{} #{n}: {:?}",
                l.spec.code,
                f.geometry.validation_errors()
            );
            for p in polygons(&f.geometry) {
                assert!(p.exterior().is_closed() && p.exterior().0.len() >= 4);
            }
        }
    }
}

#[test]
fn geometries_are_lon_lat_in_kazan() {
    for l in &default_city().layers {
        for f in &l.features {
            let r = geo::BoundingRect::bounding_rect(&f.geometry).unwrap();
            assert!(
                r.min().x > 48.7 && r.max().x < 49.5,
                "{}: {r:?}",
                l.spec.code
            );
            assert!(
                r.min().y > 55.5 && r.max().y < 56.0,
                "{}: {r:?}",
                l.spec.code
            );
        }
    }
}

#[test]
fn every_layer_has_features_and_its_properties() {
    let city = default_city();
    let expected: &[(&str, &[&str])] = &[
        ("districts", &["name", "district_no"]),
        ("quarters", &["quarter", "district"]),
        (
            "parcels",
            &[
                "cadastral",
                "area_m2",
                "land_category",
                "permitted_use",
                "address",
                "district",
                "ownership",
            ],
        ),
        ("streets", &["name", "category", "width_m"]),
        ("water", &["network", "diameter_mm", "material", "depth_m"]),
        ("sewer", &["network", "flow", "diameter_mm"]),
        (
            "gas",
            &[
                "network",
                "pressure",
                "pressure_mpa",
                "material",
                "diameter_mm",
            ],
        ),
        ("gas_stations", &["network", "kind", "name"]),
        ("power", &["network", "voltage_kv", "placement"]),
        ("heat", &["network", "diameter_mm", "placement"]),
        ("telecom", &["network", "cable", "operator"]),
        ("rivers", &["name", "length_km"]),
        (
            "water_protection_zones",
            &["zone_type", "river", "width_m", "basis"],
        ),
        ("heritage_objects", &["name", "significance", "reg_number"]),
        ("heritage_zones", &["zone_type", "object", "basis"]),
        ("territorial_zones", &["zone_type", "code", "name"]),
        (
            "sanitary_zones",
            &["zone_type", "enterprise", "hazard_class", "width_m"],
        ),
    ];
    assert_eq!(city.layers.len(), expected.len());
    for (code, keys) in expected {
        let l = layer(city, code);
        assert!(!l.features.is_empty(), "{code} is empty");
        assert!(l.spec.public && !l.spec.title.is_empty() && !l.spec.description.is_empty());
        for f in &l.features {
            for key in *keys {
                assert!(
                    f.properties.contains_key(*key),
                    "{code} lacks {key}: {:?}",
                    f.properties
                );
            }
        }
    }
}

#[test]
fn layers_belong_to_catalog_departments() {
    let catalog = Catalog::builtin();
    for l in &default_city().layers {
        let d = l.spec.department.as_deref().unwrap();
        assert!(
            catalog.departments.iter().any(|c| c.code == d),
            "{}: {d}",
            l.spec.code
        );
    }
}

#[test]
fn attributes_are_realistic() {
    let city = default_city();
    let values = |code: &str, key: &str| -> BTreeSet<String> {
        layer(city, code)
            .features
            .iter()
            .map(|f| f.properties[key].to_string().trim_matches('"').to_owned())
            .collect()
    };
    let network = |code: &str| values(code, "network");
    for code in [
        "water",
        "sewer",
        "gas",
        "gas_stations",
        "power",
        "heat",
        "telecom",
    ] {
        let want = if code == "gas_stations" { "gas" } else { code };
        assert_eq!(network(code), BTreeSet::from([want.to_owned()]), "{code}");
    }
    // Main water mains are wide, some above 1000 mm (they get wider sanitary strips).
    let big = layer(city, "water")
        .features
        .iter()
        .filter(|f| f.properties["diameter_mm"].as_i64().unwrap() > 1000)
        .count();
    assert!(big > 0);
    let voltages = values("power", "voltage_kv");
    for kv in ["0.4", "10", "110"] {
        assert!(voltages.contains(kv), "{voltages:?}");
    }
    assert!(values("power", "placement").contains("underground"));
    assert_eq!(values("gas", "pressure").len(), 3);
    assert_eq!(
        values("streets", "category"),
        BTreeSet::from(["local".into(), "main".into()])
    );
    let codes = values("territorial_zones", "code");
    for code in ["Д1", "Ж2", "П1", "Р1"] {
        assert!(codes.contains(code), "{codes:?}");
    }
    let heritage = layer(city, "heritage_objects").features.len();
    assert!((20..=40).contains(&heritage), "{heritage}");
    assert_eq!(layer(city, "heritage_zones").features.len(), heritage);
    let enterprises = layer(city, "sanitary_zones").features.len();
    assert!((3..=6).contains(&enterprises), "{enterprises}");
    let widths = values("water_protection_zones", "width_m");
    assert_eq!(
        widths,
        BTreeSet::from(["20.0".into(), "100.0".into(), "200.0".into()])
    );
    for f in &layer(city, "parcels").features {
        let address = f.properties["address"].as_str().unwrap();
        assert!(
            address.starts_with("г. Казань, ") && address.contains(", д. "),
            "{address}"
        );
        assert!(f.properties["area_m2"].as_f64().unwrap() > 100.0);
    }
    // No two plots share an address.
    assert_eq!(values("parcels", "address").len(), 5000);
}

#[test]
fn water_protection_widths_follow_the_water_code() {
    assert_eq!(rivers::protection_width_m(142.0), 200.0);
    assert_eq!(rivers::protection_width_m(50.0), 200.0);
    assert_eq!(rivers::protection_width_m(40.0), 100.0);
    assert_eq!(rivers::protection_width_m(9.0), 50.0);
}

#[tokio::test]
async fn loads_into_a_store_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::gpkg::GpkgStore::open(&dir.path().join("demo.gpkg"))
        .await
        .unwrap();
    let city = generate(&DemoOptions {
        parcels: 40,
        seed: 3,
    })
    .unwrap();
    let features: usize = city.layers.iter().map(|l| l.features.len()).sum();
    let summary = load(&store, city.clone()).await.unwrap();
    assert_eq!(
        summary,
        LoadSummary {
            layers: 17,
            features
        }
    );
    assert_eq!(store.layers().await.unwrap().len(), 17);
    // A layer of the same code but another geometry type is replaced.
    let code: crate::model::LayerCode = "streets".parse().unwrap();
    store.delete_layer(&code).await.unwrap();
    let mut wrong = city.layer("streets").unwrap().spec.clone();
    wrong.geometry_type = GeometryType::Point;
    store.create_layer(&wrong).await.unwrap();
    let again = load(&store, city).await.unwrap();
    assert_eq!(again, summary);
    let streets = store.layer(&code).await.unwrap().unwrap();
    assert_eq!(streets.spec.geometry_type, GeometryType::LineString);
    assert_eq!(
        streets.feature_count,
        i64::try_from(layer_len(&store, "streets").await).unwrap()
    );
    let parcel = store
        .parcel(&"16:50:050001:1".parse().unwrap())
        .await
        .unwrap();
    assert!(
        parcel.is_some(),
        "the first plot of the first quarter is stored"
    );
}

async fn layer_len(store: &dyn Store, code: &str) -> usize {
    store.features(&code.parse().unwrap()).await.unwrap().len()
}

/// `cargo test --release --lib demo -- --ignored --nocapture` prints the timings.
#[test]
#[ignore = "slow in debug builds; run in release"]
fn large_cities_are_exact_and_fast() {
    for n in [5_000, 300_000, 1_000_000] {
        let t = Instant::now();
        let city = generate(&DemoOptions {
            parcels: n,
            seed: 42,
        })
        .unwrap();
        let took = t.elapsed();
        if n <= 300_000 {
            for l in &city.layers {
                assert!(
                    l.features.iter().all(|f| f.geometry.is_valid()),
                    "{}",
                    l.spec.code
                );
            }
        }
        let parcels = &layer(&city, "parcels").features;
        assert_eq!(parcels.len(), n);
        let unique: BTreeSet<_> = parcels
            .iter()
            .map(|f| f.cadastral.clone().unwrap())
            .collect();
        assert_eq!(unique.len(), n);
        let counts: Vec<String> = city
            .layers
            .iter()
            .map(|l| format!("{} {}", l.spec.code, l.features.len()))
            .collect();
        println!("{n} parcels: generate {took:.2?}; {}", counts.join(", "));
    }
    let too_many = generate(&DemoOptions {
        parcels: usize::MAX,
        seed: 42,
    })
    .unwrap_err();
    println!("{too_many}");
}
