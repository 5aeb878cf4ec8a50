//! Features of a layer as OGC API – Features serves them: pages in id order,
//! narrowed by a bounding box and by property equality, from the index.
//!
//! Pure over a [`LayerIndex`]: the same query on the same layer version
//! always gives the same page, so `offset` paging is stable while a layer is
//! not edited (and every page says which version it came from).

use std::sync::Arc;

use geo::{BoundingRect, Intersects};
use geo_types::Polygon;
use serde_json::Value;

use crate::index::LayerIndex;
use crate::model::Feature;

/// What a page of items asks for.
#[derive(Debug, Clone, Default)]
pub struct ItemsQuery {
    /// Only features whose geometry intersects this area, EPSG:4326 lon/lat
    /// degrees: a `bbox` in CRS84, or one given in another CRS (`bbox-crs`)
    /// brought to lon/lat, where its edges are no longer straight.
    pub bbox: Option<Polygon<f64>>,
    /// Only features whose property `name` equals the text (compared as the
    /// property's own type: a number as a number, a boolean as `true`/`false`).
    /// `cadastral` compares the parcel's cadastral number.
    pub equals: Vec<(String, String)>,
    /// Only features passing this CQL2 filter.
    pub filter: Option<filter::Filter>,
    /// Features skipped (in id order) before the page starts.
    pub offset: usize,
    /// Most features on the page.
    pub limit: usize,
}

/// One page and how many features match in all.
#[derive(Debug)]
pub struct Page {
    pub features: Vec<Arc<Feature>>,
    /// Every feature matching the query, not only this page's.
    pub matched: usize,
}

/// Whether a property value equals the text a query gives for it.
fn value_equals(value: &Value, text: &str) -> bool {
    match value {
        Value::String(s) => s == text,
        Value::Number(n) => match (n.as_f64(), text.trim().parse::<f64>()) {
            (Some(a), Ok(b)) => a == b,
            _ => false,
        },
        Value::Bool(b) => text == if *b { "true" } else { "false" },
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    }
}

fn feature_matches(f: &Feature, query: &ItemsQuery) -> bool {
    let equal = query.equals.iter().all(|(name, text)| {
        if name == "cadastral" {
            if let Some(c) = &f.cadastral {
                return c.as_str() == text;
            }
        }
        f.properties
            .get(name)
            .is_some_and(|v| value_equals(v, text))
    });
    equal && query.filter.as_ref().is_none_or(|filter| filter.matches(f))
}

/// The page `query` asks for of `layer`, in id order.
#[must_use]
pub fn items(layer: &LayerIndex, query: &ItemsQuery) -> Page {
    let page = |matched: usize, it: &mut dyn Iterator<Item = Arc<Feature>>| Page {
        features: it.skip(query.offset).take(query.limit).collect(),
        matched,
    };
    let unfiltered = query.equals.is_empty() && query.filter.is_none();
    match (&query.bbox, unfiltered) {
        // The whole layer: a slice of the id-ordered list, no scan.
        (None, true) => {
            let all = layer.features();
            let start = query.offset.min(all.len());
            let end = start.saturating_add(query.limit).min(all.len());
            Page {
                features: all[start..end].to_vec(),
                matched: all.len(),
            }
        }
        (None, false) => {
            let matching: Vec<&Arc<Feature>> = layer
                .features()
                .iter()
                .filter(|f| feature_matches(f, query))
                .collect();
            page(matching.len(), &mut matching.into_iter().cloned())
        }
        (Some(area), _) => {
            let Some(envelope) = area.bounding_rect() else {
                return Page {
                    features: Vec::new(),
                    matched: 0,
                };
            };
            let mut matching: Vec<&Arc<Feature>> = layer
                .in_envelope(envelope)
                .filter(|f| f.geometry.intersects(area))
                .filter(|f| feature_matches(f, query))
                .collect();
            // The R-tree answers in its own order; pages are in id order.
            matching.sort_unstable_by_key(|f| f.id);
            page(matching.len(), &mut matching.into_iter().cloned())
        }
    }
}

pub mod crs;
pub mod filter;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use geo_types::{coord, Geometry, Rect};
    use serde_json::json;

    use crate::model::{GeometryType, Layer, LayerKind, LayerSpec};

    fn layer(n: i64) -> LayerIndex {
        let spec = LayerSpec {
            code: "things".parse().unwrap(),
            title: "Things".into(),
            description: String::new(),
            kind: LayerKind::Other,
            department: None,
            geometry_type: GeometryType::Point,
            public: true,
        };
        let features = (1..=n)
            .rev()
            .map(|id| Feature {
                id: id * 10,
                geometry: Geometry::Point((id as f64, 0.0).into()),
                cadastral: None,
                properties: json!({"n": id, "even": id % 2 == 0, "name": format!("f{id}")})
                    .as_object()
                    .unwrap()
                    .clone(),
            })
            .collect();
        LayerIndex::build(
            Layer {
                spec,
                version: 1,
                updated_at: Utc::now(),
                feature_count: n,
            },
            features,
        )
    }

    fn ids(p: &Page) -> Vec<i64> {
        p.features.iter().map(|f| f.id).collect()
    }

    #[test]
    fn pages_follow_id_order_whatever_the_filter() {
        let l = layer(25);
        let q = |offset, limit| ItemsQuery {
            offset,
            limit,
            ..ItemsQuery::default()
        };
        let p = items(&l, &q(0, 3));
        assert_eq!((ids(&p), p.matched), (vec![10, 20, 30], 25));
        assert_eq!(ids(&items(&l, &q(24, 3))), [250]);
        assert!(items(&l, &q(99, 3)).features.is_empty());

        let bbox = ItemsQuery {
            bbox: Some(Rect::new(coord! {x: 4.5, y: -1.0}, coord! {x: 9.5, y: 1.0}).to_polygon()),
            limit: 2,
            offset: 1,
            ..ItemsQuery::default()
        };
        let p = items(&l, &bbox);
        assert_eq!((ids(&p), p.matched), (vec![60, 70], 5));

        let even = ItemsQuery {
            equals: vec![("even".into(), "true".into())],
            limit: 100,
            ..ItemsQuery::default()
        };
        assert_eq!(items(&l, &even).matched, 12);
        let one = ItemsQuery {
            equals: vec![("n".into(), "7.0".into()), ("name".into(), "f7".into())],
            limit: 100,
            ..ItemsQuery::default()
        };
        assert_eq!(ids(&items(&l, &one)), [70]);
        let none = ItemsQuery {
            equals: vec![("name".into(), "7".into())],
            limit: 100,
            ..ItemsQuery::default()
        };
        assert_eq!(items(&l, &none).matched, 0);
    }
}
