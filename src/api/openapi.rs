//! The OpenAPI 3.0 description of the whole HTTP API (the landing page's
//! `service-desc`), and a page for people made from it (`service-doc`):
//! - `GET /api` (`?f=json`): the document, `application/vnd.oai.openapi+json;version=3.0`;
//! - `GET /api.html` (or `/api?f=html`): every path and method with its
//!   summary, parameters and responses, as plain HTML (no scripts: the server
//!   runs offline).
//!
//! Everything is written inline (parameters especially); the only references
//! are to `#/components/schemas/…` of this document, so clients need nothing
//! else. The document is built once; only `servers` is per request (the
//! address the client reached). `tests/openapi.rs` checks it against the router.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use super::{base_url, ApiError, AppState};

/// The media type of an OpenAPI 3.0 document in JSON (OGC API – Common).
pub const OPENAPI_MEDIA_TYPE: &str = "application/vnd.oai.openapi+json;version=3.0";

const GEOJSON: &str = "application/geo+json";
const MVT: &str = "application/vnd.mapbox-vector-tile";
/// The catalog demo city's centre, for examples.
const DEMO_LON: f64 = 49.1056;
const DEMO_LAT: f64 = 55.7989;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api", get(document))
        .route("/api.html", get(page))
}

/// The document without `servers`, built on first use.
static DOCUMENT: LazyLock<Value> = LazyLock::new(build);
/// The page for people, built from [`DOCUMENT`] on first use.
static PAGE: LazyLock<String> = LazyLock::new(|| render_html(&DOCUMENT));

async fn document(
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    match params.get("f").map(String::as_str) {
        None | Some("json") => {}
        Some("html") => return Ok(page().await.into_response()),
        Some(other) => {
            return Err(ApiError::BadQuery(format!(
                "f must be json or html here, not '{}'",
                other.chars().take(16).collect::<String>()
            )))
        }
    }
    let mut doc = DOCUMENT.clone();
    doc["servers"] = json!([{
        "url": base_url(&headers),
        "description": "this server, as the client reached it",
    }]);
    let body = serde_json::to_vec(&doc).map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(OPENAPI_MEDIA_TYPE),
        )],
        body,
    )
        .into_response())
}

async fn page() -> Html<&'static str> {
    Html(PAGE.as_str())
}

// ---------------------------------------------------------------------------
// Errors: every code `error.rs` answers with, its status and what it means.

/// `(error code, HTTP status, meaning)`, as `ApiError` answers them.
#[rustfmt::skip]
const ERROR_CODES: &[(&str, u16, &str)] = &[
    ("unknown_layer", 404, "no such layer (unpublished layers are not disclosed)"),
    ("unknown_parcel", 404, "no parcel has this cadastral number"),
    ("malformed_cadastral_number", 400, "not a cadastral number NN:NN:NNNNNN[N]:N…"),
    ("not_found", 404, "no resource at this path"),
    ("invalid_tile", 400, "a tile address or layer list that is not valid"),
    ("unknown_tile_matrix_set", 404, "a tile matrix set other than WebMercatorQuad"),
    ("unknown_archive", 404, "no tile archive of this name"),
    ("store_unavailable", 503, "the store cannot be reached; retry after Retry-After seconds"),
    ("invalid_json", 400, "the body is not the JSON asked for"),
    ("invalid_geometry", 400, "a geometry or position that is not a valid one"),
    ("geometry_too_large", 413, "a drawn plot over the configured max_plot_area_m2 or max_plot_vertices"),
    ("invalid_parameter", 400, "a parameter missing, malformed, unknown or naming the wrong kind of layer"),
    ("unknown_feature", 404, "the collection has no such feature"),
    ("unknown_service", 404, "the catalog has no such service"),
    ("unknown_life_situation", 404, "the catalog has no such life situation"),
    ("unknown_application", 404, "no such application"),
    ("unknown_task", 404, "the application has no such task"),
    ("task_closed", 409, "the task has its final decision"),
    ("application_closed", 409, "the application has its final answer"),
    ("conflict", 409, "changed by someone else meanwhile; read it again and retry"),
    ("comment_required", 400, "this decision needs a comment saying why"),
    ("duplicate_cadastral", 409, "another parcel has this cadastral number"),
    ("derived_layer", 409, "the layer is derived by imgis from others and cannot be edited"),
    ("route_blocked", 422, "a rule forbids this at this plot; nothing was registered"),
    ("invalid_file", 400, "an import file that cannot be read: format, damage, truncation, a refused zip"),
    ("crs_required", 400, "an import file whose CRS is missing (coordinates not lon/lat) or unknown: name it with `srs`"),
    ("import_conflict", 409, "an import that does not fit its layer (kind, department), or would empty it"),
    ("import_rejected", 422, "features refused under invalid=reject; `report` lists them and nothing was imported"),
    ("unknown_department", 400, "no department has this code"),
    ("upload_too_large", 413, "an upload over the configured max_upload_mb"),
    ("unauthorized", 401, "no API token where one is needed, or one that is unknown or revoked"),
    ("forbidden", 403, "the token's role or department may not do this"),
    ("body_too_large", 413, "a request body over the configured max_body_kb"),
    ("too_many_features", 413, "an import file holding more features than the configured max_import_features; nothing was imported"),
    ("too_many_requests", 429, "as many such requests are running as configured (max_concurrent_imports, max_concurrent_heavy); retry after Retry-After seconds"),
    ("timeout", 503, "not answered within the configured request_timeout_s (import_timeout_s for imports); retry after Retry-After seconds"),
    ("internal", 500, "an internal error; the server log has the details"),
];

fn error_code(code: &str) -> (u16, &'static str) {
    ERROR_CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, status, what)| (*status, *what))
        .unwrap_or_else(|| panic!("error code '{code}' is not one error.rs answers with"))
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not found",
        409 => "Conflict",
        413 => "Payload too large",
        429 => "Too many requests",
        422 => "Unprocessable",
        500 => "Internal error",
        503 => "Unavailable",
        _ => "Error",
    }
}

/// One error response answering any of `codes` (all of one status).
fn error_response(status: u16, codes: &[&str]) -> Value {
    let list: Vec<String> = codes
        .iter()
        .map(|c| format!("`{c}`: {}", error_code(c).1))
        .collect();
    let mut r = json!({
        "description": format!("{}. `error` is one of: {}.", reason_phrase(status), list.join("; ")),
        "content": { "application/json": {
            "schema": schema_ref("Error"),
            "example": { "error": codes[0], "message": error_code(codes[0]).1 },
        } },
    });
    if status == 503 || status == 429 {
        r["headers"] = json!({ "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": { "type": "integer" },
        } });
    }
    r
}

/// Responses: the successful ones given, and the errors `codes` grouped by status.
fn responses(ok: Value, codes: &[&str]) -> Value {
    let mut map = match ok {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut by_status: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for code in codes {
        by_status.entry(error_code(code).0).or_default().push(code);
    }
    for (status, codes) in by_status {
        map.insert(status.to_string(), error_response(status, &codes));
    }
    Value::Object(map)
}

// ---------------------------------------------------------------------------
// Small builders. Parameters are always written inline.

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn array_of(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

fn path_param(name: &str, description: &str, schema: Value, example: Value) -> Value {
    json!({
        "name": name, "in": "path", "required": true,
        "description": description, "schema": schema, "example": example,
    })
}

fn query_param(name: &str, description: &str, required: bool, schema: Value) -> Value {
    json!({
        "name": name, "in": "query", "required": required,
        "description": description, "schema": schema,
    })
}

/// A comma-separated list in one query parameter (`a,b,c`).
fn query_list(name: &str, description: &str, items: Value) -> Value {
    json!({
        "name": name, "in": "query", "required": false,
        "style": "form", "explode": false,
        "description": description, "schema": array_of(items),
    })
}

fn f_param(values: &[&str], description: &str) -> Value {
    query_param(
        "f",
        description,
        false,
        json!({ "type": "string", "enum": values }),
    )
}

/// `crs` or `bbox-crs` of OGC API – Features Part 2: a CRS URI the collection lists.
fn crs_param(name: &str, description: &str) -> Value {
    json!({
        "name": name, "in": "query", "required": false,
        "description": format!("{description} One of the collection's `crs` (GET /collections/{{layer}}): \
                                CRS84, EPSG:4326 (latitude first), EPSG:3857, and the city's metric CRS \
                                when it is an EPSG code; `[EPSG:n]` and `[OGC:CRS84]` are taken too."),
        "schema": { "type": "string" },
        "example": "http://www.opengis.net/def/crs/EPSG/0/3857",
    })
}

/// A GeoJSON answer of OGC API – Features, with its Content-Crs.
fn geojson_ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "headers": { "Content-Crs": {
            "description": "The CRS of the geometries, as `<URI>`.",
            "schema": { "type": "string" },
        } },
        "content": { GEOJSON: { "schema": schema_ref(schema) } },
    })
}

fn if_none_match() -> Value {
    json!({
        "name": "If-None-Match", "in": "header", "required": false,
        "description": "An ETag of a copy the client holds: 304 when it is still current.",
        "schema": { "type": "string" },
    })
}

fn content(media: &str, description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { media: { "schema": schema } } })
}

fn ok_json(description: &str, schema: Value) -> Value {
    content("application/json", description, schema)
}

fn op(
    tag: &str,
    id: &str,
    summary: &str,
    description: &str,
    parameters: Vec<Value>,
    responses: Value,
) -> Value {
    let mut o = json!({
        "tags": [tag],
        "operationId": id,
        "summary": summary,
        "description": description,
        "responses": responses,
    });
    if !parameters.is_empty() {
        o["parameters"] = Value::Array(parameters);
    }
    o
}

fn with_body(mut op: Value, description: &str, schema: Value, example: Value) -> Value {
    op["requestBody"] = json!({
        "required": true,
        "description": description,
        "content": { "application/json": { "schema": schema, "example": example } },
    });
    op
}

// Parameters used on several paths (each use is its own inline copy).

fn layer_code_schema() -> Value {
    json!({ "type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$" })
}

fn cadastral_schema() -> Value {
    json!({ "type": "string", "pattern": "^[0-9]{2}:[0-9]{2}:[0-9]{6,7}:[0-9]+$" })
}

fn cadastral_path() -> Value {
    path_param(
        "cadastral",
        "Cadastral number NN:NN:NNNNNN[N]:N… of a stored parcel.",
        cadastral_schema(),
        json!("16:50:011101:12"),
    )
}

fn collection_path() -> Value {
    path_param(
        "layer",
        "A public layer's code (the collection id); GET /collections lists them.",
        layer_code_schema(),
        json!("parcels"),
    )
}

fn tms_path() -> Value {
    path_param(
        "tms",
        "The tile matrix set: only `WebMercatorQuad` is offered.",
        json!({ "type": "string", "enum": ["WebMercatorQuad"] }),
        json!("WebMercatorQuad"),
    )
}

fn zoom_path(name: &str, description: &str) -> Value {
    path_param(
        name,
        description,
        json!({ "type": "integer", "minimum": 0, "maximum": crate::tiles::MAX_ZOOM }),
        json!(14),
    )
}

