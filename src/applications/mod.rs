//! Applications: what the intake registers for one service or life situation
//! at one plot, the approval tasks routing gave each department, their
//! decisions, and the application's status combined "most severe wins".
//!
//! Everything here is pure: the store keeps applications (`src/store/`), the
//! API registers them (`src/api/applications.rs`); the rules of how a decision
//! changes an application live here so both backends share them.
//!
//! Dates are calendar dates of the city (the server's local time zone);
//! timestamps are UTC.

mod stats;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use geo_types::MultiPolygon;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use stats::{stats, Stats, StatsRow};

use crate::catalog::Action;
use crate::model::Cadastral;

/// The store's id of an application.
pub type ApplicationId = i64;

/// The number of a task within its application, from 1 in routing order.
pub type TaskNo = i32;

#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    #[error("application {0} has no task {1}")]
    UnknownTask(ApplicationId, TaskNo),
    #[error(
        "task {task} of application {application} is closed ({status}); it takes no more decisions"
    )]
    TaskClosed {
        application: ApplicationId,
        task: TaskNo,
        status: TaskStatus,
    },
    #[error("application {application} is closed ({status}); its tasks take no more decisions")]
    ApplicationClosed {
        application: ApplicationId,
        status: Status,
    },
    #[error("a decision '{0}' needs a comment saying why (or what must change)")]
    CommentRequired(Decision),
}

/// What an application is for: one service, or a life situation (a bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "code", rename_all = "snake_case")]
pub enum Target {
    Service(String),
    LifeSituation(String),
}

impl Target {
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Service(_) => "service",
            Self::LifeSituation(_) => "life_situation",
        }
    }

    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            Self::Service(c) | Self::LifeSituation(c) => c,
        }
    }

    /// From the stored kind and code; `None` for an unknown kind.
    #[must_use]
    pub fn from_parts(kind: &str, code: String) -> Option<Self> {
        match kind {
            "service" => Some(Self::Service(code)),
            "life_situation" => Some(Self::LifeSituation(code)),
            _ => None,
        }
    }
}

/// A department's decision on its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    ApprovedWithComments,
    RevisionRequired,
    Rejected,
}

impl Decision {
    /// Every decision but a plain approval must say why.
    #[must_use]
    pub fn needs_comment(self) -> bool {
        !matches!(self, Self::Approved)
    }
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for the department.
    Pending,
    Approved,
    ApprovedWithComments,
    /// The department waits for the applicant to revise; it decides again after.
    RevisionRequired,
    Rejected,
    /// The application closed before the department decided (a consultation
    /// nobody waited for, or a task left when another department rejected).
    Cancelled,
}

impl TaskStatus {
    /// Whether the department may still decide.
    #[must_use]
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::RevisionRequired)
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::ApprovedWithComments => "approved_with_comments",
            Self::RevisionRequired => "revision_required",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }
}

impl From<Decision> for TaskStatus {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Approved => Self::Approved,
            Decision::ApprovedWithComments => Self::ApprovedWithComments,
            Decision::RevisionRequired => Self::RevisionRequired,
            Decision::Rejected => Self::Rejected,
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Self::Pending,
            Self::Approved,
            Self::ApprovedWithComments,
            Self::RevisionRequired,
            Self::Rejected,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| format!("unknown task status '{s}'"))
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TaskStatus::from(*self).as_str())
    }
}

/// Where an application stands, combined from its tasks "most severe wins":
/// rejected > revision required > approved with comments > approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Registered; no department has decided yet.
    Received,
    /// Some departments have decided, none asked for revision or rejected.
    InProgress,
    /// A department waits for the applicant to revise.
    RevisionRequired,
    /// Every approval given, none with comments. Closed.
    Approved,
    /// Every approval given, some with comments. Closed.
    ApprovedWithComments,
    /// A department rejected. Closed.
    Rejected,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Self::Received,
        Self::InProgress,
        Self::RevisionRequired,
        Self::Approved,
        Self::ApprovedWithComments,
        Self::Rejected,
    ];

    /// Whether the application has its final answer.
    #[must_use]
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Self::Approved | Self::ApprovedWithComments | Self::Rejected
        )
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::InProgress => "in_progress",
            Self::RevisionRequired => "revision_required",
            Self::Approved => "approved",
            Self::ApprovedWithComments => "approved_with_comments",
            Self::Rejected => "rejected",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown status '{}'; one of: {}",
                    s.chars().take(40).collect::<String>(),
                    Self::ALL.map(Status::as_str).join(", ")
                )
            })
    }
}

