//! The store contract: what every `Store` backend must do, written once against
//! `&dyn Store` and run for each backend by `tests/store_contract.rs`.
//!
//! Each case is self-contained and can share one database with the others (and
//! with earlier runs): it uses its own layer codes (prefixed by the case),
//! its own cadastral quarter (`16:50:0000NN`) and its own department codes, and
//! deletes its layers first if a previous run left them. Two cases need a store
//! no earlier run wrote to: `catalog_revisions` (revisions count from 1) and
//! `application_filters` (it lists its applications by a department of its own).

use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use geo_types::{
    line_string, point, polygon, Geometry, GeometryCollection, LineString, MultiLineString,
    MultiPoint, MultiPolygon, Polygon,
};
use imgis::applications::{
    Application, ApplicationFilter, Decision, Event, NewApplication, NewTask, Status, Target, Task,
    TaskStatus,
};
use imgis::catalog::Action;
use imgis::model::{
    props, Cadastral, Department, Feature, GeometryType, Layer, LayerCode, LayerKind, LayerSpec,
    NewFeature, Properties,
};
use imgis::store::{FeatureBatches, ImportWrite, Store, StoreError, WriteOutcome};
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

// ---------------------------------------------------------------- 8. catalogs

/// Catalog documents are stored as revisions 1, 2 … and the newest is read back
/// exactly. Needs a fresh store: it checks that there is no catalog at first.
pub async fn catalog_revisions(store: &dyn Store) {
    assert_eq!(store.catalog().await.expect("catalog()"), None);
    let first_text = "# Каталог услуг\n[[services]]\ncode = \"build_house\"\n";
    let first = store
        .save_catalog("/etc/imgis/catalog.toml", first_text)
        .await
        .expect("save_catalog");
    assert_eq!(first.revision, 1);
    assert_eq!(first.source, "/etc/imgis/catalog.toml");
    assert_eq!(first.text, first_text);

    let second_text = "[[services]]\ncode = \"fence\"\ntitle = \"Ограждение участка\"\n";
    let second = store
        .save_catalog("built in", second_text)
        .await
        .expect("save_catalog");
    assert_eq!(second.revision, 2);
    assert!(second.loaded_at >= first.loaded_at);

    let newest = store
        .catalog()
        .await
        .expect("catalog()")
        .expect("a catalog");
    assert_eq!(
        newest, second,
        "the newest revision, as save_catalog returned it"
    );
    assert_eq!(newest.text, second_text);
    assert_eq!(newest.source, "built in");
}

// ---------------------------------------------------------------- applications: helpers

fn day(s: &str) -> NaiveDate {
    s.parse().expect("test dates are valid")
}

/// A UTC time at the microsecond precision both stores keep.
fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test times are valid")
        .with_timezone(&Utc)
}

fn department(code: &str, name: &str) -> Department {
    Department {
        code: code.into(),
        name: name.into(),
        external: false,
    }
}

fn task(department: &str, action: Action, start: &str, due: &str) -> NewTask {
    NewTask {
        service: "build_house".into(),
        department: department.into(),
        action,
        start: day(start),
        due: day(due),
        reasons: json!([{"rule": "охранная зона газопровода", "overlap_m2": 12.5}]),
    }
}

/// An application for building a house at a small square plot near Kazan
/// (EPSG:4326 lon/lat), created at `created_at`.
fn application(tasks: Vec<NewTask>, created_at: &str) -> NewApplication {
    NewApplication {
        target: Target::Service("build_house".into()),
        submitted: day("2024-05-02"),
        due: day("2024-07-01"),
        cadastral: None,
        geometry: MultiPolygon::new(vec![square(49.12, 55.78, 0.000_5)]),
        plot: json!({"area_m2": 1_043.2}),
        applicant: json!({"name": "Петров П. П."}),
        description: None,
        catalog_revision: 1,
        route: json!({"steps": []}),
        tasks,
        created_at: at(created_at),
    }
}

/// Both MultiPolygons have the same rings, coordinates within 1e-9 degrees.
fn assert_same_plot(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) {
    assert_eq!(a.0.len(), b.0.len(), "polygon count");
    for (pa, pb) in a.0.iter().zip(&b.0) {
        assert_eq!(pa.interiors().len(), pb.interiors().len(), "hole count");
        let rings_a = std::iter::once(pa.exterior()).chain(pa.interiors());
        let rings_b = std::iter::once(pb.exterior()).chain(pb.interiors());
        for (ra, rb) in rings_a.zip(rings_b) {
            assert_eq!(ra.0.len(), rb.0.len(), "ring length");
            for (ca, cb) in ra.coords().zip(rb.coords()) {
                assert!(
                    (ca.x - cb.x).abs() < 1e-9 && (ca.y - cb.y).abs() < 1e-9,
                    "{ca:?} != {cb:?}"
                );
            }
        }
    }
}

/// Every field equal (`Application` has no `PartialEq`: geometries compare within 1e-9).
fn assert_same_application(a: &Application, b: &Application) {
    assert_eq!(a.id, b.id, "id");
    assert_eq!(a.target, b.target, "target");
    assert_eq!(a.status, b.status, "status");
    assert_eq!(a.submitted, b.submitted, "submitted");
    assert_eq!(a.due, b.due, "due");
    assert_eq!(a.cadastral, b.cadastral, "cadastral");
    assert_same_plot(&a.geometry, &b.geometry);
    assert_eq!(a.plot, b.plot, "plot");
    assert_eq!(a.applicant, b.applicant, "applicant");
    assert_eq!(a.description, b.description, "description");
    assert_eq!(a.catalog_revision, b.catalog_revision, "catalog_revision");
    assert_eq!(a.route, b.route, "route");
    assert_eq!(a.revision, b.revision, "revision");
    assert_eq!(a.created_at, b.created_at, "created_at");
    assert_eq!(a.updated_at, b.updated_at, "updated_at");
    assert_eq!(a.closed_at, b.closed_at, "closed_at");
    assert_eq!(a.tasks, b.tasks, "tasks");
    assert_eq!(a.history, b.history, "history");
}

/// Every application, for counting.
fn everything() -> ApplicationFilter {
    ApplicationFilter::default()
}

// ---------------------------------------------------------------- 9. application round trip