fn tile_number_path(name: &str, description: &str, example: u32) -> Value {
    path_param(
        name,
        description,
        json!({ "type": "integer", "minimum": 0 }),
        json!(example),
    )
}

fn lon_param(required: bool, also: &str) -> Value {
    query_param(
        "lon",
        &format!("Longitude, EPSG:4326 degrees (-180 to 180).{also}"),
        required,
        json!({ "type": "number", "minimum": -180, "maximum": 180, "example": DEMO_LON }),
    )
}

fn lat_param(required: bool, also: &str) -> Value {
    query_param(
        "lat",
        &format!("Latitude, EPSG:4326 degrees (-90 to 90).{also}"),
        required,
        json!({ "type": "number", "minimum": -90, "maximum": 90, "example": DEMO_LAT }),
    )
}

/// The answers of a vector tile (`/tiles/…`, OGC API – Tiles, archives).
fn tile_responses(cached: bool, codes: &[&str]) -> Value {
    let mut headers = json!({
        "Content-Encoding": {
            "description": "`gzip` when the client accepts gzip (Accept-Encoding).",
            "schema": { "type": "string" },
        },
    });
    if cached {
        headers["ETag"] = json!({
            "description": "From the layers' versions: changes when a layer is edited.",
            "schema": { "type": "string" },
        });
        headers["X-Tile-Cache"] = json!({
            "description": "Whether the tile came from the server's tile cache.",
            "schema": { "type": "string", "enum": ["hit", "miss", "off"] },
        });
    }
    let mut ok = json!({
        "200": {
            "description": "A Mapbox Vector Tile (one MVT layer per map layer, named by its code).",
            "headers": headers,
            "content": { MVT: { "schema": { "type": "string", "format": "binary" } } },
        },
        "204": { "description": "Nothing is drawn in this tile: no body (clients draw an empty tile)." },
    });
    if cached {
        ok["304"] =
            json!({ "description": "The client's copy (If-None-Match) is current: no body." });
    }
    responses(ok, codes)
}

// ---------------------------------------------------------------------------
// The document. The functions that are tables of paths and schemas keep
// their hand layout (`rustfmt::skip`): rustfmt cannot lay out `json!`.

fn build() -> Value {
    let mut paths = Map::new();
    operations_paths(&mut paths);
    layers_paths(&mut paths);
    constraints_paths(&mut paths);
    routing_paths(&mut paths);
    applications_paths(&mut paths);
    tiles_paths(&mut paths);
    ogc_features_paths(&mut paths);
    ogc_tiles_paths(&mut paths);
    secure(&mut paths);
    let mut doc = info();
    doc["paths"] = Value::Object(paths);
    doc["components"] = json!({
        "schemas": schemas(),
        "securitySchemes": { "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token made by `imgis token create --role public|intake|department|admin \
                [--department D]`. Without one, a caller is the public: published layers, their tiles, \
                features and constraints.",
        } },
    });
    // A token is optional where the public may read (`{}`), and sent where given.
    doc["security"] = json!([{}, { "bearerAuth": [] }]);
    doc
}

/// What needs a token, and of which roles (src/api handlers check the same).
const RESTRICTED: &[(&str, &str, &str)] = &[
    ("post", "/route", "intake, department or admin"),
    ("post", "/applications", "intake or admin"),
    (
        "get",
        "/applications",
        "intake, department (its own) or admin",
    ),
    (
        "get",
        "/applications/{id}",
        "intake, department (routed to it) or admin",
    ),
    (
        "post",
        "/applications/{id}/tasks/{task}/decision",
        "the task's department or admin",
    ),
    ("get", "/stats", "intake, department or admin"),
    ("get", "/metrics", "admin"),
    (
        "post",
        "/layers/{code}/import",
        "the layer's department or admin",
    ),
    (
        "post",
        "/collections/{layer}/items",
        "the layer's department or admin",
    ),
    (
        "put",
        "/collections/{layer}/items/{id}",
        "the layer's department or admin",
    ),
    (
        "patch",
        "/collections/{layer}/items/{id}",
        "the layer's department or admin",
    ),
    (
        "delete",
        "/collections/{layer}/items/{id}",
        "the layer's department or admin",
    ),
];

/// Every operation may answer 401 (a token that is not valid); the
/// restricted ones need a token, say whose, and may answer 403.
fn secure(paths: &mut Map<String, Value>) {
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            let rule = RESTRICTED.iter().find(|(m, p, _)| m == method && p == path);
            responses.insert("401".into(), error_response(401, &["unauthorized"]));
            if let Some((_, _, who)) = rule {
                responses.insert("403".into(), error_response(403, &["forbidden"]));
                op["security"] = json!([{ "bearerAuth": [] }]);
                let text = op["description"].as_str().unwrap_or_default().to_owned();
                op["description"] = json!(format!("{text}\n\nNeeds a token of: {who}.")
                    .trim_start()
                    .to_owned());
            }
        }
    }
}

#[rustfmt::skip]
fn info() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "imgis",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The municipal geo-information system's HTTP API: the city's layers \
                (parcels, utility networks, zones) as JSON, GeoJSON (OGC API – Features) and vector \
                tiles (XYZ, TileJSON, OGC API – Tiles); what restricts a plot; routing of permit \
                applications to the departments that must approve them; and the applications \
                themselves. Coordinates are EPSG:4326 longitude/latitude degrees (CRS84) unless \
                a `crs` parameter asks for another; areas and distances are metres in the city's \
                metric CRS. Every error is JSON `{\"error\": \"<code>\", \"message\": \"<sentence>\"}`. \
                Every request is answered within the configured `request_timeout_s` (30 s by default; \
                imports `import_timeout_s`), else 503 `timeout` with Retry-After.",
            "license": { "name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0" },
        },
        "tags": [
            { "name": "Layers", "description": "The layers, their departments and the parcels." },
            { "name": "Tiles", "description": "Vector tiles (XYZ), TileJSON, and PMTiles archives." },
            { "name": "OGC API – Features", "description": "OGC API – Features Part 1 (Core, GeoJSON) and Part 2 (CRS), for QGIS, GDAL, OWSLib." },
            { "name": "OGC API – Tiles", "description": "OGC API – Tiles Part 1, over the same tiles (WebMercatorQuad)." },
            { "name": "Constraints", "description": "What restricts a plot, what is at a point, the nearest utility lines." },
            { "name": "Routing", "description": "Which departments must act on an application, and the catalog that says so." },
            { "name": "Applications", "description": "Registered applications, the departments' decisions, statistics." },
            { "name": "Operations", "description": "Health, metrics, this description, the web map's files." },
        ],
    })
}

/// Adds an operation at a path.
fn add(p: &mut Map<String, Value>, path: &str, method: &str, op: Value) {
    let item = p.entry(path).or_insert_with(|| json!({}));
    item[method] = op;
}

#[rustfmt::skip]
fn operations_paths(p: &mut Map<String, Value>) {
    add(p, "/health", "get", op(
        "Operations", "getHealth", "Health of the store and the index",
        "Whether the store answers (within a few seconds), the index's size and build time, and \
         each layer's feature count and version. 200 when everything works; 503 when degraded \
         (reads are still served from the index, but the store is unreachable).",
        vec![],
        json!({
            "200": ok_json("Healthy.", schema_ref("Health")),
            "503": ok_json("Degraded: the store cannot be reached (same body, `status: degraded`).", schema_ref("Health")),
        }),
    ));
    add(p, "/metrics", "get", op(
        "Operations", "getMetrics", "Metrics for Prometheus",
        "Requests by method, route template and status (`imgis_http_requests_total`), latency \
         histograms (`imgis_http_request_duration_seconds`), requests in flight, tile cache hits, \
         misses, bytes and entries, each layer's feature count and version in the index, the \
         index's memory, imports by outcome, the store's connection pool and whether the store \
         answers (`imgis_store_up`), and `imgis_build_info`. Prometheus text 0.0.4, or \
         OpenMetrics 1.0 when `Accept` prefers `application/openmetrics-text`. Labels hold \
         route templates, never request paths.",
        vec![],
        responses(json!({
            "200": {
                "description": "The metrics, as of this request.",
                "content": {
                    "text/plain": { "schema": { "type": "string" } },
                    "application/openmetrics-text": { "schema": { "type": "string" } },
                },
            },
        }), &["internal"]),
    ));
    add(p, "/api", "get", op(
        "Operations", "getOpenApi", "This OpenAPI 3.0 document",
        "The OpenAPI 3.0 description of the whole API (the landing page's `service-desc`). \
         `servers` is the address the client reached (X-Forwarded-Proto/-Host behind a proxy).",
        vec![f_param(&["json", "html"], "`json` (the default) for this document, `html` for the page of /api.html.")],
        responses(json!({
            "200": {
                "description": "The document (or, with f=html, the page for people).",
                "content": {
                    OPENAPI_MEDIA_TYPE: { "schema": { "type": "object" } },
                    "text/html": { "schema": { "type": "string" } },
                },
            },
        }), &["invalid_parameter"]),
    ));
    add(p, "/api.html", "get", op(
        "Operations", "getOpenApiHtml", "This description as a page for people",
        "Every path and method with its summary, parameters and responses (the landing page's \
         `service-doc`), made from GET /api. Plain HTML, no scripts.",
        vec![],
        json!({ "200": content("text/html", "The page.", json!({ "type": "string" })) }),
    ));
    add(p, "/web/{path}", "get", op(
        "Operations", "getWebFile", "A file of the web map",
        "The web map's scripts, styles and images, compiled into the binary (the map itself is \
         GET / for browsers). `path` may hold slashes (`js/api.js`). Clients revalidate with \
         If-None-Match (ETag).",
        vec![
            path_param("path", "The file's path under web/, slashes allowed.", json!({ "type": "string" }), json!("app.js")),
            if_none_match(),
        ],
        responses(json!({
            "200": { "description": "The file, with its media type (JavaScript, CSS, SVG …).",
                     "content": { "*/*": { "schema": { "type": "string", "format": "binary" } } } },
            "304": { "description": "The client's copy is current." },
        }), &["not_found"]),
    ));
    add(p, "/styles/{path}", "get", op(
        "Operations", "getStyleFile", "A map style template",
        "A MapLibre style template per layer kind (`parcels.json`, `zones.json`, `utilities.json`, \
         `other.json`), compiled into the binary.",
        vec![
            path_param("path", "The style file's name.", json!({ "type": "string" }), json!("parcels.json")),
            if_none_match(),
        ],
        responses(json!({
            "200": ok_json("The style template.", json!({ "type": "object" })),
            "304": { "description": "The client's copy is current." },
        }), &["not_found"]),
    ));
}

