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
    #[error("the filter is too complex: {0}")]
    TooComplex(String),
}

/// The deepest nesting of parentheses a CQL2 text filter may have. The
/// `cql2` crate's grammar tries a parenthesised expression and then an array
/// on the same text, so each level of nesting can double the parsing time
/// (`((((1,1),1),1)…` took over a minute at 18 levels). Ten levels hold any real
/// filter: a `GEOMETRYCOLLECTION` of `MULTIPOLYGON`s inside `S_INTERSECTS`
/// inside `NOT` and two groupings.
const MAX_TEXT_NESTING: usize = 10;

/// The most operators (`AND`, `OR`, `NOT`, `LIKE`, `IN`, `BETWEEN`, `IS`,
/// `DIV`, and each character of `= < > ! + - * / % ^`) a CQL2 text filter
/// may hold outside geometry literals. Chains of them (`NOT NOT …`,
/// `1+1+…`) nest the parse as deep as they are long without a parenthesis,
/// and the crate parses, normalises and serialises recursively (in a debug
/// build a few hundred overflow a 2 MiB stack, which aborts the server).
const MAX_TEXT_OPERATORS: usize = 128;

/// The deepest nesting of `{` and `[` a CQL2 JSON filter may have: each
/// operation takes two levels (its object and its `args`). JSON is parsed
/// without backtracking, so this bound is for the recursion alone.
const MAX_JSON_NESTING: usize = 64;

/// The deepest a parsed filter may be, in the steps the crate's evaluation
/// recurses through (an operation, an array, a property or another value
/// inside the one before). Its evaluation takes some 35 KiB of stack per
/// step in a debug build, a tokio worker has 2 MiB; real filters are a few
/// steps deep.
const MAX_EXPR_DEPTH: usize = 32;

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
            "cql2-text" => {
                check_complexity(text, Lang::Text)?;
                text.parse()
                    .map_err(|e: cql2::Error| FilterError::Text(e.to_string()))?
            }
            "cql2-json" => {
                check_complexity(text, Lang::Json)?;
                cql2::parse_json(text).map_err(|e| FilterError::Json(e.to_string()))?
            }
            other => return Err(FilterError::Language(other.chars().take(32).collect())),
        };
        let tree = expr
            .to_value()
            .map_err(|e| FilterError::Text(e.to_string()))?;
        let mut names = Vec::new();
        let depth = walk(&tree, &mut names);
        if depth > MAX_EXPR_DEPTH {
            return Err(FilterError::TooComplex(format!(
                "expressions nested more than {MAX_EXPR_DEPTH} deep"
            )));
        }
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Text,
    Json,
}

/// Refuses a filter nested or chained deeper than the `cql2` crate can take
/// safely ([`MAX_TEXT_NESTING`], [`MAX_JSON_NESTING`],
/// [`MAX_TEXT_OPERATORS`]), before it reaches the crate: the crate recurses
/// per level while parsing, normalising, serialising and evaluating, with no
/// bound of its own, and its text parser backtracks exponentially in the
/// nesting. Found by fuzzing (`fuzz/`, target `cql2_filter`).
///
/// A lexical pass: brackets and operators inside quoted strings (`'…'` text
/// literals, `"…"` identifiers and JSON strings) are not counted, nor are
/// the signs inside a geometry literal's coordinates (`POINT(-73.9 -40.8)`).
fn check_complexity(text: &str, lang: Lang) -> Result<(), FilterError> {
    let (max_nesting, quotes): (usize, &[u8]) = match lang {
        Lang::Text => (MAX_TEXT_NESTING, b"'\""),
        Lang::Json => (MAX_JSON_NESTING, b"\""),
    };
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut operators = 0usize;
    // The depth a geometry literal's opening parenthesis is at, while inside it.
    let mut geometry_at: Option<usize> = None;
    // A geometry keyword was just read: its `(` comes next (after `Z`, `M`…).
    let mut geometry_next = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if quotes.contains(&b) {
            // A doubled quote inside is an escape: it closes and reopens.
            // JSON's backslash escapes are skipped with the byte they escape.
            i += 1;
            while i < bytes.len() && bytes[i] != b {
                i += if lang == Lang::Json && bytes[i] == b'\\' {
                    2
                } else {
                    1
                };
            }
            i += 1;
            continue;
        }
        let mut next = i + 1;
        match b {
            b'(' | b'[' | b'{' => {
                if geometry_next && b == b'(' && geometry_at.is_none() {
                    geometry_at = Some(depth);
                }
                geometry_next = false;
                depth += 1;
                if depth > max_nesting {
                    return Err(FilterError::TooComplex(format!(
                        "brackets nested more than {max_nesting} deep"
                    )));
                }
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if geometry_at == Some(depth) {
                    geometry_at = None;
                }
            }
            b'=' | b'<' | b'>' | b'!' | b'+' | b'-' | b'*' | b'/' | b'%' | b'^'
                if lang == Lang::Text =>
            {
                // A coordinate's sign; anything else in a geometry literal
                // (which only holds numbers) is an operator of a function
                // call that merely looks like one (`POINT(NOT NOT …)`).
                let sign = geometry_at.is_some()
                    && matches!(b, b'+' | b'-')
                    && bytes
                        .get(i + 1)
                        .is_some_and(|c| c.is_ascii_digit() || *c == b'.');
                if !sign {
                    operators += 1;
                }
            }
            _ if lang == Lang::Text && (b.is_ascii_alphabetic() || b == b'_') => {
                let end = bytes[i..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':')))
                    .map_or(bytes.len(), |n| i + n);
                let word = &text[i..end];
                let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(word));
                if is(&OPERATOR_WORDS) {
                    operators += 1;
                }
                geometry_next = is(&GEOMETRY_WORDS) || (geometry_next && is(&["z", "m", "zm"]));
                next = end;
            }
            _ => {}
        }
        if operators > MAX_TEXT_OPERATORS {
            return Err(FilterError::TooComplex(format!(
                "more than {MAX_TEXT_OPERATORS} operators"
            )));
        }
        i = next;
    }
    Ok(())
}

