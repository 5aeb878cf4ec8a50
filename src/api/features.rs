//! OGC API – Features, Part 1 (Core, GeoJSON): what QGIS, GDAL and OWSLib
//! read as a data source.
//! - `GET /`: the landing page as JSON for clients (`f=json`, or an `Accept`
//!   without `text/html`); browsers (and `f=html`) get the web map;
//! - `GET /conformance`;
//! - `GET /collections`, `GET /collections/{collection}`: every public layer;
//! - `GET /collections/{collection}/items?bbox=&limit=&offset=&<property>=<value>`;
//! - `GET /collections/{collection}/items/{featureId}`;
//! - `GET /collections/{collection}/queryables`.
//!
//! Items come from the index, in id order; geometries are CRS84 (EPSG:4326
//! lon/lat degrees). Unpublished layers do not exist here.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::borrow::Cow;

use geo_types::Geometry;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::{base_url, web, ApiError, AppState};
use crate::features::crs::FeatureCrs;
use crate::features::filter::Filter;
use crate::features::{self, ItemsQuery};
use crate::index::{FieldType, LayerIndex};
use crate::model::{Cadastral, Feature, FeatureId, LayerCode, LayerKind, NewFeature};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/conformance", get(conformance))
        .route("/collections", get(collections))
        .route("/collections/{layer}", get(collection))
        .route("/collections/{layer}/items", get(items).post(create))
        .route(
            "/collections/{layer}/items/{id}",
            get(item).put(replace).patch(patch).delete(delete),
        )
        .route("/collections/{layer}/queryables", get(queryables))
        // Pages of GeoJSON are large and GDAL and QGIS ask for gzip. The
        // fastest level: at the default one, compressing a 600 KiB page of
        // 1 000 parcels took 8 times as long as making it (benches/).
        .layer(
            tower_http::compression::CompressionLayer::new()
                .gzip(true)
                .quality(tower_http::CompressionLevel::Fastest),
        )
}

/// Features per page when the client gives no `limit` (config
/// `max_items_limit` is the most a page holds: a larger `limit` is lowered
/// to it, as the standard asks servers not to refuse it).
pub const DEFAULT_LIMIT: usize = 100;

const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const GEOJSON: &str = "application/geo+json";

/// The conformance classes imgis implements.
const CONFORMS_TO: [&str; 12] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
];

/// `f=` of a JSON resource: absent, `json`, or (items) `geojson`.
fn check_format(params: &BTreeMap<String, String>) -> Result<(), ApiError> {
    match params.get("f").map(String::as_str) {
        None | Some("json" | "geojson") => Ok(()),
        Some(other) => Err(ApiError::BadQuery(format!(
            "f must be json here, not '{}'",
            other.chars().take(16).collect::<String>()
        ))),
    }
}

/// Whether a client asked for JSON rather than a page for people.
fn wants_json(params: &BTreeMap<String, String>, headers: &HeaderMap) -> bool {
    match params.get("f").map(String::as_str) {
        Some("json") => true,
        Some(_) => false,
        None => {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // Browsers always name text/html; clients send JSON types, */*
            // or nothing, and get JSON.
            !accept.contains("text/html")
        }
    }
}

async fn landing(
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !wants_json(&params, &headers) {
        return web::index(headers).await;
    }
    let base = base_url(&headers);
    Ok(Json(json!({
        "title": "imgis",
        "description": "Municipal geo-information system: the city's layers (parcels, utility networks, zones) as OGC API – Features and vector tiles",
        "links": [
            { "rel": "self", "href": format!("{base}/?f=json"), "type": "application/json", "title": "this document" },
            { "rel": "alternate", "href": format!("{base}/"), "type": "text/html", "title": "the web map" },
            { "rel": "service-desc", "href": format!("{base}/api"), "type": "application/vnd.oai.openapi+json;version=3.0", "title": "the API description (OpenAPI 3.0)" },
            { "rel": "service-doc", "href": format!("{base}/api.html"), "type": "text/html", "title": "the API description for people" },
            { "rel": "conformance", "href": format!("{base}/conformance"), "type": "application/json", "title": "conformance classes" },
            { "rel": "data", "href": format!("{base}/collections"), "type": "application/json", "title": "the layers" },
        ],
    }))
    .into_response())
}