#[rustfmt::skip]
fn layers_paths(p: &mut Map<String, Value>) {
    add(p, "/layers", "get", op(
        "Layers", "listLayers", "Every layer",
        "Every layer of the index (public or not) with its metadata, version, feature count, \
         extent (lon/lat degrees), the zooms its tiles draw it at and links to its tiles; in \
         drawing order from the bottom (areas, lines, points), then by code.",
        vec![],
        json!({ "200": ok_json("The layers.", object(&["layers"], json!({
            "layers": array_of(schema_ref("Layer")),
        }))) }),
    ));
    add(p, "/layers/{code}", "get", op(
        "Layers", "getLayer", "One layer",
        "A layer's metadata, version, feature count, extent and tile links.",
        vec![path_param("code", "The layer's code.", layer_code_schema(), json!("parcels"))],
        responses(json!({ "200": ok_json("The layer.", schema_ref("Layer")) }), &["unknown_layer"]),
    ));
    add(p, "/layers/{code}/import", "post", import_op());
    add(p, "/departments", "get", op(
        "Layers", "listDepartments", "The departments",
        "The catalog's departments: the city's units and the external approvers (utility \
         operators, federal bodies); layers and rules refer to them by code.",
        vec![],
        responses(json!({ "200": ok_json("The departments.", object(&["departments"], json!({
            "departments": array_of(schema_ref("Department")),
        }))) }), &["store_unavailable", "internal"]),
    ));
    add(p, "/parcels/{cadastral}", "get", op(
        "Layers", "getParcel", "A parcel by cadastral number",
        "The parcel as a GeoJSON Feature (EPSG:4326 lon/lat), with its geodesic area in m² and \
         the layer and version it was answered from.",
        vec![cadastral_path()],
        responses(
            json!({ "200": ok_json("The parcel.", schema_ref("Parcel")) }),
            &["malformed_cadastral_number", "unknown_parcel"],
        ),
    ));
}

/// `POST /layers/{code}/import`: a file as the body (bare or multipart), options in the query.
#[rustfmt::skip]
fn import_op() -> Value {
    let text = |name: &str, description: &str| query_param(name, description, false, string());
    let choice = |name: &str, description: &str, values: &[&str]| {
        query_param(name, description, false, json!({ "type": "string", "enum": values, "default": values[0] }))
    };
    let mut o = op(
        "Layers", "importLayer", "Import a layer from a file",
        "A GIS specialist's file: GeoJSON (also the legacy `crs` member), GeoJSON sequence, \
         Shapefile (a zip, or its .shp/.shx/.dbf/.prj/.cpg as several multipart file fields), \
         GeoPackage, FlatGeobuf or CSV (WKT or lon/lat columns), in any CRS PROJ knows. Every \
         feature is reprojected to EPSG:4326 and checked (null, empty, invalid, wrong type, \
         outside the city's bounds); `invalid` says what happens to those. The import is one \
         transaction: the layer (created when it does not exist) gets one new version, or, when \
         anything fails, stays exactly as it was. The answer is the import's report, as \
         `imgis import --json` prints it.",
        vec![
            path_param("code", "The layer to write; created when it does not exist.", layer_code_schema(), json!("example_import")),
            choice("mode", "replace: the layer holds exactly the file's features; append: they are added.", &["replace", "append"]),
            choice("invalid", "Features with bad geometries or cadastral numbers: reject the import, skip them, or repair what can be made valid.", &["reject", "skip", "repair"]),
            query_param("dry_run", "Read and check everything, write nothing.", false, json!({ "type": "boolean", "default": false })),
            query_param("internal", "A layer this import creates is internal: staff see it, the public does not (an existing layer keeps what it is).", false, json!({ "type": "boolean", "default": false })),
            text("srs", "The file's CRS, overriding what it declares: EPSG:n or WKT."),
            query_param("kind", "Kind of a new layer (an existing layer's must match).", false,
                json!({ "type": "string", "enum": ["parcels", "utilities", "zones", "other"] })),
            text("department", "Owning department of a new layer (an existing layer's must match)."),
            text("source_layer", "The GeoPackage table (or Shapefile in a zip) to read when there are several."),
            query_param("format", "The format when content and name do not tell.", false,
                json!({ "type": "string", "enum": ["geojson", "geojsonseq", "shapefile", "gpkg", "fgb", "csv"] })),
            text("cadastral_field", "Parcels: the source field holding cadastral numbers."),
            text("wkt_column", "CSV: the WKT column."),
            text("lon_column", "CSV: the longitude (easting) column."),
            text("lat_column", "CSV: the latitude (northing) column."),
            text("filename", "The file's name when the body is the bare file: its extension helps tell the format."),
        ],
        responses(
            json!({ "200": ok_json("The report: imported (or checked, for a dry run).", schema_ref("ImportReport")) }),
            &["invalid_parameter", "invalid_file", "crs_required", "unknown_department", "derived_layer", "import_conflict", "duplicate_cadastral", "upload_too_large",
              "too_many_features", "import_rejected", "too_many_requests", "store_unavailable", "timeout", "internal"],
        ),
    );
    o["requestBody"] = json!({
        "required": true,
        "description": "The file: the bare body, or multipart/form-data with one file field (or a Shapefile's parts).",
        "content": {
            "application/octet-stream": {
                "schema": { "type": "string", "format": "binary" },
                "example": "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"properties\":{\"name\":\"Сквер\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[49.1221,55.7887]}}]}",
            },
            "multipart/form-data": {
                "schema": { "type": "object", "properties": { "file": { "type": "string", "format": "binary" } } },
            },
        },
    });
    o
}

#[rustfmt::skip]
fn constraints_paths(p: &mut Map<String, Value>) {
    add(p, "/parcels/{cadastral}/constraints", "get", op(
        "Constraints", "getParcelConstraints", "What restricts a stored parcel",
        "Every zone (layers of kind `zones`, public or not) overlapping the parcel, with the \
         overlap in m² and % of the plot (metric CRS), largest first; overlaps under the \
         sliver tolerance are listed apart as slivers.",
        vec![
            cadastral_path(),
            query_list("layers", "Only these zone layers (codes, comma-separated); every zone layer when absent.",
                layer_code_schema()),
        ],
        responses(
            json!({ "200": ok_json("The constraints.", schema_ref("ConstraintsReport")) }),
            &["malformed_cadastral_number", "invalid_parameter", "invalid_geometry",
              "unknown_parcel", "unknown_layer", "too_many_requests", "timeout", "internal"],
        ),
    ));
    add(p, "/constraints", "post", with_body(op(
        "Constraints", "checkDrawnConstraints", "What restricts an area drawn by an applicant",
        "The same answer as for a parcel, for a GeoJSON Polygon or MultiPolygon (EPSG:4326 \
         lon/lat): rings closed, OGC-valid, at most the configured vertices (`max_plot_vertices`, \
         1000 by default) and largest area (`max_plot_area_m2`, 1 km² by default).",
        vec![],
        responses(
            json!({ "200": ok_json("The constraints.", schema_ref("ConstraintsReport")) }),
            &["invalid_json", "invalid_geometry", "invalid_parameter", "unknown_layer",
              "geometry_too_large", "body_too_large", "too_many_requests", "timeout", "internal"],
        ),
    ), "The drawn area, and optionally the zone layers to read.", schema_ref("DrawnPlot"), json!({
        "geometry": example_polygon(),
        "layers": ["heritage_zones", "sanitary_zones"],
    })));
    add(p, "/identify", "get", op(
        "Constraints", "identify", "What is at a point",
        "Every public layer's features whose geometry contains or touches the point, per layer, \
         in drawing order from the top; layers with nothing there are left out.",
        vec![lon_param(true, ""), lat_param(true, "")],
        responses(
            json!({ "200": ok_json("The features at the point.", schema_ref("IdentifyAnswer")) }),
            &["invalid_parameter", "invalid_geometry", "too_many_requests", "timeout"],
        ),
    ));
    add(p, "/nearest", "get", op(
        "Constraints", "nearest", "The nearest line of each utility network",
        "From a stored parcel (`cadastral`; 0 m when a line touches or crosses it) or a point \
         (`lon` and `lat`): the nearest line of every public utility network, or of one \
         (`network`), with its planar distance in metres in the metric CRS.",
        vec![
            query_param("cadastral", "Measure from this stored parcel (not with lon/lat).", false, cadastral_schema()),
            lon_param(false, " With lat, instead of cadastral."),
            lat_param(false, " With lon, instead of cadastral."),
            query_param("network", "Only this utility network layer (a line layer of kind `utilities`).",
                false, layer_code_schema()),
        ],
        responses(
            json!({ "200": ok_json("The nearest lines.", schema_ref("NearestAnswer")) }),
            &["invalid_parameter", "malformed_cadastral_number", "invalid_geometry",
              "unknown_parcel", "unknown_layer", "too_many_requests", "timeout", "internal"],
        ),
    ));
}

#[rustfmt::skip]
fn routing_paths(p: &mut Map<String, Value>) {
    add(p, "/route", "post", with_body(op(
        "Routing", "routeDryRun", "Route a request without registering it",
        "A dry run: for a service or a life situation at a stored parcel or a drawn area, which \
         departments must act, why (catalog rules and the zones the plot overlaps), how \
         (consult, approve, block) and by when (working or calendar days). Nothing is stored. \
         The body is the one POST /applications takes (`applicant` and `description` are \
         ignored here).",
        vec![],
        responses(
            json!({ "200": ok_json("The route.", schema_ref("RoutePlan")) }),
            &["invalid_json", "invalid_parameter", "malformed_cadastral_number", "invalid_geometry",
              "unknown_service", "unknown_life_situation", "unknown_parcel", "geometry_too_large",
              "body_too_large", "too_many_requests", "timeout", "internal"],
        ),
    ), "What is applied for and where: one of `service`/`life_situation`, one of `cadastral`/`geometry`.",
        schema_ref("RouteRequest"),
        json!({ "service": "excavation_order", "geometry": example_polygon(), "submitted": "2026-12-25" }),
    ));
    add(p, "/catalog", "get", op(
        "Routing", "getCatalog", "The catalog in use",
        "Departments, zone types, buffer rules, services, life situations, routing rules and \
         the calendar of days off that routing uses, with the catalog revision.",
        vec![],
        json!({ "200": ok_json("The catalog.", schema_ref("Catalog")) }),
    ));
}

