//! Routing rules: which department must act on an application for a service,
//! because of a zone the plot lies in (or always), and how.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::calendar::{Deadline, DeadlineKind};
use super::condition::{self, Condition};
use super::services::Service;
use crate::model::Properties;

/// What a rule asks of its department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The department is asked for its opinion; the application goes on without it.
    Consult,
    /// The department must approve before the service is granted.
    Approve,
    /// The service cannot be granted here; the answer says why.
    Block,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Consult => "consult",
            Self::Approve => "approve",
            Self::Block => "block",
        })
    }
}

/// (service, zone type [, conditions on the zone or the plot]) → department
/// and action. Without a zone type the rule applies to every application for
/// the service (whose plot meets `plot_when`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Code of the service applied for.
    pub service: String,
    /// Code of the zone type the plot must overlap; none: every application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_type: Option<String>,
    /// Conditions on the zone feature's properties (needs `zone_type`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
    /// Conditions on the plot's properties (`permitted_use`); a drawn area
    /// without a plot meets none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plot_when: Vec<Condition>,
    /// Code of the department that acts.
    pub department: String,
    pub action: Action,
    /// The service's deadline when this rule applies, replacing the
    /// service's own (the longest of the rules that apply wins); at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_days: Option<u32>,
    /// How `deadline_days` count; the service's kind when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_kind: Option<DeadlineKind>,
    /// Why, in the regulation's words: what the answer shows the applicant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Rule {
    /// Whether the rule applies to an application for `service`, for a zone
    /// (`zone`: its type code and properties; `None` when asking about the
    /// application as a whole) and a plot (`None` for a drawn area).
    ///
    /// A rule with a zone type applies only to a zone of that type; a rule
    /// without one only when `zone` is `None`, so that it is counted once per
    /// application rather than once per zone.
    #[must_use]
    pub fn applies(
        &self,
        service: &str,
        zone: Option<(&str, &Properties)>,
        plot: Option<&Properties>,
    ) -> bool {
        if self.service != service {
            return false;
        }
        let zone_ok = match (&self.zone_type, zone) {
            (Some(t), Some((zt, props))) => t == zt && condition::all_match(&self.when, props),
            (None, None) => true,
            _ => false,
        };
        let plot_ok = self.plot_when.is_empty()
            || plot.is_some_and(|p| condition::all_match(&self.plot_when, p));
        zone_ok && plot_ok
    }

    /// The deadline this rule imposes on `service`, if it overrides it.
    #[must_use]
    pub fn deadline(&self, service: &Service) -> Option<Deadline> {
        self.deadline_days.map(|days| Deadline {
            days,
            kind: self.deadline_kind.unwrap_or(service.deadline_kind),
        })
    }

    /// The rule's conditions in words, zone's then plot's (`always` for none).
    #[must_use]
    pub fn condition_text(&self) -> String {
        let zone =
            (!self.when.is_empty()).then(|| format!("zone: {}", condition::describe(&self.when)));
        let plot = (!self.plot_when.is_empty())
            .then(|| format!("plot: {}", condition::describe(&self.plot_when)));
        let parts: Vec<String> = zone.into_iter().chain(plot).collect();
        if parts.is_empty() {
            "always".into()
        } else {
            parts.join("; ")
        }
    }

    /// How errors name the rule: `rule #4 (building_permit × heritage_protection → HERITAGE)`,
    /// numbered from 1 in catalog order.
    pub fn label(&self, index: usize) -> String {
        format!(
            "rule #{} ({} × {} → {})",
            index + 1,
            self.service,
            self.zone_type.as_deref().unwrap_or("any location"),
            self.department
        )
    }
}