async fn conformance(
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    check_format(&params)?;
    let base = base_url(&headers);
    Ok(Json(json!({
        "conformsTo": CONFORMS_TO,
        "links": [{ "rel": "self", "href": format!("{base}/conformance"), "type": "application/json" }],
    })))
}

/// A layer the caller may see, by its collection id; anything else does not
/// exist here (the public sees published layers only).
fn visible_layer(app: &AppState, caller: &Caller, name: &str) -> Result<Arc<LayerIndex>, ApiError> {
    caller.layer(app, name).map_err(|_| {
        ApiError::UnknownLayer(format!(
            "collection '{}' does not exist; GET /collections lists them",
            name.chars().take(64).collect::<String>()
        ))
    })
}

fn collection_json(base: &str, l: &LayerIndex, metric_srs: &str) -> Value {
    let spec = &l.layer().spec;
    let code = spec.code.as_str();
    let crs: Vec<String> = FeatureCrs::offered(metric_srs)
        .iter()
        .map(FeatureCrs::uri)
        .collect();
    let mut c = json!({
        "id": code,
        "title": spec.title,
        "description": spec.description,
        "itemType": "feature",
        "crs": crs,
        "storageCrs": CRS84,
        "links": [
            { "rel": "self", "href": format!("{base}/collections/{code}"), "type": "application/json" },
            { "rel": "items", "href": format!("{base}/collections/{code}/items"), "type": GEOJSON, "title": "the features" },
            { "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "href": format!("{base}/collections/{code}/queryables"), "type": "application/schema+json" },
            { "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "href": format!("{base}/collections/{code}/tiles"), "type": "application/json" },
        ],
        "imgis": {
            "kind": spec.kind,
            "department": spec.department,
            "geometry_type": spec.geometry_type,
            "version": l.layer().version,
            "updated_at": l.layer().updated_at,
            "feature_count": l.len(),
        },
    });
    if let Some(e) = l.extent() {
        c["extent"] = json!({
            "spatial": { "bbox": [[e.min().x, e.min().y, e.max().x, e.max().y]], "crs": CRS84 },
        });
    }
    c
}

async fn collections(
    State(app): State<AppState>,
    caller: Caller,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    check_format(&params)?;
    let base = base_url(&headers);
    let snapshot = app.index().snapshot();
    let list: Vec<Value> = snapshot
        .values()
        .filter(|l| caller.sees_layer(&l.layer().spec))
        .map(|l| collection_json(&base, l, &app.config().metric_srs))
        .collect();
    Ok(Json(json!({
        "links": [{ "rel": "self", "href": format!("{base}/collections"), "type": "application/json" }],
        "collections": list,
    })))
}

async fn collection(
    State(app): State<AppState>,
    caller: Caller,
    Path(layer): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    check_format(&params)?;
    let l = visible_layer(&app, &caller, &layer)?;
    Ok(Json(collection_json(
        &base_url(&headers),
        &l,
        &app.config().metric_srs,
    )))
}

/// The properties a collection can be filtered on, with their JSON types.
fn queryable_fields(l: &LayerIndex) -> BTreeMap<String, &'static str> {
    let mut fields: BTreeMap<String, &'static str> = l
        .fields()
        .iter()
        .map(|(name, t)| {
            let t = match t {
                FieldType::Number => "number",
                FieldType::Boolean => "boolean",
                FieldType::String => "string",
            };
            (name.clone(), t)
        })
        .collect();
    if l.layer().spec.kind == crate::model::LayerKind::Parcels {
        fields.insert("cadastral".into(), "string");
    }
    fields
}

async fn queryables(
    State(app): State<AppState>,
    caller: Caller,
    Path(layer): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let l = visible_layer(&app, &caller, &layer)?;
    let base = base_url(&headers);
    let properties: serde_json::Map<String, Value> = queryable_fields(&l)
        .into_iter()
        .map(|(name, t)| (name.clone(), json!({ "title": name, "type": t })))
        .collect();
    let body = json!({
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": format!("{base}/collections/{}/queryables", l.code()),
        "type": "object",
        "title": l.layer().spec.title,
        "properties": properties,
    });
    Ok((
        [(header::CONTENT_TYPE, "application/schema+json")],
        Json(body),
    )
        .into_response())
}

/// `bbox=x1,y1,x2,y2` in `crs`'s axis order (CRS84: west,south,east,north
/// in degrees; a box crossing the antimeridian is not supported), as the
/// area it covers in CRS84.
fn parse_bbox(text: &str, crs: &FeatureCrs) -> Result<geo_types::Polygon<f64>, ApiError> {
    let bad = |why: &str| {
        ApiError::BadQuery(format!(
            "bbox must be four numbers, lower corner then upper corner in the axis order of \
             bbox-crs (CRS84: west,south,east,north in degrees), {why}: '{}'",
            text.chars().take(80).collect::<String>()
        ))
    };
    let v: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("not numbers"))?;
    let b = match v.as_slice() {
        [x1, y1, x2, y2] => [*x1, *y1, *x2, *y2],
        // A 3D box: the heights are ignored (2D data).
        [x1, y1, _, x2, y2, _] => [*x1, *y1, *x2, *y2],
        _ => return Err(bad("not four numbers")),
    };
    if !b.iter().all(|x| x.is_finite()) {
        return Err(bad("not finite"));
    }
    if b[0] > b[2] || b[1] > b[3] {
        return Err(bad("the lower corner is above or right of the upper one"));
    }
    if crs.is_geographic() {
        let (lon, lat) = match crs {
            FeatureCrs::Epsg4326 => ([b[1], b[3]], [b[0], b[2]]),
            _ => ([b[0], b[2]], [b[1], b[3]]),
        };
        if !(lon.iter().all(|x| (-180.0..=180.0).contains(x))
            && lat.iter().all(|y| (-90.0..=90.0).contains(y)))
        {
            return Err(bad("outside -180..180 and -90..90 degrees"));
        }
    }
    crs.box_to_storage(b)
        .map_err(|e| ApiError::BadQuery(format!("bbox cannot be brought to CRS84: {e}")))
}

