//! Applications, their decisions, the city's statistics and the catalog:
//! - `POST /applications`: route and register an application (201, `Location`);
//! - `GET /applications/{id}`: with tasks, due dates, overdue flags and history;
//! - `GET /applications?status=&department=&overdue=&limit=&offset=`;
//! - `POST /applications/{id}/tasks/{task}/decision`;
//! - `GET /stats`: per service and department;
//! - `GET /catalog`: the catalog in use and its revision.
//!
//! Applications carry the applicant's personal data: it is stored and
//! answered, never logged.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::constraints::body_bytes;
use super::error::created;
use super::routing::{plan, RouteBody};
use super::{ApiError, AppState};
use crate::applications::{
    Application, ApplicationFilter, ApplicationId, Decision, NewApplication, NewTask, Status,
    Target, TaskNo,
};
use crate::auth::Role;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/applications", post(register).get(list))
        .route("/applications/{id}", get(one))
        .route("/applications/{id}/tasks/{task}/decision", post(decide))
        .route("/stats", get(stats))
        .route("/catalog", get(catalog))
}

/// Longest description kept, characters.
const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// Largest applicant record kept, bytes of JSON.
const MAX_APPLICANT_BYTES: usize = 16 * 1024;
/// Applications per list page when no `limit` is given (config
/// `max_items_limit` is the most a page holds).
const DEFAULT_LIMIT: i64 = 100;

/// The city's own people: every role but the public.
const STAFF: &[Role] = &[Role::Intake, Role::Department, Role::Admin];

async fn register(
    State(app): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require("registering an application", &[Role::Intake, Role::Admin])?;
    let body = RouteBody::parse(body)?;
    let today = app.today();
    let submitted = body.submitted(today)?;
    if submitted > today {
        return Err(ApiError::BadQuery(format!(
            "'submitted' ({submitted}) is after today ({today}): an application is \
             registered on or after the day it arrives"
        )));
    }
    let applicant = applicant(body.applicant.as_ref())?;
    let description = match &body.description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => {
            return Err(ApiError::BadQuery(format!(
                "'description' is longer than {MAX_DESCRIPTION_CHARS} characters"
            )))
        }
        Some(d) => Some(d.trim().to_owned()).filter(|d| !d.is_empty()),
        None => None,
    };
    let routed = plan(&app, &caller, &body, submitted).await?;
    if routed.plan.blocked {
        let why: Vec<String> = routed
            .plan
            .block_reasons
            .iter()
            .map(|b| {
                format!(
                    "{} ({}): {}",
                    b.department,
                    b.reason.label.as_deref().unwrap_or("rule"),
                    b.reason.note
                )
            })
            .collect();
        return Err(ApiError::RouteBlocked(format!(
            "this cannot be granted at this plot, so no application was registered: {}; \
             POST /route shows the whole route",
            why.join("; ")
        )));
    }
    let target = match (&body.service, &body.life_situation) {
        (Some(s), _) => Target::Service(s.clone()),
        (_, Some(l)) => Target::LifeSituation(l.clone()),
        _ => unreachable!("plan() refuses a body naming neither"),
    };
    let tasks = routed
        .plan
        .approvals
        .iter()
        .map(|a| NewTask {
            service: a.service.clone(),
            department: a.department.clone(),
            action: a.action,
            start: a.start,
            due: a.due,
            reasons: serde_json::to_value(&a.reasons).expect("reasons serialize"),
        })
        .collect();
    let new = NewApplication {
        target,
        submitted,
        due: routed.plan.due,
        cadastral: routed.checked.report.plot.cadastral.clone(),
        geometry: routed.checked.geometry.clone(),
        plot: serde_json::to_value(&routed.checked.report.plot).expect("plot serializes"),
        applicant,
        description,
        catalog_revision: app.catalog_revision().revision,
        route: routed.to_json(app.catalog_revision()),
        tasks,
        created_at: Utc::now(),
    };
    let stored = app.register_application(&new).await?;
    tracing::info!(
        application = stored.id,
        target = %stored.target.code(),
        tasks = stored.tasks.len(),
        due = %stored.due,
        "application registered"
    );
    let location = format!("/applications/{}", stored.id);
    let (status, headers) = created(&location);
    Ok((status, headers, Json(view(&app, &stored, today, true))))
}

/// The applicant: a JSON object naming who applies. Kept as given.
fn applicant(value: Option<&Value>) -> Result<Value, ApiError> {
    let Some(value) = value else {
        return Err(ApiError::BadQuery(
            "'applicant' is missing: give at least {\"name\": …} (a person or an organisation)"
                .into(),
        ));
    };
    let named = value
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.trim().is_empty());
    if !value.is_object() || !named {
        return Err(ApiError::BadQuery(
            "'applicant' must be an object with a non-empty \"name\"".into(),
        ));
    }
    if value.to_string().len() > MAX_APPLICANT_BYTES {
        return Err(ApiError::BadQuery(format!(
            "'applicant' is larger than {MAX_APPLICANT_BYTES} bytes"
        )));
    }
    Ok(value.clone())
}