/// An application comes back from `create_application` and `application()`
/// exactly as registered: received, revision 1, its tasks pending in order, one
/// history entry. A task for an unknown department stores nothing.
pub async fn application_round_trip(store: &dyn Store) {
    store
        .upsert_departments(&[
            department("APP_ARCH", "Управление архитектуры и градостроительства"),
            department("APP_GAS", "Газораспределительная организация"),
            department(
                "APP_HERITAGE",
                "Комитет по охране объектов культурного наследия",
            ),
        ])
        .await
        .expect("upsert_departments");

    // Two polygons, the first with a hole; many significant digits, so any
    // float32 or text detour shows.
    let (x, y) = (49.106_414_312_345_67, 55.796_289_098_765_43);
    let outer = square(x, y, 0.001);
    let hole = LineString::from(vec![
        (x + 0.000_2, y + 0.000_2),
        (x + 0.000_4, y + 0.000_2),
        (x + 0.000_4, y + 0.000_4),
        (x + 0.000_2, y + 0.000_2),
    ]);
    let geometry = MultiPolygon::new(vec![
        Polygon::new(outer.exterior().clone(), vec![hole]),
        square(x + 0.002, y, 0.000_5),
    ]);
    let reasons = json!({
        "rules": ["Строительство в охранной зоне газопровода", "ИЖС"],
        "zones": [{"code": "gas_zone", "overlap_m2": 35.25, "доля": 0.034}],
        "nested": {"null": null, "yes": true},
    });
    let tasks = vec![
        NewTask {
            service: "build_house".into(),
            department: "APP_ARCH".into(),
            action: Action::Approve,
            start: day("2024-05-02"),
            due: day("2024-05-16"),
            reasons: reasons.clone(),
        },
        NewTask {
            service: "build_house".into(),
            department: "APP_GAS".into(),
            action: Action::Consult,
            start: day("2024-05-03"),
            due: day("2024-05-10"),
            reasons: json!([]),
        },
        NewTask {
            service: "connect_gas".into(),
            department: "APP_HERITAGE".into(),
            action: Action::Block,
            start: day("2024-05-17"),
            due: day("2024-06-28"),
            reasons: json!({"памятник": "Дом купца Иванова"}),
        },
    ];
    let new = NewApplication {
        target: Target::LifeSituation("строительство_дома".into()),
        submitted: day("2024-05-02"),
        due: day("2024-06-28"),
        cadastral: Some(cad("16:50:000009:77")),
        geometry: geometry.clone(),
        plot: json!({"area_m2": 1_043.27, "bbox": [x, y, x + 0.0025, y + 0.001]}),
        applicant: json!({
            "name": "Иванов Иван Иванович",
            "phone": "+7 843 000-00-00",
            "passport": {"series": "92 04", "number": "123456"},
        }),
        description: Some("Жилой дом, 2 этажа".into()),
        catalog_revision: 7,
        route: json!({"steps": [{"department": "APP_ARCH", "due": "2024-05-16"}], "layer_versions": {"parcels": 3}}),
        tasks: tasks.clone(),
        created_at: at("2024-05-02T09:15:30.123456Z"),
    };
    let before = store
        .applications(&everything())
        .await
        .expect("applications()")
        .len();

    let created = store
        .create_application(&new)
        .await
        .expect("create_application");
    assert_eq!(created.target, new.target);
    assert_eq!(created.status, Status::Received);
    assert_eq!((created.submitted, created.due), (new.submitted, new.due));
    assert_eq!(created.cadastral, new.cadastral);
    assert_same_plot(&created.geometry, &geometry);
    assert_eq!(created.plot, new.plot);
    assert_eq!(created.applicant, new.applicant);
    assert_eq!(created.description, new.description);
    assert_eq!(created.catalog_revision, 7);
    assert_eq!(created.route, new.route);
    assert_eq!(created.revision, 1);
    assert_eq!(created.created_at, new.created_at);
    assert_eq!(created.updated_at, new.created_at);
    assert_eq!(created.closed_at, None);
    assert_eq!(created.tasks.len(), 3);
    for (i, (t, n)) in created.tasks.iter().zip(&tasks).enumerate() {
        let expected = Task {
            id: i32::try_from(i).unwrap() + 1,
            service: n.service.clone(),
            department: n.department.clone(),
            action: n.action,
            start: n.start,
            due: n.due,
            status: TaskStatus::Pending,
            comment: None,
            decided_at: None,
            reasons: n.reasons.clone(),
        };
        assert_eq!(t, &expected, "task {}", i + 1);
    }
    assert_eq!(
        created.history,
        [Event {
            at: new.created_at,
            status: Status::Received,
            task: None,
            department: None,
            decision: None,
            comment: None,
        }]
    );

    let read = store
        .application(created.id)
        .await
        .expect("application()")
        .expect("the application just created");
    assert_same_application(&read, &created);
    assert!(store
        .application(created.id + 1_000_000)
        .await
        .expect("application()")
        .is_none());

    // A task for a department nobody registered: nothing is stored, not even
    // the application row that went in before the tasks.
    let mut bad = new.clone();
    bad.tasks.insert(
        1,
        task("APP_NO_SUCH", Action::Approve, "2024-05-02", "2024-05-20"),
    );
    assert_err!(
        store.create_application(&bad).await,
        StoreError::UnknownDepartment(d) if d == "APP_NO_SUCH"
    );
    let after = store
        .applications(&everything())
        .await
        .expect("applications()")
        .len();
    assert_eq!(after, before + 1, "only the good application was stored");
}

// ---------------------------------------------------------------- 10. decisions

/// A decision made with `Application::decide` is stored on the revision it
/// was made from: task, status, revision and history change together; a stale
/// one is refused, and a closing one cancels the open tasks.
pub async fn application_decisions(store: &dyn Store) {
    store
        .upsert_departments(&[
            department("DEC_ARCH", "Архитектура"),
            department("DEC_GAS", "Газ"),
            department("DEC_ROADS", "Дороги"),
        ])
        .await
        .expect("upsert_departments");
    let a0 = store
        .create_application(&application(
            vec![
                task("DEC_ARCH", Action::Approve, "2024-05-02", "2024-05-16"),
                task("DEC_GAS", Action::Consult, "2024-05-02", "2024-05-10"),
                task("DEC_ROADS", Action::Approve, "2024-05-02", "2024-05-20"),
            ],
            "2024-05-02T09:00:00.000001Z",
        ))
        .await
        .expect("create_application");

    // 1. An approval with comments: in progress.
    let t1 = at("2024-05-06T11:30:00.250000Z");
    let change = a0
        .decide(
            1,
            Decision::ApprovedWithComments,
            Some("Согласовано: отступ 3 м от красной линии".into()),
            t1,
        )
        .expect("decide");
    let a1 = store
        .record_decision(&change)
        .await
        .expect("record_decision");
    assert_eq!(a1.status, Status::InProgress);
    assert_eq!(a1.revision, 2);
    assert_eq!(a1.updated_at, t1);
    assert_eq!(a1.closed_at, None);
    assert_eq!(a1.tasks[0].status, TaskStatus::ApprovedWithComments);
    assert_eq!(
        a1.tasks[0].comment.as_deref(),
        Some("Согласовано: отступ 3 м от красной линии")
    );
    assert_eq!(a1.tasks[0].decided_at, Some(t1));
    assert_eq!(
        a1.tasks[1..],
        a0.tasks[1..],
        "the other tasks are untouched"
    );
    assert_eq!(a1.history.len(), 2);
    assert_eq!(a1.history[0], a0.history[0]);
    assert_eq!(a1.history[1..], change.history[..]);
    assert_same_application(
        &store
            .application(a0.id)
            .await
            .expect("application()")
            .expect("stored"),
        &a1,
    );

    // 2. A decision made from the first revision is refused and changes nothing.
    let stale = a0
        .decide(3, Decision::Approved, None, at("2024-05-07T08:00:00Z"))
        .expect("decide");
    assert_err!(
        store.record_decision(&stale).await,
        StoreError::ApplicationChanged(id) if id == a0.id
    );
    let unchanged = store
        .application(a0.id)
        .await
        .expect("application()")
        .expect("stored");
    assert_same_application(&unchanged, &a1);

    // 3. An application that does not exist.
    let mut unknown = change.clone();
    unknown.application = a0.id + 1_000_000;
    assert_err!(
        store.record_decision(&unknown).await,
        StoreError::UnknownApplication(id) if id == a0.id + 1_000_000
    );

    // 4. A rejection closes the application and cancels the consultation nobody answered.
    let t3 = at("2024-05-08T15:45:10.000500Z");
    let closing = a1
        .decide(
            3,
            Decision::Rejected,
            Some("Выезд на магистраль не согласован".into()),
            t3,
        )
        .expect("decide");
    assert_eq!(closing.cancelled, [2]);
    let a2 = store
        .record_decision(&closing)
        .await
        .expect("record_decision");
    assert_eq!(a2.status, Status::Rejected);
    assert_eq!(a2.revision, 3);
    assert_eq!(a2.closed_at, Some(t3));
    assert_eq!(a2.updated_at, t3);
    assert_eq!(a2.tasks[0], a1.tasks[0]);
    assert_eq!(a2.tasks[1].status, TaskStatus::Cancelled);
    assert_eq!(a2.tasks[1].decided_at, Some(t3));
    assert_eq!(a2.tasks[1].comment, None);
    assert_eq!(a2.tasks[2].status, TaskStatus::Rejected);
    assert_eq!(
        a2.tasks[2].comment.as_deref(),
        Some("Выезд на магистраль не согласован")
    );
    assert_eq!(a2.tasks[2].decided_at, Some(t3));
    assert_eq!(
        a2.history.len(),
        4,
        "registration, two decisions' entries, one cancellation"
    );
    assert_eq!(a2.history[..2], a1.history[..]);
    assert_eq!(a2.history[2..], closing.history[..]);
    assert_same_application(
        &store
            .application(a0.id)
            .await
            .expect("application()")
            .expect("stored"),
        &a2,
    );

    // The same change again is stale now.
    assert_err!(
        store.record_decision(&closing).await,
        StoreError::ApplicationChanged(_)
    );
}

