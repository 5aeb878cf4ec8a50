//! Catalog revisions and applications in PostGIS (`migrations/postgis/0002_applications.sql`).
//!
//! Every function takes a connection: the caller decides the transaction, so a
//! write and the read-back of what it wrote see one state.

use chrono::{DateTime, NaiveDate, Utc};
use geo_types::Geometry;
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::write_error;
use crate::applications::{
    Application, ApplicationFilter, ApplicationId, DecisionChange, Event, NewApplication, Status,
    Target, Task, TaskNo, TaskStatus,
};
use crate::model::Cadastral;
use crate::store::rows::{self, corrupt, CLOSED, OPEN};
use crate::store::{Result, StoreError, StoredCatalog};

const CATALOG_COLUMNS: &str = "revision, source, text, loaded_at";

/// What `application_from_row` reads, in SQL over `applications a`.
const APPLICATION_COLUMNS: &str = "a.id, a.target_kind, a.target_code, a.status, a.submitted, \
     a.due, a.cadastral, ST_AsBinary(a.geom) AS wkb, a.plot::text AS plot, \
     a.applicant::text AS applicant, a.description, a.catalog_revision, a.route::text AS route, \
     a.revision, a.created_at, a.updated_at, a.closed_at";

/// As [`APPLICATION_COLUMNS`] without the route kept for audit: lists (and the
/// statistics built from them) never show it, and it is the largest column.
const LIST_COLUMNS: &str = "a.id, a.target_kind, a.target_code, a.status, a.submitted, \
     a.due, a.cadastral, ST_AsBinary(a.geom) AS wkb, a.plot::text AS plot, \
     a.applicant::text AS applicant, a.description, a.catalog_revision, 'null' AS route, \
     a.revision, a.created_at, a.updated_at, a.closed_at";

const TASK_COLUMNS: &str = "application_id, task_no, service, department, action, start, due, \
     status, comment, decided_at, reasons::text AS reasons";

pub(super) async fn save_catalog(
    conn: &mut PgConnection,
    source: &str,
    text: &str,
) -> Result<StoredCatalog> {
    // Two saves at once would both read the same max; the lock (which readers
    // do not wait for) makes the second wait for the first's commit.
    sqlx::query("LOCK TABLE catalogs IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("locking the catalogs"))?;
    let row = sqlx::query(&format!(
        "INSERT INTO catalogs (revision, source, text, loaded_at) \
         SELECT coalesce(max(revision), 0) + 1, $1, $2, clock_timestamp() FROM catalogs \
         RETURNING {CATALOG_COLUMNS}"
    ))
    .bind(source)
    .bind(text)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db("saving a catalog"))?;
    catalog_from_row(&row)
}

pub(super) async fn catalog(conn: &mut PgConnection) -> Result<Option<StoredCatalog>> {
    let row = sqlx::query(&format!(
        "SELECT {CATALOG_COLUMNS} FROM catalogs ORDER BY revision DESC LIMIT 1"
    ))
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("reading the catalog"))?;
    row.as_ref().map(catalog_from_row).transpose()
}

fn catalog_from_row(row: &PgRow) -> Result<StoredCatalog> {
    let get = |e| StoreError::db("reading a catalog row")(e);
    Ok(StoredCatalog {
        revision: row.try_get("revision").map_err(get)?,
        source: row.try_get("source").map_err(get)?,
        text: row.try_get("text").map_err(get)?,
        loaded_at: row.try_get("loaded_at").map_err(get)?,
    })
}

