//! Attribute conditions: a test of one property of a feature (a utility line,
//! a zone, a plot), as buffer rules and routing rules write them:
//! `{ property = "voltage_kv", above = 35, max = 110 }`.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Properties;

/// A test of one property. Every predicate given must hold; a feature that
/// lacks the property (or has it `null`) does not match.
///
/// Strings compare trimmed and case-insensitively; numbers compare as numbers,
/// also when a feature carries them as text (`"110"`), as imports from
/// Shapefile or CSV often do.
///
/// # Examples
/// ```
/// use imgis::catalog::Condition;
/// use imgis::model::props;
/// use serde_json::json;
/// let c: Condition = toml::from_str("property = 'voltage_kv'\nabove = 35\nmax = 110").unwrap();
/// assert!(c.matches(&props([("voltage_kv", json!(110))])));
/// assert!(c.matches(&props([("voltage_kv", json!("110"))])));
/// assert!(!c.matches(&props([("voltage_kv", json!(35))])));
/// assert!(!c.matches(&props([])));
/// assert_eq!(c.to_string(), "voltage_kv > 35, ≤ 110");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The property tested, as the features carry it (`voltage_kv`, `flow`).
    pub property: String,
    /// The value equals this one (string, number or boolean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// The value equals one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
    /// The value is a number greater than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// The value is a number greater than or equal to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The value is a number less than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// The value is a number less than or equal to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A number, from a JSON number or from text that holds one.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether a feature's value equals a catalog value (see [`Condition`]).
fn same(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Number(_), _) | (_, Value::Number(_)) => match (number(actual), number(expected)) {
            // Catalog values are short decimals (0.4, 110): exact equality of
            // their parsed doubles is what the catalog means.
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        (Value::String(a), Value::String(b)) => a.trim().to_lowercase() == b.trim().to_lowercase(),
        (Value::String(s), Value::Bool(b)) | (Value::Bool(b), Value::String(s)) => s
            .trim()
            .eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        _ => false,
    }
}

/// How a catalog value reads in a description: strings bare, others as JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Condition {
    /// Whether the feature with these properties passes the test.
    #[must_use]
    pub fn matches(&self, properties: &Properties) -> bool {
        let Some(value) = properties.get(&self.property).filter(|v| !v.is_null()) else {
            return false;
        };
        if self.equals.as_ref().is_some_and(|e| !same(value, e)) {
            return false;
        }
        if let Some(options) = &self.one_of {
            if !options.iter().any(|e| same(value, e)) {
                return false;
            }
        }
        let bounds = [self.above, self.min, self.below, self.max];
        if bounds.iter().all(Option::is_none) {
            return true;
        }
        let Some(x) = number(value) else {
            return false;
        };
        self.above.is_none_or(|b| x > b)
            && self.min.is_none_or(|b| x >= b)
            && self.below.is_none_or(|b| x < b)
            && self.max.is_none_or(|b| x <= b)
    }

    /// A sentence on what is wrong with this condition as written, if anything:
    /// no property, no predicate, a list or table where a value belongs, a
    /// bound that is not a finite number, or bounds that no number meets.
    pub(super) fn problem(&self) -> Option<String> {
        let p = &self.property;
        if p.trim().is_empty() {
            return Some("a condition names no property".into());
        }
        let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
        if self.equals.is_none()
            && self.one_of.is_none()
            && [self.above, self.min, self.below, self.max]
                .iter()
                .all(Option::is_none)
        {
            return Some(format!(
                "the condition on '{p}' tests nothing: give equals, one_of, above, min, below or max"
            ));
        }
        if self.equals.as_ref().is_some_and(|v| !scalar(v))
            || self
                .one_of
                .as_ref()
                .is_some_and(|o| o.is_empty() || !o.iter().all(scalar))
        {
            return Some(format!(
                "the condition on '{p}' compares with something that is not a string, number or boolean (or an empty one_of)"
            ));
        }
        let bounds = [self.above, self.min, self.below, self.max];
        if bounds.iter().flatten().any(|b| !b.is_finite()) {
            return Some(format!(
                "the condition on '{p}' has a bound that is not a finite number"
            ));
        }
        let low = self
            .above
            .into_iter()
            .chain(self.min)
            .fold(f64::NEG_INFINITY, f64::max);
        let high = self
            .below
            .into_iter()
            .chain(self.max)
            .fold(f64::INFINITY, f64::min);
        let empty =
            low > high || (low == high && (self.above == Some(low) || self.below == Some(high)));
        if empty {
            return Some(format!(
                "the condition on '{p}' has bounds that no number meets"
            ));
        }
        None
    }
}