#[rustfmt::skip]
fn applications_paths(p: &mut Map<String, Value>) {
    let id = || path_param("id", "The application's id.",
        json!({ "type": "integer", "format": "int64", "minimum": 1 }), json!(1));
    add(p, "/applications", "post", with_body(op(
        "Applications", "registerApplication", "Register an application",
        "Routes the request as POST /route does and, unless a rule blocks it (422, nothing \
         stored), registers the application with one task per department and service. \
         `submitted` may not be after today. The answer holds the applicant's personal data.",
        vec![],
        responses(
            json!({ "201": {
                "description": "Registered; Location is its address.",
                "headers": { "Location": {
                    "description": "/applications/{id}", "schema": { "type": "string" },
                } },
                "content": { "application/json": { "schema": schema_ref("Application") } },
            } }),
            &["invalid_json", "invalid_parameter", "malformed_cadastral_number", "invalid_geometry",
              "unknown_service", "unknown_life_situation", "unknown_parcel", "geometry_too_large",
              "body_too_large", "route_blocked", "too_many_requests", "store_unavailable", "timeout",
              "internal"],
        ),
    ), "The request as for POST /route, with `applicant` (required) and `description`.",
        schema_ref("ApplicationRequest"),
        json!({
            "service": "building_permit",
            "cadastral": "16:50:011101:12",
            "applicant": { "name": "Гарипов Ильдар Ринатович", "phone": "+7 843 000-00-00" },
            "description": "A two-storey house",
        }),
    ));
    add(p, "/applications", "get", op(
        "Applications", "listApplications", "List applications",
        "Applications newest first, filtered, a page at a time (without history, geometry \
         and route: GET /applications/{id} has them). Other parameters are refused.",
        vec![
            query_param("status", "Only applications in this status.", false, json!({
                "type": "string",
                "enum": ["received", "in_progress", "revision_required", "approved", "approved_with_comments", "rejected"],
            })),
            query_param("department", "Only applications with a task for this department (its code; GET /departments).",
                false, json!({ "type": "string", "example": "HERITAGE" })),
            query_param("overdue", "`true`: only open applications with a task past due today; `false`: only the others.",
                false, json!({ "type": "boolean" })),
            query_param("limit", "Applications per page, at most the configured `max_items_limit` \
                (10000 by default; more is refused).", false,
                json!({ "type": "integer", "minimum": 0, "default": 100 })),
            query_param("offset", "Applications to skip.", false,
                json!({ "type": "integer", "minimum": 0, "default": 0 })),
        ],
        responses(
            json!({ "200": ok_json("A page of applications.", schema_ref("ApplicationList")) }),
            &["invalid_parameter", "store_unavailable", "internal"],
        ),
    ));
    add(p, "/applications/{id}", "get", op(
        "Applications", "getApplication", "One application",
        "An application with its tasks, due dates, overdue flags (today), history, plot \
         geometry and the route it was registered by.",
        vec![id()],
        responses(
            json!({ "200": ok_json("The application.", schema_ref("Application")) }),
            &["unknown_application", "store_unavailable", "internal"],
        ),
    ));
    add(p, "/applications/{id}/tasks/{task}/decision", "post", with_body(op(
        "Applications", "decideTask", "A department's decision on its task",
        "Records the decision on one task; the application's status follows \"most severe \
         wins\" (rejected > revision required > approved with comments > approved). Every \
         decision but `approved` needs a comment. A closed task or application takes no more \
         decisions (409); so does one changed by another decision meanwhile (`conflict`: retry).",
        vec![
            id(),
            path_param("task", "The task's number within the application (from 1, routing order).",
                json!({ "type": "integer", "format": "int32", "minimum": 1 }), json!(1)),
        ],
        responses(
            json!({ "200": ok_json("The application after the decision.", schema_ref("Application")) }),
            &["invalid_json", "comment_required", "unknown_application", "unknown_task",
              "task_closed", "application_closed", "conflict", "body_too_large",
              "store_unavailable", "internal"],
        ),
    ), "The decision and, unless it is `approved`, why.", schema_ref("DecisionRequest"), json!({
        "decision": "approved_with_comments",
        "comment": "Keep 2 m from the gas main.",
    })));
    add(p, "/stats", "get", op(
        "Applications", "getStats", "Statistics of applications",
        "Per service (or life situation) and per department: received, accepted, denied, in \
         progress, overdue today, and the median days to an answer.",
        vec![],
        responses(
            json!({ "200": ok_json("The statistics.", schema_ref("Stats")) }),
            &["store_unavailable", "internal"],
        ),
    ));
}

#[rustfmt::skip]
fn tiles_paths(p: &mut Map<String, Value>) {
    let layers = || path_param(
        "layers",
        "A public layer's code, or several comma-separated (each once, at most the configured \
         `max_tile_layers`, 32 by default) for one composite tile.",
        json!({ "type": "string", "pattern": "^[a-z][a-z0-9_]*(,[a-z][a-z0-9_]*)*$" }),
        json!("parcels,heritage_zones"),
    );
    let archive = || path_param(
        "name",
        "The archive's name (its file name without `.pmtiles`).",
        json!({ "type": "string" }),
        json!("city"),
    );
    let x = || tile_number_path("x", "Column, from 0 at the west (below 2^z).", 10_426);
    let y = || tile_number_path("y", "Row, from 0 at the north (below 2^z).", 5_118);
    add(p, "/tiles/{layers}.json", "get", op(
        "Tiles", "getTileJson", "TileJSON of a layer or a composite",
        "TileJSON 3.0.0 with absolute tile URLs, zooms, bounds, centre and each layer's \
         attributes (`vector_layers`). MapLibre and QGIS read it.",
        vec![layers()],
        responses(
            json!({ "200": ok_json("The TileJSON.", schema_ref("TileJson")) }),
            &["invalid_tile", "unknown_layer", "not_found"],
        ),
    ));
    add(p, "/tiles/{layers}/{z}/{x}/{y}.mvt", "get", op(
        "Tiles", "getXyzTile", "A vector tile (XYZ)",
        "A Mapbox Vector Tile of one layer or several, Web Mercator XYZ addressing (`.pbf` or \
         no suffix are accepted too). Not above the layers' highest zoom (TileJSON `maxzoom`). \
         Gzipped when the client accepts gzip; revalidate with If-None-Match.",
        vec![layers(), zoom_path("z", "Zoom."), x(), y(), if_none_match()],
        tile_responses(true, &["invalid_tile", "unknown_layer", "too_many_requests", "timeout", "internal"]),
    ));
    add(p, "/archives", "get", op(
        "Tiles", "listArchives", "The tile archives",
        "The PMTiles archives of the server's tiles folder (written by `imgis tiles export`), \
         with their zooms, bounds and links.",
        vec![],
        json!({ "200": ok_json("The archives.", schema_ref("ArchiveList")) }),
    ));
    add(p, "/archives/{name}.json", "get", op(
        "Tiles", "getArchiveTileJson", "TileJSON of a tile archive",
        "TileJSON 3.0.0 whose tile URLs point back at this server.",
        vec![archive()],
        responses(
            json!({ "200": ok_json("The TileJSON.", schema_ref("TileJson")) }),
            &["unknown_archive", "not_found"],
        ),
    ));
    add(p, "/archives/{name}/{z}/{x}/{y}.mvt", "get", op(
        "Tiles", "getArchiveTile", "A tile of a tile archive",
        "A tile as the archive stores it: gzipped when the client accepts gzip, else inflated.",
        vec![archive(), zoom_path("z", "Zoom."), x(), y()],
        tile_responses(false, &["unknown_archive", "not_found", "invalid_tile", "internal"]),
    ));
}

#[rustfmt::skip]
fn ogc_features_paths(p: &mut Map<String, Value>) {
    let tag = "OGC API – Features";
    let f_json = || f_param(&["json"], "Only `json` (the default).");
    let f_geojson = || f_param(&["json", "geojson"], "`json` or `geojson` (both GeoJSON; the default).");
    add(p, "/", "get", op(
        tag, "getLandingPage", "Landing page",
        "For clients (`f=json`, or without `f` an Accept header that does not name \
         text/html): the OGC API landing page with links to this description, the conformance \
         classes and the collections. For browsers (Accept names text/html) and `f=html`: the \
         web map.",
        vec![f_param(&["json", "html"], "`json` for the landing page; `html` (or any other value) for the web map.")],
        json!({
            "200": {
                "description": "The landing page (JSON) or the web map (HTML).",
                "content": {
                    "application/json": { "schema": schema_ref("LandingPage") },
                    "text/html": { "schema": { "type": "string" } },
                },
            },
            "304": { "description": "The web map: the client's copy is current." },
        }),
    ));
    add(p, "/conformance", "get", op(
        tag, "getConformance", "Conformance classes",
        "The OGC conformance classes implemented (Features Parts 1, 2 and 3, CQL2, OpenAPI 3.0).",
        vec![f_json()],
        responses(json!({ "200": ok_json("The classes.", schema_ref("Conformance")) }), &["invalid_parameter"]),
    ));
    add(p, "/collections", "get", op(
        tag, "getCollections", "The collections",
        "Every public layer as a collection of features, with extent, CRSs and links.",
        vec![f_json()],
        responses(json!({ "200": ok_json("The collections.", schema_ref("Collections")) }), &["invalid_parameter"]),
    ));
    add(p, "/collections/{layer}", "get", op(
        tag, "getCollection", "One collection",
        "A public layer as a collection, with the CRSs its items can be asked in (`crs`).",
        vec![collection_path(), f_json()],
        responses(
            json!({ "200": ok_json("The collection.", schema_ref("Collection")) }),
            &["invalid_parameter", "unknown_layer"],
        ),
    ));
    add(p, "/collections/{layer}/items", "get", op(
        tag, "getItems", "Features of a collection",
        "A page of features in id order, as GeoJSON (CRS84 unless `crs` asks for another; \
         Content-Crs says which). Besides the parameters below, `<property>=<value>` keeps the \
         features whose property equals the value, for every property \
         GET /collections/{layer}/queryables lists (`cadastral` on parcels). Any other \
         parameter, or one given twice, is refused. `next`/`prev` links page through; \
         `layer_version` says which version of the layer the page was read from. Gzipped \
         (Content-Encoding) when the client accepts gzip, as every OGC API – Features answer.",
        vec![
            collection_path(),
            json!({
                "name": "bbox", "in": "query", "required": false,
                "style": "form", "explode": false,
                "description": "Features meeting the box: lower corner then upper corner in the axis \
                                order of `bbox-crs` (CRS84: west,south,east,north in degrees; six numbers \
                                with heights are taken, heights ignored). Boxes across the antimeridian \
                                are not supported.",
                "schema": { "type": "array", "minItems": 4, "maxItems": 6, "items": { "type": "number" } },
                "example": [49.09, 55.79, 49.12, 55.81],
            }),
            crs_param("bbox-crs", "The CRS of `bbox` (only with bbox); CRS84 when absent."),
            crs_param("crs", "The CRS of the answer's geometries; CRS84 when absent."),
            query_param("filter", "A CQL2 filter (OGC API – Features Part 3): comparisons, AND/OR/NOT, \
                LIKE, IN, IS NULL and spatial predicates on `geometry`, naming only queryables.", false,
                json!({ "type": "string", "example": "permitted_use = 'деловое управление' AND \
                    S_INTERSECTS(geometry, POLYGON((49.09 55.79, 49.12 55.79, 49.12 55.81, 49.09 55.81, 49.09 55.79)))" })),
            query_param("filter-lang", "The language of `filter` (only with filter).", false,
                json!({ "type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text" })),
            query_param("filter-crs", "The CRS of the filter's geometries (only with filter): CRS84 only.", false,
                json!({ "type": "string", "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"] })),
            query_param("limit", "Features per page (at least 1); more than the configured \
                `max_items_limit` (10000 by default) is lowered to it.", false,
                json!({ "type": "integer", "minimum": 1, "default": 100 })),
            query_param("offset", "Features to skip (from `next` links).", false,
                json!({ "type": "integer", "minimum": 0, "default": 0 })),
            f_geojson(),
        ],
        responses(
            json!({ "200": geojson_ok("The page of features.", "FeatureCollection") }),
            &["invalid_parameter", "unknown_layer", "too_many_requests", "timeout", "internal"],
        ),
    ));
    add(p, "/collections/{layer}/items/{id}", "get", op(
        tag, "getItem", "One feature",
        "A feature by id, as GeoJSON (CRS84 unless `crs` asks for another). Other parameters \
         are refused.",
        vec![
            collection_path(),
            path_param("id", "The feature's id.", json!({ "type": "integer", "format": "int64" }), json!(1)),
            crs_param("crs", "The CRS of the answer's geometry; CRS84 when absent."),
            f_geojson(),
        ],
        responses(
            json!({ "200": geojson_ok("The feature.", "Feature") }),
            &["invalid_parameter", "unknown_layer", "unknown_feature", "internal"],
        ),
    ));
    let write_errors = || -> Vec<&'static str> {
        vec!["invalid_json", "invalid_geometry", "invalid_parameter", "malformed_cadastral_number",
             "unknown_layer", "duplicate_cadastral", "derived_layer", "body_too_large",
             "store_unavailable", "internal"]
    };
    let item_id = || path_param("id", "The feature's id.", json!({ "type": "integer", "format": "int64" }), json!(1));
    let example_square = |x: f64| json!({ "type": "Polygon", "coordinates": [[
        [x, 55.79], [x + 0.0005, 55.79], [x + 0.0005, 55.7903], [x, 55.7903], [x, 55.79]
    ]] });
    add(p, "/collections/{layer}/items", "post", with_body(op(
        tag, "createItem", "Add a feature",
        "Adds one feature (OGC API – Features Part 4) in one transaction: the layer's version \
         goes up by one, the index and its tiles follow at once, and an edit of a utility \
         network remakes the derived protection zones. Geometries are CRS84 and must be \
         valid and of the layer's geometry type; on a parcels layer `properties.cadastral` is \
         required and unique. The derived zones layer refuses edits (409).",
        vec![collection_path()],
        responses(
            json!({ "201": {
                "description": "Added; Location is its address.",
                "headers": { "Location": { "description": "/collections/{layer}/items/{id}", "schema": { "type": "string" } } },
                "content": { "application/json": { "schema": schema_ref("Feature") } },
            } }),
            &write_errors(),
        ),
    ), "A GeoJSON Feature.", schema_ref("FeatureInput"), json!({
        "type": "Feature",
        "geometry": example_square(49.2),
        "properties": { "cadastral": "16:50:999999:1", "address": "г. Казань, ул. Новая, д. 1" },
    })));
    add(p, "/collections/{layer}/items/{id}", "put", with_body(op(
        tag, "replaceItem", "Replace a feature",
        "Replaces a feature's geometry and properties, keeping its id (Part 4), in one \
         transaction, as POST does.",
        vec![collection_path(), item_id()],
        responses(
            json!({ "200": ok_json("The feature as stored.", schema_ref("Feature")) }),
            &[write_errors(), vec!["unknown_feature"]].concat(),
        ),
    ), "A GeoJSON Feature (its `id`, if given, must be the path's).", schema_ref("FeatureInput"), json!({
        "type": "Feature",
        "geometry": example_square(49.21),
        "properties": { "cadastral": "16:50:999999:2", "address": "г. Казань, ул. Новая, д. 3" },
    })));
    add(p, "/collections/{layer}/items/{id}", "patch", with_body(op(
        tag, "updateItem", "Update a feature",
        "Changes part of a feature (Part 4): `geometry`, when given, replaces the geometry; \
         `properties` are merged, and a property set to null is removed.",
        vec![collection_path(), item_id()],
        responses(
            json!({ "200": ok_json("The feature as stored.", schema_ref("Feature")) }),
            &[write_errors(), vec!["unknown_feature"]].concat(),
        ),
    ), "The changes.", schema_ref("FeaturePatch"), json!({
        "properties": { "ownership": "municipal" },
    })));
    add(p, "/collections/{layer}/items/{id}", "delete", op(
        tag, "deleteItem", "Delete a feature",
        "Deletes a feature (Part 4) in one transaction; the layer's version goes up by one.",
        vec![collection_path(), item_id()],
        responses(
            json!({ "204": { "description": "Deleted." } }),
            &["invalid_parameter", "unknown_layer", "unknown_feature", "derived_layer", "store_unavailable", "internal"],
        ),
    ));
    add(p, "/collections/{layer}/queryables", "get", op(
        tag, "getQueryables", "The properties features can be filtered on",
        "A JSON Schema of the properties /items takes as `<property>=<value>`.",
        vec![collection_path()],
        responses(
            json!({ "200": content("application/schema+json", "The queryables.", schema_ref("Queryables")) }),
            &["unknown_layer"],
        ),
    ));
}

