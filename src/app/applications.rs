//! Applications through the app: the store keeps them, the domain decides how
//! a decision changes one (`crate::applications`), and this retries a
//! decision that lost a race with another department's.

use chrono::{NaiveDate, Utc};

use super::{App, AppError};
use crate::applications::{
    self, Application, ApplicationFilter, ApplicationId, Decision, NewApplication, Stats, TaskNo,
};
use crate::store::StoreError;

/// Attempts at storing a decision when other decisions on the same
/// application keep landing first; each attempt re-reads the application.
const DECISION_ATTEMPTS: usize = 5;

impl App {
    /// The city's date today (the server's local time zone): deadlines and
    /// overdue counts are in days.
    pub fn today(&self) -> NaiveDate {
        chrono::Local::now().date_naive()
    }

    /// Stores a routed application (one transaction).
    pub async fn register_application(
        &self,
        new: &NewApplication,
    ) -> Result<Application, AppError> {
        Ok(self.store.create_application(new).await?)
    }

    pub async fn application(&self, id: ApplicationId) -> Result<Application, AppError> {
        self.store
            .application(id)
            .await?
            .ok_or(AppError::Store(StoreError::UnknownApplication(id)))
    }

    pub async fn applications(
        &self,
        filter: &ApplicationFilter,
    ) -> Result<Vec<Application>, AppError> {
        Ok(self.store.applications(filter).await?)
    }

    /// A department's decision on a task: checked against the application as
    /// stored, then stored only if nobody changed the application meanwhile
    /// (else read again and decided again, a few times).
    pub async fn decide(
        &self,
        id: ApplicationId,
        task: TaskNo,
        decision: Decision,
        comment: Option<String>,
    ) -> Result<Application, AppError> {
        let mut last = None;
        for _ in 0..DECISION_ATTEMPTS {
            let current = self.application(id).await?;
            let change = current.decide(task, decision, comment.clone(), Utc::now())?;
            match self.store.record_decision(&change).await {
                Ok(a) => return Ok(a),
                Err(e @ StoreError::ApplicationChanged(_)) => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.unwrap_or(StoreError::ApplicationChanged(id)).into())
    }

    /// The city's statistics of every application, today.
    pub async fn stats(&self) -> Result<Stats, AppError> {
        let all = self
            .store
            .applications(&ApplicationFilter::default())
            .await?;
        Ok(applications::stats(&all, self.today()))
    }
}
