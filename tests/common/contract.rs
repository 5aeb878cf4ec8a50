//! The store contract: what every `Store` backend must do, written once against
//! `&dyn Store` and run for each backend by `tests/store_contract.rs`.
//!
//! Each case is self-contained and can share one database with the others (and
//! with earlier runs): it uses its own layer codes (prefixed by the case),
//! its own cadastral quarter (`16:50:0000NN`) and its own department codes, and
//! deletes its layers first if a previous run left them.

use geo_types::{
    line_string, point, polygon, Geometry, GeometryCollection, LineString, MultiLineString,
    MultiPoint, MultiPolygon, Polygon,
};
use imgis::model::{
    props, Cadastral, Department, Feature, GeometryType, Layer, LayerCode, LayerKind, LayerSpec,
    NewFeature, Properties,
};
use imgis::store::{Store, StoreError};
use serde_json::json;

// ---------------------------------------------------------------- helpers

fn code(s: &str) -> LayerCode {
    s.parse().expect("test layer codes are valid")
}

fn cad(s: &str) -> Cadastral {
    s.parse().expect("test cadastral numbers are valid")
}

fn spec(c: &str, kind: LayerKind, geometry_type: GeometryType) -> LayerSpec {
    LayerSpec {
        code: code(c),
        title: format!("Слой {c}"),
        description: format!("contract test layer {c}"),
        kind,
        department: None,
        geometry_type,
        public: true,
    }
}

/// Creates the layer, deleting a leftover of an earlier run first.
async fn fresh(store: &dyn Store, spec: &LayerSpec) -> Layer {
    if store.layer(&spec.code).await.expect("layer()").is_some() {
        store
            .delete_layer(&spec.code)
            .await
            .expect("deleting a leftover layer");
    }
    store.create_layer(spec).await.expect("create_layer")
}

/// A closed square ring with its lower-left corner at (x, y), lon/lat degrees.
fn square(x: f64, y: f64, size: f64) -> Polygon<f64> {
    polygon![(x: x, y: y), (x: x + size, y: y), (x: x + size, y: y + size), (x: x, y: y + size)]
}

/// A parcel near Kazan with a number.
fn parcel(i: usize, number: &str) -> NewFeature {
    let step = 0.000_1 * i as f64;
    NewFeature::new(
        square(49.1 + step, 55.79 + step, 0.000_05).into(),
        props([("n", json!(i))]),
    )
    .with_cadastral(cad(number))
}

/// Properties with every kind of JSON value.
fn rich_properties(i: usize) -> Properties {
    props([
        ("name", json!("Земельный участок №1")),
        ("назначение", json!("ИЖС")),
        ("int", json!(i)),
        ("negative", json!(-42)),
        ("big", json!(9_007_199_254_740_993_i64)),
        ("float", json!(1_234.567_890_123)),
        ("tenth", json!(0.1)),
        ("half", json!(-0.5)),
        ("yes", json!(true)),
        ("no", json!(false)),
        ("nothing", json!(null)),
        (
            "nested",
            json!({"owner": {"name": "Иванов И. И.", "share": 0.25}, "tags": []}),
        ),
        ("array", json!([1, "два", 3.5, null, {"k": "v"}, [true]])),
        ("empty", json!("")),
    ])
}

/// What a successful write must return: the inputs with strictly increasing ids, in input order.
fn assert_stored_as_given(stored: &[Feature], given: &[NewFeature]) {
    assert_eq!(stored.len(), given.len(), "one stored feature per input");
    for (i, (s, g)) in stored.iter().zip(given).enumerate() {
        assert_eq!(s.geometry, g.geometry, "geometry of feature {i}");
        assert_eq!(s.cadastral, g.cadastral, "cadastral number of feature {i}");
        assert_eq!(s.properties, g.properties, "properties of feature {i}");
    }
    assert!(
        stored.windows(2).all(|w| w[0].id < w[1].id),
        "ids increase in input order: {:?}",
        stored.iter().map(|f| f.id).collect::<Vec<_>>()
    );
}

/// Asserts `$result` is `Err` matching `$pattern` (with an optional guard).
macro_rules! assert_err {
    ($result:expr, $pattern:pat $(if $guard:expr)?) => {
        match $result {
            Err($pattern) $(if $guard)? => {}
            other => panic!(
                "expected Err({}), got {:?}",
                stringify!($pattern),
                other.map(|_| "Ok(..)")
            ),
        }
    };
}

