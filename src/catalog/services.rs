//! Municipal services with their regulatory deadlines, and life situations:
//! bundles of services with dependencies (a DAG), applied for at once.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::{Calendar, Deadline, DeadlineKind};

/// A service the city provides (a permit, an approval, technical conditions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Stable code, lower case (`building_permit`).
    pub code: String,
    /// Russian name, as the city's register of services writes it.
    pub name: String,
    /// Code of the department that provides it and answers the applicant.
    pub department: String,
    /// Regulatory deadline, days; at least 1. Missing reads as 0, which the
    /// catalog refuses.
    #[serde(default)]
    pub deadline_days: u32,
    /// Whether `deadline_days` are working or calendar days.
    pub deadline_kind: DeadlineKind,
}

impl Service {
    /// The service's own deadline (routing rules may override it).
    #[must_use]
    pub fn deadline(&self) -> Deadline {
        Deadline {
            days: self.deadline_days,
            kind: self.deadline_kind,
        }
    }
}

/// One service of a life situation, and the services that must be done first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Code of the service; each service appears at most once per situation.
    pub service: String,
    /// Services of the same situation this step waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// A bundle of services an applicant needs for one purpose ("build an
/// office"), as one application. The steps form a DAG by their `after` lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifeSituation {
    /// Stable code, lower case (`build_office`).
    pub code: String,
    /// Russian name, as the applicant reads it.
    pub name: String,
    pub steps: Vec<Step>,
}

/// A step of a life situation placed on the calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledStep {
    /// Code of the service.
    pub service: String,
    /// When its clock starts: the submission, or the latest due date of the
    /// steps it waits for.
    pub start: NaiveDate,
    /// Its due date.
    pub due: NaiveDate,
    /// On the critical path: its due date sets the application's.
    pub critical: bool,
}

impl LifeSituation {
    /// The steps in an order where every step comes after those it waits for
    /// (catalog order among independent steps). Assumes a validated catalog:
    /// a step caught in a cycle, or waiting for an unknown one, is left out.
    #[must_use]
    pub fn ordered_steps(&self) -> Vec<&Step> {
        let mut placed: HashMap<&str, bool> = HashMap::new();
        let mut out = Vec::with_capacity(self.steps.len());
        // At most one pass per step: each pass places at least one step of a DAG.
        for _ in 0..self.steps.len() {
            let before = out.len();
            for s in &self.steps {
                if placed.contains_key(s.service.as_str()) {
                    continue;
                }
                if s.after.iter().all(|a| placed.contains_key(a.as_str())) {
                    placed.insert(&s.service, true);
                    out.push(s);
                }
            }
            if out.len() == before {
                break;
            }
        }
        out
    }