/// A `crs` or `bbox-crs` parameter: one of the CRSs offered.
fn parse_crs(name: &str, uri: &str, metric_srs: &str) -> Result<FeatureCrs, ApiError> {
    FeatureCrs::from_uri(uri, metric_srs).ok_or_else(|| {
        let offered: Vec<String> = FeatureCrs::offered(metric_srs)
            .iter()
            .map(FeatureCrs::uri)
            .collect();
        ApiError::BadQuery(format!(
            "{name} '{}' is not offered; one of: {}",
            uri.chars().take(80).collect::<String>(),
            offered.join(", ")
        ))
    })
}

/// Content-Crs of an answer in `crs`.
fn content_crs(crs: &FeatureCrs) -> (header::HeaderName, HeaderValue) {
    (
        header::HeaderName::from_static("content-crs"),
        HeaderValue::from_str(&format!("<{}>", crs.uri())).expect("a CRS URI is a header value"),
    )
}

/// A whole number parameter within `range`.
fn whole(name: &str, text: &str, min: usize) -> Result<usize, ApiError> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| {
            ApiError::BadQuery(format!(
                "{name} must be a whole number of at least {min}, not '{}'",
                text.chars().take(24).collect::<String>()
            ))
        })
}

/// A feature as GeoJSON: id, geometry (stored, or in the CRS asked for),
/// properties (with `cadastral` for parcels).
struct FeatureJson<'a>(&'a Feature, Cow<'a, Geometry<f64>>);

