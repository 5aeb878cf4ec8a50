//! Catalog revisions and applications in the GeoPackage
//! (`migrations/gpkg/0003_applications.sql`): plain attribute tables beside the
//! layers, the plot a GeoPackage geometry blob (EPSG:4326, lon/lat degrees).
//!
//! Every function takes the connection of a transaction the caller opened
//! (`BEGIN IMMEDIATE` for writes), so a write and the read-back of what it
//! wrote see one state.

use chrono::{DateTime, NaiveDate, Utc};
use geo_types::Geometry;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::geometry;
use super::layers::{self, timestamp};
use crate::applications::{
    Application, ApplicationFilter, ApplicationId, DecisionChange, Event, NewApplication, Status,
    Target, Task, TaskNo, TaskStatus,
};
use crate::model::Cadastral;
use crate::store::rows::{self, corrupt, CLOSED, OPEN};
use crate::store::{Result, StoreError, StoredCatalog};

/// What `application_from_row` reads, in SQL over `imgis_applications a`.
const APPLICATION_COLUMNS: &str = "a.id, a.target_kind, a.target_code, a.status, a.submitted, \
     a.due, a.cadastral, a.geom, a.plot, a.applicant, a.description, a.catalog_revision, \
     a.route, a.revision, a.created_at, a.updated_at, a.closed_at";

/// As [`APPLICATION_COLUMNS`] without the route kept for audit: lists (and the
/// statistics built from them) never show it, and it is the largest column.
const LIST_COLUMNS: &str = "a.id, a.target_kind, a.target_code, a.status, a.submitted, \
     a.due, a.cadastral, a.geom, a.plot, a.applicant, a.description, a.catalog_revision, \
     'null' AS route, a.revision, a.created_at, a.updated_at, a.closed_at";

const TASK_COLUMNS: &str = "application_id, task_no, service, department, action, start, due, \
     status, comment, decided_at, reasons";

/// How dates are stored: ISO 8601, so text order is date order.
fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn parse_date(what: impl Into<String>, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| corrupt(what, format!("'{s}': {e}")))
}

fn parse_timestamp(what: impl Into<String>, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(what, format!("'{s}': {e}")))
}

/// Under the caller's write lock, so the next revision is free.
pub(super) async fn save_catalog(
    conn: &mut SqliteConnection,
    source: &str,
    text: &str,
) -> Result<StoredCatalog> {
    let loaded_at = layers::next_updated_at(None);
    let revision: i64 = sqlx::query_scalar(
        "INSERT INTO imgis_catalogs (revision, source, text, loaded_at)
         SELECT coalesce(max(revision), 0) + 1, ?, ?, ? FROM imgis_catalogs
         RETURNING revision",
    )
    .bind(source)
    .bind(text)
    .bind(timestamp(loaded_at))
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db("saving a catalog"))?;
    Ok(StoredCatalog {
        revision,
        source: source.to_owned(),
        text: text.to_owned(),
        loaded_at,
    })
}

pub(super) async fn catalog(conn: &mut SqliteConnection) -> Result<Option<StoredCatalog>> {
    let row: Option<(i64, String, String, String)> = sqlx::query_as(
        "SELECT revision, source, text, loaded_at FROM imgis_catalogs
         ORDER BY revision DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("reading the catalog"))?;
    row.map(|(revision, source, text, loaded_at)| {
        Ok(StoredCatalog {
            loaded_at: parse_timestamp(format!("load time of catalog {revision}"), &loaded_at)?,
            revision,
            source,
            text,
        })
    })
    .transpose()
}

