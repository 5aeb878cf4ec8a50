//! Zone types (ЗОУИТ and planning overlays) and the buffer rules that derive
//! protection zones from utility layers.

use serde::{Deserialize, Serialize};

use super::condition::{self, Condition};
use crate::model::{LayerCode, Properties};

/// A kind of zone that restricts what may be done on the land it covers.
/// Zone features name theirs in the property `zone_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneType {
    /// Stable code, lower case, as zone features carry it (`water_protection`).
    pub code: String,
    /// Russian name, as the regulation writes it.
    pub name: String,
    /// The act that sets the zone and its regime.
    pub legal_basis: String,
    /// Code of the department that approves works in the zone.
    pub department: String,
    /// The zone's regime forbids placing buildings in it, or allows them only
    /// with the approving department's written consent: a building permit
    /// cannot go ahead without that department.
    pub blocks_construction: bool,
}

/// How a buffered line ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineEnds {
    /// Cut square at the line's end points: the regulations draw protection
    /// zones of lines as strips between two lines parallel to the route, so
    /// the zone ends where the line does.
    #[default]
    Flat,
    /// A half-disc of the zone's width beyond each end point: everything
    /// within the width of the line, a margin where a route's end is uncertain.
    Round,
}

/// A protection zone derived from a utility layer: every feature of `layer`
/// that meets all of `when` gets a zone of `zone_type`, `width_m` metres each
/// side, measured in the city's metric CRS. For a feature, the first rule of
/// its layer that matches (in catalog order) applies, so specific rules
/// (an underground cable) come before general ones (overhead lines by voltage).
///
/// Lines get a strip with `ends`; points a circle of radius `width_m`;
/// polygons grow by `width_m`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferRule {
    /// Code of the source layer (`power`, `gas_stations`).
    pub layer: LayerCode,
    /// Code of the zone type produced.
    pub zone_type: String,
    /// Width each side of the line (radius around a point), metres; positive.
    /// Missing reads as 0, which the catalog refuses as "no width".
    #[serde(default)]
    pub width_m: f64,
    /// Conditions on the source feature's properties; none: every feature.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
    /// How buffered lines end (flat by default).
    #[serde(default)]
    pub ends: LineEnds,
    /// What the rule covers, in the regulation's words (`ВЛ 110 кВ`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl BufferRule {
    /// Whether a feature of the rule's layer with these properties gets this zone.
    #[must_use]
    pub fn matches(&self, properties: &Properties) -> bool {
        condition::all_match(&self.when, properties)
    }

    /// The rule's conditions in words (`voltage_kv > 35, ≤ 110`, or `always`).
    #[must_use]
    pub fn condition_text(&self) -> String {
        condition::describe(&self.when)
    }

    /// How errors name the rule: `buffer rule #3 (power → power_protection)`,
    /// numbered from 1 in catalog order.
    pub(super) fn label(&self, index: usize) -> String {
        format!(
            "buffer rule #{} ({} → {})",
            index + 1,
            self.layer,
            self.zone_type
        )
    }
}
