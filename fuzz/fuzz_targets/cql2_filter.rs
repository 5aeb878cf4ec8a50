//! The CQL2 filter of `GET /collections/{id}/items?filter=…`: parsed in the
//! language the input looks like (CQL2 JSON when it starts with `{`, else
//! CQL2 text), checked against the queryables, then evaluated on a few
//! features (a polygon with a cadastral number, a point, a line, properties
//! of every JSON type), as the items endpoint does.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use geo_types::{line_string, point, polygon, Geometry};
use imgis::features::filter::Filter;
use imgis::model::Feature;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn queryables() -> &'static BTreeMap<String, ()> {
    static Q: OnceLock<BTreeMap<String, ()>> = OnceLock::new();
    Q.get_or_init(|| {
        [
            "area_m2",
            "permitted_use",
            "name",
            "floors",
            "heritage",
            "tags",
            "cadastral",
        ]
        .into_iter()
        .map(|q| (q.to_owned(), ()))
        .collect()
    })
}

fn features() -> &'static [Feature] {
    static F: OnceLock<Vec<Feature>> = OnceLock::new();
    F.get_or_init(|| {
        let props = |v: Value| v.as_object().expect("an object").clone();
        let parcel = Feature {
            id: 1,
            geometry: Geometry::Polygon(polygon![
                (x: 49.10, y: 55.78), (x: 49.11, y: 55.78), (x: 49.11, y: 55.79),
                (x: 49.10, y: 55.79), (x: 49.10, y: 55.78)
            ]),
            cadastral: "16:50:011204:35".parse().ok(),
            properties: props(json!({
                "area_m2": 612.5, "permitted_use": "склады", "name": null,
                "floors": 3, "heritage": false, "tags": ["a", "b"]
            })),
        };
        let well = Feature {
            id: 2,
            geometry: Geometry::Point(point!(x: 49.12, y: 55.80)),
            cadastral: None,
            properties: props(json!({ "name": "скважина 7", "floors": -1, "heritage": true })),
        };
        let pipe = Feature {
            id: 3,
            geometry: Geometry::LineString(line_string![(x: 49.0, y: 55.7), (x: 49.2, y: 55.9)]),
            cadastral: None,
            properties: props(json!({ "area_m2": 1e300, "permitted_use": "", "tags": {"k": 1} })),
        };
        vec![parcel, well, pipe]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lang = if text.trim_start().starts_with('{') {
        "cql2-json"
    } else {
        "cql2-text"
    };
    let Ok(filter) = Filter::parse(text, Some(lang), queryables()) else {
        return;
    };
    for feature in features() {
        std::hint::black_box(filter.matches(feature));
    }
});
