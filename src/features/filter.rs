//! CQL2 filters on items (OGC API – Features Part 3 basics): comparisons,
//! `AND`/`OR`/`NOT`, `LIKE`, `IN`, `IS NULL` and spatial predicates such as
//! `S_INTERSECTS(geometry, POLYGON(…))`, in CQL2 text or CQL2 JSON.
//!
//! Parsing and evaluation are the `cql2` crate's (developmentseed's, the
//! reference implementation in Rust); this module checks that a filter names
//! only the collection's queryables and evaluates it per feature. Geometries
//! in a filter are CRS84 (EPSG:4326 lon/lat degrees).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::model::Feature;

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("the filter is not valid CQL2 text: {0}")]
    Text(String),
    #[error("the filter is not valid CQL2 JSON: {0}")]
    Json(String),
    #[error("the filter names '{0}', which is not a queryable of this collection")]
    UnknownProperty(String),
    #[error("filter-lang must be cql2-text or cql2-json, not '{0}'")]
    Language(String),
}

/// A checked filter.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: cql2::Expr,
    /// Whether the filter reads the geometry (building a feature's GeoJSON
    /// geometry for each evaluation is the costly part; skipped otherwise).
    spatial: bool,
}

/// The name a filter uses for a feature's geometry.
pub const GEOMETRY: &str = "geometry";

impl Filter {
    /// Parses `text` in `lang` (`cql2-text`, the default, or `cql2-json`) and
    /// checks every property it names is in `queryables` (or is `geometry`).
    ///
    /// # Errors
    /// A filter that does not parse, a language not offered, or a property
    /// that is not a queryable.
    pub fn parse<T>(
        text: &str,
        lang: Option<&str>,
        queryables: &BTreeMap<String, T>,
    ) -> Result<Self, FilterError> {
        let expr: cql2::Expr = match lang.unwrap_or("cql2-text") {
            "cql2-text" => text
                .parse()
                .map_err(|e: cql2::Error| FilterError::Text(e.to_string()))?,
            "cql2-json" => cql2::parse_json(text).map_err(|e| FilterError::Json(e.to_string()))?,
            other => return Err(FilterError::Language(other.chars().take(32).collect())),
        };
        let tree = expr
            .to_value()
            .map_err(|e| FilterError::Text(e.to_string()))?;
        let mut names = Vec::new();
        properties(&tree, &mut names);
        let mut spatial = false;
        for name in names {
            if name == GEOMETRY {
                spatial = true;
            } else if !queryables.contains_key(&name) {
                return Err(FilterError::UnknownProperty(name));
            }
        }
        Ok(Self { expr, spatial })
    }

    /// Whether `feature` passes. A filter that cannot be decided for a
    /// feature (a property it lacks, a type that does not compare) does not
    /// pass it, as SQL's NULL does not.
    #[must_use]
    pub fn matches(&self, feature: &Feature) -> bool {
        let mut properties: Map<String, Value> = feature.properties.clone();
        if let Some(c) = &feature.cadastral {
            properties.insert("cadastral".into(), json!(c.as_str()));
        }
        let geometry = if self.spatial {
            serde_json::to_value(geojson::Geometry::from(&feature.geometry)).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let item = json!({ "id": feature.id, "geometry": geometry, "properties": properties });
        self.expr.clone().matches(Some(&item)).unwrap_or(false)
    }
}

/// Every `{"property": name}` in a CQL2 JSON tree.
fn properties(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let (1, Some(Value::String(name))) = (m.len(), m.get("property")) {
                out.push(name.clone());
                return;
            }
            for x in m.values() {
                properties(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| properties(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{polygon, Geometry};

    fn parcel(id: i64, area: f64, usage: &str, x: f64) -> Feature {
        Feature {
            id,
            geometry: Geometry::Polygon(polygon![
                (x: x, y: 0.0), (x: x + 1.0, y: 0.0), (x: x + 1.0, y: 1.0), (x: x, y: 1.0), (x: x, y: 0.0)
            ]),
            cadastral: None,
            properties: json!({"area_m2": area, "permitted_use": usage})
                .as_object()
                .unwrap()
                .clone(),
        }
    }

    fn queryables() -> BTreeMap<String, ()> {
        [("area_m2".to_owned(), ()), ("permitted_use".to_owned(), ())].into()
    }

    #[test]
    fn comparisons_logic_and_space() {
        let q = queryables();
        let a = parcel(1, 600.0, "склады", 0.0);
        let b = parcel(2, 1500.0, "деловое управление", 5.0);
        let f = Filter::parse("area_m2 > 1000 AND permitted_use <> 'склады'", None, &q).unwrap();
        assert!(!f.matches(&a) && f.matches(&b));
        let f = Filter::parse("permitted_use LIKE 'дел%' OR area_m2 = 600", None, &q).unwrap();
        assert!(f.matches(&a) && f.matches(&b));
        let f = Filter::parse(
            "S_INTERSECTS(geometry, POLYGON((4 0.5, 5.5 0.5, 5.5 2, 4 2, 4 0.5)))",
            None,
            &q,
        )
        .unwrap();
        assert!(!f.matches(&a) && f.matches(&b));
        let json = r#"{"op": "<", "args": [{"property": "area_m2"}, 1000]}"#;
        let f = Filter::parse(json, Some("cql2-json"), &q).unwrap();
        assert!(f.matches(&a) && !f.matches(&b));
    }

    #[test]
    fn bad_filters_are_refused() {
        let q = queryables();
        assert!(matches!(
            Filter::parse("colour = 'red'", None, &q),
            Err(FilterError::UnknownProperty(p)) if p == "colour"
        ));
        assert!(matches!(
            Filter::parse("area_m2 >>> 3", None, &q),
            Err(FilterError::Text(_))
        ));
        assert!(matches!(
            Filter::parse("area_m2 > 3", Some("sql"), &q),
            Err(FilterError::Language(_))
        ));
    }
}