/// Inserts the application, its tasks and its first event; returns its id.
pub(super) async fn create(conn: &mut PgConnection, new: &NewApplication) -> Result<ApplicationId> {
    let wkb = Geometry::MultiPolygon(new.geometry.clone())
        .to_wkb(CoordDimensions::xy())
        .map_err(|e| corrupt("geometry of a new application", e))?;
    let id: ApplicationId = sqlx::query_scalar(
        "INSERT INTO applications (target_kind, target_code, status, submitted, due, cadastral, \
         geom, plot, applicant, description, catalog_revision, route, revision, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, ST_GeomFromWKB($7, 4326), $8::jsonb, $9::jsonb, $10, $11, \
         $12::jsonb, 1, $13, $13) RETURNING id",
    )
    .bind(new.target.kind())
    .bind(new.target.code())
    .bind(Status::Received.as_str())
    .bind(new.submitted)
    .bind(new.due)
    .bind(new.cadastral.as_ref().map(|c| c.as_str()))
    .bind(wkb)
    .bind(new.plot.to_string())
    .bind(new.applicant.to_string())
    .bind(&new.description)
    .bind(new.catalog_revision)
    .bind(new.route.to_string())
    .bind(new.created_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(write_error("storing an application"))?;

    let tasks = &new.tasks;
    let numbers: Vec<TaskNo> = (1..).take(tasks.len()).collect();
    let services: Vec<&str> = tasks.iter().map(|t| t.service.as_str()).collect();
    let departments: Vec<&str> = tasks.iter().map(|t| t.department.as_str()).collect();
    let actions: Vec<&str> = tasks.iter().map(|t| rows::action_str(t.action)).collect();
    let starts: Vec<NaiveDate> = tasks.iter().map(|t| t.start).collect();
    let dues: Vec<NaiveDate> = tasks.iter().map(|t| t.due).collect();
    let reasons: Vec<String> = tasks.iter().map(|t| t.reasons.to_string()).collect();
    // One statement for all tasks; an unknown department fails it on the
    // foreign key, which `write_error` names.
    sqlx::query(
        "INSERT INTO application_tasks \
         (application_id, task_no, service, department, action, start, due, status, reasons) \
         SELECT $1, n, s, d, a, st, du, $2, r::jsonb \
         FROM UNNEST($3::int4[], $4::text[], $5::text[], $6::text[], $7::date[], $8::date[], $9::text[]) \
         AS t(n, s, d, a, st, du, r)",
    )
    .bind(id)
    .bind(TaskStatus::Pending.as_str())
    .bind(numbers)
    .bind(services)
    .bind(departments)
    .bind(actions)
    .bind(starts)
    .bind(dues)
    .bind(reasons)
    .execute(&mut *conn)
    .await
    .map_err(write_error("storing an application's tasks"))?;

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
    conn: &mut PgConnection,
    id: ApplicationId,
    first_seq: i32,
    events: &[Event],
) -> Result<()> {
    let seqs: Vec<i32> = (first_seq..).take(events.len()).collect();
    let ats: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
    let statuses: Vec<&str> = events.iter().map(|e| e.status.as_str()).collect();
    let tasks: Vec<Option<TaskNo>> = events.iter().map(|e| e.task).collect();
    let departments: Vec<Option<&str>> = events.iter().map(|e| e.department.as_deref()).collect();
    let decisions: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.decision.map(rows::decision_str))
        .collect();
    let comments: Vec<Option<&str>> = events.iter().map(|e| e.comment.as_deref()).collect();
    sqlx::query(
        "INSERT INTO application_events \
         (application_id, seq, at, status, task_no, department, decision, comment) \
         SELECT $1, s, a, st, t, d, de, c \
         FROM UNNEST($2::int4[], $3::timestamptz[], $4::text[], $5::int4[], $6::text[], $7::text[], $8::text[]) \
         AS e(s, a, st, t, d, de, c)",
    )
    .bind(id)
    .bind(seqs)
    .bind(ats)
    .bind(statuses)
    .bind(tasks)
    .bind(departments)
    .bind(decisions)
    .bind(comments)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("storing an application's history"))?;
    Ok(())
}