impl<'a> FeatureJson<'a> {
    fn new(f: &'a Feature, crs: &FeatureCrs) -> Result<Self, ApiError> {
        let geometry = match crs {
            FeatureCrs::Crs84 => Cow::Borrowed(&f.geometry),
            other => Cow::Owned(other.from_storage(&f.geometry).map_err(|e| {
                ApiError::BadQuery(format!(
                    "feature {} cannot be given in {}: {e}",
                    f.id,
                    other.uri()
                ))
            })?),
        };
        Ok(Self(f, geometry))
    }
}

impl Serialize for FeatureJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("type", "Feature")?;
        m.serialize_entry("id", &f.id)?;
        m.serialize_entry("geometry", &geojson::Geometry::from(self.1.as_ref()))?;
        m.serialize_entry("properties", &Properties(f))?;
        m.end()
    }
}

struct Properties<'a>(&'a Feature);

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let extra = usize::from(f.cadastral.is_some());
        let mut m = s.serialize_map(Some(f.properties.len() + extra))?;
        if let Some(c) = &f.cadastral {
            m.serialize_entry("cadastral", c.as_str())?;
        }
        for (k, v) in &f.properties {
            if !(extra == 1 && k == "cadastral") {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

fn geojson_response(body: Vec<u8>, crs: &FeatureCrs) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(GEOJSON)),
            content_crs(crs),
        ],
        body,
    )
        .into_response()
}

/// The standard parameters of `/items`; anything else must be a queryable.
const ITEMS_PARAMS: [&str; 9] = [
    "bbox",
    "bbox-crs",
    "crs",
    "limit",
    "offset",
    "filter",
    "filter-lang",
    "filter-crs",
    "f",
];