#[rustfmt::skip]
fn ogc_tiles_paths(p: &mut Map<String, Value>) {
    let tag = "OGC API – Tiles";
    add(p, "/collections/{layer}/tiles", "get", op(
        tag, "getTilesets", "A collection's tilesets",
        "The vector tilesets of a public layer: one, in WebMercatorQuad.",
        vec![collection_path()],
        responses(
            json!({ "200": ok_json("The tilesets.", schema_ref("TileSetList")) }),
            &["invalid_tile", "unknown_layer"],
        ),
    ));
    add(p, "/collections/{layer}/tiles/{tms}", "get", op(
        tag, "getTileset", "A tileset",
        "The tileset's metadata: tile matrix limits per zoom, bounding box, the layer's \
         attributes, and the tile URL template.",
        vec![collection_path(), tms_path()],
        responses(
            json!({ "200": ok_json("The tileset.", schema_ref("TileSet")) }),
            &["invalid_tile", "unknown_layer", "unknown_tile_matrix_set"],
        ),
    ));
    add(p, "/collections/{layer}/tiles/{tms}/{matrix}/{row}/{col}", "get", op(
        tag, "getTile", "A vector tile (OGC)",
        "The same tile as /tiles/{layers}/{z}/{x}/{y}.mvt, addressed tile matrix (zoom), row, \
         column: z/y/x.",
        vec![
            collection_path(),
            tms_path(),
            zoom_path("matrix", "The tile matrix: the zoom."),
            tile_number_path("row", "Row, from 0 at the north (below 2^matrix).", 5_118),
            tile_number_path("col", "Column, from 0 at the west (below 2^matrix).", 10_426),
            if_none_match(),
        ],
        tile_responses(true, &["invalid_tile", "unknown_layer", "unknown_tile_matrix_set", "too_many_requests",
            "timeout", "internal"]),
    ));
    add(p, "/tileMatrixSets", "get", op(
        tag, "getTileMatrixSets", "The tile matrix sets",
        "The tile matrix sets offered: WebMercatorQuad.",
        vec![],
        json!({ "200": ok_json("The tile matrix sets.", schema_ref("TileMatrixSets")) }),
    ));
    add(p, "/tileMatrixSets/{tms}", "get", op(
        tag, "getTileMatrixSet", "A tile matrix set",
        "The WebMercatorQuad definition (OGC 2D Tile Matrix Set 2.0): 256-pixel tiles, \
         EPSG:3857, zooms 0 to 24.",
        vec![tms_path()],
        responses(
            json!({ "200": ok_json("The tile matrix set.", schema_ref("TileMatrixSet")) }),
            &["unknown_tile_matrix_set"],
        ),
    ));
}

/// A small plot in the demo city's centre (about 19 × 22 m).
fn example_polygon() -> Value {
    json!({
        "type": "Polygon",
        "coordinates": [[
            [49.1050, 55.7985], [49.1053, 55.7985], [49.1053, 55.7987],
            [49.1050, 55.7987], [49.1050, 55.7985],
        ]],
    })
}

// ---------------------------------------------------------------------------
// Schemas of the answers and bodies.

fn string() -> Value {
    json!({ "type": "string" })
}
fn nullable_string() -> Value {
    json!({ "type": "string", "nullable": true })
}
fn integer() -> Value {
    json!({ "type": "integer", "format": "int64" })
}
fn number() -> Value {
    json!({ "type": "number" })
}
fn boolean() -> Value {
    json!({ "type": "boolean" })
}
fn date() -> Value {
    json!({ "type": "string", "format": "date" })
}
fn date_time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}
fn bbox4() -> Value {
    json!({
        "type": "array", "minItems": 4, "maxItems": 4, "items": { "type": "number" },
        "description": "[west, south, east, north], EPSG:4326 lon/lat degrees.",
    })
}
fn any_object(description: &str) -> Value {
    json!({ "type": "object", "additionalProperties": true, "description": description })
}
/// An object schema; `required` is left out when empty (OpenAPI 3.0 wants it non-empty).
fn object(required: &[&str], properties: Value) -> Value {
    let mut o = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}
fn action() -> Value {
    json!({
        "type": "string", "enum": ["consult", "approve", "block"],
        "description": "consult: an opinion, not waited for; approve: must approve; block: cannot be granted here.",
    })
}
fn links() -> Value {
    array_of(schema_ref("Link"))
}
fn kind() -> Value {
    json!({ "type": "string", "enum": ["parcels", "utilities", "zones", "other"] })
}