/// One application with its tasks and history.
pub(super) async fn load(
    conn: &mut PgConnection,
    id: ApplicationId,
) -> Result<Option<Application>> {
    let row = sqlx::query(&format!(
        "SELECT {APPLICATION_COLUMNS} FROM applications a WHERE a.id = $1"
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
        "SELECT seq, at, status, task_no, department, decision, comment \
         FROM application_events WHERE application_id = $1 ORDER BY seq",
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
    conn: &mut PgConnection,
    filter: &ApplicationFilter,
) -> Result<Vec<Application>> {
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT {LIST_COLUMNS} FROM applications a WHERE true"
    ));
    if let Some(status) = filter.status {
        sql.push(" AND a.status = ").push_bind(status.as_str());
    }
    if let Some(department) = &filter.department {
        sql.push(
            " AND EXISTS (SELECT 1 FROM application_tasks t \
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
    sql.push(" ORDER BY a.id DESC");
    if let Some(limit) = filter.limit {
        sql.push(" LIMIT ").push_bind(limit.max(0));
    }
    sql.push(" OFFSET ").push_bind(filter.offset.max(0));
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

/// `Application::is_overdue(today)` in SQL over `applications a`, parenthesised.
fn push_overdue(sql: &mut QueryBuilder<'_, Postgres>, today: NaiveDate) {
    sql.push(format!(
        "(a.status NOT IN {CLOSED} AND EXISTS (SELECT 1 FROM application_tasks t \
         WHERE t.application_id = a.id AND t.status IN {OPEN} AND t.due < "
    ))
    .push_bind(today)
    .push("))");
}

/// The tasks of these applications in one query, by application and task number.
async fn tasks_of(
    conn: &mut PgConnection,
    ids: &[ApplicationId],
) -> Result<Vec<(ApplicationId, Task)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = sqlx::query(&format!(
        "SELECT {TASK_COLUMNS} FROM application_tasks \
         WHERE application_id = ANY($1) ORDER BY application_id, task_no"
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::db("reading applications' tasks"))?;
    found.iter().map(task_from_row).collect()
}

/// Applies a decision; `UnknownApplication` or `ApplicationChanged` when it
/// cannot. The caller reads the result back and commits.
pub(super) async fn decide(conn: &mut PgConnection, change: &DecisionChange) -> Result<()> {
    let id = change.application;
    // Under READ COMMITTED a concurrent decision's UPDATE makes this one wait
    // for its commit, then re-check the revision on the new row: no lost update.
    let updated = sqlx::query(
        "UPDATE applications SET status = $3, revision = revision + 1, updated_at = $4, closed_at = $5 \
         WHERE id = $1 AND revision = $2",
    )
    .bind(id)
    .bind(change.expected_revision)
    .bind(change.status.as_str())
    .bind(change.at)
    .bind(change.closed_at)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("updating an application"))?;
    if updated.rows_affected() == 0 {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM applications WHERE id = $1)")
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
        "UPDATE application_tasks SET status = $3, comment = $4, decided_at = $5 \
         WHERE application_id = $1 AND task_no = $2",
    )
    .bind(id)
    .bind(change.task)
    .bind(change.task_status.as_str())
    .bind(&change.comment)
    .bind(change.at)
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
    if !change.cancelled.is_empty() {
        sqlx::query(
            "UPDATE application_tasks SET status = $3, decided_at = $4 \
             WHERE application_id = $1 AND task_no = ANY($2)",
        )
        .bind(id)
        .bind(&change.cancelled)
        .bind(TaskStatus::Cancelled.as_str())
        .bind(change.at)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("cancelling tasks"))?;
    }
    if !change.history.is_empty() {
        let last: i32 = sqlx::query_scalar(
            "SELECT coalesce(max(seq), 0) FROM application_events WHERE application_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::db("numbering history entries"))?;
        insert_events(conn, id, last + 1, &change.history).await?;
    }
    Ok(())
}

fn application_from_row(row: &PgRow) -> Result<Application> {
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
    let wkb: Vec<u8> = row.try_get("wkb").map_err(get)?;
    Ok(Application {
        id,
        target,
        status: rows::status(what("status"), &text("status")?)?,
        submitted: row.try_get("submitted").map_err(get)?,
        due: row.try_get("due").map_err(get)?,
        cadastral,
        geometry: rows::plot(id, Wkb(wkb).to_geo().map_err(|e| e.to_string()))?,
        plot: rows::json(what("plot"), &text("plot")?)?,
        applicant: rows::json(what("applicant"), &text("applicant")?)?,
        description: row.try_get("description").map_err(get)?,
        catalog_revision: row.try_get("catalog_revision").map_err(get)?,
        route: rows::json(what("route"), &text("route")?)?,
        revision: row.try_get("revision").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
        updated_at: row.try_get("updated_at").map_err(get)?,
        closed_at: row.try_get("closed_at").map_err(get)?,
        tasks: Vec::new(),
        history: Vec::new(),
    })
}

fn task_from_row(row: &PgRow) -> Result<(ApplicationId, Task)> {
    let get = |e| StoreError::db("reading a task row")(e);
    let id: ApplicationId = row.try_get("application_id").map_err(get)?;
    let no: TaskNo = row.try_get("task_no").map_err(get)?;
    let what = |field: &str| format!("{field} of task {no} of application {id}");
    let text = |column: &str| -> Result<String> { row.try_get(column).map_err(get) };
    Ok((
        id,
        Task {
            id: no,
            service: text("service")?,
            department: text("department")?,
            action: rows::action(what("action"), &text("action")?)?,
            start: row.try_get("start").map_err(get)?,
            due: row.try_get("due").map_err(get)?,
            status: rows::task_status(what("status"), &text("status")?)?,
            comment: row.try_get("comment").map_err(get)?,
            decided_at: row.try_get("decided_at").map_err(get)?,
            reasons: rows::json(what("reasons"), &text("reasons")?)?,
        },
    ))
}

fn event_from_row(id: ApplicationId, row: &PgRow) -> Result<Event> {
    let get = |e| StoreError::db("reading a history row")(e);
    let seq: i32 = row.try_get("seq").map_err(get)?;
    let what = |field: &str| format!("{field} of history entry {seq} of application {id}");
    let status: String = row.try_get("status").map_err(get)?;
    let decision: Option<String> = row.try_get("decision").map_err(get)?;
    Ok(Event {
        at: row.try_get("at").map_err(get)?,
        status: rows::status(what("status"), &status)?,
        task: row.try_get("task_no").map_err(get)?,
        department: row.try_get("department").map_err(get)?,
        decision: decision
            .map(|d| rows::decision(what("decision"), &d))
            .transpose()?,
        comment: row.try_get("comment").map_err(get)?,
    })
}
