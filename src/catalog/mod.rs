//! The city's catalog as data (`data/catalog.toml`), compiled into the binary as
//! the default and overridable by a file the city edits (config `catalog`):
//! - departments: the city's units and the external approvers;
//! - zone types ([`ZoneType`]) with legal basis, approving department and
//!   whether they block construction;
//! - buffer rules ([`BufferRule`]): protection zones derived from utility layers;
//! - services ([`Service`]) with their regulatory deadlines, and life
//!   situations ([`LifeSituation`]): DAGs of services applied for at once;
//! - routing rules ([`Rule`]): service × zone type [× conditions] → department
//!   and action;
//! - the working-day calendar ([`Calendar`]) deadlines are counted on.
//!
//! [`Catalog::parse`] refuses unknown fields, duplicate codes, references to
//! codes the catalog does not define, cycles in life situations, buffer rules
//! without a width and deadlines of 0 days, with a message that names the
//! entry at fault.

mod calendar;
mod condition;
mod rules;
mod services;
mod zone_types;

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

pub use calendar::{Calendar, Deadline, DeadlineKind};
pub use condition::Condition;
pub use rules::{Action, Rule};
pub use services::{LifeSituation, ScheduledStep, Service, Step};
pub use zone_types::{BufferRule, LineEnds, ZoneType};

use crate::model::{Department, LayerCode, Properties};

/// The catalog shipped with imgis (the demo city's and Kazan's).
pub const DEFAULT_CATALOG: &str = include_str!("../../data/catalog.toml");

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("reading catalog {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing catalog {path}: {message}")]
    Parse { path: String, message: String },
    /// Two departments, zone types, services or life situations share a code,
    /// or a life situation lists a service twice.
    #[error("catalog {path}: {what} '{code}' appears twice")]
    Duplicate {
        path: String,
        /// What kind of entry: `department code`, `service code` …
        what: &'static str,
        code: String,
    },
    #[error("catalog {path}: {owner} refers to unknown {what} '{code}'")]
    UnknownReference {
        path: String,
        /// The entry holding the reference (`service 'gpzu'`, `rule #3 (…)`).
        owner: String,
        /// What was looked for: `department`, `zone type`, `service` …
        what: &'static str,
        code: String,
    },
    #[error("catalog {path}: life situation '{situation}' has a cycle: {cycle}")]
    Cycle {
        path: String,
        situation: String,
        /// The services on the cycle in the order work would flow: `a → b → a`.
        cycle: String,
    },
    #[error("catalog {path}: {owner} has no width: width_m must be a positive number of metres each side (got {width_m})")]
    NoWidth {
        path: String,
        owner: String,
        width_m: f64,
    },
    #[error("catalog {path}: {owner} has a deadline of 0 days; deadline_days must be at least 1")]
    ZeroDeadline { path: String, owner: String },
    /// A condition that tests nothing, a calendar that contradicts itself …
    #[error("catalog {path}: {owner}: {message}")]
    Invalid {
        path: String,
        owner: String,
        message: String,
    },
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// The whole catalog. Every section but `departments` may be left out (empty).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(deserialize_with = "strict_departments")]
    pub departments: Vec<Department>,
    #[serde(default)]
    pub zone_types: Vec<ZoneType>,
    #[serde(default)]
    pub buffer_rules: Vec<BufferRule>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub life_situations: Vec<LifeSituation>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub calendar: Calendar,
}

/// Departments read with unknown fields refused, as every other section is
/// (the shared `Department` type is lenient for the store's sake).
fn strict_departments<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Department>, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        code: String,
        name: String,
        #[serde(default)]
        external: bool,
    }
    Ok(Vec::<Entry>::deserialize(d)?
        .into_iter()
        .map(|e| Department {
            code: e.code,
            name: e.name,
            external: e.external,
        })
        .collect())
}

impl Catalog {
    /// The built-in catalog.
    ///
    /// # Panics
    /// Never in a released build: a unit test parses the built-in catalog.
    #[must_use]
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_CATALOG, "data/catalog.toml (built in)")
            .expect("the built-in catalog is checked by a unit test")
    }

    /// Reads and validates the catalog file at `path`.
    ///
    /// # Errors
    /// [`CatalogError::Read`] when the file cannot be read, and the errors of
    /// [`Catalog::parse`].
    pub fn load(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: name.clone(),
            source,
        })?;
        Self::parse(&text, &name)
    }

    /// Reads and validates a catalog; `path` names it in errors.
    ///
    /// # Errors
    /// [`CatalogError::Parse`] for text that is not TOML, or has an unknown
    /// field, a missing one or a value of the wrong type; the errors of
    /// [`Catalog::validate`].
    pub fn parse(text: &str, path: &str) -> Result<Self> {
        let catalog: Catalog = toml::from_str(text).map_err(|e| CatalogError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        catalog.validate(path)?;
        Ok(catalog)
    }

    /// Checks what the types cannot: unique codes, references between
    /// sections, acyclic life situations, widths, deadlines, conditions and
    /// the calendar. Stops at the first problem; `path` names the catalog.
    ///
    /// # Errors
    /// The first problem found: [`CatalogError::Duplicate`],
    /// [`CatalogError::UnknownReference`], [`CatalogError::Cycle`],
    /// [`CatalogError::NoWidth`], [`CatalogError::ZeroDeadline`] or
    /// [`CatalogError::Invalid`].
    pub fn validate(&self, path: &str) -> Result<()> {
        Check {
            catalog: self,
            path,
        }
        .run()
    }

    #[must_use]
    pub fn department(&self, code: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.code == code)
    }

    #[must_use]
    pub fn zone_type(&self, code: &str) -> Option<&ZoneType> {
        self.zone_types.iter().find(|z| z.code == code)
    }

    #[must_use]
    pub fn service(&self, code: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.code == code)
    }

    #[must_use]
    pub fn life_situation(&self, code: &str) -> Option<&LifeSituation> {
        self.life_situations.iter().find(|s| s.code == code)
    }

    /// The buffer rule that applies to a feature of `layer` with these
    /// properties: the first of that layer's rules that matches.
    #[must_use]
    pub fn buffer_rule_for(
        &self,
        layer: &LayerCode,
        properties: &Properties,
    ) -> Option<&BufferRule> {
        self.buffer_rules
            .iter()
            .find(|r| &r.layer == layer && r.matches(properties))
    }

    /// Whether some buffer rule derives zones from `layer`: a change to it
    /// calls for the derived zones to be made again.
    #[must_use]
    pub fn is_buffer_source(&self, layer: &LayerCode) -> bool {
        self.buffer_rules.iter().any(|r| &r.layer == layer)
    }

    /// The routing rules of `service`, in catalog order.
    pub fn rules_for<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.service == service)
    }
}

