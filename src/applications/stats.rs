//! The figures the city reports (`GET /stats`): per service (or life
//! situation) applied for and per department, how many were received,
//! accepted, denied, are in progress and overdue, and the median days to an
//! answer.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{Application, Status, TaskStatus};

/// One row of the statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsRow {
    /// Applications (per service) or tasks (per department) received.
    pub received: usize,
    /// Approved, with or without comments.
    pub accepted: usize,
    /// Rejected.
    pub denied: usize,
    /// Not answered yet (received, in progress or waiting for revision).
    pub in_progress: usize,
    /// Median calendar days from submission (a task: from its start) to the
    /// answer, over those answered; `null` while none is.
    pub median_days: Option<f64>,
    /// Unanswered and past due.
    pub overdue: usize,
}

/// Statistics over a set of applications, on a given day.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// The day `overdue` is counted on.
    pub today: NaiveDate,
    pub total: StatsRow,
    /// Keyed `service:CODE` or `life_situation:CODE`, what was applied for.
    pub by_service: BTreeMap<String, StatsRow>,
    /// Keyed by department code; counts the department's tasks.
    pub by_department: BTreeMap<String, StatsRow>,
}

/// Accumulates one row; `days` collects the answered items' durations.
#[derive(Default)]
struct Acc {
    row: StatsRow,
    days: Vec<i64>,
}

impl Acc {
    fn finish(mut self) -> StatsRow {
        self.days.sort_unstable();
        let n = self.days.len();
        self.row.median_days = match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.days[n / 2] as f64),
            _ => Some((self.days[n / 2 - 1] + self.days[n / 2]) as f64 / 2.0),
        };
        self.row
    }
}

/// The city's date of a moment (the server's local time zone).
fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&chrono::Local).date_naive()
}

/// Statistics of `applications` on `today`.
#[must_use]
pub fn stats(applications: &[Application], today: NaiveDate) -> Stats {
    let mut total = Acc::default();
    let mut by_service: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_department: BTreeMap<String, Acc> = BTreeMap::new();
    for a in applications {
        let key = format!("{}:{}", a.target.kind(), a.target.code());
        for acc in [&mut total, by_service.entry(key).or_default()] {
            acc.row.received += 1;
            match a.status {
                Status::Approved | Status::ApprovedWithComments => acc.row.accepted += 1,
                Status::Rejected => acc.row.denied += 1,
                _ => acc.row.in_progress += 1,
            }
            if a.is_overdue(today) {
                acc.row.overdue += 1;
            }
            if let Some(closed) = a.closed_at {
                acc.days.push((local_date(closed) - a.submitted).num_days());
            }
        }
        for t in &a.tasks {
            let acc = by_department.entry(t.department.clone()).or_default();
            acc.row.received += 1;
            match t.status {
                TaskStatus::Approved | TaskStatus::ApprovedWithComments => acc.row.accepted += 1,
                TaskStatus::Rejected => acc.row.denied += 1,
                TaskStatus::Pending | TaskStatus::RevisionRequired => acc.row.in_progress += 1,
                TaskStatus::Cancelled => {}
            }
            if t.is_overdue(today) && !a.status.is_closed() {
                acc.row.overdue += 1;
            }
            if let (Some(at), false) = (t.decided_at, t.status.is_open()) {
                if t.status != TaskStatus::Cancelled {
                    acc.days.push((local_date(at) - t.start).num_days());
                }
            }
        }
    }
    Stats {
        today,
        total: total.finish(),
        by_service: by_service
            .into_iter()
            .map(|(k, v)| (k, v.finish()))
            .collect(),
        by_department: by_department
            .into_iter()
            .map(|(k, v)| (k, v.finish()))
            .collect(),
    }
}