impl fmt::Display for Condition {
    /// `voltage_kv > 35, ≤ 110`, `flow = gravity`, `material ∈ {steel, polyethylene}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(v) = &self.equals {
            parts.push(format!("= {}", show(v)));
        }
        if let Some(options) = &self.one_of {
            let list: Vec<String> = options.iter().map(show).collect();
            parts.push(format!("∈ {{{}}}", list.join(", ")));
        }
        for (sign, bound) in [
            (">", self.above),
            ("≥", self.min),
            ("<", self.below),
            ("≤", self.max),
        ] {
            if let Some(b) = bound {
                parts.push(format!("{sign} {b}"));
            }
        }
        let mut out = self.property.clone();
        for (k, p) in parts.iter().enumerate() {
            let sep = if k == 0 { " " } else { ", " };
            write!(out, "{sep}{p}")?;
        }
        f.write_str(&out)
    }
}

/// All of `conditions` in words, `; `-separated; `always` when there are none.
#[must_use]
pub fn describe(conditions: &[Condition]) -> String {
    if conditions.is_empty() {
        return "always".into();
    }
    conditions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether every condition holds for these properties (true for none).
#[must_use]
pub fn all_match(conditions: &[Condition], properties: &Properties) -> bool {
    conditions.iter().all(|c| c.matches(properties))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::props;
    use serde_json::json;

    fn cond(text: &str) -> Condition {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn strings_compare_trimmed_and_without_case() {
        let c = cond("property = 'flow'\nequals = 'Gravity'");
        assert!(c.matches(&props([("flow", json!(" gravity"))])));
        assert!(!c.matches(&props([("flow", json!("pressure"))])));
        assert!(!c.matches(&props([("flow", Value::Null)])));
        let c = cond("property = 'use'\none_of = ['жилая застройка', 'ИЖС']");
        assert!(c.matches(&props([("use", json!("ижс"))])));
        assert_eq!(c.to_string(), "use ∈ {жилая застройка, ИЖС}");
    }

    #[test]
    fn numbers_compare_as_numbers_also_from_text() {
        let c = cond("property = 'voltage_kv'\nequals = 0.4");
        assert!(c.matches(&props([("voltage_kv", json!(0.4))])));
        assert!(c.matches(&props([("voltage_kv", json!("0.4"))])));
        let c = cond("property = 'voltage_kv'\nbelow = 1");
        assert!(c.matches(&props([("voltage_kv", json!(0.4))])));
        assert!(!c.matches(&props([("voltage_kv", json!(1))])));
        assert!(!c.matches(&props([("voltage_kv", json!("high"))])));
        let c = cond("property = 'ok'\nequals = true");
        assert!(c.matches(&props([("ok", json!(true))])));
        assert!(c.matches(&props([("ok", json!("TRUE"))])));
    }

    #[test]
    fn conditions_that_cannot_work_are_a_problem() {
        for bad in [
            "property = 'x'",
            "property = ''\nequals = 1",
            "property = 'x'\nequals = [1]",
            "property = 'x'\none_of = []",
            "property = 'x'\nabove = 5\nbelow = 5",
            "property = 'x'\nmin = 6\nmax = 5",
            "property = 'x'\nmin = nan",
        ] {
            assert!(cond(bad).problem().is_some(), "{bad}");
        }
        assert!(cond("property = 'x'\nmin = 5\nmax = 5").problem().is_none());
        assert!(toml::from_str::<Condition>("property = 'x'\nequal = 1").is_err());
    }
}