async fn items(
    State(app): State<AppState>,
    caller: Caller,
    Path(layer): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let l = visible_layer(&app, &caller, &layer)?;
    let pairs: Vec<(String, String)> = match &raw {
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|e| ApiError::BadQuery(format!("the query string cannot be read: {e}")))?,
        None => Vec::new(),
    };
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    let fields = queryable_fields(&l);
    let max_limit = app.config().limits.max_items_limit;
    let mut query = ItemsQuery {
        limit: DEFAULT_LIMIT.min(max_limit),
        ..ItemsQuery::default()
    };
    for (name, value) in &pairs {
        if params.insert(name.clone(), value.clone()).is_some() {
            return Err(ApiError::BadQuery(format!(
                "parameter '{}' is given twice",
                name.chars().take(64).collect::<String>()
            )));
        }
        match name.as_str() {
            // Read once every parameter is known: it depends on bbox-crs.
            "bbox" | "bbox-crs" | "crs" | "filter" | "filter-lang" | "filter-crs" => {}
            "limit" => query.limit = whole("limit", value, 1)?.min(max_limit),
            "offset" => query.offset = whole("offset", value, 0)?,
            "f" => {}
            _ if fields.contains_key(name) => query.equals.push((name.clone(), value.clone())),
            _ => {
                return Err(ApiError::BadQuery(format!(
                    "unknown parameter '{}': use {} or a queryable property (GET /collections/{}/queryables)",
                    name.chars().take(64).collect::<String>(),
                    ITEMS_PARAMS.join(", "),
                    l.code()
                )))
            }
        }
    }
    check_format(&params)?;
    let metric_srs = &app.config().metric_srs;
    let crs = match params.get("crs") {
        Some(uri) => parse_crs("crs", uri, metric_srs)?,
        None => FeatureCrs::Crs84,
    };
    let bbox_crs = match params.get("bbox-crs") {
        Some(uri) => parse_crs("bbox-crs", uri, metric_srs)?,
        None => FeatureCrs::Crs84,
    };
    if let Some(b) = params.get("bbox") {
        query.bbox = Some(parse_bbox(b, &bbox_crs)?);
    } else if params.contains_key("bbox-crs") {
        return Err(ApiError::BadQuery("bbox-crs is given without bbox".into()));
    }
    if let Some(text) = params.get("filter") {
        if let Some(uri) = params.get("filter-crs") {
            if parse_crs("filter-crs", uri, metric_srs)? != FeatureCrs::Crs84 {
                return Err(ApiError::BadQuery(
                    "filter-crs: filters take CRS84 geometries only".into(),
                ));
            }
        }
        let filter = Filter::parse(text, params.get("filter-lang").map(String::as_str), &fields)
            .map_err(|e| ApiError::BadQuery(e.to_string()))?;
        query.filter = Some(filter);
    } else if params.contains_key("filter-lang") || params.contains_key("filter-crs") {
        return Err(ApiError::BadQuery(
            "filter-lang and filter-crs need a filter".into(),
        ));
    }
    // Held while the page is found and written out.
    let _permit = super::limits::heavy(&app).await?;
    let page = features::items(&l, &query);
    let base = base_url(&headers);
    let link = |offset: usize, rel: &str| {
        let mut p: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "offset" && k != "limit")
            .cloned()
            .collect();
        p.push(("limit".into(), query.limit.to_string()));
        p.push(("offset".into(), offset.to_string()));
        let q = serde_urlencoded::to_string(&p).expect("pairs of strings encode");
        json!({
            "rel": rel,
            "type": GEOJSON,
            "href": format!("{base}/collections/{}/items?{q}", l.code()),
        })
    };
    let mut links = vec![link(query.offset, "self")];
    if query.offset + page.features.len() < page.matched {
        links.push(link(query.offset + page.features.len(), "next"));
    }
    if query.offset > 0 {
        links.push(link(query.offset.saturating_sub(query.limit), "prev"));
    }
    links.push(json!({
        "rel": "collection",
        "type": "application/json",
        "href": format!("{base}/collections/{}", l.code()),
    }));

    #[derive(Serialize)]
    struct Collection<'a> {
        r#type: &'static str,
        features: Vec<FeatureJson<'a>>,
        #[serde(rename = "numberMatched")]
        number_matched: usize,
        #[serde(rename = "numberReturned")]
        number_returned: usize,
        #[serde(rename = "timeStamp")]
        time_stamp: String,
        links: Vec<Value>,
        /// The layer version the page was read from: pages of one version
        /// fit together; after an edit, start again.
        layer_version: i64,
    }
    let body = Collection {
        r#type: "FeatureCollection",
        features: page
            .features
            .iter()
            .map(|f| FeatureJson::new(f, &crs))
            .collect::<Result<_, _>>()?,
        number_matched: page.matched,
        number_returned: page.features.len(),
        time_stamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        links,
        layer_version: l.layer().version,
    };
    let bytes = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    Ok(geojson_response(bytes, &crs))
}

async fn item(
    State(app): State<AppState>,
    caller: Caller,
    Path((layer, id)): Path<(String, String)>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_format(&params)?;
    if let Some(unknown) = params.keys().find(|k| !["f", "crs"].contains(&k.as_str())) {
        return Err(ApiError::BadQuery(format!(
            "unknown parameter '{}': an item takes f and crs",
            unknown.chars().take(64).collect::<String>()
        )));
    }
    let crs = match params.get("crs") {
        Some(uri) => parse_crs("crs", uri, &app.config().metric_srs)?,
        None => FeatureCrs::Crs84,
    };
    let l = visible_layer(&app, &caller, &layer)?;
    let missing = || {
        ApiError::UnknownFeature(format!(
            "collection '{}' has no feature '{}'",
            l.code(),
            id.chars().take(32).collect::<String>()
        ))
    };
    let fid: i64 = id.parse().map_err(|_| missing())?;
    let f = l.feature(fid).ok_or_else(missing)?;
    let base = base_url(&headers);
    let mut v = serde_json::to_value(FeatureJson::new(&f, &crs)?).map_err(ApiError::internal)?;
    v["links"] = json!([
        { "rel": "self", "type": GEOJSON, "href": format!("{base}/collections/{}/items/{fid}", l.code()) },
        { "rel": "collection", "type": "application/json", "href": format!("{base}/collections/{}", l.code()) },
    ]);
    let bytes = serde_json::to_vec(&v).map_err(ApiError::internal)?;
    Ok(geojson_response(bytes, &crs))
}

