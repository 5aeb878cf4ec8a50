//! Routing: which departments must act on an application for a service or a
//! life situation at a plot, why, how, and by when.
//!
//! Pure over the catalog and a constraints answer (the zones the plot
//! overlaps, read from the index): the same inputs always route the same way.
//! - Every service goes to the department that provides it.
//! - Every rule of the catalog for the service that applies adds its
//!   department: rules without a zone type for every application (whose plot
//!   meets `plot_when`), rules with one for each overlapping zone of that type
//!   (whose properties meet `when`). Slivers (overlaps under the tolerance)
//!   route nowhere: they are drawing noise, not constraints.
//! - A department with several reasons for one service gets one approval, with
//!   the most demanding action (block > approve > consult) and every reason.
//! - A service's deadline is its own, or the longest a rule that applies sets.
//!   Steps of a life situation start when the steps they wait for are due; the
//!   application is due when its critical path ends.

use chrono::NaiveDate;
use serde::Serialize;

use crate::catalog::{Action, Catalog, Deadline, LifeSituation, Rule, Step};
use crate::constraints::{LayerRef, ZoneOverlap};
use crate::model::{FeatureId, Properties};

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("unknown service '{0}'")]
    UnknownService(String),
    #[error("unknown life situation '{0}'")]
    UnknownLifeSituation(String),
}

/// What is applied for, as the catalog names it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    /// `service` or `life_situation`.
    pub kind: &'static str,
    pub code: String,
    pub name: String,
}

/// The answer of routing: the steps on the calendar, the approvals per
/// department with their reasons, and whether a rule blocks the application.
#[derive(Debug, Clone, Serialize)]
pub struct RoutePlan {
    pub target: TargetInfo,
    pub submitted: NaiveDate,
    /// When the whole application is due: the end of its critical path.
    pub due: NaiveDate,
    /// A rule forbids what is applied for at this plot.
    pub blocked: bool,
    /// Why, when blocked: every blocking rule and the zone it met.
    pub block_reasons: Vec<BlockReason>,
    /// The services, in an order where each comes after those it waits for.
    pub steps: Vec<StepPlan>,
    /// One per service and department: who acts, how, by when, and why.
    pub approvals: Vec<Approval>,
    /// One per department: what it must do for this application, and by when.
    pub departments: Vec<DepartmentSummary>,
}

/// A service of the application placed on the calendar.
#[derive(Debug, Clone, Serialize)]
pub struct StepPlan {
    pub service: String,
    pub name: String,
    /// The department providing the service.
    pub department: String,
    /// Services of this application the step waits for.
    pub after: Vec<String>,
    /// The deadline that applies here.
    pub deadline: Deadline,
    /// `service` for the service's own deadline, else the rule that set it
    /// (`rule #12 (building_permit × heritage_protection → HERITAGE)`).
    pub deadline_source: String,
    /// When the service's clock starts: submission, or when the steps it waits for are due.
    pub start: NaiveDate,
    pub due: NaiveDate,
    /// On the critical path: it sets the application's due date.
    pub critical: bool,
}

/// What one department must do for one service of the application.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    pub service: String,
    pub department: String,
    pub department_name: String,
    /// Outside the city administration (a utility operator, a federal authority).
    pub external: bool,
    pub action: Action,
    pub start: NaiveDate,
    /// The department answers by the service's due date.
    pub due: NaiveDate,
    pub reasons: Vec<Reason>,
}

/// Why a department acts.
#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    /// `provider`: the department provides the service; `rule`: a catalog rule applies.
    pub kind: &'static str,
    /// The rule's number in catalog order, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    /// The rule as people read it: `rule #4 (building_permit × heritage_protection → HERITAGE)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub action: Action,
    /// The rule's conditions in words (`always` for none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// In the regulation's words.
    pub note: String,
    /// The zone that made the rule apply, for rules with a zone type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<ZoneReason>,
}

/// A zone the plot overlaps, as a reason.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneReason {
    pub zone_type: String,
    pub zone_type_name: String,
    pub legal_basis: String,
    /// The zone's layer and the version it was read from.
    pub layer: LayerRef,
    pub feature_id: FeatureId,
    /// Plot ∩ zone, m² in the city's metric CRS.
    pub overlap_m2: f64,
    /// Of the plot's area.
    pub overlap_percent: f64,
}