/// Inserts the application, its tasks and its first event; returns its id.
pub(super) async fn create(
    conn: &mut SqliteConnection,
    new: &NewApplication,
) -> Result<ApplicationId> {
    // SQLite's foreign key error does not say which key failed; asking first
    // names the department (the first unknown one in task order).
    for task in &new.tasks {
        if !layers::department_exists(conn, &task.department).await? {
            return Err(StoreError::UnknownDepartment(task.department.clone()));
        }
    }
    let created_at = timestamp(new.created_at);
    let geom = geometry::encode_any(&Geometry::MultiPolygon(new.geometry.clone()));
    let inserted = sqlx::query(
        "INSERT INTO imgis_applications (target_kind, target_code, status, submitted, due,
             cadastral, geom, plot, applicant, description, catalog_revision, route, revision,
             created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
    )
    .bind(new.target.kind())
    .bind(new.target.code())
    .bind(Status::Received.as_str())
    .bind(date(new.submitted))
    .bind(date(new.due))
    .bind(new.cadastral.as_ref().map(Cadastral::as_str))
    .bind(geom)
    .bind(new.plot.to_string())
    .bind(new.applicant.to_string())
    .bind(&new.description)
    .bind(new.catalog_revision)
    .bind(new.route.to_string())
    .bind(&created_at)
    .bind(&created_at)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("storing an application"))?;
    let id = inserted.last_insert_rowid();

    // A handful of tasks per application, and SQLite runs in process: one
    // statement per task costs no network round trip.
    for (no, task) in (1..).zip(&new.tasks) {
        let no: TaskNo = no;
        sqlx::query(
            "INSERT INTO imgis_application_tasks
                 (application_id, task_no, service, department, action, start, due, status, reasons)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(no)
        .bind(&task.service)
        .bind(&task.department)
        .bind(rows::action_str(task.action))
        .bind(date(task.start))
        .bind(date(task.due))
        .bind(TaskStatus::Pending.as_str())
        .bind(task.reasons.to_string())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("storing an application's task"))?;
    }
    let received = Event {
        at: new.created_at,
        status: Status::Received,
        task: None,
        department: None,
        decision: None,
        comment: None,
    };
    insert_events(conn, id, 1, std::slice::from_ref(&received)).await?;
    Ok(id)
}

/// Appends `events` numbered from `first_seq`.
async fn insert_events(
    conn: &mut SqliteConnection,
    id: ApplicationId,
    first_seq: i32,
    events: &[Event],
) -> Result<()> {
    for (seq, e) in (first_seq..).zip(events) {
        sqlx::query(
            "INSERT INTO imgis_application_events
                 (application_id, seq, at, status, task_no, department, decision, comment)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(seq)
        .bind(timestamp(e.at))
        .bind(e.status.as_str())
        .bind(e.task)
        .bind(e.department.as_deref())
        .bind(e.decision.map(rows::decision_str))
        .bind(e.comment.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("storing an application's history"))?;
    }
    Ok(())
}

/// One application with its tasks and history.
pub(super) async fn load(
    conn: &mut SqliteConnection,
    id: ApplicationId,
) -> Result<Option<Application>> {
    let row = sqlx::query(&format!(
        "SELECT {APPLICATION_COLUMNS} FROM imgis_applications a WHERE a.id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("reading an application"))?;
    let Some(row) = row else { return Ok(None) };
    let mut application = application_from_row(&row)?;
    rows::attach_tasks(
        std::slice::from_mut(&mut application),
        tasks_of(conn, &[id]).await?,
    );
    let events = sqlx::query(
        "SELECT seq, at, status, task_no, department, decision, comment
         FROM imgis_application_events WHERE application_id = ? ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::db("reading an application's history"))?;
    application.history = events
        .iter()
        .map(|r| event_from_row(id, r))
        .collect::<Result<_>>()?;
    Ok(Some(application))
}

/// The applications `filter` asks for, newest first, with tasks, without history.
pub(super) async fn list(
    conn: &mut SqliteConnection,
    filter: &ApplicationFilter,
) -> Result<Vec<Application>> {
    let mut sql = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {LIST_COLUMNS} FROM imgis_applications a WHERE 1"
    ));
    if let Some(status) = filter.status {
        sql.push(" AND a.status = ").push_bind(status.as_str());
    }
    if let Some(department) = &filter.department {
        sql.push(
            " AND EXISTS (SELECT 1 FROM imgis_application_tasks t \
             WHERE t.application_id = a.id AND t.department = ",
        )
        .push_bind(department.clone())
        .push(")");
    }
    if let Some(today) = filter.overdue_on {
        sql.push(" AND ");
        push_overdue(&mut sql, today);
    }
    if let Some(today) = filter.not_overdue_on {
        sql.push(" AND NOT ");
        push_overdue(&mut sql, today);
    }
    // SQLite takes OFFSET only after a LIMIT; a negative LIMIT means none.
    sql.push(" ORDER BY a.id DESC LIMIT ")
        .push_bind(filter.limit.map_or(-1, |l| l.max(0)))
        .push(" OFFSET ")
        .push_bind(filter.offset.max(0));
    let found = sql
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::db("listing applications"))?;
    let mut applications = found
        .iter()
        .map(application_from_row)
        .collect::<Result<Vec<_>>>()?;
    let ids: Vec<ApplicationId> = applications.iter().map(|a| a.id).collect();
    rows::attach_tasks(&mut applications, tasks_of(conn, &ids).await?);
    Ok(applications)
}