// ───────────────────────── Part 4: create, replace, update, delete ─────────────────────────

/// A JSON request body, refused clearly when it is not JSON.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = super::constraints::body_bytes(body)?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidJson(format!("the body must be a GeoJSON Feature: {e}")))
}

/// A GeoJSON geometry from a body: CRS84 lon/lat degrees, finite and within
/// range, and OGC-valid for polygons.
fn body_geometry(value: &Value) -> Result<Geometry<f64>, ApiError> {
    let invalid = |why: String| ApiError::InvalidGeometry(format!("'geometry': {why}"));
    let g = geojson::Geometry::from_json_value(value.clone())
        .map_err(|e| invalid(format!("not a GeoJSON geometry: {e}")))?;
    let g: Geometry<f64> = g
        .try_into()
        .map_err(|e: geojson::Error| invalid(e.to_string()))?;
    use geo::{CoordsIter, Validation};
    if g.coords_iter()
        .any(|c| !(c.x.is_finite() && c.y.is_finite() && c.x.abs() <= 180.0 && c.y.abs() <= 90.0))
    {
        return Err(invalid(
            "coordinates must be longitude, latitude in degrees (CRS84)".into(),
        ));
    }
    if let Err(e) = g.check_validation() {
        return Err(invalid(format!("not a valid geometry: {e}")));
    }
    Ok(g)
}

/// The properties of a body: an object (absent or null: none).
fn body_properties(value: Option<&Value>) -> Result<crate::model::Properties, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(crate::model::Properties::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ApiError::InvalidJson(
            "'properties' must be an object".into(),
        )),
    }
}

/// A feature to store from its geometry and properties: on a parcels layer
/// the `cadastral` property is the plot's number, and required.
fn new_feature(
    layer: &LayerIndex,
    geometry: Geometry<f64>,
    properties: crate::model::Properties,
) -> Result<NewFeature, ApiError> {
    let cadastral = match properties.get("cadastral") {
        Some(Value::String(c)) => Some(c.parse::<Cadastral>()?),
        Some(_) => {
            return Err(ApiError::BadQuery(
                "property 'cadastral' must be a string NN:NN:NNNNNN[N]:N…".into(),
            ))
        }
        None if layer.layer().spec.kind == LayerKind::Parcels => {
            return Err(ApiError::BadQuery(format!(
                "a feature of parcels layer '{}' needs its 'cadastral' property",
                layer.code()
            )))
        }
        None => None,
    };
    let f = NewFeature::new(geometry, properties);
    Ok(match cadastral {
        Some(c) => f.with_cadastral(c),
        None => f,
    })
}

/// A whole feature from a body (`POST`, `PUT`).
fn feature_from_body(layer: &LayerIndex, body: &Value) -> Result<NewFeature, ApiError> {
    if body.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(ApiError::InvalidJson(
            "the body must be a GeoJSON Feature ({\"type\": \"Feature\", \"geometry\": …, \"properties\": …})".into(),
        ));
    }
    let geometry = body_geometry(
        body.get("geometry")
            .ok_or_else(|| ApiError::InvalidGeometry("'geometry' is missing".into()))?,
    )?;
    let properties = body_properties(body.get("properties"))?;
    new_feature(layer, geometry, properties)
}

fn feature_id(layer: &LayerIndex, id: &str) -> Result<FeatureId, ApiError> {
    id.parse().map_err(|_| {
        ApiError::UnknownFeature(format!(
            "collection '{}' has no feature '{}'",
            layer.code(),
            id.chars().take(32).collect::<String>()
        ))
    })
}

/// A stored feature as the answer of a write.
fn written(base: &str, code: &LayerCode, f: &Feature, version: i64) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(FeatureJson::new(f, &FeatureCrs::Crs84)?)
        .map_err(ApiError::internal)?;
    v["layer_version"] = json!(version);
    v["links"] = json!([
        { "rel": "self", "type": GEOJSON, "href": format!("{base}/collections/{code}/items/{}", f.id) },
        { "rel": "collection", "type": "application/json", "href": format!("{base}/collections/{code}") },
    ]);
    Ok(v)
}