/// The CQL2 text keywords that are operators, for [`check_complexity`].
const OPERATOR_WORDS: [&str; 8] = ["and", "or", "not", "like", "in", "between", "is", "div"];

/// The WKT keywords that open a geometry literal, for [`check_complexity`].
const GEOMETRY_WORDS: [&str; 7] = [
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
];

/// Every `{"property": name}` in a CQL2 JSON tree goes to `names`; the
/// result is the tree's depth in the steps the crate's evaluation recurses
/// through: an operation (its `args` array is not a step of its own), an
/// array, a property or another object. A geometry is one step: it is handed
/// whole to `geo`.
fn walk(v: &Value, names: &mut Vec<String>) -> usize {
    let deepest = |items: &mut dyn Iterator<Item = &Value>, names: &mut Vec<String>| {
        items.map(|x| walk(x, names)).max().unwrap_or(0)
    };
    match v {
        Value::Object(m) => {
            if let (1, Some(Value::String(name))) = (m.len(), m.get("property")) {
                names.push(name.clone());
                return 1;
            }
            if m.contains_key("coordinates") || m.contains_key("geometries") {
                return 1;
            }
            match (m.get("op"), m.get("args")) {
                (Some(_), Some(Value::Array(args))) => 1 + deepest(&mut args.iter(), names),
                _ => 1 + deepest(&mut m.values(), names),
            }
        }
        Value::Array(a) => 1 + deepest(&mut a.iter(), names),
        _ => 0,
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

    /// Runs `f` on a thread with the 2 MiB stack of a tokio worker, where
    /// the items endpoint parses and evaluates filters.
    fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .expect("a thread")
            .join()
            .expect("no panic, no overflow")
    }

    fn too_complex(text: &str, lang: Option<&str>) -> bool {
        matches!(
            Filter::parse(text, lang, &queryables()),
            Err(FilterError::TooComplex(_))
        )
    }

    /// Fuzzing (`fuzz/`, target `cql2_filter`): a thousand parentheses, a
    /// long `NOT` chain and a long sum each overflowed the stack inside the
    /// `cql2` crate (parser, serialiser, normaliser), which aborts the server.
    #[test]
    fn deep_or_long_filters_are_refused_not_a_stack_overflow() {
        on_small_stack(|| {
            let parens = format!("{}area_m2 = 1{}", "(".repeat(1000), ")".repeat(1000));
            assert!(too_complex(&parens, None));
            assert!(too_complex(
                &format!("{}area_m2 = 1", "NOT ".repeat(3000)),
                None
            ));
            assert!(too_complex(
                &format!("area_m2 = 1{}", "+1".repeat(20000)),
                None
            ));
            assert!(too_complex(
                &format!("area_m2 = {}1", "-".repeat(20000)),
                None
            ));
            // Inside a would-be geometry, which is then read as a function call.
            assert!(too_complex(
                &format!("POINT({}1)", "NOT ".repeat(3000)),
                None
            ));
            let json = format!(
                "{}{{\"property\": \"area_m2\"}}{}",
                r#"{"op": "not", "args": ["#.repeat(200),
                "]}".repeat(200)
            );
            assert!(too_complex(&json, Some("cql2-json")));
        });
    }

    /// Fuzzing: nested parenthesised lists (`((((1,1),1),1)…`) are parsed
    /// twice per level by the crate's grammar (as an expression, then as an
    /// array), so the time doubled with each level: over a minute at 18.
    #[test]
    fn nested_lists_are_refused_before_the_parser_backtracks() {
        let nested = |n: usize| format!("area_m2 IN {}1{}", "(".repeat(n), ",1)".repeat(n));
        assert!(too_complex(&nested(MAX_TEXT_NESTING + 1), None));
        assert!(too_complex(&nested(25), None));
        assert!(!too_complex(&nested(MAX_TEXT_NESTING), None));
    }

    /// The limits let real filters through, and a filter at the limits
    /// parses and evaluates on a worker's stack.
    #[test]
    fn filters_at_the_limits_parse_and_evaluate_on_a_small_stack() {
        on_small_stack(|| {
            let q = queryables();
            let a = parcel(1, 600.0, "склады", 0.0);
            // Nesting and operator count at their bounds: one NOT, 64 `=`, 63 ORs.
            let ors = vec!["area_m2 = 600"; 64].join(" OR ");
            let open = "(".repeat(MAX_TEXT_NESTING);
            let close = ")".repeat(MAX_TEXT_NESTING);
            let text = format!("NOT {open}{ors}{close}");
            let f = Filter::parse(&text, None, &q).expect("at the text limits");
            assert!(!f.matches(&a));
            assert!(too_complex(&format!("NOT {text}"), None));
            assert!(too_complex(&format!("({text})"), None));

            // A chain of NOTs as deep as evaluation is allowed to go.
            let chain = |k: usize| format!("{}area_m2 = 600", "NOT ".repeat(k));
            let deepest = (0..MAX_EXPR_DEPTH)
                .rev()
                .find(|&k| Filter::parse(&chain(k), None, &q).is_ok())
                .expect("some chain parses");
            assert!(deepest + 3 >= MAX_EXPR_DEPTH, "NOTs nest: {deepest}");
            assert!(too_complex(&chain(deepest + 1), None));
            let f = Filter::parse(&chain(deepest), None, &q).expect("at the depth limit");
            assert_eq!(f.matches(&a), deepest.is_multiple_of(2));

            // A CQL2 JSON chain of NOTs just inside MAX_JSON_NESTING.
            let json = |nots: usize| {
                format!(
                    r#"{}{{"op": "=", "args": [{{"property": "area_m2"}}, 600]}}{}"#,
                    r#"{"op": "not", "args": ["#.repeat(nots),
                    "]}".repeat(nots)
                )
            };
            let nots = (MAX_JSON_NESTING - 3) / 2;
            let f = Filter::parse(&json(nots), Some("cql2-json"), &q).expect("at the JSON limit");
            assert_eq!(f.matches(&a), nots.is_multiple_of(2));
            assert!(too_complex(&json(nots + 1), Some("cql2-json")));

            // Signs of coordinates are not operators; quoted text is not looked into.
            let ring: Vec<String> = (0..400)
                .map(|i| format!("-{}.5 -{}.25", i % 90, i % 45))
                .chain(["-0.5 -0.25".to_owned()])
                .collect();
            let polygon = format!(
                "S_INTERSECTS(geometry, POLYGON (({}))) OR permitted_use = '{}'",
                ring.join(", "),
                "((((((((((((-- NOT AND".repeat(20)
            );
            assert!(Filter::parse(&polygon, None, &q).is_ok());
            let collection = "NOT (S_INTERSECTS(geometry, GEOMETRYCOLLECTION(MULTIPOLYGON(((0 0, \
                              1 0, 1 1, 0 0))), POINT(-1 -1))) AND (area_m2 > 5 OR area_m2 < -5))";
            assert!(Filter::parse(collection, None, &q).is_ok());
        });
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