/// `Application::is_overdue(today)` in SQL over `imgis_applications a`, parenthesised.
fn push_overdue(sql: &mut QueryBuilder<'_, Sqlite>, today: NaiveDate) {
    sql.push(format!(
        "(a.status NOT IN {CLOSED} AND EXISTS (SELECT 1 FROM imgis_application_tasks t \
         WHERE t.application_id = a.id AND t.status IN {OPEN} AND t.due < "
    ))
    .push_bind(date(today))
    .push("))");
}

/// The tasks of these applications in one query, by application and task number.
async fn tasks_of(
    conn: &mut SqliteConnection,
    ids: &[ApplicationId],
) -> Result<Vec<(ApplicationId, Task)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The ids as one JSON array parameter: a list of any length stays one
    // statement, far from SQLite's limit on parameters.
    let ids = serde_json::to_string(ids).expect("integers serialize to JSON");
    let found = sqlx::query(&format!(
        "SELECT {TASK_COLUMNS} FROM imgis_application_tasks
         WHERE application_id IN (SELECT value FROM json_each(?))
         ORDER BY application_id, task_no"
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::db("reading applications' tasks"))?;
    found.iter().map(task_from_row).collect()
}

/// Applies a decision; `UnknownApplication` or `ApplicationChanged` when it
/// cannot. The caller holds the write lock, reads the result back and commits.
pub(super) async fn decide(conn: &mut SqliteConnection, change: &DecisionChange) -> Result<()> {
    let id = change.application;
    let at = timestamp(change.at);
    let updated = sqlx::query(
        "UPDATE imgis_applications
         SET status = ?, revision = revision + 1, updated_at = ?, closed_at = ?
         WHERE id = ? AND revision = ?",
    )
    .bind(change.status.as_str())
    .bind(&at)
    .bind(change.closed_at.map(timestamp))
    .bind(id)
    .bind(change.expected_revision)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("updating an application"))?;
    if updated.rows_affected() == 0 {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM imgis_applications WHERE id = ?)")
                .bind(id)
                .fetch_one(&mut *conn)
                .await
                .map_err(StoreError::db("looking up an application"))?;
        return Err(if exists {
            StoreError::ApplicationChanged(id)
        } else {
            StoreError::UnknownApplication(id)
        });
    }
    let task = sqlx::query(
        "UPDATE imgis_application_tasks SET status = ?, comment = ?, decided_at = ?
         WHERE application_id = ? AND task_no = ?",
    )
    .bind(change.task_status.as_str())
    .bind(&change.comment)
    .bind(&at)
    .bind(id)
    .bind(change.task)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("recording a task's decision"))?;
    if task.rows_affected() == 0 {
        // `Application::decide` only names tasks it read, and tasks are never
        // deleted, so the change was not made from this application.
        return Err(corrupt(
            format!("decision on application {id}"),
            format!("the application has no task {}", change.task),
        ));
    }
    for &no in &change.cancelled {
        sqlx::query(
            "UPDATE imgis_application_tasks SET status = ?, decided_at = ?
             WHERE application_id = ? AND task_no = ?",
        )
        .bind(TaskStatus::Cancelled.as_str())
        .bind(&at)
        .bind(id)
        .bind(no)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("cancelling a task"))?;
    }
    if !change.history.is_empty() {
        let last: i32 = sqlx::query_scalar(
            "SELECT coalesce(max(seq), 0) FROM imgis_application_events WHERE application_id = ?",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::db("numbering history entries"))?;
        insert_events(conn, id, last + 1, &change.history).await?;
    }
    Ok(())
}

