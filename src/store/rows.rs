//! Application values as both backends store them, and back: the spelling of
//! statuses, actions and decisions in the SQL CHECK constraints, and the
//! `Corrupt` error for a stored value imgis cannot read back.
//!
//! The strings here must stay equal to the CHECK constraints of
//! `migrations/postgis/0002_applications.sql` and `migrations/gpkg/0003_applications.sql`.

use std::collections::HashMap;

use geo_types::{Geometry, MultiPolygon};
use serde_json::Value;

use super::{Result, StoreError};
use crate::applications::{Application, ApplicationId, Decision, Status, Task, TaskStatus};
use crate::catalog::Action;

/// The statuses that close an application, as an SQL list: `Status::is_closed`.
pub(crate) const CLOSED: &str = "('approved', 'approved_with_comments', 'rejected')";

/// The task statuses a department may still decide on, as an SQL list: `TaskStatus::is_open`.
pub(crate) const OPEN: &str = "('pending', 'revision_required')";

/// `StoreError::Corrupt` for the stored `what`.
pub(crate) fn corrupt(what: impl Into<String>, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what: what.into(),
        reason: reason.to_string(),
    }
}

pub(crate) fn status(what: impl Into<String>, s: &str) -> Result<Status> {
    s.parse().map_err(|e| corrupt(what, e))
}

pub(crate) fn task_status(what: impl Into<String>, s: &str) -> Result<TaskStatus> {
    s.parse().map_err(|e| corrupt(what, e))
}

/// Spelled as `Action` serializes, so the stored value reads like the catalog.
pub(crate) fn action_str(a: Action) -> &'static str {
    match a {
        Action::Consult => "consult",
        Action::Approve => "approve",
        Action::Block => "block",
    }
}

pub(crate) fn action(what: impl Into<String>, s: &str) -> Result<Action> {
    match s {
        "consult" => Ok(Action::Consult),
        "approve" => Ok(Action::Approve),
        "block" => Ok(Action::Block),
        _ => Err(corrupt(what, format!("unknown action '{}'", clip(s)))),
    }
}

/// A decision is stored as the task status it gives, so history and tasks
/// share one vocabulary.
pub(crate) fn decision_str(d: Decision) -> &'static str {
    TaskStatus::from(d).as_str()
}

pub(crate) fn decision(what: impl Into<String>, s: &str) -> Result<Decision> {
    let what = what.into();
    match task_status(what.clone(), s)? {
        TaskStatus::Approved => Ok(Decision::Approved),
        TaskStatus::ApprovedWithComments => Ok(Decision::ApprovedWithComments),
        TaskStatus::RevisionRequired => Ok(Decision::RevisionRequired),
        TaskStatus::Rejected => Ok(Decision::Rejected),
        other => Err(corrupt(what, format!("'{other}' is not a decision"))),
    }
}

pub(crate) fn json(what: impl Into<String>, s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| corrupt(what, format!("not JSON: {e}")))
}

/// The plot of an application: a MultiPolygon, EPSG:4326 lon/lat degrees.
pub(crate) fn plot(
    id: ApplicationId,
    g: Result<Geometry<f64>, String>,
) -> Result<MultiPolygon<f64>> {
    let what = || format!("geometry of application {id}");
    match g.map_err(|e| corrupt(what(), e))? {
        Geometry::MultiPolygon(mp) => Ok(mp),
        other => Err(corrupt(
            what(),
            format!("a {}, not a MULTIPOLYGON", super::geometry_name(&other)),
        )),
    }
}

/// Hands each application its tasks; `tasks` are `(application id, task)`,
/// each application's already in task order.
pub(crate) fn attach_tasks(applications: &mut [Application], tasks: Vec<(ApplicationId, Task)>) {
    let mut by_id: HashMap<ApplicationId, Vec<Task>> = HashMap::new();
    for (id, task) in tasks {
        by_id.entry(id).or_default().push(task);
    }
    for a in applications {
        a.tasks = by_id.remove(&a.id).unwrap_or_default();
    }
}

/// A stored value in an error message, cut so a corrupt megabyte is not echoed.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for a in [Action::Consult, Action::Approve, Action::Block] {
            assert_eq!(action("a", action_str(a)).unwrap(), a);
            assert_eq!(action_str(a), a.to_string());
        }
        for d in [
            Decision::Approved,
            Decision::ApprovedWithComments,
            Decision::RevisionRequired,
            Decision::Rejected,
        ] {
            assert_eq!(decision("d", decision_str(d)).unwrap(), d);
        }
    }

    #[test]
    fn sql_lists_match_the_domain() {
        let sql = |names: Vec<&str>| format!("('{}')", names.join("', '"));
        let closed = Status::ALL.into_iter().filter(|s| s.is_closed());
        assert_eq!(CLOSED, sql(closed.map(Status::as_str).collect()));
        let open = [
            TaskStatus::Pending,
            TaskStatus::Approved,
            TaskStatus::ApprovedWithComments,
            TaskStatus::RevisionRequired,
            TaskStatus::Rejected,
            TaskStatus::Cancelled,
        ]
        .into_iter()
        .filter(|t| t.is_open());
        assert_eq!(OPEN, sql(open.map(TaskStatus::as_str).collect()));
    }

    #[test]
    fn unreadable_values_are_corrupt() {
        assert!(matches!(
            action("x", "veto"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decision("x", "pending"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            status("x", "lost"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(json("x", "{"), Err(StoreError::Corrupt { .. })));
        let point: Geometry<f64> = geo_types::point!(x: 49.1, y: 55.8).into();
        match plot(7, Ok(point)) {
            Err(StoreError::Corrupt { what, reason }) => {
                assert_eq!(what, "geometry of application 7");
                assert!(reason.contains("POINT"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}