/// A task routing gives a department, before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewTask {
    /// Code of the service the task belongs to.
    pub service: String,
    /// Code of the department that acts.
    pub department: String,
    pub action: Action,
    /// When the department's clock starts (the step's start).
    pub start: NaiveDate,
    /// When the department must have decided (the step's due date).
    pub due: NaiveDate,
    /// Why the task exists: routing's reasons (rules, zones, overlaps) as JSON.
    pub reasons: Value,
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: TaskNo,
    pub service: String,
    pub department: String,
    pub action: Action,
    pub start: NaiveDate,
    pub due: NaiveDate,
    pub status: TaskStatus,
    /// The department's comment with its last decision.
    pub comment: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reasons: Value,
}

impl Task {
    /// Open and past its due date on `today`.
    #[must_use]
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        self.status.is_open() && self.due < today
    }
}

/// One entry of an application's history: its status after the change, and
/// the decision that made it (none for registration).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// The application's status after this event.
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskNo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An application as the intake registers it, routed and ready to store.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub target: Target,
    pub submitted: NaiveDate,
    /// The whole application's due date: the critical path's end.
    pub due: NaiveDate,
    /// The stored parcel applied for; none for an applicant-drawn area.
    pub cadastral: Option<Cadastral>,
    /// The plot, EPSG:4326 lon/lat degrees.
    pub geometry: MultiPolygon<f64>,
    /// The plot as routing described it (area m² in the metric CRS, bbox, parcel).
    pub plot: Value,
    /// Who applies: personal data, never public, never logged.
    pub applicant: Value,
    pub description: Option<String>,
    /// The catalog revision the application was routed by.
    pub catalog_revision: i64,
    /// Routing's whole answer at registration (steps, approvals, layer
    /// versions): what the decision was based on, kept for audit.
    pub route: Value,
    pub tasks: Vec<NewTask>,
    pub created_at: DateTime<Utc>,
}

/// A stored application, with its tasks and (when asked for one) its history.
#[derive(Debug, Clone, Serialize)]
pub struct Application {
    pub id: ApplicationId,
    pub target: Target,
    pub status: Status,
    pub submitted: NaiveDate,
    pub due: NaiveDate,
    pub cadastral: Option<Cadastral>,
    #[serde(skip)]
    pub geometry: MultiPolygon<f64>,
    pub plot: Value,
    pub applicant: Value,
    pub description: Option<String>,
    pub catalog_revision: i64,
    #[serde(skip)]
    pub route: Value,
    /// Goes up by one with every change: a decision is stored only on the
    /// revision it was made from, so two departments deciding at once cannot
    /// lose each other's decision.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub tasks: Vec<Task>,
    /// Oldest first; empty in lists.
    pub history: Vec<Event>,
}