/// A blocking rule, with the service it blocks.
#[derive(Debug, Clone, Serialize)]
pub struct BlockReason {
    pub service: String,
    pub department: String,
    #[serde(flatten)]
    pub reason: Reason,
}

/// One department's part in the application.
#[derive(Debug, Clone, Serialize)]
pub struct DepartmentSummary {
    pub department: String,
    pub name: String,
    pub external: bool,
    /// The services it acts on, in step order.
    pub services: Vec<String>,
    /// Its most demanding action.
    pub action: Action,
    /// The latest due date among its approvals.
    pub due: NaiveDate,
}

/// What routing needs of the plot.
pub struct PlotFacts<'a> {
    /// Zones overlapping the plot by at least the sliver tolerance.
    pub zones: &'a [ZoneOverlap],
    /// The stored parcel's attributes (`permitted_use` …); none for a drawn area.
    pub properties: Option<&'a Properties>,
}

/// What is applied for: a service or life situation code.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    Service(&'a str),
    LifeSituation(&'a str),
}

/// Routes an application for `request` at a plot, submitted on `submitted`.
///
/// # Errors
/// A service or life situation the catalog does not define.
pub fn route(
    catalog: &Catalog,
    request: Request<'_>,
    plot: &PlotFacts<'_>,
    submitted: NaiveDate,
) -> Result<RoutePlan, RoutingError> {
    let (target, situation) = match request {
        Request::Service(code) => {
            let service = catalog
                .service(code)
                .ok_or_else(|| RoutingError::UnknownService(code.to_owned()))?;
            let situation = LifeSituation {
                code: service.code.clone(),
                name: service.name.clone(),
                steps: vec![Step {
                    service: service.code.clone(),
                    after: Vec::new(),
                }],
            };
            let target = TargetInfo {
                kind: "service",
                code: service.code.clone(),
                name: service.name.clone(),
            };
            (target, situation)
        }
        Request::LifeSituation(code) => {
            let situation = catalog
                .life_situation(code)
                .ok_or_else(|| RoutingError::UnknownLifeSituation(code.to_owned()))?;
            let target = TargetInfo {
                kind: "life_situation",
                code: situation.code.clone(),
                name: situation.name.clone(),
            };
            (target, situation.clone())
        }
    };

    // Who acts on each service, and the deadline each service takes here.
    let services: Vec<ServiceRouting> = situation
        .ordered_steps()
        .into_iter()
        .map(|step| route_service(catalog, &step.service, plot, submitted))
        .collect();
    let deadline_of = |code: &str| {
        services
            .iter()
            .find(|s| s.code == code)
            .map(|s| s.deadline)
            .expect("every step of a validated catalog is a service")
    };
    let schedule = situation.schedule(submitted, &catalog.calendar, deadline_of);

    let mut steps = Vec::with_capacity(schedule.len());
    let mut approvals = Vec::new();
    for (scheduled, routed) in schedule.iter().zip(&services) {
        debug_assert_eq!(scheduled.service, routed.code);
        let service = catalog.service(&routed.code).expect("checked when routed");
        let after = situation
            .steps
            .iter()
            .find(|s| s.service == routed.code)
            .map(|s| s.after.clone())
            .unwrap_or_default();
        steps.push(StepPlan {
            service: routed.code.clone(),
            name: service.name.clone(),
            department: service.department.clone(),
            after,
            deadline: routed.deadline,
            deadline_source: routed.deadline_source.clone(),
            start: scheduled.start,
            due: scheduled.due,
            critical: scheduled.critical,
        });
        for (department, action, reasons) in &routed.departments {
            let d = catalog.department(department);
            approvals.push(Approval {
                service: routed.code.clone(),
                department: department.clone(),
                department_name: d.map(|d| d.name.clone()).unwrap_or_default(),
                external: d.is_some_and(|d| d.external),
                action: *action,
                start: scheduled.start,
                due: scheduled.due,
                reasons: reasons.clone(),
            });
        }
    }

    let block_reasons: Vec<BlockReason> = approvals
        .iter()
        .flat_map(|a| {
            a.reasons
                .iter()
                .filter(|r| r.action == Action::Block)
                .map(|r| BlockReason {
                    service: a.service.clone(),
                    department: a.department.clone(),
                    reason: r.clone(),
                })
        })
        .collect();
    let due = steps.iter().map(|s| s.due).max().unwrap_or(submitted);
    let departments = summarize(&approvals);
    Ok(RoutePlan {
        target,
        submitted,
        due,
        blocked: !block_reasons.is_empty(),
        block_reasons,
        steps,
        approvals,
        departments,
    })
}

