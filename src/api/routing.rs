//! `POST /route`: a dry run of routing. For a service or life situation at a
//! stored parcel or a drawn area: which departments must act, why, how, and
//! by when, from the index and the catalog; nothing is stored.
//!
//! The body is the one `POST /applications` takes (the applicant's data is
//! read there only), so an intake client can show the route before it registers.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Caller;
use super::constraints::{body_bytes, check_plot, drawn_geometry, CheckedPlot, PlotInput};
use super::{ApiError, AppState};
use crate::app::CatalogRevision;
use crate::auth::Role;
use crate::constraints::{LayerRef, PlotSummary};
use crate::model::Cadastral;
use crate::routing::{self, PlotFacts, Request, RoutePlan};

pub fn router() -> Router<AppState> {
    Router::new().route("/route", post(dry_run))
}

/// What is applied for, where and when; `POST /route` and `POST /applications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteBody {
    /// A service code (`excavation_order`) …
    pub service: Option<String>,
    /// … or a life situation code (`build_office`).
    pub life_situation: Option<String>,
    /// A stored parcel …
    pub cadastral: Option<String>,
    /// … or an area the applicant drew: GeoJSON Polygon or MultiPolygon, EPSG:4326 lon/lat.
    pub geometry: Option<Value>,
    /// The day the application is (or would be) submitted, `YYYY-MM-DD`; today when absent.
    pub submitted: Option<String>,
    /// Who applies (applications only; a dry run ignores it).
    pub applicant: Option<Value>,
    /// What the application is about (applications only).
    pub description: Option<String>,
}

impl RouteBody {
    /// Reads a body, with a message that says what is expected.
    pub(super) fn parse(body: Result<Bytes, BytesRejection>) -> Result<Self, ApiError> {
        let body = body_bytes(body)?;
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::InvalidJson(format!(
                "the body must be JSON with \"service\" or \"life_situation\", \
                 \"cadastral\" or \"geometry\" (GeoJSON), and optionally \"submitted\" \
                 (YYYY-MM-DD): {e}"
            ))
        })
    }

    /// The submission day: given, or today.
    pub(super) fn submitted(&self, today: NaiveDate) -> Result<NaiveDate, ApiError> {
        match &self.submitted {
            None => Ok(today),
            Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                ApiError::BadQuery(format!(
                    "'submitted' must be a date YYYY-MM-DD, not '{}'",
                    text.chars().take(32).collect::<String>()
                ))
            }),
        }
    }
}

/// A routed request: the plan and the plot it was made for.
pub(super) struct Routed {
    pub plan: RoutePlan,
    pub checked: CheckedPlot,
}

/// The answer of `POST /route`.
#[derive(Serialize)]
struct DryRun<'a> {
    #[serde(flatten)]
    plan: &'a RoutePlan,
    plot: &'a PlotSummary,
    /// The zone layers read, with their versions.
    checked_layers: &'a [LayerRef],
    /// Overlaps under the sliver tolerance: listed by constraints, routed nowhere.
    slivers_ignored: usize,
    catalog_revision: &'a CatalogRevision,
}

/// Routes a request body: checks the plot against every zone layer of the
/// index, then applies the catalog's rules.
pub(super) async fn plan(
    app: &AppState,
    caller: &Caller,
    body: &RouteBody,
    submitted: NaiveDate,
) -> Result<Routed, ApiError> {
    let request = match (&body.service, &body.life_situation) {
        (Some(s), None) => Request::Service(s),
        (None, Some(l)) => Request::LifeSituation(l),
        _ => {
            return Err(ApiError::BadQuery(
                "give either \"service\" or \"life_situation\" (one of them)".into(),
            ))
        }
    };
    // Unknown codes are refused before the plot is measured.
    let catalog = app.catalog();
    match request {
        Request::Service(code) if catalog.service(code).is_none() => {
            return Err(routing::RoutingError::UnknownService(code.to_owned()).into())
        }
        Request::LifeSituation(code) if catalog.life_situation(code).is_none() => {
            return Err(routing::RoutingError::UnknownLifeSituation(code.to_owned()).into())
        }
        _ => {}
    }
    let input = match (&body.cadastral, &body.geometry) {
        (Some(c), None) => PlotInput::Parcel(c.parse::<Cadastral>()?),
        (None, Some(g)) => PlotInput::Drawn(drawn_geometry(g.clone())?),
        _ => {
            return Err(ApiError::BadQuery(
                "give either \"cadastral\" (a stored parcel) or \"geometry\" \
                 (a GeoJSON Polygon drawn by the applicant), one of them"
                    .into(),
            ))
        }
    };
    let checked = check_plot(app.clone(), caller, input, None).await?;
    let facts = PlotFacts {
        zones: &checked.report.constraints,
        properties: checked.parcel.as_deref().map(|f| &f.properties),
    };
    let plan = routing::route(catalog, request, &facts, submitted)?;
    Ok(Routed { plan, checked })
}

impl Routed {
    /// The answer as `POST /route` gives it and applications keep it.
    fn answer<'a>(&'a self, catalog_revision: &'a CatalogRevision) -> DryRun<'a> {
        DryRun {
            plan: &self.plan,
            plot: &self.checked.report.plot,
            checked_layers: &self.checked.report.checked_layers,
            slivers_ignored: self.checked.report.slivers.len(),
            catalog_revision,
        }
    }

    /// [`Routed::answer`] as a JSON value, to store.
    pub(super) fn to_json(&self, catalog_revision: &CatalogRevision) -> Value {
        serde_json::to_value(self.answer(catalog_revision)).expect("a route serializes to JSON")
    }
}

async fn dry_run(
    State(app): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // A route names internal zones and the rules of every department: staff only.
    caller.require(
        "routing an application",
        &[Role::Intake, Role::Department, Role::Admin],
    )?;
    let body = RouteBody::parse(body)?;
    let submitted = body.submitted(app.today())?;
    let routed = plan(&app, &caller, &body, submitted).await?;
    // Serialized straight from the plan: no intermediate JSON tree.
    Ok(Json(routed.answer(app.catalog_revision())).into_response())
}