// ---------------------------------------------------------------- 1. round trip

/// Every geometry type, and properties with every JSON kind, come back exactly
/// as written (coordinates bit for bit), with ids in input order, from both
/// `features()` and `feature()`.
pub async fn round_trip_every_geometry_type(store: &dyn Store) {
    // Coordinates with many significant digits: any text or float32 detour shows.
    let (x, y) = (49.106_414_312_345_67, 55.796_289_098_765_43);
    let exterior = square(x, y, 0.01);
    let hole = LineString::from(vec![
        (x + 0.002, y + 0.002),
        (x + 0.004, y + 0.002),
        (x + 0.004, y + 0.004),
        (x + 0.002, y + 0.002),
    ]);
    let with_hole = Polygon::new(exterior.exterior().clone(), vec![hole]);
    let line = line_string![(x: x, y: y), (x: x + 0.001, y: y - 0.000_000_001), (x: -179.999_999_999, y: -89.5)];

    let cases: Vec<(&str, GeometryType, Vec<Geometry<f64>>)> = vec![
        (
            "rt_point",
            GeometryType::Point,
            vec![point!(x: x, y: y).into(), point!(x: -0.0, y: 1e-300).into()],
        ),
        (
            "rt_line",
            GeometryType::LineString,
            vec![line.clone().into()],
        ),
        (
            "rt_polygon",
            GeometryType::Polygon,
            vec![with_hole.clone().into(), square(0.0, 0.0, 1.0).into()],
        ),
        (
            "rt_multipoint",
            GeometryType::MultiPoint,
            vec![MultiPoint::from(vec![(x, y), (x + 1.0, y + 1.0)]).into()],
        ),
        (
            "rt_multiline",
            GeometryType::MultiLineString,
            vec![MultiLineString::new(vec![
                line.clone(),
                line_string![(x: 1.0, y: 2.0), (x: 3.0, y: 4.0)],
            ])
            .into()],
        ),
        (
            "rt_multipolygon",
            GeometryType::MultiPolygon,
            vec![MultiPolygon::new(vec![with_hole.clone(), square(x + 1.0, y, 0.5)]).into()],
        ),
        (
            "rt_geometry",
            GeometryType::Geometry,
            vec![
                Geometry::GeometryCollection(GeometryCollection::new_from(vec![
                    point!(x: x, y: y).into(),
                    line.clone().into(),
                    with_hole.clone().into(),
                ])),
                point!(x: 1.5, y: 2.5).into(),
                with_hole.clone().into(),
                MultiPolygon::new(vec![square(0.0, 0.0, 1.0)]).into(),
            ],
        ),
    ];

    for (c, geometry_type, geometries) in cases {
        let layer = fresh(store, &spec(c, LayerKind::Other, geometry_type)).await;
        let given: Vec<NewFeature> = geometries
            .into_iter()
            .enumerate()
            .map(|(i, g)| {
                NewFeature::new(
                    g,
                    if i == 1 {
                        Properties::new()
                    } else {
                        rich_properties(i)
                    },
                )
            })
            .collect();
        let outcome = store
            .replace_features(layer.code(), given.clone())
            .await
            .unwrap_or_else(|e| panic!("writing {c}: {e}"));
        assert_stored_as_given(&outcome.features, &given);

        let read = store.features(layer.code()).await.expect("features()");
        assert_eq!(
            read, outcome.features,
            "{c}: features() returns what the write returned"
        );
        for f in &outcome.features {
            let one = store.feature(layer.code(), f.id).await.expect("feature()");
            assert_eq!(one.as_ref(), Some(f), "{c}: feature({})", f.id);
        }
        let missing = outcome
            .features
            .iter()
            .map(|f| f.id)
            .max()
            .expect("features were written")
            + 1000;
        assert_eq!(
            store
                .feature(layer.code(), missing)
                .await
                .expect("feature()"),
            None
        );
    }
}

// ---------------------------------------------------------------- 2. cadastral numbers