// ---------------------------------------------------------------- 11. lists

/// Lists filter by status, department and overdue (in the store, as
/// `Application::is_overdue` says), newest first, paged, with tasks and
/// without history.
///
/// Every application here also has a far-off consultation of `FLT_ALL`, so
/// the case lists its own applications even beside other cases'; an earlier
/// run's would show, though.
pub async fn application_filters(store: &dyn Store) {
    store
        .upsert_departments(&[
            department("FLT_A", "Отдел А"),
            department("FLT_B", "Отдел Б"),
            department("FLT_C", "Отдел В"),
            department("FLT_ALL", "Все"),
        ])
        .await
        .expect("upsert_departments");
    let today = day("2024-06-10");
    const NONE: [i64; 0] = [];
    let all_of_ours = |mut tasks: Vec<NewTask>, created_at: &str| {
        tasks.push(task("FLT_ALL", Action::Consult, "2024-05-02", "2099-12-31"));
        application(tasks, created_at)
    };
    let create = |new: NewApplication| async move {
        store
            .create_application(&new)
            .await
            .expect("create_application")
    };
    let decide = |a: Application, decision: Decision, comment: Option<&'static str>| async move {
        let change = a
            .decide(
                1,
                decision,
                comment.map(Into::into),
                at("2024-06-03T10:00:00Z"),
            )
            .expect("decide");
        store
            .record_decision(&change)
            .await
            .expect("record_decision")
    };

    // Received, its only task overdue.
    let a1 = create(all_of_ours(
        vec![task("FLT_A", Action::Approve, "2024-05-02", "2024-06-01")],
        "2024-05-02T09:00:00Z",
    ))
    .await;
    // Received, due later.
    let a2 = create(all_of_ours(
        vec![task("FLT_B", Action::Approve, "2024-05-02", "2024-06-20")],
        "2024-05-03T09:00:00Z",
    ))
    .await;
    // In progress: the late task is decided, the open one is not late.
    let a3 = create(all_of_ours(
        vec![
            task("FLT_A", Action::Approve, "2024-05-02", "2024-06-05"),
            task("FLT_C", Action::Approve, "2024-05-02", "2024-06-25"),
        ],
        "2024-05-04T09:00:00Z",
    ))
    .await;
    let a3 = decide(a3, Decision::Approved, None).await;
    assert_eq!(a3.status, Status::InProgress);
    // Rejected: closed, its late task cancelled.
    let a4 = create(all_of_ours(
        vec![
            task("FLT_B", Action::Approve, "2024-05-02", "2024-06-01"),
            task("FLT_C", Action::Approve, "2024-05-02", "2024-06-01"),
        ],
        "2024-05-05T09:00:00Z",
    ))
    .await;
    let a4 = decide(a4, Decision::Rejected, Some("Нет")).await;
    assert_eq!(a4.status, Status::Rejected);
    // Revision required and late: the department waits, the clock still runs.
    let a5 = create(all_of_ours(
        vec![task("FLT_C", Action::Approve, "2024-05-02", "2024-06-08")],
        "2024-05-06T09:00:00Z",
    ))
    .await;
    let a5 = decide(a5, Decision::RevisionRequired, Some("Приложите схему")).await;
    assert_eq!(a5.status, Status::RevisionRequired);

    let ids = |found: Vec<Application>| found.iter().map(|a| a.id).collect::<Vec<_>>();
    let list = |filter: ApplicationFilter| async move {
        store.applications(&filter).await.expect("applications()")
    };
    let ours = || ApplicationFilter {
        department: Some("FLT_ALL".into()),
        ..ApplicationFilter::default()
    };

    // Newest first, with tasks as stored, no history and no route.
    let all = list(ours()).await;
    assert_eq!(ids(all.clone()), [a5.id, a4.id, a3.id, a2.id, a1.id]);
    for (listed, stored) in all.iter().zip([&a5, &a4, &a3, &a2, &a1]) {
        assert!(listed.history.is_empty(), "lists carry no history");
        assert!(listed.route.is_null(), "lists carry no route");
        assert_same_application(
            listed,
            &Application {
                history: Vec::new(),
                route: serde_json::Value::Null,
                ..stored.clone()
            },
        );
    }

    let status = |s: Status| ApplicationFilter {
        status: Some(s),
        ..ours()
    };
    assert_eq!(ids(list(status(Status::Received)).await), [a2.id, a1.id]);
    assert_eq!(ids(list(status(Status::InProgress)).await), [a3.id]);
    assert_eq!(ids(list(status(Status::Approved)).await), NONE);

    let department = |d: &str| ApplicationFilter {
        department: Some(d.into()),
        ..ApplicationFilter::default()
    };
    assert_eq!(ids(list(department("FLT_A")).await), [a3.id, a1.id]);
    assert_eq!(ids(list(department("FLT_B")).await), [a4.id, a2.id]);
    assert_eq!(ids(list(department("FLT_C")).await), [a5.id, a4.id, a3.id]);
    assert_eq!(ids(list(department("FLT_NOBODY")).await), NONE);

    let overdue = list(ApplicationFilter {
        overdue_on: Some(today),
        ..ours()
    })
    .await;
    assert_eq!(ids(overdue), [a5.id, a1.id]);
    assert_eq!(
        ids(list(ApplicationFilter {
            not_overdue_on: Some(today),
            ..ours()
        })
        .await),
        [a4.id, a3.id, a2.id]
    );
    for a in &all {
        assert_eq!(
            a.is_overdue(today),
            a.id == a5.id || a.id == a1.id,
            "the store agrees with Application::is_overdue for {}",
            a.id
        );
    }
    // Due on the day itself is not late yet.
    assert_eq!(
        ids(list(ApplicationFilter {
            overdue_on: Some(day("2024-06-01")),
            ..ours()
        })
        .await),
        NONE
    );
    // Filters combine.
    assert_eq!(
        ids(list(ApplicationFilter {
            overdue_on: Some(today),
            department: Some("FLT_C".into()),
            ..ApplicationFilter::default()
        })
        .await),
        [a5.id]
    );
    assert_eq!(
        ids(list(ApplicationFilter {
            overdue_on: Some(today),
            ..status(Status::Received)
        })
        .await),
        [a1.id]
    );

    // Pages.
    let page = |limit: Option<i64>, offset: i64| ApplicationFilter {
        limit,
        offset,
        ..ours()
    };
    assert_eq!(ids(list(page(Some(2), 0)).await), [a5.id, a4.id]);
    assert_eq!(ids(list(page(Some(2), 2)).await), [a3.id, a2.id]);
    assert_eq!(ids(list(page(Some(2), 4)).await), [a1.id]);
    assert_eq!(ids(list(page(None, 3)).await), [a2.id, a1.id]);
    assert_eq!(ids(list(page(Some(0), 0)).await), NONE);
    assert_eq!(ids(list(page(Some(10), 5)).await), NONE);
}