    /// The first cycle among the steps, as the services on it with the first
    /// repeated at the end (`a → b → a`), if there is one.
    pub(super) fn cycle(&self) -> Option<Vec<&str>> {
        // Depth-first search; a step met again while on the current path closes a cycle.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            OnPath,
            Done,
        }
        fn visit<'a>(
            node: &'a str,
            after: &BTreeMap<&'a str, Vec<&'a str>>,
            marks: &mut HashMap<&'a str, Mark>,
            path: &mut Vec<&'a str>,
        ) -> Option<Vec<&'a str>> {
            match marks.get(node) {
                Some(Mark::Done) => return None,
                Some(Mark::OnPath) => {
                    let from = path.iter().position(|n| *n == node).expect("on the path");
                    let mut cycle = path[from..].to_vec();
                    cycle.push(node);
                    return Some(cycle);
                }
                None => {}
            }
            marks.insert(node, Mark::OnPath);
            path.push(node);
            for next in after.get(node).into_iter().flatten() {
                if let Some(c) = visit(next, after, marks, path) {
                    return Some(c);
                }
            }
            path.pop();
            marks.insert(node, Mark::Done);
            None
        }
        let after: BTreeMap<&str, Vec<&str>> = self
            .steps
            .iter()
            .map(|s| {
                (
                    s.service.as_str(),
                    s.after.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        let mut marks = HashMap::new();
        for s in &self.steps {
            let mut path = Vec::new();
            if let Some(mut c) = visit(&s.service, &after, &mut marks, &mut path) {
                // Found following `after` edges (a step → what it waits for);
                // reversed, the cycle reads in the order the work would flow.
                c.reverse();
                return Some(c);
            }
        }
        None
    }

    /// Places every step on the calendar for an application submitted on
    /// `submitted`: a step's clock starts when the last step it waits for is
    /// due (or at submission), and it is due `deadline(service)` later. The
    /// application is due when its last step is; the steps that set that date
    /// are marked critical. Steps come in [`LifeSituation::ordered_steps`] order.
    ///
    /// `deadline` is the deadline of each service for this application: the
    /// service's own, or one a routing rule imposes.
    pub fn schedule(
        &self,
        submitted: NaiveDate,
        calendar: &Calendar,
        deadline: impl Fn(&str) -> Deadline,
    ) -> Vec<ScheduledStep> {
        let order = self.ordered_steps();
        let mut due: HashMap<&str, NaiveDate> = HashMap::new();
        let mut out: Vec<ScheduledStep> = Vec::with_capacity(order.len());
        for s in &order {
            let start = s
                .after
                .iter()
                .filter_map(|a| due.get(a.as_str()).copied())
                .max()
                .unwrap_or(submitted);
            let end = calendar.due(start, deadline(&s.service));
            due.insert(&s.service, end);
            out.push(ScheduledStep {
                service: s.service.clone(),
                start,
                due: end,
                critical: false,
            });
        }
        // Walk back from the latest step through the predecessors whose due
        // date is the step's start.
        let by_service: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(k, s)| (s.service.as_str(), k))
            .collect();
        let Some(last) = out.iter().map(|s| s.due).max() else {
            return out;
        };
        let mut stack: Vec<usize> = (0..out.len()).filter(|&k| out[k].due == last).collect();
        while let Some(k) = stack.pop() {
            if out[k].critical {
                continue;
            }
            out[k].critical = true;
            for a in &order[k].after {
                if let Some(&p) = by_service.get(a.as_str()) {
                    if out[p].due == out[k].start {
                        stack.push(p);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn situation(edges: &[(&str, &[&str])]) -> LifeSituation {
        LifeSituation {
            code: "t".into(),
            name: "t".into(),
            steps: edges
                .iter()
                .map(|(s, after)| Step {
                    service: (*s).into(),
                    after: after.iter().map(|a| (*a).to_owned()).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_cycle_is_found_and_named_in_flow_order() {
        let s = situation(&[("a", &[]), ("b", &["a", "c"]), ("c", &["b"])]);
        let c = s.cycle().unwrap();
        assert_eq!(c.first(), c.last());
        assert!(
            c.contains(&"b") && c.contains(&"c") && !c.contains(&"a"),
            "{c:?}"
        );
        assert!(situation(&[("a", &["a"])]).cycle().is_some());
        assert!(situation(&[("a", &[]), ("b", &["a"]), ("c", &["a", "b"])])
            .cycle()
            .is_none());
    }

    #[test]
    fn steps_are_ordered_after_what_they_wait_for() {
        let s = situation(&[("c", &["b"]), ("b", &["a"]), ("a", &[])]);
        let order: Vec<&str> = s
            .ordered_steps()
            .iter()
            .map(|s| s.service.as_str())
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn the_schedule_follows_the_longest_branch() {
        // a (2 d) → b (10 d) → d (1 d); a → c (3 d) → d: b is on the critical path.
        let s = situation(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])]);
        let days = |svc: &str| Deadline {
            days: match svc {
                "a" => 2,
                "b" => 10,
                "c" => 3,
                _ => 1,
            },
            kind: DeadlineKind::Calendar,
        };
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        // No holidays; Monday 6 April 2026.
        let plan = s.schedule(d(4, 6), &Calendar::default(), days);
        let get = |svc: &str| plan.iter().find(|p| p.service == svc).unwrap();
        assert_eq!(get("a").due, d(4, 8));
        assert_eq!(
            get("b").due,
            d(4, 20),
            "18 April is a Saturday: on to Monday"
        );
        assert_eq!(
            get("c").due,
            d(4, 13),
            "11 April is a Saturday: on to Monday"
        );
        assert_eq!((get("d").start, get("d").due), (d(4, 20), d(4, 21)));
        let critical: Vec<&str> = plan
            .iter()
            .filter(|p| p.critical)
            .map(|p| p.service.as_str())
            .collect();
        assert_eq!(critical, ["a", "b", "d"]);
    }
}