/// `parcel()` finds the layer and feature of a number; a number is unique
/// across the whole store, and a write that breaks that writes nothing.
pub async fn cadastral_lookup(store: &dyn Store) {
    let parcels = fresh(
        store,
        &spec("cad_parcels", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    let other = fresh(
        store,
        &spec("cad_other", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    let given = vec![
        parcel(1, "16:50:000002:1"),
        parcel(2, "16:50:000002:2"),
        NewFeature::new(square(49.0, 55.0, 0.001).into(), Properties::new()),
        parcel(3, "16:50:0000021:3"),
    ];
    let written = store
        .replace_features(parcels.code(), given.clone())
        .await
        .expect("replace");
    assert_stored_as_given(&written.features, &given);

    for f in written.features.iter().filter(|f| f.cadastral.is_some()) {
        let number = f.cadastral.as_ref().expect("filtered");
        let (layer, found) = store
            .parcel(number)
            .await
            .expect("parcel()")
            .unwrap_or_else(|| panic!("{number} not found"));
        assert_eq!(&layer, parcels.code());
        assert_eq!(&found, f);
    }
    assert_eq!(
        store
            .parcel(&cad("16:50:000002:999"))
            .await
            .expect("parcel()"),
        None
    );

    // A duplicate within one write.
    let dup = vec![parcel(10, "16:50:000002:10"), parcel(11, "16:50:000002:10")];
    assert_err!(
        store.replace_features(other.code(), dup.clone()).await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000002:10"
    );
    // A number another layer holds, through replace and append.
    let taken = vec![parcel(12, "16:50:000002:12"), parcel(13, "16:50:000002:2")];
    assert_err!(
        store.replace_features(other.code(), taken.clone()).await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000002:2"
    );
    assert_err!(
        store.append_features(other.code(), taken).await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000002:2"
    );
    // A number the same layer already holds, through append.
    assert_err!(
        store.append_features(parcels.code(), vec![parcel(14, "16:50:000002:1")]).await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000002:1"
    );
    // Nothing of the refused writes was stored.
    let other_now = store
        .layer(other.code())
        .await
        .expect("layer()")
        .expect("exists");
    assert_eq!(
        other_now, other,
        "refused writes leave the layer at version 0"
    );
    assert!(store
        .features(other.code())
        .await
        .expect("features()")
        .is_empty());
    for n in ["16:50:000002:10", "16:50:000002:12"] {
        assert_eq!(store.parcel(&cad(n)).await.expect("parcel()"), None, "{n}");
    }
    assert_eq!(
        store.features(parcels.code()).await.expect("features()"),
        written.features
    );

    // Replacing a layer with its own numbers is fine: the old features go first.
    let again = store
        .replace_features(parcels.code(), given.clone())
        .await
        .expect("replace again");
    let (_, found) = store
        .parcel(&cad("16:50:000002:1"))
        .await
        .expect("parcel()")
        .expect("found");
    assert_eq!(
        found, again.features[0],
        "the number now names the new feature"
    );
    assert!(
        again.features[0].id > written.features[3].id,
        "ids are never reused"
    );
}

// ---------------------------------------------------------------- 3. versions

/// Create → version 0; every replace or append → +1 with a later update time
/// and the right feature count; `update_layer` changes the spec, not the version.
pub async fn layer_versions(store: &dyn Store) {
    store
        .upsert_departments(&[Department {
            code: "VER_UAIG".into(),
            name: "Управление архитектуры и градостроительства".into(),
            external: false,
        }])
        .await
        .expect("upsert_departments");
    let created = fresh(
        store,
        &spec("ver_zones", LayerKind::Zones, GeometryType::Polygon),
    )
    .await;
    assert_eq!(created.version, 0);
    assert_eq!(created.feature_count, 0);
    assert_eq!(
        store.layer(created.code()).await.expect("layer()"),
        Some(created.clone())
    );
    let code = created.code().clone();

    let feature = |i: usize| {
        NewFeature::new(
            square(49.0 + i as f64 * 0.01, 55.0, 0.005).into(),
            props([("i", json!(i))]),
        )
    };

    let first = store
        .replace_features(&code, (0..3).map(feature).collect())
        .await
        .expect("replace");
    assert_eq!(first.layer.version, 1);
    assert_eq!(first.layer.feature_count, 3);
    assert!(
        first.layer.updated_at > created.updated_at,
        "updated_at advances"
    );

    let second = store
        .append_features(&code, (3..5).map(feature).collect())
        .await
        .expect("append");
    assert_eq!(second.layer.version, 2);
    assert_eq!(second.layer.feature_count, 5);
    assert!(second.layer.updated_at > first.layer.updated_at);
    assert!(
        second.features[0].id > first.features[2].id,
        "appended ids come after the existing ones"
    );
    let all = store.features(&code).await.expect("features()");
    let expected: Vec<Feature> = first
        .features
        .iter()
        .chain(&second.features)
        .cloned()
        .collect();
    assert_eq!(
        all, expected,
        "append keeps the old features, ordered by id"
    );
    assert_eq!(
        store.layer(&code).await.expect("layer()"),
        Some(second.layer.clone())
    );

    // Metadata edits do not bump the version: the features did not change.
    let mut edited = second.layer.spec.clone();
    edited.title = "Зоны с особыми условиями использования территорий".into();
    edited.description = "ЗОУИТ".into();
    edited.department = Some("VER_UAIG".into());
    edited.public = false;
    let updated = store.update_layer(&edited).await.expect("update_layer");
    assert_eq!(updated.spec, edited);
    assert_eq!(updated.version, 2);
    assert_eq!(updated.updated_at, second.layer.updated_at);
    assert_eq!(updated.feature_count, 5);
    assert_eq!(
        store.layer(&code).await.expect("layer()"),
        Some(updated.clone())
    );

    // An empty replace is a write too.
    let emptied = store
        .replace_features(&code, Vec::new())
        .await
        .expect("empty replace");
    assert_eq!(emptied.layer.version, 3);
    assert_eq!(emptied.layer.feature_count, 0);
    assert!(emptied.layer.updated_at > updated.updated_at);
    assert_eq!(emptied.layer.spec, edited, "writes keep the spec");
    assert!(store.features(&code).await.expect("features()").is_empty());

    // layers() is ordered by code and carries the counts.
    let other = fresh(
        store,
        &spec("ver_aaa", LayerKind::Other, GeometryType::Point),
    )
    .await;
    store
        .append_features(
            other.code(),
            vec![NewFeature::new(
                point!(x: 49.0, y: 55.0).into(),
                Properties::new(),
            )],
        )
        .await
        .expect("append");
    let listed: Vec<Layer> = store
        .layers()
        .await
        .expect("layers()")
        .into_iter()
        .filter(|l| l.code().as_str().starts_with("ver_"))
        .collect();
    assert_eq!(
        listed
            .iter()
            .map(|l| (l.code().as_str(), l.version, l.feature_count))
            .collect::<Vec<_>>(),
        [("ver_aaa", 1, 1), ("ver_zones", 3, 0)]
    );
    let all_codes: Vec<String> = store
        .layers()
        .await
        .expect("layers()")
        .iter()
        .map(|l| l.code().to_string())
        .collect();
    let mut sorted = all_codes.clone();
    sorted.sort();
    assert_eq!(all_codes, sorted, "layers() is ordered by code");
}

// ---------------------------------------------------------------- 4. failed writes

/// A write that fails half-way leaves the previous features, version, update
/// time and cadastral numbers exactly as they were.
pub async fn failed_write_leaves_previous_state(store: &dyn Store) {
    let parcels = fresh(
        store,
        &spec("fail_parcels", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    let other = fresh(
        store,
        &spec("fail_other", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    store
        .replace_features(other.code(), vec![parcel(0, "16:50:000004:999999")])
        .await
        .expect("replace other");
    let old: Vec<NewFeature> = (1..=10)
        .map(|i| parcel(i, &format!("16:50:000004:{i}")))
        .collect();
    let before = store
        .replace_features(parcels.code(), old)
        .await
        .expect("replace");
    let code = parcels.code().clone();

    let check_intact = |what: &'static str| {
        let before = &before;
        let code = &code;
        async move {
            let layer = store.layer(code).await.expect("layer()").expect("exists");
            assert_eq!(
                layer, before.layer,
                "{what}: version, time and count unchanged"
            );
            let features = store.features(code).await.expect("features()");
            assert_eq!(features, before.features, "{what}: features unchanged");
            for f in &before.features {
                let number = f.cadastral.as_ref().expect("all old features have numbers");
                let (l, found) = store
                    .parcel(number)
                    .await
                    .expect("parcel()")
                    .expect("still found");
                assert_eq!(
                    (&l, &found),
                    (code, f),
                    "{what}: {number} still names its feature"
                );
            }
            for n in ["16:50:000005:1", "16:50:000005:1000"] {
                assert_eq!(
                    store.parcel(&cad(n)).await.expect("parcel()"),
                    None,
                    "{what}: {n} was not kept"
                );
            }
        }
    };

    let thousand = || {
        (1..=1000)
            .map(|i| parcel(i, &format!("16:50:000005:{i}")))
            .collect::<Vec<_>>()
    };

    // 1000 valid features, then one whose number another layer holds: the
    // conflict is found only after the 1000 were inserted.
    let mut batch = thousand();
    batch.push(parcel(1001, "16:50:000004:999999"));
    assert_err!(
        store.replace_features(&code, batch.clone()).await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000004:999999"
    );
    check_intact("replace with a taken number").await;
    assert_err!(
        store.append_features(&code, batch).await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000004:999999"
    );
    check_intact("append with a taken number").await;

    // 1000 valid features, then one repeating a number of the same write.
    let mut batch = thousand();
    batch.push(parcel(1001, "16:50:000005:7"));
    assert_err!(
        store.replace_features(&code, batch).await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000005:7"
    );
    check_intact("replace with a repeated number").await;

    // 1000 polygons, then a point in a polygon layer.
    let mut batch = thousand();
    batch.push(NewFeature::new(
        point!(x: 49.0, y: 55.0).into(),
        Properties::new(),
    ));
    assert_err!(
        store.replace_features(&code, batch.clone()).await,
        StoreError::GeometryType {
            index: 1000,
            found: "POINT",
            expected: "POLYGON",
            ..
        }
    );
    check_intact("replace with a wrong geometry type").await;
    assert_err!(
        store.append_features(&code, batch).await,
        StoreError::GeometryType { index: 1000, .. }
    );
    check_intact("append with a wrong geometry type").await;

    // An empty geometry.
    let mut batch = thousand();
    batch.push(NewFeature::new(
        MultiPolygon::<f64>::new(vec![]).into(),
        Properties::new(),
    ));
    let multi = fresh(
        store,
        &spec("fail_multi", LayerKind::Other, GeometryType::MultiPolygon),
    )
    .await;
    assert_err!(
        store.replace_features(multi.code(), batch).await,
        StoreError::EmptyGeometry { index: 1000 }
    );
    assert_eq!(
        store.layer(multi.code()).await.expect("layer()"),
        Some(multi.clone())
    );
    check_intact("an empty geometry elsewhere").await;
}

// ---------------------------------------------------------------- 5. errors

/// LayerExists, UnknownLayer for every operation on a missing layer, UnknownDepartment.
pub async fn errors_for_missing_and_existing_things(store: &dyn Store) {
    let s = spec("err_layer", LayerKind::Other, GeometryType::Point);
    let layer = fresh(store, &s).await;
    assert_err!(store.create_layer(&s).await, StoreError::LayerExists(c) if c == s.code);
    assert_eq!(
        store.layer(&s.code).await.expect("layer()"),
        Some(layer.clone()),
        "unchanged"
    );

    let missing = spec("err_missing", LayerKind::Other, GeometryType::Point);
    if store.layer(&missing.code).await.expect("layer()").is_some() {
        store.delete_layer(&missing.code).await.expect("cleanup");
    }
    let c = &missing.code;
    let point = || {
        vec![NewFeature::new(
            point!(x: 1.0, y: 2.0).into(),
            Properties::new(),
        )]
    };
    assert_eq!(store.layer(c).await.expect("layer()"), None);
    assert_err!(store.update_layer(&missing).await, StoreError::UnknownLayer(x) if &x == c);
    assert_err!(store.delete_layer(c).await, StoreError::UnknownLayer(x) if &x == c);
    assert_err!(store.replace_features(c, point()).await, StoreError::UnknownLayer(x) if &x == c);
    assert_err!(store.append_features(c, point()).await, StoreError::UnknownLayer(x) if &x == c);
    assert_err!(store.features(c).await, StoreError::UnknownLayer(x) if &x == c);
    assert_err!(store.feature(c, 1).await, StoreError::UnknownLayer(x) if &x == c);
    assert!(!store
        .layers()
        .await
        .expect("layers()")
        .iter()
        .any(|l| l.code() == c));

    let mut bad_department = missing.clone();
    bad_department.department = Some("ERR_NO_SUCH_DEPARTMENT".into());
    assert_err!(
        store.create_layer(&bad_department).await,
        StoreError::UnknownDepartment(d) if d == "ERR_NO_SUCH_DEPARTMENT"
    );
    assert_eq!(
        store.layer(c).await.expect("layer()"),
        None,
        "the refused layer was not created"
    );

    let mut bad_update = s.clone();
    bad_update.title = "changed".into();
    bad_update.department = Some("ERR_NO_SUCH_DEPARTMENT".into());
    assert_err!(
        store.update_layer(&bad_update).await,
        StoreError::UnknownDepartment(d) if d == "ERR_NO_SUCH_DEPARTMENT"
    );
    assert_eq!(
        store.layer(&s.code).await.expect("layer()"),
        Some(layer),
        "refused update changed nothing"
    );
}

// ---------------------------------------------------------------- 6. delete

/// Deleting a layer removes its features and frees its cadastral numbers.
pub async fn delete_layer_frees_cadastral_numbers(store: &dyn Store) {
    let s = spec("del_parcels", LayerKind::Parcels, GeometryType::Polygon);
    let layer = fresh(store, &s).await;
    let given: Vec<NewFeature> = (1..=5)
        .map(|i| parcel(i, &format!("16:50:000006:{i}")))
        .collect();
    store
        .replace_features(layer.code(), given.clone())
        .await
        .expect("replace");
    assert!(store
        .parcel(&cad("16:50:000006:1"))
        .await
        .expect("parcel()")
        .is_some());

    store
        .delete_layer(layer.code())
        .await
        .expect("delete_layer");
    assert_eq!(store.layer(layer.code()).await.expect("layer()"), None);
    assert!(!store
        .layers()
        .await
        .expect("layers()")
        .iter()
        .any(|l| l.code() == layer.code()));
    assert_err!(
        store.features(layer.code()).await,
        StoreError::UnknownLayer(_)
    );
    for i in 1..=5 {
        let n = format!("16:50:000006:{i}");
        assert_eq!(
            store.parcel(&cad(&n)).await.expect("parcel()"),
            None,
            "{n} is freed"
        );
    }

    // The numbers can be used again, by another layer or a re-created one.
    let again = fresh(
        store,
        &spec("del_again", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    let written = store
        .replace_features(again.code(), given.clone())
        .await
        .expect("numbers are free");
    let (l, f) = store
        .parcel(&cad("16:50:000006:3"))
        .await
        .expect("parcel()")
        .expect("found");
    assert_eq!((l, f), (again.code().clone(), written.features[2].clone()));

    let recreated = store.create_layer(&s).await.expect("re-create");
    assert_eq!(recreated.version, 0);
    assert_eq!(recreated.feature_count, 0);
    assert!(store
        .features(recreated.code())
        .await
        .expect("features()")
        .is_empty());
    store
        .delete_layer(again.code())
        .await
        .expect("delete_layer");
    store
        .delete_layer(recreated.code())
        .await
        .expect("delete_layer");
}

// ---------------------------------------------------------------- 7. departments

/// Departments are inserted, updated by code, and listed ordered by code.
pub async fn departments_upsert_and_list(store: &dyn Store) {
    store.ping().await.expect("ping");
    let kzio = Department {
        code: "DEP_KZIO".into(),
        name: "Комитет земельных и имущественных отношений".into(),
        external: false,
    };
    let gas = Department {
        code: "DEP_GAS".into(),
        name: "Gas distribution".into(),
        external: true,
    };
    store
        .upsert_departments(&[kzio.clone(), gas.clone()])
        .await
        .expect("insert");
    let ours = |all: Vec<Department>| {
        all.into_iter()
            .filter(|d| d.code.starts_with("DEP_"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ours(store.departments().await.expect("departments()")),
        [gas.clone(), kzio.clone()]
    );

    let renamed = Department {
        name: "Газораспределительная организация".into(),
        external: false,
        ..gas
    };
    store
        .upsert_departments(std::slice::from_ref(&renamed))
        .await
        .expect("update");
    assert_eq!(
        ours(store.departments().await.expect("departments()")),
        [renamed, kzio]
    );
    store
        .upsert_departments(&[])
        .await
        .expect("an empty upsert is fine");

    let all: Vec<String> = store
        .departments()
        .await
        .expect("departments()")
        .into_iter()
        .map(|d| d.code)
        .collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "departments() is ordered by code");

    // A known department can own a layer.
    let mut owned = spec(
        "dep_owned",
        LayerKind::Utilities,
        GeometryType::MultiLineString,
    );
    owned.department = Some("DEP_GAS".into());
    let layer = fresh(store, &owned).await;
    assert_eq!(layer.spec.department.as_deref(), Some("DEP_GAS"));
}