impl Application {
    /// Not closed, with an open task past its due date on `today`.
    #[must_use]
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        !self.status.is_closed() && self.tasks.iter().any(|t| t.is_overdue(today))
    }

    /// A department's decision on task `task`, as the change to store: the
    /// task's new status, the tasks the closing of the application cancels,
    /// the application's new status and the history entries to add.
    ///
    /// # Errors
    /// An unknown task, a closed task or application, a decision that needs a
    /// comment without one.
    pub fn decide(
        &self,
        task: TaskNo,
        decision: Decision,
        comment: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<DecisionChange, ApplicationError> {
        let comment = comment
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        let index = self
            .tasks
            .iter()
            .position(|t| t.id == task)
            .ok_or(ApplicationError::UnknownTask(self.id, task))?;
        if self.status.is_closed() {
            return Err(ApplicationError::ApplicationClosed {
                application: self.id,
                status: self.status,
            });
        }
        let current = &self.tasks[index];
        if !current.status.is_open() {
            return Err(ApplicationError::TaskClosed {
                application: self.id,
                task,
                status: current.status,
            });
        }
        if decision.needs_comment() && comment.is_none() {
            return Err(ApplicationError::CommentRequired(decision));
        }
        let mut tasks: Vec<(Action, TaskStatus)> =
            self.tasks.iter().map(|t| (t.action, t.status)).collect();
        tasks[index].1 = decision.into();
        let status = combine(&tasks);
        let mut history = vec![Event {
            at,
            status,
            task: Some(task),
            department: Some(current.department.clone()),
            decision: Some(decision),
            comment: comment.clone(),
        }];
        let cancelled: Vec<TaskNo> = if status.is_closed() {
            self.tasks
                .iter()
                .zip(&tasks)
                .filter(|(_, (_, s))| s.is_open())
                .map(|(t, _)| t.id)
                .collect()
        } else {
            Vec::new()
        };
        for &t in &cancelled {
            let department = self
                .tasks
                .iter()
                .find(|x| x.id == t)
                .map(|x| x.department.clone());
            history.push(Event {
                at,
                status,
                task: Some(t),
                department,
                decision: None,
                comment: Some("cancelled: the application is closed".into()),
            });
        }
        Ok(DecisionChange {
            application: self.id,
            expected_revision: self.revision,
            task,
            task_status: decision.into(),
            comment,
            at,
            cancelled,
            status,
            closed_at: status.is_closed().then_some(at),
            history,
        })
    }
}

/// The application's status from its tasks' (action, status), "most severe
/// wins". Tasks to approve (or block) decide it; a consultation's answer is
/// heard but does not hold the application up, so a consulted department's
/// objection makes at most "approved with comments".
#[must_use]
pub fn combine(tasks: &[(Action, TaskStatus)]) -> Status {
    use TaskStatus as T;
    let binding = || tasks.iter().filter(|(a, _)| *a != Action::Consult);
    if binding().any(|(_, s)| *s == T::Rejected) {
        return Status::Rejected;
    }
    if binding().any(|(_, s)| *s == T::RevisionRequired) {
        return Status::RevisionRequired;
    }
    let all_given = binding().all(|(_, s)| matches!(s, T::Approved | T::ApprovedWithComments));
    if all_given && binding().next().is_some() {
        let comments = tasks.iter().any(|(a, s)| {
            matches!(s, T::ApprovedWithComments)
                || (*a == Action::Consult && matches!(s, T::RevisionRequired | T::Rejected))
        });
        return if comments {
            Status::ApprovedWithComments
        } else {
            Status::Approved
        };
    }
    if tasks.iter().any(|(_, s)| *s != T::Pending) {
        Status::InProgress
    } else {
        Status::Received
    }
}

/// A decision as the store applies it, in one transaction, only if the
/// application is still at `expected_revision`.
#[derive(Debug, Clone)]
pub struct DecisionChange {
    pub application: ApplicationId,
    pub expected_revision: i64,
    pub task: TaskNo,
    pub task_status: TaskStatus,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
    /// Open tasks that the application's closing cancels.
    pub cancelled: Vec<TaskNo>,
    /// The application's new status.
    pub status: Status,
    pub closed_at: Option<DateTime<Utc>>,
    /// History entries to append, in order.
    pub history: Vec<Event>,
}

/// Which applications a list asks for; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    pub status: Option<Status>,
    /// Applications with a task for this department.
    pub department: Option<String>,
    /// `Some(today)`: only applications overdue on that date.
    pub overdue_on: Option<NaiveDate>,
    /// `Some(today)`: only applications not overdue on that date.
    pub not_overdue_on: Option<NaiveDate>,
    /// Most applications returned (newest first); none: all.
    pub limit: Option<i64>,
    pub offset: i64,
}

#[cfg(test)]
mod tests;