async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Path(layer): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let l = visible_layer(&app, &caller, &layer)?;
    caller.may_write_layer("adding a feature", &l.layer().spec)?;
    let body = json_body(body)?;
    let feature = feature_from_body(&l, &body)?;
    let (layer_now, stored) = app.create_feature(l.code(), feature).await?;
    let base = base_url(&headers);
    let location = format!("{base}/collections/{}/items/{}", l.code(), stored.id);
    let v = written(&base, l.code(), &stored, layer_now.version)?;
    let (status, headers) = super::error::created(&location);
    Ok((status, headers, Json(v)).into_response())
}

async fn replace(
    State(app): State<AppState>,
    caller: Caller,
    Path((layer, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let l = visible_layer(&app, &caller, &layer)?;
    caller.may_write_layer("replacing a feature", &l.layer().spec)?;
    let id = feature_id(&l, &id)?;
    let body = json_body(body)?;
    if let Some(given) = body.get("id") {
        if given.as_i64() != Some(id) && given.as_str() != Some(id.to_string().as_str()) {
            return Err(ApiError::BadQuery(format!(
                "the body's id {given} is not the feature {id} of the path"
            )));
        }
    }
    let feature = feature_from_body(&l, &body)?;
    let (layer_now, stored) = app.replace_feature(l.code(), id, feature).await?;
    let v = written(&base_url(&headers), l.code(), &stored, layer_now.version)?;
    Ok(Json(v).into_response())
}

/// A partial update: `geometry` replaces the geometry when given;
/// `properties` are merged (a property set to null is removed).
async fn patch(
    State(app): State<AppState>,
    caller: Caller,
    Path((layer, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let l = visible_layer(&app, &caller, &layer)?;
    caller.may_write_layer("updating a feature", &l.layer().spec)?;
    let id = feature_id(&l, &id)?;
    let body = json_body(body)?;
    let Some(obj) = body.as_object() else {
        return Err(ApiError::InvalidJson(
            "the body must be an object with 'geometry' and/or 'properties'".into(),
        ));
    };
    if let Some(unknown) = obj
        .keys()
        .find(|k| !["type", "id", "geometry", "properties"].contains(&k.as_str()))
    {
        return Err(ApiError::InvalidJson(format!(
            "'{}' cannot be patched: give geometry and/or properties",
            unknown.chars().take(32).collect::<String>()
        )));
    }
    let current = l.feature(id).ok_or_else(|| {
        ApiError::UnknownFeature(format!("collection '{}' has no feature {id}", l.code()))
    })?;
    let geometry = match obj.get("geometry") {
        Some(g) => body_geometry(g)?,
        None => current.geometry.clone(),
    };
    let mut properties = current.properties.clone();
    if let Some(c) = &current.cadastral {
        properties
            .entry("cadastral")
            .or_insert_with(|| json!(c.as_str()));
    }
    match obj.get("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(changes)) => {
            for (k, v) in changes {
                if v.is_null() {
                    properties.remove(k);
                } else {
                    properties.insert(k.clone(), v.clone());
                }
            }
        }
        Some(_) => {
            return Err(ApiError::InvalidJson(
                "'properties' must be an object".into(),
            ))
        }
    }
    let feature = new_feature(&l, geometry, properties)?;
    let (layer_now, stored) = app.replace_feature(l.code(), id, feature).await?;
    let v = written(&base_url(&headers), l.code(), &stored, layer_now.version)?;
    Ok(Json(v).into_response())
}

async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path((layer, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let l = visible_layer(&app, &caller, &layer)?;
    caller.may_write_layer("deleting a feature", &l.layer().spec)?;
    let id = feature_id(&l, &id)?;
    app.delete_feature(l.code(), id).await?;
    Ok(super::error::no_content().into_response())
}