fn application_from_row(row: &SqliteRow) -> Result<Application> {
    let get = |e| StoreError::db("reading an application row")(e);
    let id: ApplicationId = row.try_get("id").map_err(get)?;
    let what = |field: &str| format!("{field} of application {id}");
    let text = |column: &str| -> Result<String> { row.try_get(column).map_err(get) };
    let kind = text("target_kind")?;
    let target = Target::from_parts(&kind, text("target_code")?)
        .ok_or_else(|| corrupt(what("target"), format!("unknown kind '{kind}'")))?;
    let cadastral = row
        .try_get::<Option<String>, _>("cadastral")
        .map_err(get)?
        .map(|c| c.parse::<Cadastral>())
        .transpose()
        .map_err(|e| corrupt(what("cadastral number"), e))?;
    let geom: Vec<u8> = row.try_get("geom").map_err(get)?;
    let closed_at: Option<String> = row.try_get("closed_at").map_err(get)?;
    Ok(Application {
        id,
        target,
        status: rows::status(what("status"), &text("status")?)?,
        submitted: parse_date(what("submission date"), &text("submitted")?)?,
        due: parse_date(what("due date"), &text("due")?)?,
        cadastral,
        geometry: rows::plot(id, geometry::decode(&geom))?,
        plot: rows::json(what("plot"), &text("plot")?)?,
        applicant: rows::json(what("applicant"), &text("applicant")?)?,
        description: row.try_get("description").map_err(get)?,
        catalog_revision: row.try_get("catalog_revision").map_err(get)?,
        route: rows::json(what("route"), &text("route")?)?,
        revision: row.try_get("revision").map_err(get)?,
        created_at: parse_timestamp(what("creation time"), &text("created_at")?)?,
        updated_at: parse_timestamp(what("update time"), &text("updated_at")?)?,
        closed_at: closed_at
            .map(|t| parse_timestamp(what("closing time"), &t))
            .transpose()?,
        tasks: Vec::new(),
        history: Vec::new(),
    })
}

fn task_from_row(row: &SqliteRow) -> Result<(ApplicationId, Task)> {
    let get = |e| StoreError::db("reading a task row")(e);
    let id: ApplicationId = row.try_get("application_id").map_err(get)?;
    let no: TaskNo = row.try_get("task_no").map_err(get)?;
    let what = |field: &str| format!("{field} of task {no} of application {id}");
    let text = |column: &str| -> Result<String> { row.try_get(column).map_err(get) };
    let decided_at: Option<String> = row.try_get("decided_at").map_err(get)?;
    Ok((
        id,
        Task {
            id: no,
            service: text("service")?,
            department: text("department")?,
            action: rows::action(what("action"), &text("action")?)?,
            start: parse_date(what("start date"), &text("start")?)?,
            due: parse_date(what("due date"), &text("due")?)?,
            status: rows::task_status(what("status"), &text("status")?)?,
            comment: row.try_get("comment").map_err(get)?,
            decided_at: decided_at
                .map(|t| parse_timestamp(what("decision time"), &t))
                .transpose()?,
            reasons: rows::json(what("reasons"), &text("reasons")?)?,
        },
    ))
}

fn event_from_row(id: ApplicationId, row: &SqliteRow) -> Result<Event> {
    let get = |e| StoreError::db("reading a history row")(e);
    let seq: i32 = row.try_get("seq").map_err(get)?;
    let what = |field: &str| format!("{field} of history entry {seq} of application {id}");
    let at: String = row.try_get("at").map_err(get)?;
    let status: String = row.try_get("status").map_err(get)?;
    let decision: Option<String> = row.try_get("decision").map_err(get)?;
    Ok(Event {
        at: parse_timestamp(what("time"), &at)?,
        status: rows::status(what("status"), &status)?,
        task: row.try_get("task_no").map_err(get)?,
        department: row.try_get("department").map_err(get)?,
        decision: decision
            .map(|d| rows::decision(what("decision"), &d))
            .transpose()?,
        comment: row.try_get("comment").map_err(get)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_sort_as_text() {
        let a = NaiveDate::from_ymd_opt(2024, 9, 30).unwrap();
        let b = NaiveDate::from_ymd_opt(2024, 10, 1).unwrap();
        assert!(date(a) < date(b));
        assert_eq!(date(b), "2024-10-01");
        assert_eq!(parse_date("d", &date(b)).unwrap(), b);
        assert!(matches!(
            parse_date("d", "01.10.2024"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            parse_timestamp("t", "yesterday"),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