/// One validation pass over a parsed catalog.
struct Check<'a> {
    catalog: &'a Catalog,
    path: &'a str,
}

impl Check<'_> {
    fn run(&self) -> Result<()> {
        let c = self.catalog;
        let departments = self.unique("department code", c.departments.iter().map(|d| &d.code))?;
        let zone_types = self.unique("zone type code", c.zone_types.iter().map(|z| &z.code))?;
        let services = self.unique("service code", c.services.iter().map(|s| &s.code))?;
        self.unique(
            "life situation code",
            c.life_situations.iter().map(|s| &s.code),
        )?;

        for z in &c.zone_types {
            let owner = format!("zone type '{}'", z.code);
            self.refers(&owner, "department", &z.department, &departments)?;
        }
        for (k, r) in c.buffer_rules.iter().enumerate() {
            let owner = r.label(k);
            self.refers(&owner, "zone type", &r.zone_type, &zone_types)?;
            if !(r.width_m.is_finite() && r.width_m > 0.0) {
                return Err(CatalogError::NoWidth {
                    path: self.path.to_owned(),
                    owner,
                    width_m: r.width_m,
                });
            }
            self.conditions(&owner, &r.when)?;
        }
        for s in &c.services {
            let owner = format!("service '{}'", s.code);
            self.refers(&owner, "department", &s.department, &departments)?;
            if s.deadline_days == 0 {
                return Err(self.zero_deadline(owner));
            }
        }
        for l in &c.life_situations {
            let owner = format!("life situation '{}'", l.code);
            let steps = self.unique(
                "service of one life situation",
                l.steps.iter().map(|s| &s.service),
            )?;
            for s in &l.steps {
                self.refers(&owner, "service", &s.service, &services)?;
                let step = format!("{owner}, step '{}'", s.service);
                for a in &s.after {
                    self.refers(&step, "step", a, &steps)?;
                }
            }
            if let Some(cycle) = l.cycle() {
                return Err(CatalogError::Cycle {
                    path: self.path.to_owned(),
                    situation: l.code.clone(),
                    cycle: cycle.join(" → "),
                });
            }
        }
        for (k, r) in c.rules.iter().enumerate() {
            let owner = r.label(k);
            self.refers(&owner, "service", &r.service, &services)?;
            if let Some(t) = &r.zone_type {
                self.refers(&owner, "zone type", t, &zone_types)?;
            } else if !r.when.is_empty() {
                return Err(self.invalid(
                    owner,
                    "has conditions on the zone (when) but no zone_type; conditions on the plot go in plot_when".into(),
                ));
            }
            self.refers(&owner, "department", &r.department, &departments)?;
            if r.deadline_days == Some(0) {
                return Err(self.zero_deadline(owner));
            }
            if r.deadline_kind.is_some() && r.deadline_days.is_none() {
                return Err(self.invalid(owner, "has a deadline_kind but no deadline_days".into()));
            }
            self.conditions(&owner, &r.when)?;
            self.conditions(&owner, &r.plot_when)?;
        }
        if let Some(message) = c.calendar.problem() {
            return Err(self.invalid("calendar".into(), message));
        }
        Ok(())
    }

    /// The set of `codes`, or the first that appears twice.
    fn unique<'c>(
        &self,
        what: &'static str,
        codes: impl Iterator<Item = &'c String>,
    ) -> Result<HashSet<&'c str>> {
        let mut seen = HashSet::new();
        for code in codes {
            if !seen.insert(code.as_str()) {
                return Err(CatalogError::Duplicate {
                    path: self.path.to_owned(),
                    what,
                    code: code.clone(),
                });
            }
        }
        Ok(seen)
    }

    fn refers(
        &self,
        owner: &str,
        what: &'static str,
        code: &str,
        known: &HashSet<&str>,
    ) -> Result<()> {
        if known.contains(code) {
            Ok(())
        } else {
            Err(CatalogError::UnknownReference {
                path: self.path.to_owned(),
                owner: owner.to_owned(),
                what,
                code: code.to_owned(),
            })
        }
    }

    fn conditions(&self, owner: &str, conditions: &[Condition]) -> Result<()> {
        match conditions.iter().find_map(Condition::problem) {
            Some(message) => Err(self.invalid(owner.to_owned(), message)),
            None => Ok(()),
        }
    }

    fn zero_deadline(&self, owner: String) -> CatalogError {
        CatalogError::ZeroDeadline {
            path: self.path.to_owned(),
            owner,
        }
    }

    fn invalid(&self, owner: String, message: String) -> CatalogError {
        CatalogError::Invalid {
            path: self.path.to_owned(),
            owner,
            message,
        }
    }
}

#[cfg(test)]
mod tests;