#[rustfmt::skip]
fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    let mut add = |name: &str, schema: Value| {
        s.insert(name.to_owned(), schema);
    };
    add("Error", object(&["error", "message"], json!({
        "error": { "type": "string", "description": "A stable code for programs.",
                   "enum": ERROR_CODES.iter().map(|(c, _, _)| *c).collect::<Vec<_>>() },
        "message": { "type": "string", "description": "A sentence for people." },
        "report": { "allOf": [schema_ref("ImportReport")],
                    "description": "`import_rejected` only: the import's report, listing the refused features." },
    })));
    add("ImportReport", object(
        &["outcome", "file", "format", "source_crs", "crs_from", "layer", "mode", "invalid",
          "dry_run", "created", "read", "imported", "skipped", "repaired", "rejected", "issues",
          "issues_not_listed", "notes", "bytes", "seconds"],
        json!({
            "outcome": { "type": "string", "enum": ["imported", "checked", "rejected"],
                         "description": "checked: a dry run that would have imported." },
            "file": string(),
            "format": string(),
            "source_layer": nullable_string(),
            "source_crs": { "type": "string", "description": "The CRS the coordinates were read in, e.g. EPSG:28992." },
            "crs_from": { "type": "string", "enum": ["--srs", "file", "assumed"] },
            "layer": string(),
            "mode": { "type": "string", "enum": ["replace", "append"] },
            "invalid": { "type": "string", "enum": ["reject", "skip", "repair"] },
            "dry_run": boolean(),
            "created": { "type": "boolean", "description": "The import made the layer." },
            "cadastral_field": nullable_string(),
            "read": integer(), "imported": integer(), "skipped": integer(),
            "repaired": integer(), "rejected": integer(),
            "issues": array_of(object(&["index", "problem", "reason", "action"], json!({
                "index": { "type": "integer", "description": "0-based position in the file." },
                "problem": { "type": "string", "enum": ["null", "empty", "invalid", "wrong_type",
                    "out_of_bounds", "unreadable", "reprojection", "cadastral", "duplicate_cadastral"] },
                "reason": string(),
                "action": { "type": "string", "enum": ["repaired", "skipped", "rejected"] },
            }))),
            "issues_not_listed": integer(),
            "notes": array_of(string()),
            "layer_version": { "type": "integer", "nullable": true,
                               "description": "The layer's version after the import; null when nothing was written." },
            "layer_features": { "type": "integer", "nullable": true },
            "bytes": integer(),
            "seconds": number(),
        }),
    ));
    add("Link", object(&["rel", "href"], json!({
        "rel": string(), "href": string(), "type": string(), "title": string(),
        "templated": boolean(),
    })));
    add("LayerRef", json!({
        "type": "object", "required": ["code", "version"],
        "description": "A layer and the version an answer was read from (each write bumps it).",
        "properties": { "code": string(), "version": integer() },
    }));
    add("Geometry", json!({
        "type": "object", "required": ["type"],
        "description": "A GeoJSON geometry: EPSG:4326 lon/lat degrees, or the CRS a `crs` parameter asked for.",
        "properties": {
            "type": { "type": "string", "enum": ["Point", "LineString", "Polygon", "MultiPoint",
                "MultiLineString", "MultiPolygon", "GeometryCollection"] },
            "coordinates": { "type": "array", "items": {} },
            "geometries": { "type": "array", "items": { "type": "object" } },
        },
    }));
    add("PolygonGeometry", json!({
        "type": "object", "required": ["type", "coordinates"],
        "description": "A GeoJSON Polygon or MultiPolygon, EPSG:4326 lon/lat degrees: rings \
                        closed, OGC-valid, at most `max_plot_vertices` (1000 by default) in all.",
        "properties": {
            "type": { "type": "string", "enum": ["Polygon", "MultiPolygon"] },
            "coordinates": { "type": "array", "items": { "type": "array", "items": {} } },
        },
    }));
    add("Layer", object(
        &["code", "title", "kind", "geometry_type", "public", "version", "feature_count", "links"],
        json!({
            "code": string(),
            "title": string(),
            "description": string(),
            "kind": kind(),
            "department": nullable_string(),
            "geometry_type": { "type": "string", "enum": ["Point", "LineString", "Polygon",
                "MultiPoint", "MultiLineString", "MultiPolygon", "Geometry"] },
            "public": boolean(),
            "version": integer(),
            "updated_at": date_time(),
            "feature_count": integer(),
            "bbox": { "type": "array", "items": number(), "nullable": true,
                      "description": "[west, south, east, north]; null for an empty layer." },
            "minzoom": integer(),
            "maxzoom": integer(),
            "links": links(),
        }),
    ));
    add("Department", object(&["code", "name", "external"], json!({
        "code": { "type": "string", "example": "KZIO" },
        "name": string(),
        "external": { "type": "boolean", "description": "Outside the city administration." },
    })));
    add("Health", object(&["status", "store", "index", "layers"], json!({
        "status": { "type": "string", "enum": ["ok", "degraded"] },
        "store": object(&["backend", "reachable"], json!({
            "backend": { "type": "string", "example": "gpkg" },
            "location": string(),
            "reachable": boolean(),
            "error": nullable_string(),
        })),
        "index": object(&["loaded", "layers", "features"], json!({
            "loaded": boolean(), "layers": integer(), "features": integer(),
            "build_ms": integer(), "memory_bytes": integer(),
        })),
        "layers": array_of(object(&["code", "features", "version"], json!({
            "code": string(), "features": integer(), "version": integer(), "updated_at": date_time(),
        }))),
    })));
    add("Parcel", object(&["type", "id", "geometry", "properties", "area_m2", "layer"], json!({
        "type": { "type": "string", "enum": ["Feature"] },
        "id": integer(),
        "geometry": schema_ref("Geometry"),
        "properties": any_object("The parcel's attributes, with `cadastral`."),
        "area_m2": { "type": "number", "description": "Geodesic area on WGS 84, m², to 0.1." },
        "layer": object(&["code", "version"], json!({
            "code": string(), "version": integer(), "updated_at": date_time(),
        })),
    })));
    constraint_schemas(&mut add);
    routing_schemas(&mut add);
    application_schemas(&mut add);
    tile_schemas(&mut add);
    feature_schemas(&mut add);
    s
}

#[rustfmt::skip]
fn constraint_schemas(add: &mut impl FnMut(&str, Value)) {
    add("PlotSummary", object(&["area_m2", "bbox"], json!({
        "area_m2": { "type": "number", "description": "Planar area in the metric CRS, m²." },
        "bbox": bbox4(),
        "cadastral": { "type": "string", "description": "For a stored parcel." },
        "parcel": object(&["layer", "version", "feature_id"], json!({
            "layer": string(), "version": integer(), "feature_id": integer(),
        })),
        "note": { "type": "string", "description": "Why the geometry was taken with care." },
    })));
    add("ZoneOverlap", object(
        &["zone_type", "department", "layer", "feature_id", "overlap_m2", "overlap_percent", "properties"],
        json!({
            "zone_type": nullable_string(),
            "department": { "type": "string", "nullable": true, "description": "Who approves (the zone layer's department)." },
            "layer": schema_ref("LayerRef"),
            "feature_id": integer(),
            "overlap_m2": { "type": "number", "description": "Plot ∩ zone, m² in the metric CRS." },
            "overlap_percent": { "type": "number", "description": "Of the plot's area." },
            "properties": any_object("The zone's attributes."),
            "note": string(),
        }),
    ));
    add("ConstraintsReport", object(
        &["plot", "metric_srs", "constraints", "slivers", "sliver_tolerance_m2", "checked_layers",
          "checked_zone_types", "zone_types_not_found"],
        json!({
            "plot": schema_ref("PlotSummary"),
            "metric_srs": { "type": "string", "description": "The CRS areas are measured in." },
            "constraints": { "type": "array", "items": schema_ref("ZoneOverlap"),
                             "description": "Zones overlapping by at least the tolerance, largest first." },
            "slivers": { "type": "array", "items": schema_ref("ZoneOverlap"),
                         "description": "Zones touching the plot or overlapping by less than the tolerance." },
            "sliver_tolerance_m2": number(),
            "checked_layers": array_of(schema_ref("LayerRef")),
            "checked_zone_types": array_of(string()),
            "zone_types_not_found": array_of(string()),
        }),
    ));
    add("DrawnPlot", json!({
        "type": "object", "required": ["geometry"], "additionalProperties": false,
        "properties": {
            "geometry": schema_ref("PolygonGeometry"),
            "layers": { "type": "array", "minItems": 1, "items": string(),
                        "description": "Zone layer codes to read; every zone layer when absent." },
        },
    }));
    add("IdentifyAnswer", object(&["lon", "lat", "layers"], json!({
        "lon": number(),
        "lat": number(),
        "layers": array_of(object(&["layer", "kind", "title", "department", "features"], json!({
            "layer": schema_ref("LayerRef"),
            "kind": kind(),
            "title": string(),
            "department": nullable_string(),
            "features": array_of(object(&["id", "properties"], json!({
                "id": integer(),
                "cadastral": { "type": "string", "description": "For parcels." },
                "properties": any_object("The feature's attributes."),
            }))),
        }))),
    })));
    add("NearestAnswer", object(&["from", "metric_srs", "networks"], json!({
        "from": {
            "description": "The point measured from, or the parcel (as a plot summary).",
            "oneOf": [
                object(&["lon", "lat"], json!({ "lon": number(), "lat": number() })),
                schema_ref("PlotSummary"),
            ],
        },
        "metric_srs": string(),
        "networks": array_of(object(&["layer", "department", "feature_id", "distance_m", "properties"], json!({
            "layer": schema_ref("LayerRef"),
            "department": nullable_string(),
            "feature_id": integer(),
            "distance_m": { "type": "number", "description": "Planar distance in the metric CRS, metres." },
            "properties": any_object("The line's attributes (diameter, pressure, voltage …)."),
        }))),
    })));
}

/// The body of `POST /route` and (with `applicant` required) `POST /applications`.
#[rustfmt::skip]
fn route_request(for_application: bool) -> Value {
    let mut properties = json!({
        "service": { "type": "string", "description": "A service code (GET /catalog).", "example": "excavation_order" },
        "life_situation": { "type": "string", "description": "Or a life situation code.", "example": "build_office" },
        "cadastral": { "type": "string", "description": "A stored parcel …", "example": "16:50:011101:12" },
        "geometry": schema_ref("PolygonGeometry"),
        "submitted": { "type": "string", "format": "date",
                       "description": "The day of submission, YYYY-MM-DD; today when absent." },
        "applicant": {
            "type": "object", "required": ["name"], "additionalProperties": true,
            "description": "Who applies: a person or an organisation, kept as given (at most 16 KiB).",
            "properties": { "name": { "type": "string", "minLength": 1 } },
        },
        "description": { "type": "string", "maxLength": 4000, "description": "What the application is about." },
    });
    if !for_application {
        properties["applicant"]["description"] = json!("Ignored by a dry run.");
        properties["description"]["description"] = json!("Ignored by a dry run.");
    }
    let mut schema = json!({
        "type": "object",
        "additionalProperties": false,
        "description": "Exactly one of `service` and `life_situation`, and one of `cadastral` \
                        and `geometry` (an area the applicant drew).",
        "properties": properties,
    });
    if for_application {
        schema["required"] = json!(["applicant"]);
    }
    schema
}

#[rustfmt::skip]
fn routing_schemas(add: &mut impl FnMut(&str, Value)) {
    add("RouteRequest", route_request(false));
    add("ApplicationRequest", route_request(true));
    add("Deadline", object(&["days", "kind"], json!({
        "days": { "type": "integer", "minimum": 1 },
        "kind": { "type": "string", "enum": ["working", "calendar"] },
    })));
    add("ZoneReason", object(
        &["zone_type", "zone_type_name", "legal_basis", "layer", "feature_id", "overlap_m2", "overlap_percent"],
        json!({
            "zone_type": string(), "zone_type_name": string(), "legal_basis": string(),
            "layer": schema_ref("LayerRef"), "feature_id": integer(),
            "overlap_m2": number(), "overlap_percent": number(),
        }),
    ));
    add("Reason", object(&["kind", "action", "note"], json!({
        "kind": { "type": "string", "enum": ["provider", "rule"],
                  "description": "provider: the department provides the service; rule: a catalog rule applies." },
        "rule": { "type": "integer", "description": "The rule's number in catalog order, from 1." },
        "label": { "type": "string", "example": "rule #4 (building_permit × heritage_protection → HERITAGE)" },
        "action": action(),
        "condition": string(),
        "note": { "type": "string", "description": "In the regulation's words." },
        "zone": schema_ref("ZoneReason"),
    })));
    add("BlockReason", json!({
        "description": "A blocking rule, with the service it blocks and its department.",
        "allOf": [
            object(&["service", "department"], json!({ "service": string(), "department": string() })),
            schema_ref("Reason"),
        ],
    }));
    add("StepPlan", object(
        &["service", "name", "department", "after", "deadline", "deadline_source", "start", "due", "critical"],
        json!({
            "service": string(), "name": string(), "department": string(),
            "after": { "type": "array", "items": string(), "description": "Services this step waits for." },
            "deadline": schema_ref("Deadline"),
            "deadline_source": { "type": "string", "description": "`service`, or the rule that set it." },
            "start": date(), "due": date(),
            "critical": { "type": "boolean", "description": "On the critical path." },
        }),
    ));
    add("Approval", object(
        &["service", "department", "department_name", "external", "action", "start", "due", "reasons"],
        json!({
            "service": string(), "department": string(), "department_name": string(),
            "external": boolean(), "action": action(), "start": date(), "due": date(),
            "reasons": array_of(schema_ref("Reason")),
        }),
    ));
    add("DepartmentSummary", object(
        &["department", "name", "external", "services", "action", "due"],
        json!({
            "department": string(), "name": string(), "external": boolean(),
            "services": array_of(string()), "action": action(), "due": date(),
        }),
    ));
    add("CatalogRevision", object(&["revision", "source", "loaded_at"], json!({
        "revision": integer(), "source": string(), "loaded_at": date_time(),
    })));
    add("RoutePlan", object(
        &["target", "submitted", "due", "blocked", "block_reasons", "steps", "approvals",
          "departments", "plot", "checked_layers", "slivers_ignored", "catalog_revision"],
        json!({
            "target": object(&["kind", "code", "name"], json!({
                "kind": { "type": "string", "enum": ["service", "life_situation"] },
                "code": string(), "name": string(),
            })),
            "submitted": date(),
            "due": { "type": "string", "format": "date", "description": "The end of the critical path." },
            "blocked": { "type": "boolean", "description": "A rule forbids this at this plot." },
            "block_reasons": array_of(schema_ref("BlockReason")),
            "steps": array_of(schema_ref("StepPlan")),
            "approvals": array_of(schema_ref("Approval")),
            "departments": array_of(schema_ref("DepartmentSummary")),
            "plot": schema_ref("PlotSummary"),
            "checked_layers": array_of(schema_ref("LayerRef")),
            "slivers_ignored": integer(),
            "catalog_revision": schema_ref("CatalogRevision"),
        }),
    ));
    add("Catalog", object(
        &["departments", "zone_types", "buffer_rules", "services", "life_situations", "rules", "calendar", "revision"],
        json!({
            "departments": array_of(schema_ref("Department")),
            "zone_types": array_of(any_object("A zone type: code, name, legal basis …")),
            "buffer_rules": array_of(any_object("How a network's protection zone is drawn around its lines.")),
            "services": array_of(object(&["code", "name", "department", "deadline_days", "deadline_kind"], json!({
                "code": string(), "name": string(), "department": string(),
                "deadline_days": { "type": "integer", "minimum": 1 },
                "deadline_kind": { "type": "string", "enum": ["working", "calendar"] },
            }))),
            "life_situations": array_of(any_object("A bundle of services with the order they go in.")),
            "rules": array_of(any_object("A routing rule: service × zone type (and conditions) → department, action.")),
            "calendar": any_object("Days off beyond the weekends, and weekend days declared working."),
            "revision": schema_ref("CatalogRevision"),
        }),
    ));
}