/// One service routed: the departments with their action and reasons (the
/// provider first, then in the order the catalog's rules name them), and the
/// deadline that applies.
struct ServiceRouting {
    code: String,
    departments: Vec<(String, Action, Vec<Reason>)>,
    deadline: Deadline,
    deadline_source: String,
}

fn route_service(
    catalog: &Catalog,
    code: &str,
    plot: &PlotFacts<'_>,
    submitted: NaiveDate,
) -> ServiceRouting {
    let service = catalog
        .service(code)
        .expect("a validated catalog's steps are services");
    let mut departments: Vec<(String, Action, Vec<Reason>)> = vec![(
        service.department.clone(),
        Action::Approve,
        vec![Reason {
            kind: "provider",
            rule: None,
            label: None,
            action: Action::Approve,
            condition: None,
            note: "подразделение оказывает услугу и отвечает заявителю".into(),
            zone: None,
        }],
    )];
    let mut deadline = service.deadline();
    let mut deadline_source = "service".to_owned();
    let mut add = |index: usize, rule: &Rule, zone: Option<ZoneReason>| {
        let reason = Reason {
            kind: "rule",
            rule: Some(index + 1),
            label: Some(rule.label(index)),
            action: rule.action,
            condition: Some(rule.condition_text()),
            note: rule.note.clone().unwrap_or_default(),
            zone,
        };
        match departments
            .iter_mut()
            .find(|(d, _, _)| *d == rule.department)
        {
            Some((_, action, reasons)) => {
                *action = (*action).max(rule.action);
                reasons.push(reason);
            }
            None => departments.push((rule.department.clone(), rule.action, vec![reason])),
        }
        if let Some(d) = rule.deadline(service) {
            let cal = &catalog.calendar;
            if cal.due(submitted, d) > cal.due(submitted, deadline) {
                deadline = d;
                deadline_source = rule.label(index);
            }
        }
    };
    for (index, rule) in catalog.rules.iter().enumerate() {
        if rule.service != code {
            continue;
        }
        match &rule.zone_type {
            None => {
                if rule.applies(code, None, plot.properties) {
                    add(index, rule, None);
                }
            }
            Some(zone_type) => {
                for z in plot.zones {
                    if z.zone_type.as_deref() != Some(zone_type.as_str())
                        || !rule.applies(
                            code,
                            Some((zone_type, &z.feature.properties)),
                            plot.properties,
                        )
                    {
                        continue;
                    }
                    let zt = catalog.zone_type(zone_type);
                    add(
                        index,
                        rule,
                        Some(ZoneReason {
                            zone_type: zone_type.clone(),
                            zone_type_name: zt.map(|t| t.name.clone()).unwrap_or_default(),
                            legal_basis: zt.map(|t| t.legal_basis.clone()).unwrap_or_default(),
                            layer: z.layer.clone(),
                            feature_id: z.feature_id,
                            overlap_m2: z.overlap_m2,
                            overlap_percent: z.overlap_percent,
                        }),
                    );
                }
            }
        }
    }
    ServiceRouting {
        code: code.to_owned(),
        departments,
        deadline,
        deadline_source,
    }
}

/// One row per department, in the order departments first appear.
fn summarize(approvals: &[Approval]) -> Vec<DepartmentSummary> {
    let mut out: Vec<DepartmentSummary> = Vec::new();
    for a in approvals {
        match out.iter_mut().find(|d| d.department == a.department) {
            Some(d) => {
                if !d.services.contains(&a.service) {
                    d.services.push(a.service.clone());
                }
                d.action = d.action.max(a.action);
                d.due = d.due.max(a.due);
            }
            None => out.push(DepartmentSummary {
                department: a.department.clone(),
                name: a.department_name.clone(),
                external: a.external,
                services: vec![a.service.clone()],
                action: a.action,
                due: a.due,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests;