/// An application as answers show it: with overdue flags on `today`, the
/// target's name, the plot's geometry, and (`full`) history and route.
fn view(app: &AppState, a: &Application, today: NaiveDate, full: bool) -> Value {
    let mut v = serde_json::to_value(a).expect("an application serializes");
    let catalog = app.catalog();
    let name = match &a.target {
        Target::Service(c) => catalog.service(c).map(|s| s.name.clone()),
        Target::LifeSituation(c) => catalog.life_situation(c).map(|s| s.name.clone()),
    };
    v["target"]["name"] = json!(name);
    v["overdue"] = json!(a.is_overdue(today));
    if let Some(tasks) = v["tasks"].as_array_mut() {
        for (t, task) in tasks.iter_mut().zip(&a.tasks) {
            t["overdue"] = json!(!a.status.is_closed() && task.is_overdue(today));
        }
    }
    if full {
        v["geometry"] =
            serde_json::to_value(geojson::Geometry::new(geojson::Value::from(&a.geometry)))
                .expect("geometry serializes");
        v["route"] = a.route.clone();
    } else if let Some(o) = v.as_object_mut() {
        o.remove("history");
    }
    v
}

/// An id in a path; one that cannot be an id names no application.
fn application_id(text: &str) -> Result<ApplicationId, ApiError> {
    text.parse::<ApplicationId>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::UnknownApplication(format!(
                "application '{}' does not exist",
                text.chars().take(32).collect::<String>()
            ))
        })
}

async fn one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    // Refused before the store is asked: the public learns nothing, not even
    // whether the application exists.
    caller.require("reading an application", STAFF)?;
    let a = app.application(application_id(&id)?).await?;
    caller.may_read_application(&a)?;
    Ok(Json(view(&app, &a, app.today(), true)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    department: Option<String>,
    overdue: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

async fn list(
    State(app): State<AppState>,
    caller: Caller,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require("listing applications", STAFF)?;
    let Query(q) = query.map_err(|e| {
        ApiError::BadQuery(format!(
            "{}; the parameters are status, department, overdue, limit and offset",
            e.body_text()
        ))
    })?;
    let today = app.today();
    let status = q
        .status
        .as_deref()
        .map(str::parse::<Status>)
        .transpose()
        .map_err(ApiError::BadQuery)?;
    let department = match q.department {
        Some(d) if app.catalog().department(&d).is_none() => {
            return Err(ApiError::BadQuery(format!(
                "unknown department '{}'; GET /departments lists them",
                d.chars().take(32).collect::<String>()
            )))
        }
        other => other,
    };
    // A department lists the applications routed to it, and no others.
    let department = match (&caller.role, &caller.department, department) {
        (Role::Department, Some(own), Some(asked)) if &asked != own => {
            return Err(ApiError::Forbidden(format!(
                "this token lists the applications of department {own}, not of {asked}"
            )))
        }
        (Role::Department, Some(own), _) => Some(own.clone()),
        (_, _, asked) => asked,
    };
    let overdue = match q.overdue.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::BadQuery(format!(
                "overdue must be true or false, not '{}'",
                other.chars().take(16).collect::<String>()
            )))
        }
    };
    let number = |name: &str, text: Option<&str>, default: i64, max: i64| match text {
        None => Ok(default),
        Some(t) => t
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=max).contains(n))
            .ok_or_else(|| {
                ApiError::BadQuery(format!(
                    "{name} must be a whole number from 0 to {max}, not '{}'",
                    t.chars().take(16).collect::<String>()
                ))
            }),
    };
    let max_limit = i64::try_from(app.config().limits.max_items_limit).unwrap_or(i64::MAX);
    let limit = number(
        "limit",
        q.limit.as_deref(),
        DEFAULT_LIMIT.min(max_limit),
        max_limit,
    )?;
    let offset = number("offset", q.offset.as_deref(), 0, i64::MAX)?;
    let filter = ApplicationFilter {
        status,
        department,
        overdue_on: (overdue == Some(true)).then_some(today),
        not_overdue_on: (overdue == Some(false)).then_some(today),
        limit: Some(limit),
        offset,
    };
    let found = app.applications(&filter).await?;
    let items: Vec<Value> = found.iter().map(|a| view(&app, a, today, false)).collect();
    Ok(Json(json!({
        "applications": items,
        "returned": items.len(),
        "limit": limit,
        "offset": offset,
        "today": today,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    decision: Decision,
    comment: Option<String>,
}

async fn decide(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, task)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require("deciding a task", &[Role::Department, Role::Admin])?;
    let id = application_id(&id)?;
    let task: TaskNo = task.parse().map_err(|_| {
        ApiError::UnknownTask(format!(
            "application {id} has no task '{}'",
            task.chars().take(16).collect::<String>()
        ))
    })?;
    let body = body_bytes(body)?;
    let body: DecisionBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidJson(format!(
            "the body must be JSON {{\"decision\": \"approved\" | \"approved_with_comments\" | \
             \"revision_required\" | \"rejected\", \"comment\": \"…\"}}: {e}"
        ))
    })?;
    // The task's department decides it (or an admin); an unknown task is
    // left for the decision itself to report.
    let current = app.application(id).await?;
    if let Some(t) = current.tasks.iter().find(|t| t.id == task) {
        caller.may_decide(&t.department)?;
    } else {
        caller.may_read_application(&current)?;
    }
    let a = app.decide(id, task, body.decision, body.comment).await?;
    tracing::info!(application = id, task, decision = %body.decision, status = %a.status, "decision recorded");
    Ok(Json(view(&app, &a, app.today(), true)))
}

async fn stats(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require("the statistics", STAFF)?;
    let s = app.stats().await?;
    Ok(Json(serde_json::to_value(s).expect("statistics serialize")))
}

async fn catalog(State(app): State<AppState>) -> Json<Value> {
    let mut v = serde_json::to_value(app.catalog()).expect("the catalog serializes");
    v["revision"] = serde_json::to_value(app.catalog_revision()).expect("revision serializes");
    Json(v)
}