#[rustfmt::skip]
fn application_schemas(add: &mut impl FnMut(&str, Value)) {
    let status = json!({ "type": "string", "enum": ["received", "in_progress", "revision_required",
        "approved", "approved_with_comments", "rejected"] });
    let decision = json!({ "type": "string",
        "enum": ["approved", "approved_with_comments", "revision_required", "rejected"] });
    add("Task", object(
        &["id", "service", "department", "action", "start", "due", "status", "comment", "decided_at", "reasons", "overdue"],
        json!({
            "id": { "type": "integer", "format": "int32", "description": "The task's number, from 1." },
            "service": string(), "department": string(), "action": action(),
            "start": date(), "due": date(),
            "status": { "type": "string", "enum": ["pending", "approved", "approved_with_comments",
                "revision_required", "rejected", "cancelled"] },
            "comment": nullable_string(),
            "decided_at": { "type": "string", "format": "date-time", "nullable": true },
            "reasons": array_of(schema_ref("Reason")),
            "overdue": { "type": "boolean", "description": "Open and past due today." },
        }),
    ));
    add("Event", object(&["at", "status"], json!({
        "at": date_time(),
        "status": status.clone(),
        "task": { "type": "integer", "format": "int32" },
        "department": string(),
        "decision": decision.clone(),
        "comment": string(),
    })));
    add("Application", object(
        &["id", "target", "status", "submitted", "due", "cadastral", "plot", "applicant", "description",
          "catalog_revision", "revision", "created_at", "updated_at", "closed_at", "tasks", "overdue"],
        json!({
            "id": integer(),
            "target": object(&["kind", "code", "name"], json!({
                "kind": { "type": "string", "enum": ["service", "life_situation"] },
                "code": string(), "name": nullable_string(),
            })),
            "status": status,
            "submitted": date(), "due": date(),
            "cadastral": nullable_string(),
            "plot": schema_ref("PlotSummary"),
            "applicant": any_object("Who applies, as given (personal data)."),
            "description": nullable_string(),
            "catalog_revision": integer(),
            "revision": { "type": "integer", "format": "int64", "description": "+1 with every change." },
            "created_at": date_time(), "updated_at": date_time(),
            "closed_at": { "type": "string", "format": "date-time", "nullable": true },
            "tasks": array_of(schema_ref("Task")),
            "history": { "type": "array", "items": schema_ref("Event"),
                         "description": "Oldest first; not in lists." },
            "overdue": { "type": "boolean", "description": "Open with a task past due today." },
            "geometry": { "allOf": [schema_ref("Geometry")], "description": "The plot (MultiPolygon); not in lists." },
            "route": { "allOf": [schema_ref("RoutePlan")], "description": "The route at registration; not in lists." },
        }),
    ));
    add("ApplicationList", object(&["applications", "returned", "limit", "offset", "today"], json!({
        "applications": array_of(schema_ref("Application")),
        "returned": integer(), "limit": integer(), "offset": integer(), "today": date(),
    })));
    add("DecisionRequest", json!({
        "type": "object", "required": ["decision"], "additionalProperties": false,
        "properties": {
            "decision": decision,
            "comment": { "type": "string", "description": "Required unless the decision is `approved`." },
        },
    }));
    add("StatsRow", object(&["received", "accepted", "denied", "in_progress", "median_days", "overdue"], json!({
        "received": integer(), "accepted": integer(), "denied": integer(), "in_progress": integer(),
        "median_days": { "type": "number", "nullable": true,
                         "description": "Median calendar days to an answer; null while none is answered." },
        "overdue": integer(),
    })));
    add("Stats", object(&["today", "total", "by_service", "by_department"], json!({
        "today": date(),
        "total": schema_ref("StatsRow"),
        "by_service": { "type": "object", "additionalProperties": schema_ref("StatsRow"),
                        "description": "Keyed `service:CODE` or `life_situation:CODE`." },
        "by_department": { "type": "object", "additionalProperties": schema_ref("StatsRow"),
                           "description": "Keyed by department code; counts its tasks." },
    })));
}

#[rustfmt::skip]
fn tile_schemas(add: &mut impl FnMut(&str, Value)) {
    add("TileJson", object(&["tilejson", "tiles"], json!({
        "tilejson": { "type": "string", "enum": ["3.0.0"] },
        "name": string(), "description": string(), "version": string(), "attribution": string(),
        "scheme": { "type": "string", "enum": ["xyz"] },
        "tiles": array_of(string()),
        "minzoom": integer(), "maxzoom": integer(),
        "bounds": bbox4(),
        "center": { "type": "array", "items": number(), "description": "[lon, lat, zoom]." },
        "vector_layers": array_of(object(&["id"], json!({
            "id": string(), "description": string(), "minzoom": integer(), "maxzoom": integer(),
            "fields": { "type": "object", "additionalProperties": string() },
        }))),
    })));
    add("ArchiveList", object(&["archives"], json!({
        "archives": array_of(object(&["name", "minzoom", "maxzoom", "bounds", "links"], json!({
            "name": string(), "minzoom": integer(), "maxzoom": integer(),
            "bounds": bbox4(), "links": links(),
        }))),
    })));
    let tileset_entry = object(&["dataType", "crs", "links"], json!({
        "title": string(),
        "dataType": { "type": "string", "enum": ["vector"] },
        "crs": string(), "tileMatrixSetURI": string(), "links": links(),
    }));
    add("TileSetList", object(&["tilesets"], json!({
        "links": links(), "tilesets": array_of(tileset_entry),
    })));
    add("TileSet", object(&["dataType", "crs", "links"], json!({
        "title": string(), "description": string(),
        "dataType": { "type": "string", "enum": ["vector"] },
        "crs": string(), "tileMatrixSetURI": string(),
        "tileMatrixSetLimits": array_of(object(
            &["tileMatrix", "minTileRow", "maxTileRow", "minTileCol", "maxTileCol"],
            json!({ "tileMatrix": string(), "minTileRow": integer(), "maxTileRow": integer(),
                    "minTileCol": integer(), "maxTileCol": integer() }),
        )),
        "boundingBox": object(&["lowerLeft", "upperRight"], json!({
            "lowerLeft": array_of(number()), "upperRight": array_of(number()), "crs": string(),
        })),
        "layers": array_of(object(&["id", "dataType"], json!({
            "id": string(), "title": string(), "dataType": string(), "geometryType": string(),
            "minTileMatrix": string(), "maxTileMatrix": string(),
            "propertiesSchema": any_object("JSON Schema of the layer's attributes."),
        }))),
        "links": links(),
    })));
    add("TileMatrixSets", object(&["tileMatrixSets"], json!({
        "tileMatrixSets": array_of(object(&["id", "links"], json!({
            "id": string(), "title": string(), "uri": string(), "links": links(),
        }))),
    })));
    add("TileMatrixSet", object(&["id", "crs", "tileMatrices"], json!({
        "id": string(), "title": string(), "uri": string(), "crs": string(),
        "orderedAxes": array_of(string()), "wellKnownScaleSet": string(),
        "tileMatrices": array_of(object(
            &["id", "scaleDenominator", "cellSize", "pointOfOrigin", "tileWidth", "tileHeight",
              "matrixWidth", "matrixHeight"],
            json!({
                "id": string(), "scaleDenominator": number(), "cellSize": number(),
                "cornerOfOrigin": { "type": "string", "enum": ["topLeft"] },
                "pointOfOrigin": array_of(number()),
                "tileWidth": integer(), "tileHeight": integer(),
                "matrixWidth": integer(), "matrixHeight": integer(),
            }),
        )),
    })));
}