// ---------------------------------------------------------------- 12. single-feature edits

/// `replace_feature` keeps the id and changes geometry, number and properties;
/// `delete_feature` removes one feature. Each is a write of its own (version +1,
/// later update time, right count); numbers stay unique store-wide and an edit
/// that changes or deletes one frees it; a refused edit changes nothing.
pub async fn single_feature_edits(store: &dyn Store) {
    let parcels = fresh(
        store,
        &spec("edit_parcels", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    let other = fresh(
        store,
        &spec("edit_other", LayerKind::Other, GeometryType::Point),
    )
    .await;
    let missing = code("edit_missing");
    if store.layer(&missing).await.expect("layer()").is_some() {
        store.delete_layer(&missing).await.expect("cleanup");
    }
    let pc = parcels.code().clone();
    let oc = other.code().clone();

    let written = store
        .replace_features(
            &pc,
            (1..=3)
                .map(|i| parcel(i, &format!("16:50:000011:{i}")))
                .collect(),
        )
        .await
        .expect("replace parcels");
    let [p1, p2, p3] = <[Feature; 3]>::try_from(written.features).expect("three parcels");
    // The GeoPackage numbers each layer's features on their own, so ids of two
    // layers may coincide; a first write (replaced below) moves the other
    // layer's ids past the parcels' ones, so that "an id of another layer's
    // feature" is one this layer does not have, in both backends.
    store
        .replace_features(
            &oc,
            (0..5)
                .map(|i| {
                    NewFeature::new(
                        point!(x: 49.0 + f64::from(i), y: 55.0).into(),
                        Properties::new(),
                    )
                })
                .collect(),
        )
        .await
        .expect("replace others");
    // A non-parcel layer may carry numbers too (imports do); they are unique all the same.
    let others = store
        .replace_features(
            &oc,
            vec![
                NewFeature::new(
                    point!(x: 49.2, y: 55.8).into(),
                    props([("kind", json!("well"))]),
                ),
                NewFeature::new(point!(x: 49.3, y: 55.9).into(), Properties::new())
                    .with_cadastral(cad("16:50:000011:99")),
            ],
        )
        .await
        .expect("replace others");
    let [o1, o2] = <[Feature; 2]>::try_from(others.features).expect("two features");
    assert!(
        [&o1, &o2]
            .iter()
            .all(|o| [&p1, &p2, &p3].iter().all(|p| p.id != o.id)),
        "the two layers' ids differ"
    );

    // The layer after a write: one version more, later, `count` features, same spec.
    let assert_bumped = |before: &Layer, after: &Layer, count: i64, what: &str| {
        assert_eq!(after.spec, before.spec, "{what}: spec unchanged");
        assert_eq!(after.version, before.version + 1, "{what}: version +1");
        assert!(
            after.updated_at > before.updated_at,
            "{what}: updated_at advances"
        );
        assert_eq!(after.feature_count, count, "{what}: feature count");
    };
    let layer_now = |c: LayerCode| async move {
        store
            .layer(&c)
            .await
            .expect("layer()")
            .expect("layer exists")
    };
    let features_now = |c: LayerCode| async move { store.features(&c).await.expect("features()") };
    let parcel_now =
        |n: &'static str| async move { store.parcel(&cad(n)).await.expect("parcel()") };

    // 1. Replace: new geometry, number and properties, same id.
    let new2 = NewFeature::new(
        square(49.2, 55.7, 0.000_2).into(),
        props([("n", json!(20)), ("note", json!("перераспределение"))]),
    )
    .with_cadastral(cad("16:50:000011:20"));
    let before = written.layer.clone();
    let out = store
        .replace_feature(&pc, p2.id, new2.clone())
        .await
        .expect("replace_feature");
    let p2 = new2.into_feature(p2.id);
    assert_eq!(
        out.features,
        std::slice::from_ref(&p2),
        "the feature as stored"
    );
    assert_bumped(&before, &out.layer, 3, "replace_feature");
    assert_eq!(layer_now(pc.clone()).await, out.layer);
    assert_eq!(
        store.feature(&pc, p2.id).await.expect("feature()"),
        Some(p2.clone())
    );
    assert_eq!(
        features_now(pc.clone()).await,
        [p1.clone(), p2.clone(), p3.clone()],
        "the others are untouched, order by id kept"
    );
    assert_eq!(
        parcel_now("16:50:000011:20").await,
        Some((pc.clone(), p2.clone())),
        "the new number finds it"
    );
    assert_eq!(
        parcel_now("16:50:000011:2").await,
        None,
        "the old number is free"
    );
    let mut last = out.layer;

    // 2. Keeping its own number is no conflict.
    let new1 = NewFeature::new(square(49.3, 55.6, 0.000_3).into(), props([("n", json!(1))]))
        .with_cadastral(cad("16:50:000011:1"));
    let out = store
        .replace_feature(&pc, p1.id, new1.clone())
        .await
        .expect("replace keeping the number");
    let p1 = new1.into_feature(p1.id);
    assert_eq!(out.features, std::slice::from_ref(&p1));
    assert_bumped(&last, &out.layer, 3, "replace keeping the number");
    assert_eq!(
        parcel_now("16:50:000011:1").await,
        Some((pc.clone(), p1.clone()))
    );
    last = out.layer;

    // 3. The number freed in 1 can be taken by another feature.
    let new3 = NewFeature::new(square(49.4, 55.5, 0.000_4).into(), Properties::new())
        .with_cadastral(cad("16:50:000011:2"));
    let out = store
        .replace_feature(&pc, p3.id, new3.clone())
        .await
        .expect("replace taking a freed number");
    let p3 = new3.into_feature(p3.id);
    assert_bumped(&last, &out.layer, 3, "replace taking a freed number");
    assert_eq!(
        parcel_now("16:50:000011:2").await,
        Some((pc.clone(), p3.clone()))
    );
    assert_eq!(parcel_now("16:50:000011:3").await, None);
    last = out.layer;

    // 4. Refused edits change nothing, in either layer.
    let parcels_before = (layer_now(pc.clone()).await, features_now(pc.clone()).await);
    let others_before = (layer_now(oc.clone()).await, features_now(oc.clone()).await);
    let unused_id = [&p1, &p2, &p3, &o1, &o2]
        .iter()
        .map(|f| f.id)
        .max()
        .expect("features exist")
        + 1000;
    let polygon = || NewFeature::new(square(49.5, 55.5, 0.001).into(), Properties::new());
    let with_number = |n: &str| polygon().with_cadastral(cad(n));

    assert_err!(
        store.replace_feature(&missing, p1.id, polygon()).await,
        StoreError::UnknownLayer(c) if c == missing
    );
    assert_err!(
        store.delete_feature(&missing, p1.id).await,
        StoreError::UnknownLayer(c) if c == missing
    );
    assert_err!(
        store.replace_feature(&pc, unused_id, polygon()).await,
        StoreError::UnknownFeature { layer, id } if layer == pc && id == unused_id
    );
    assert_err!(
        store.delete_feature(&pc, unused_id).await,
        StoreError::UnknownFeature { layer, id } if layer == pc && id == unused_id
    );
    // Ids of another layer's features are unknown here, not edited there.
    assert_err!(
        store.replace_feature(&pc, o1.id, polygon()).await,
        StoreError::UnknownFeature { layer, id } if layer == pc && id == o1.id
    );
    assert_err!(
        store.delete_feature(&pc, o2.id).await,
        StoreError::UnknownFeature { layer, id } if layer == pc && id == o2.id
    );
    assert_err!(
        store
            .replace_feature(&oc, p1.id, NewFeature::new(point!(x: 1.0, y: 2.0).into(), Properties::new()))
            .await,
        StoreError::UnknownFeature { layer, id } if layer == oc && id == p1.id
    );
    assert_err!(
        store.delete_feature(&oc, p2.id).await,
        StoreError::UnknownFeature { layer, id } if layer == oc && id == p2.id
    );
    // The checks of the bulk writes.
    assert_err!(
        store
            .replace_feature(
                &pc,
                p1.id,
                NewFeature::new(point!(x: 49.0, y: 55.0).into(), Properties::new())
            )
            .await,
        StoreError::GeometryType {
            index: 0,
            found: "POINT",
            expected: "POLYGON",
            ..
        }
    );
    assert_err!(
        store
            .replace_feature(
                &pc,
                p1.id,
                NewFeature::new(
                    Polygon::new(LineString::new(vec![]), vec![]).into(),
                    Properties::new()
                ),
            )
            .await,
        StoreError::EmptyGeometry { index: 0 }
    );
    // A number another feature holds: in the same layer, and in another one.
    assert_err!(
        store.replace_feature(&pc, p1.id, with_number("16:50:000011:20")).await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000011:20"
    );
    assert_err!(
        store.replace_feature(&pc, p1.id, with_number("16:50:000011:99")).await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000011:99"
    );
    assert_err!(
        store
            .replace_feature(
                &oc,
                o1.id,
                NewFeature::new(point!(x: 1.0, y: 2.0).into(), Properties::new())
                    .with_cadastral(cad("16:50:000011:2")),
            )
            .await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000011:2"
    );
    assert_eq!(
        (layer_now(pc.clone()).await, features_now(pc.clone()).await),
        parcels_before,
        "refused edits leave the parcels as they were"
    );
    assert_eq!(
        (layer_now(oc.clone()).await, features_now(oc.clone()).await),
        others_before,
        "refused edits leave the other layer as it was"
    );
    for (n, holder) in [
        ("16:50:000011:1", (pc.clone(), p1.clone())),
        ("16:50:000011:2", (pc.clone(), p3.clone())),
        ("16:50:000011:20", (pc.clone(), p2.clone())),
        ("16:50:000011:99", (oc.clone(), o2.clone())),
    ] {
        assert_eq!(
            parcel_now(n).await,
            Some(holder),
            "{n} still names its feature"
        );
    }

    // 5. The other-kind layer: replace without a number, then delete.
    let new_o1 = NewFeature::new(
        point!(x: 49.25, y: 55.85).into(),
        props([("kind", json!("hydrant"))]),
    );
    let out = store
        .replace_feature(&oc, o1.id, new_o1.clone())
        .await
        .expect("replace in the other layer");
    let o1 = new_o1.into_feature(o1.id);
    assert_eq!(out.features, std::slice::from_ref(&o1));
    assert_bumped(
        &others_before.0,
        &out.layer,
        2,
        "replace in the other layer",
    );
    assert_eq!(features_now(oc.clone()).await, [o1.clone(), o2.clone()]);
    assert_eq!(
        layer_now(pc.clone()).await,
        last,
        "the parcels did not change"
    );
    let out = store
        .delete_feature(&oc, o2.id)
        .await
        .expect("delete in the other layer");
    assert!(out.features.is_empty());
    let o_last = out.layer;
    assert_eq!(layer_now(oc.clone()).await, o_last);
    assert_eq!(features_now(oc.clone()).await, std::slice::from_ref(&o1));
    assert_eq!(store.feature(&oc, o2.id).await.expect("feature()"), None);
    assert_eq!(
        parcel_now("16:50:000011:99").await,
        None,
        "delete frees the number"
    );

    // 6. Delete a parcel.
    let out = store
        .delete_feature(&pc, p3.id)
        .await
        .expect("delete_feature");
    assert!(out.features.is_empty(), "a delete returns no features");
    assert_bumped(&last, &out.layer, 2, "delete_feature");
    assert_eq!(layer_now(pc.clone()).await, out.layer);
    assert_eq!(store.feature(&pc, p3.id).await.expect("feature()"), None);
    assert_eq!(features_now(pc.clone()).await, [p1.clone(), p2.clone()]);
    assert_eq!(
        parcel_now("16:50:000011:2").await,
        None,
        "its number is free"
    );
    last = out.layer;
    // Deleting it again: unknown, nothing changes.
    assert_err!(
        store.delete_feature(&pc, p3.id).await,
        StoreError::UnknownFeature { layer, id } if layer == pc && id == p3.id
    );
    assert_err!(
        store.replace_feature(&pc, p3.id, polygon()).await,
        StoreError::UnknownFeature { .. }
    );
    assert_eq!(layer_now(pc.clone()).await, last);
    assert_eq!(features_now(pc.clone()).await, [p1.clone(), p2.clone()]);

    // 7. The freed numbers can be appended again; the deleted ids are not reused.
    let out = store
        .append_features(
            &pc,
            vec![parcel(7, "16:50:000011:2"), parcel(8, "16:50:000011:99")],
        )
        .await
        .expect("append with freed numbers");
    assert_bumped(&last, &out.layer, 4, "append after delete");
    assert!(
        out.features.iter().all(|f| f.id > p3.id),
        "ids are never reused"
    );
    assert_eq!(
        parcel_now("16:50:000011:2").await,
        Some((pc.clone(), out.features[0].clone()))
    );
    assert_eq!(
        parcel_now("16:50:000011:99").await,
        Some((pc.clone(), out.features[1].clone()))
    );

    // 8. Deleting the last feature leaves an empty layer.
    let out = store
        .delete_feature(&oc, o1.id)
        .await
        .expect("delete the last feature");
    assert_bumped(&o_last, &out.layer, 0, "delete the last feature");
    assert!(features_now(oc.clone()).await.is_empty());
    assert_eq!(layer_now(oc.clone()).await, out.layer);
}

// ---------------------------------------------------------------- 13. imports

/// An import's stream: these items, in order.
fn stream_of(items: Vec<Result<Vec<NewFeature>, StoreError>>) -> FeatureBatches {
    futures::stream::iter(items).boxed()
}

fn import_into(c: &LayerCode, replace: bool) -> ImportWrite {
    ImportWrite {
        code: c.clone(),
        create: None,
        replace,
    }
}

fn import_creating(spec: &LayerSpec) -> ImportWrite {
    ImportWrite {
        code: spec.code.clone(),
        create: Some(spec.clone()),
        replace: true,
    }
}

/// Deletes the layer if an earlier run left it.
async fn absent(store: &dyn Store, c: &LayerCode) {
    if store.layer(c).await.expect("layer()").is_some() {
        store
            .delete_layer(c)
            .await
            .expect("deleting a leftover layer");
    }
}

/// An import that creates its layer: the layer exists only after the commit,
/// at version 1, with the features in input order and a `GEOMETRY` type
/// narrowed to what was imported; a declared type is kept.
pub async fn import_creates_layer_and_narrows_type(store: &dyn Store) {
    let s = spec("imp_new", LayerKind::Other, GeometryType::Geometry);
    absent(store, &s.code).await;
    let polygons: Vec<NewFeature> = (0..3)
        .map(|i| {
            NewFeature::new(
                square(49.0 + f64::from(i) * 0.01, 55.0, 0.005).into(),
                rich_properties(usize::try_from(i).expect("small")),
            )
        })
        .collect();
    let mixed = vec![
        NewFeature::new(
            MultiPolygon::new(vec![square(49.5, 55.5, 0.01), square(49.6, 55.5, 0.01)]).into(),
            props([("kind", json!("multi"))]),
        ),
        NewFeature::new(square(49.7, 55.5, 0.01).into(), Properties::new()),
    ];
    let given: Vec<NewFeature> = polygons.iter().chain(&mixed).cloned().collect();
    let out = store
        .import_features(
            &import_creating(&s),
            stream_of(vec![Ok(polygons), Ok(Vec::new()), Ok(mixed)]),
        )
        .await
        .expect("import creating a layer");
    assert_stored_as_given(&out.features, &given);
    assert_eq!(out.layer.version, 1, "a created layer ends at version 1");
    assert_eq!(out.layer.feature_count, 5);
    assert_eq!(
        out.layer.spec,
        LayerSpec {
            geometry_type: GeometryType::MultiPolygon,
            ..s.clone()
        },
        "polygons and multipolygons narrow GEOMETRY to MULTIPOLYGON"
    );
    assert_eq!(
        store.layer(&s.code).await.expect("layer()"),
        Some(out.layer.clone())
    );
    assert_eq!(
        store.features(&s.code).await.expect("features()"),
        out.features
    );
    assert!(store.layers().await.expect("layers()").contains(&out.layer));

    // The narrowed type holds: a point is refused now, a polygon is not;
    // ids go on after the imported ones.
    assert_err!(
        store
            .append_features(
                &s.code,
                vec![NewFeature::new(
                    point!(x: 1.0, y: 2.0).into(),
                    Properties::new()
                )]
            )
            .await,
        StoreError::GeometryType {
            found: "POINT",
            expected: "MULTIPOLYGON",
            ..
        }
    );
    let more = store
        .append_features(
            &s.code,
            vec![NewFeature::new(
                square(49.8, 55.5, 0.01).into(),
                Properties::new(),
            )],
        )
        .await
        .expect("append to the created layer");
    assert_eq!(more.layer.version, 2);
    assert_eq!(more.layer.feature_count, 6);
    assert!(more.features[0].id > out.features[4].id);

    // Creating a layer that exists: refused, the layer untouched.
    assert_err!(
        store
            .import_features(&import_creating(&s), stream_of(vec![Ok(given.clone())]))
            .await,
        StoreError::LayerExists(c) if c == s.code
    );
    assert_eq!(
        store.layer(&s.code).await.expect("layer()"),
        Some(more.layer)
    );

    // A declared type is kept; GEOMETRY stays for points with lines; an empty
    // import creates an empty layer at version 1.
    let points = spec("imp_points", LayerKind::Other, GeometryType::MultiPoint);
    let both = spec("imp_both", LayerKind::Other, GeometryType::Geometry);
    let empty = spec("imp_empty", LayerKind::Other, GeometryType::Geometry);
    for c in [&points.code, &both.code, &empty.code] {
        absent(store, c).await;
    }
    let out = store
        .import_features(
            &import_creating(&points),
            stream_of(vec![Ok(vec![NewFeature::new(
                point!(x: 49.1, y: 55.8).into(),
                Properties::new(),
            )])]),
        )
        .await
        .expect("import of points");
    assert_eq!(out.layer.spec.geometry_type, GeometryType::MultiPoint);
    let out = store
        .import_features(
            &import_creating(&both),
            stream_of(vec![Ok(vec![
                NewFeature::new(point!(x: 49.1, y: 55.8).into(), Properties::new()),
                NewFeature::new(
                    line_string![(x: 49.1, y: 55.8), (x: 49.2, y: 55.9)].into(),
                    Properties::new(),
                ),
            ])]),
        )
        .await
        .expect("import of points and lines");
    assert_eq!(out.layer.spec.geometry_type, GeometryType::Geometry);
    let out = store
        .import_features(&import_creating(&empty), stream_of(Vec::new()))
        .await
        .expect("empty import");
    assert_eq!(
        (
            out.layer.version,
            out.layer.feature_count,
            out.layer.spec.geometry_type
        ),
        (1, 0, GeometryType::Geometry)
    );
    assert!(store
        .features(&empty.code)
        .await
        .expect("features()")
        .is_empty());

    // Importing into a layer that does not exist, without creating it.
    let missing = code("imp_missing");
    absent(store, &missing).await;
    for replace in [true, false] {
        assert_err!(
            store
                .import_features(&import_into(&missing, replace), stream_of(vec![Ok(given.clone())]))
                .await,
            StoreError::UnknownLayer(c) if c == missing
        );
    }
    assert_eq!(store.layer(&missing).await.expect("layer()"), None);
}

/// A replacing import bumps the version once, its features replace the old
/// ones (new ids; the old numbers are free, its own included); an appending
/// one keeps them and adds its own after them.
pub async fn import_replace_and_append(store: &dyn Store) {
    let layer = fresh(
        store,
        &spec("imp_parcels", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    let c = layer.code().clone();
    let old = store
        .replace_features(
            &c,
            (1..=4)
                .map(|i| parcel(i, &format!("16:50:000021:{i}")))
                .collect(),
        )
        .await
        .expect("replace");

    // Replace: numbers 3 and 4 are kept, 1 and 2 go, 10..=15 are new.
    let first: Vec<NewFeature> = [3, 4, 10, 11]
        .iter()
        .map(|&i| parcel(i, &format!("16:50:000021:{i}")))
        .collect();
    let second: Vec<NewFeature> = (12..=15)
        .map(|i| parcel(i, &format!("16:50:000021:{i}")))
        .chain([NewFeature::new(
            square(49.0, 55.0, 0.001).into(),
            Properties::new(),
        )])
        .collect();
    let given: Vec<NewFeature> = first.iter().chain(&second).cloned().collect();
    let replaced = store
        .import_features(
            &import_into(&c, true),
            stream_of(vec![Ok(first), Ok(second)]),
        )
        .await
        .expect("replacing import");
    assert_stored_as_given(&replaced.features, &given);
    assert_eq!(
        replaced.layer.version, 2,
        "one version for the whole import"
    );
    assert_eq!(replaced.layer.feature_count, 9);
    assert_eq!(replaced.layer.spec, layer.spec);
    assert!(
        replaced.features[0].id > old.features[3].id,
        "a replace gives new ids"
    );
    assert_eq!(
        store.features(&c).await.expect("features()"),
        replaced.features,
        "the old features are gone"
    );
    assert_eq!(
        store.layer(&c).await.expect("layer()"),
        Some(replaced.layer.clone())
    );
    for (n, expected) in [
        ("16:50:000021:1", None),
        ("16:50:000021:2", None),
        ("16:50:000021:3", Some(&replaced.features[0])),
        ("16:50:000021:15", Some(&replaced.features[7])),
    ] {
        assert_eq!(
            store.parcel(&cad(n)).await.expect("parcel()"),
            expected.map(|f| (c.clone(), f.clone())),
            "{n}"
        );
    }

    // Append, in three batches.
    let batches: Vec<Vec<NewFeature>> = (0..3)
        .map(|b| {
            (0..3)
                .map(|i| {
                    let n = 20 + b * 3 + i;
                    parcel(n, &format!("16:50:000021:{n}"))
                })
                .collect()
        })
        .collect();
    let appended_given: Vec<NewFeature> = batches.iter().flatten().cloned().collect();
    let appended = store
        .import_features(
            &import_into(&c, false),
            stream_of(batches.into_iter().map(Ok).collect()),
        )
        .await
        .expect("appending import");
    assert_stored_as_given(&appended.features, &appended_given);
    assert_eq!(appended.layer.version, 3);
    assert_eq!(appended.layer.feature_count, 18);
    assert!(appended.features[0].id > replaced.features[8].id);
    let all: Vec<Feature> = replaced
        .features
        .iter()
        .chain(&appended.features)
        .cloned()
        .collect();
    assert_eq!(store.features(&c).await.expect("features()"), all);
    assert_eq!(
        store
            .parcel(&cad("16:50:000021:28"))
            .await
            .expect("parcel()"),
        Some((c.clone(), appended.features[8].clone()))
    );

    // An empty replacing import empties the layer, as an empty replace does.
    let emptied = store
        .import_features(&import_into(&c, true), stream_of(vec![Ok(Vec::new())]))
        .await
        .expect("empty replacing import");
    assert_eq!((emptied.layer.version, emptied.layer.feature_count), (4, 0));
    assert!(store.features(&c).await.expect("features()").is_empty());
    assert_eq!(
        store
            .parcel(&cad("16:50:000021:3"))
            .await
            .expect("parcel()"),
        None
    );
    store.delete_layer(&c).await.expect("delete_layer");
}

/// Whatever stops an import (an error from its stream, a refused feature, a
/// number held twice, the caller giving up half-way) leaves the store as it
/// was: an existing layer at the same version with the same features and
/// numbers, a layer the import would have created absent.
pub async fn failed_import_changes_nothing(store: &dyn Store) {
    let parcels = fresh(
        store,
        &spec("impf_parcels", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    let other = fresh(
        store,
        &spec("impf_other", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    store
        .replace_features(other.code(), vec![parcel(0, "16:50:000022:999")])
        .await
        .expect("replace other");
    let c = parcels.code().clone();
    let before = store
        .replace_features(
            &c,
            (1..=5)
                .map(|i| parcel(i, &format!("16:50:000022:{i}")))
                .collect(),
        )
        .await
        .expect("replace");
    let created = spec("impf_created", LayerKind::Parcels, GeometryType::Polygon);
    absent(store, &created.code).await;

    let check_intact = |what: String| {
        let (before, c, created) = (&before, &c, &created.code);
        async move {
            assert_eq!(
                store.layer(c).await.expect("layer()").as_ref(),
                Some(&before.layer),
                "{what}: same version, time and count"
            );
            assert_eq!(
                store.features(c).await.expect("features()"),
                before.features,
                "{what}: same features"
            );
            for f in &before.features {
                let n = f.cadastral.as_ref().expect("numbered");
                assert_eq!(
                    store.parcel(n).await.expect("parcel()"),
                    Some((c.clone(), f.clone())),
                    "{what}: {n} still names its feature"
                );
            }
            for n in ["16:50:000023:1", "16:50:000023:100"] {
                assert_eq!(
                    store.parcel(&cad(n)).await.expect("parcel()"),
                    None,
                    "{what}: {n} was not kept"
                );
            }
            assert_eq!(
                store.layer(created).await.expect("layer()"),
                None,
                "{what}: the layer to create does not exist"
            );
            assert!(!store
                .layers()
                .await
                .expect("layers()")
                .iter()
                .any(|l| l.code() == created));
        }
    };

    let good = |from: usize| -> Vec<NewFeature> {
        (from..from + 50)
            .map(|i| parcel(i, &format!("16:50:000023:{i}")))
            .collect()
    };
    // Each case: a stream that must fail, and the error it must fail with.
    let case = |k: usize| -> (&'static str, Vec<Result<Vec<NewFeature>, StoreError>>) {
        match k {
            0 => (
                "an error from the stream after two good batches",
                vec![
                    Ok(good(1)),
                    Ok(good(51)),
                    Err(StoreError::ImportAborted("the file is truncated".into())),
                    Ok(good(101)),
                ],
            ),
            1 => (
                "a number twice in the import",
                vec![Ok(good(1)), Ok(vec![parcel(200, "16:50:000023:7")])],
            ),
            2 => (
                "a number another layer holds",
                vec![
                    Ok(good(1)),
                    Ok(good(51)),
                    Ok(vec![parcel(200, "16:50:000022:999")]),
                ],
            ),
            3 => (
                "a wrong geometry type",
                vec![
                    Ok(good(1)),
                    Ok(vec![
                        parcel(200, "16:50:000023:200"),
                        NewFeature::new(point!(x: 49.0, y: 55.0).into(), Properties::new()),
                    ]),
                ],
            ),
            _ => (
                "an empty geometry",
                vec![
                    Ok(good(1)),
                    Ok(vec![NewFeature::new(
                        Polygon::new(LineString::new(vec![]), vec![]).into(),
                        Properties::new(),
                    )]),
                ],
            ),
        }
    };
    let check_error =
        |k: usize, result: Result<WriteOutcome, StoreError>, what: &str| match (k, result) {
            (0, Err(StoreError::ImportAborted(m))) => assert_eq!(m, "the file is truncated"),
            (1, Err(StoreError::DuplicateCadastral(n))) => assert_eq!(n, "16:50:000023:7"),
            (2, Err(StoreError::DuplicateCadastral(n))) => assert_eq!(n, "16:50:000022:999"),
            (
                3,
                Err(StoreError::GeometryType {
                    index,
                    found,
                    expected,
                    ..
                }),
            ) => {
                assert_eq!((index, found, expected), (51, "POINT", "POLYGON"));
            }
            (4, Err(StoreError::EmptyGeometry { index })) => assert_eq!(index, 50),
            (_, other) => panic!("{what}: unexpected {:?}", other.map(|o| o.layer)),
        };
    for k in 0..5 {
        for write in [
            import_into(&c, true),
            import_into(&c, false),
            import_creating(&created),
        ] {
            let (name, items) = case(k);
            let what = format!(
                "{} {name}",
                match (&write.create, write.replace) {
                    (Some(_), _) => "create:",
                    (None, true) => "replace:",
                    (None, false) => "append:",
                }
            );
            let result = store.import_features(&write, stream_of(items)).await;
            check_error(k, result, &what);
            check_intact(what).await;
        }
    }

    // Appending a number the layer already holds (replacing may reuse it).
    assert_err!(
        store
            .import_features(
                &import_into(&c, false),
                stream_of(vec![Ok(good(1)), Ok(vec![parcel(300, "16:50:000022:3")])])
            )
            .await,
        StoreError::DuplicateCadastral(n) if n == "16:50:000022:3"
    );
    check_intact("append: a number of the layer itself".into()).await;

    // A department that does not exist: the layer is not created.
    let mut owned = created.clone();
    owned.department = Some("IMPF_NO_SUCH_DEPARTMENT".into());
    assert_err!(
        store
            .import_features(&import_creating(&owned), stream_of(vec![Ok(good(1))]))
            .await,
        StoreError::UnknownDepartment(d) if d == "IMPF_NO_SUCH_DEPARTMENT"
    );
    check_intact("create: an unknown department".into()).await;

    // The caller gives up half-way (a dropped upload, a killed request): the
    // import's future is dropped while its stream waits for more.
    for write in [
        import_into(&c, true),
        import_into(&c, false),
        import_creating(&created),
    ] {
        let endless = futures::stream::iter(vec![Ok(good(1)), Ok(good(51))])
            .chain(futures::stream::pending())
            .boxed();
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            store.import_features(&write, endless),
        )
        .await;
        assert!(gave_up.is_err(), "the import waits for its stream");
        check_intact(format!("given up: create {}", write.create.is_some())).await;
    }

    // After all that, the same imports succeed.
    let out = store
        .import_features(&import_into(&c, true), stream_of(vec![Ok(good(1))]))
        .await
        .expect("a good import after the failed ones");
    assert_eq!(out.layer.version, before.layer.version + 1);
    let out = store
        .import_features(&import_creating(&created), stream_of(vec![Ok(good(51))]))
        .await
        .expect("a good creating import after the failed ones");
    assert_eq!(
        (out.layer.version, out.layer.spec.geometry_type),
        (1, GeometryType::Polygon)
    );
    for l in [&c, &created.code, other.code()] {
        store.delete_layer(l).await.expect("delete_layer");
    }
}

/// Two imports into two layers at the same time, both with one number: one
/// commits, the other is refused with that number and writes nothing.
pub async fn concurrent_imports_keep_cadastral_unique(store: &dyn Store) {
    let a = fresh(
        store,
        &spec("impc_a", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    let b = fresh(
        store,
        &spec("impc_b", LayerKind::Parcels, GeometryType::Polygon),
    )
    .await;
    let shared = "16:50:000024:1";
    // Each: a batch of its own numbers, a pause (so the two overlap where the
    // backend lets them), then a batch with the shared number.
    let slow = |prefix: usize| -> FeatureBatches {
        let own: Vec<NewFeature> = (0..20)
            .map(|i| parcel(i, &format!("16:50:000024:{}", prefix + i)))
            .collect();
        let last = vec![parcel(99, shared)];
        futures::stream::iter(vec![Ok(own)])
            .chain(futures::stream::once(async move {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Ok(last)
            }))
            .boxed()
    };
    // One replaces, the other appends: both ways of finishing an import.
    let (into_a, into_b) = (import_into(a.code(), true), import_into(b.code(), false));
    let (ra, rb) = futures::join!(
        store.import_features(&into_a, slow(100)),
        store.import_features(&into_b, slow(200)),
    );
    let (winner, loser, won, lost) = match (ra, rb) {
        (Ok(w), Err(e)) => (&a, &b, w, e),
        (Err(e), Ok(w)) => (&b, &a, w, e),
        (ra, rb) => panic!(
            "exactly one import must commit: {:?} / {:?}",
            ra.map(|o| o.layer),
            rb.map(|o| o.layer)
        ),
    };
    assert!(
        matches!(&lost, StoreError::DuplicateCadastral(n) if n == shared),
        "{lost}"
    );
    assert_eq!(won.layer.version, 1);
    assert_eq!(
        store.parcel(&cad(shared)).await.expect("parcel()"),
        Some((winner.code().clone(), won.features[20].clone()))
    );
    assert_eq!(
        store.layer(loser.code()).await.expect("layer()").as_ref(),
        Some(loser),
        "the refused import changed nothing"
    );
    assert!(store
        .features(loser.code())
        .await
        .expect("features()")
        .is_empty());
    for l in [a.code(), b.code()] {
        store.delete_layer(l).await.expect("delete_layer");
    }
}

/// API tokens: stored by hash, listed without secrets, found by hash,
/// revoked once and for good; a department token names a stored department.
pub async fn api_tokens(store: &dyn Store) {
    use imgis::auth::{hash_token, NewToken, Role, TokenSecret};
    store
        .upsert_departments(&[Department {
            code: "TOK_GAS".into(),
            name: "Gas".into(),
            external: true,
        }])
        .await
        .expect("department");
    let admin = TokenSecret::generate();
    let gas = TokenSecret::generate();
    let a = store
        .create_token(&NewToken::new(&admin, Role::Admin, None, "ops".into()).unwrap())
        .await
        .expect("admin token");
    let g = store
        .create_token(
            &NewToken::new(&gas, Role::Department, Some("TOK_GAS".into()), "gis".into()).unwrap(),
        )
        .await
        .expect("department token");
    assert_ne!(a.id, g.id);
    assert_eq!((a.role, a.department.as_deref()), (Role::Admin, None));
    assert_eq!(
        (g.role, g.department.as_deref()),
        (Role::Department, Some("TOK_GAS"))
    );
    assert!(admin.expose().starts_with(&a.prefix) && a.prefix.len() < 20);
    assert!(a.revoked_at.is_none());

    let unknown = TokenSecret::generate();
    let err = store
        .create_token(
            &NewToken::new(
                &unknown,
                Role::Department,
                Some("NOPE".into()),
                String::new(),
            )
            .unwrap(),
        )
        .await
        .expect_err("unknown department");
    assert!(
        matches!(err, StoreError::UnknownDepartment(ref d) if d == "NOPE"),
        "{err}"
    );

    let found = store
        .token_by_hash(&hash_token(gas.expose()))
        .await
        .expect("lookup")
        .expect("the department token is found by its hash");
    assert_eq!(found.id, g.id);
    assert!(store
        .token_by_hash(&hash_token(unknown.expose()))
        .await
        .expect("lookup")
        .is_none());
    // Nothing that lists tokens gives a secret or a hash away.
    let listed = store.tokens().await.expect("list");
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        [a.id, g.id]
    );
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains(&gas.expose()[6..]) && !text.contains(&gas.hash()));

    let revoked = store.revoke_token(g.id).await.expect("revoke");
    let when = revoked.revoked_at.expect("revoked");
    let again = store.revoke_token(g.id).await.expect("revoke again");
    assert_eq!(
        again.revoked_at,
        Some(when),
        "the first revocation time stays"
    );
    let after = store
        .token_by_hash(&gas.hash())
        .await
        .unwrap()
        .expect("kept for the audit trail");
    assert_eq!(after.revoked_at, Some(when));
    assert!(matches!(
        store.revoke_token(a.id + g.id + 100).await,
        Err(StoreError::UnknownToken(_))
    ));
    assert!(store.tokens().await.unwrap()[0].revoked_at.is_none());
}