#[rustfmt::skip]
fn feature_schemas(add: &mut impl FnMut(&str, Value)) {
    add("LandingPage", object(&["links"], json!({
        "title": string(), "description": string(), "links": links(),
    })));
    add("Conformance", object(&["conformsTo"], json!({
        "conformsTo": array_of(string()), "links": links(),
    })));
    add("Collection", object(&["id", "links"], json!({
        "id": string(), "title": string(), "description": string(),
        "itemType": { "type": "string", "enum": ["feature"] },
        "crs": { "type": "array", "items": string(), "description": "The CRSs items can be asked in (`crs`)." },
        "storageCrs": string(),
        "links": links(),
        "extent": object(&[], json!({
            "spatial": object(&["bbox"], json!({
                "bbox": array_of(bbox4()), "crs": string(),
            })),
        })),
        "imgis": object(&[], json!({
            "kind": kind(), "department": nullable_string(), "geometry_type": string(),
            "version": integer(), "updated_at": date_time(), "feature_count": integer(),
        })),
    })));
    add("Collections", object(&["links", "collections"], json!({
        "links": links(), "collections": array_of(schema_ref("Collection")),
    })));
    add("Feature", object(&["type", "id", "geometry", "properties"], json!({
        "type": { "type": "string", "enum": ["Feature"] },
        "id": integer(),
        "geometry": schema_ref("Geometry"),
        "properties": any_object("The feature's attributes (`cadastral` first on parcels)."),
        "links": links(),
        "layer_version": { "type": "integer", "format": "int64",
                           "description": "After a write: the layer's version that holds it." },
    })));
    add("FeatureInput", object(&["type", "geometry"], json!({
        "type": { "type": "string", "enum": ["Feature"] },
        "id": { "type": "integer", "format": "int64",
                "description": "Optional on PUT; when given, the id of the path." },
        "geometry": schema_ref("Geometry"),
        "properties": any_object("The attributes; on a parcels layer `cadastral` (NN:NN:NNNNNN[N]:N…) is required."),
    })));
    add("FeaturePatch", object(&[], json!({
        "type": { "type": "string", "enum": ["Feature"] },
        "id": { "type": "integer", "format": "int64" },
        "geometry": schema_ref("Geometry"),
        "properties": any_object("Merged into the feature's attributes; a property set to null is removed."),
    })));
    add("FeatureCollection", object(
        &["type", "features", "numberMatched", "numberReturned", "timeStamp", "links", "layer_version"],
        json!({
            "type": { "type": "string", "enum": ["FeatureCollection"] },
            "features": array_of(schema_ref("Feature")),
            "numberMatched": integer(), "numberReturned": integer(),
            "timeStamp": date_time(),
            "links": links(),
            "layer_version": { "type": "integer", "format": "int64",
                               "description": "The layer version the page was read from." },
        }),
    ));
    add("Queryables", object(&["type", "properties"], json!({
        "$schema": string(), "$id": string(),
        "type": { "type": "string", "enum": ["object"] },
        "title": string(),
        "properties": { "type": "object", "additionalProperties": object(&["type"], json!({
            "title": string(), "type": { "type": "string", "enum": ["string", "number", "boolean"] },
        })) },
    })));
}

// ---------------------------------------------------------------------------
// The page for people.

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Inline `code` spans of a description, escaped.
fn prose(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

/// A schema in a few words: `Name` for a reference, else its type (an
/// inline object with its properties, one level deep).
fn schema_words(schema: &Value) -> String {
    match schema.get("properties").and_then(Value::as_object) {
        Some(props) if schema.get("type") == Some(&json!("object")) => {
            let fields: Vec<String> = props
                .iter()
                .map(|(name, s)| format!("{}: {}", escape(name), type_words(s)))
                .collect();
            format!("object {{ {} }}", fields.join(", "))
        }
        _ => type_words(schema),
    }
}

fn type_words(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    let mut words = match kind {
        "array" => format!(
            "array of {}",
            type_words(schema.get("items").unwrap_or(&Value::Null))
        ),
        other => escape(other),
    };
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values
            .iter()
            .map(|v| match v {
                Value::String(s) => escape(s),
                v => escape(&v.to_string()),
            })
            .collect();
        let _ = write!(words, ": {}", values.join(" | "));
    }
    for (key, label) in [
        ("minimum", "≥ "),
        ("maximum", "≤ "),
        ("default", "default "),
    ] {
        if let Some(v) = schema.get(key) {
            let _ = write!(words, ", {label}{}", escape(&v.to_string()));
        }
    }
    words
}

fn pretty(value: &Value) -> String {
    escape(&serde_json::to_string_pretty(value).unwrap_or_default())
}

const PAGE_STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;color:#222}\
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ccc;margin-top:2rem}\
.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}\
.op h3{margin:.2rem 0;font-size:1.05rem}.m{display:inline-block;min-width:3.5rem;font-weight:bold;text-transform:uppercase}\
.get{color:#1b6e2c}.post{color:#9a4d00}.sum{color:#444;font-weight:normal}\
table{border-collapse:collapse;margin:.3rem 0 .6rem}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}\
th{background:#f4f4f4}code{background:#f3f3f3;padding:0 .2rem;border-radius:3px}\
pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:13px}nav a{margin-right:.8rem}";

fn render_html(doc: &Value) -> String {
    let mut h = String::new();
    let info = &doc["info"];
    let title = info["title"].as_str().unwrap_or("API");
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} HTTP API</title><style>{PAGE_STYLE}</style></head><body>\
         <h1>{t} HTTP API</h1><p>Version {v}. {d}</p>\
         <p>The machine-readable description: <a href=\"api\">/api</a> (OpenAPI 3.0, JSON). \
         Paths are relative to this server.</p><nav>",
        t = escape(title),
        v = escape(info["version"].as_str().unwrap_or("")),
        d = prose(info["description"].as_str().unwrap_or("")),
    );
    let tags: Vec<&Value> = doc["tags"]
        .as_array()
        .map(|t| t.iter().collect())
        .unwrap_or_default();
    for (i, tag) in tags.iter().enumerate() {
        let _ = write!(
            h,
            "<a href=\"#tag-{i}\">{}</a>",
            escape(tag["name"].as_str().unwrap_or(""))
        );
    }
    h.push_str("<a href=\"#schemas\">Schemas</a></nav>");
    let empty = Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    for (i, tag) in tags.iter().enumerate() {
        let name = tag["name"].as_str().unwrap_or("");
        let _ = write!(
            h,
            "<h2 id=\"tag-{i}\">{}</h2><p>{}</p>",
            escape(name),
            prose(tag["description"].as_str().unwrap_or(""))
        );
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                let in_tag = op["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == name));
                if in_tag {
                    render_operation(&mut h, path, method, op);
                }
            }
        }
    }
    h.push_str("<h2 id=\"schemas\">Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = write!(
                h,
                "<details id=\"schema-{n}\"><summary><code>{n}</code></summary><pre>{}</pre></details>",
                pretty(schema),
                n = escape(name)
            );
        }
    }
    h.push_str("</body></html>\n");
    h
}

fn render_operation(h: &mut String, path: &str, method: &str, op: &Value) {
    let _ = write!(
        h,
        "<div class=\"op\" id=\"{id}\"><h3><span class=\"m {m}\">{m}</span> <code>{p}</code> \
         <span class=\"sum\">— {s}</span></h3><p>{d}</p>",
        id = escape(op["operationId"].as_str().unwrap_or("")),
        m = escape(method),
        p = escape(path),
        s = escape(op["summary"].as_str().unwrap_or("")),
        d = prose(op["description"].as_str().unwrap_or("")),
    );
    if let Some(params) = op["parameters"].as_array() {
        h.push_str(
            "<table><tr><th>Parameter</th><th>In</th><th>Required</th><th>Type</th><th>Description</th></tr>",
        );
        for p in params {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(p["name"].as_str().unwrap_or("")),
                escape(p["in"].as_str().unwrap_or("")),
                if p["required"] == true { "yes" } else { "no" },
                schema_words(&p["schema"]),
                prose(p["description"].as_str().unwrap_or("")),
            );
        }
        h.push_str("</table>");
    }
    if let Some(body) = op.get("requestBody") {
        let media = body["content"].as_object().into_iter().flatten();
        for (media, m) in media {
            let _ = write!(
                h,
                "<p><b>Body</b> (<code>{}</code>): {}. {}</p>",
                escape(media),
                schema_words(&m["schema"]),
                prose(body["description"].as_str().unwrap_or(""))
            );
            match m.get("example") {
                Some(Value::String(text)) => {
                    let _ = write!(h, "<pre>{}</pre>", escape(text));
                }
                Some(example) => {
                    let _ = write!(h, "<pre>{}</pre>", pretty(example));
                }
                None => {}
            }
        }
    }
    h.push_str("<table><tr><th>Status</th><th>Content</th><th>Description</th></tr>");
    if let Some(responses) = op["responses"].as_object() {
        for (status, r) in responses {
            let content = r["content"]
                .as_object()
                .map(|c| {
                    c.iter()
                        .map(|(media, m)| {
                            format!(
                                "<code>{}</code> {}",
                                escape(media),
                                schema_words(&m["schema"])
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("<br>")
                })
                .unwrap_or_else(|| "(no body)".to_owned());
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(status),
                content,
                prose(r["description"].as_str().unwrap_or(""))
            );
        }
    }
    h.push_str("</table></div>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CadastralError;

    /// The table of error codes says what `error.rs` answers: code and status.
    #[tokio::test]
    async fn error_codes_match_what_the_api_answers() {
        let s = String::new;
        let errors = [
            ApiError::UnknownLayer(s()),
            ApiError::UnknownParcel(s()),
            ApiError::BadCadastral(CadastralError { input: s() }),
            ApiError::NoRoute(s()),
            ApiError::InvalidTile(s()),
            ApiError::UnknownTileMatrixSet(s()),
            ApiError::UnknownArchive(s()),
            ApiError::Unavailable(s()),
            ApiError::InvalidJson(s()),
            ApiError::InvalidGeometry(s()),
            ApiError::GeometryTooLarge(s()),
            ApiError::BadQuery(s()),
            ApiError::UnknownFeature(s()),
            ApiError::UnknownService(s()),
            ApiError::UnknownLifeSituation(s()),
            ApiError::UnknownApplication(s()),
            ApiError::UnknownTask(s()),
            ApiError::TaskClosed(s()),
            ApiError::ApplicationClosed(s()),
            ApiError::Conflict(s()),
            ApiError::CommentRequired(s()),
            ApiError::DuplicateCadastral(s()),
            ApiError::DerivedLayer(s()),
            ApiError::RouteBlocked(s()),
            ApiError::InvalidFile(s()),
            ApiError::CrsRequired(s()),
            ApiError::ImportConflict(s()),
            ApiError::ImportRejected {
                message: s(),
                report: Box::new(serde_json::json!({})),
            },
            ApiError::UnknownDepartment(s()),
            ApiError::UploadTooLarge(s()),
            ApiError::Unauthorized(s()),
            ApiError::Forbidden(s()),
            ApiError::BodyTooLarge(s()),
            ApiError::TooManyFeatures(s()),
            ApiError::TooManyRequests {
                message: s(),
                retry_after_s: 1,
            },
            ApiError::Timeout(s()),
            ApiError::internal("a test"),
        ];
        assert_eq!(errors.len(), ERROR_CODES.len());
        for (e, &(code, status, _)) in errors.into_iter().zip(ERROR_CODES) {
            let r = e.into_response();
            assert_eq!(r.status().as_u16(), status, "{code}");
            let body = axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"], code);
        }
    }

    #[test]
    fn restricted_operations_are_documented_ones_and_need_a_token() {
        let doc = build();
        for (method, path, _) in RESTRICTED {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert_eq!(
                op["security"],
                json!([{ "bearerAuth": [] }]),
                "{method} {path}"
            );
            assert!(op["responses"]["403"].is_object(), "{method} {path}");
        }
        assert!(doc["paths"]["/layers"]["get"]["security"].is_null());
        assert!(doc["paths"]["/layers"]["get"]["responses"]["401"].is_object());
    }

    #[test]
    fn the_page_escapes_and_lists_every_path() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let page = render_html(&DOCUMENT);
        for path in DOCUMENT["paths"].as_object().unwrap().keys() {
            assert!(
                page.contains(&format!("<code>{}</code>", escape(path))),
                "{path}"
            );
        }
        assert!(!page.contains("<script"));
    }
}
