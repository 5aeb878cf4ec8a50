//! The OpenAPI 3.0 description at `GET /api` against the real server: it is a
//! well-formed OpenAPI 3.0.3 document (the `openapiv3` crate reads it), it
//! documents exactly the routes the router serves (a hand list: a new route
//! without documentation fails here), every path parameter is in its path,
//! every operation is named once, the only references are inside the
//! document; and every documented operation, called with its examples, gets a
//! status and a content type the document lists for it. `GET /api.html`
//! lists every path; the landing page links to both.

use std::collections::{BTreeMap, BTreeSet};

use openapiv3::{OpenAPI, Parameter, ReferenceOr};
use serde_json::{json, Value};

use crate::common::server::TestServer;

const OPENAPI_MEDIA_TYPE: &str = "application/vnd.oai.openapi+json;version=3.0";
const DEMO_LON: f64 = 49.1056;
const DEMO_LAT: f64 = 55.7989;

/// Every route of `src/api/`, as documented (method, path). Where the router's
/// path ends in a parameter its handler splits a suffix from, the documented
/// path carries the suffix: `/tiles/{layers}` serves `/tiles/{layers}.json`,
/// `/tiles/{layers}/{z}/{x}/{y}` serves `…/{y}.mvt`, `/archives/{file}` serves
/// `/archives/{name}.json`, `/archives/{name}/{z}/{x}/{file}` serves `…/{y}.mvt`;
/// `/web/{*path}` and `/styles/{*path}` are `{path}`.
const ROUTES: &[(&str, &str)] = &[
    // health.rs
    ("get", "/health"),
    // metrics.rs
    ("get", "/metrics"),
    // imports.rs
    ("post", "/layers/{code}/import"),
    // openapi.rs
    ("get", "/api"),
    ("get", "/api.html"),
    // layers.rs
    ("get", "/layers"),
    ("get", "/layers/{code}"),
    // parcels.rs
    ("get", "/parcels/{cadastral}"),
    // constraints.rs
    ("get", "/parcels/{cadastral}/constraints"),
    ("post", "/constraints"),
    ("get", "/identify"),
    ("get", "/nearest"),
    // departments.rs
    ("get", "/departments"),
    // routing.rs
    ("post", "/route"),
    // applications.rs
    ("post", "/applications"),
    ("get", "/applications"),
    ("get", "/applications/{id}"),
    ("post", "/applications/{id}/tasks/{task}/decision"),
    ("get", "/stats"),
    ("get", "/catalog"),
    // tiles.rs
    ("get", "/tiles/{layers}.json"),
    ("get", "/tiles/{layers}/{z}/{x}/{y}.mvt"),
    // ogc_tiles.rs
    ("get", "/collections/{layer}/tiles"),
    ("get", "/collections/{layer}/tiles/{tms}"),
    (
        "get",
        "/collections/{layer}/tiles/{tms}/{matrix}/{row}/{col}",
    ),
    ("get", "/tileMatrixSets"),
    ("get", "/tileMatrixSets/{tms}"),
    // web.rs
    ("get", "/web/{path}"),
    ("get", "/styles/{path}"),
    // features.rs
    ("get", "/"),
    ("get", "/conformance"),
    ("get", "/collections"),
    ("get", "/collections/{layer}"),
    ("get", "/collections/{layer}/items"),
    ("post", "/collections/{layer}/items"),
    ("get", "/collections/{layer}/items/{id}"),
    ("put", "/collections/{layer}/items/{id}"),
    ("patch", "/collections/{layer}/items/{id}"),
    ("delete", "/collections/{layer}/items/{id}"),
    ("get", "/collections/{layer}/queryables"),
    // archives.rs
    ("get", "/archives"),
    ("get", "/archives/{name}.json"),
    ("get", "/archives/{name}/{z}/{x}/{y}.mvt"),
];

const TAGS: [&str; 8] = [
    "Layers",
    "Tiles",
    "OGC API – Features",
    "OGC API – Tiles",
    "Constraints",
    "Routing",
    "Applications",
    "Operations",
];

async fn demo_server() -> (tempfile::TempDir, TestServer) {
    let (dir, store) = crate::common::gpkg_demo(400, 42).await;
    (dir, TestServer::start(store).await)
}

/// The `{name}`s of a path template.
fn template_params(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .map(|rest| rest.split('}').next().unwrap().to_owned())
        .collect()
}

/// Every `$ref` anywhere in a JSON value.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or("<not a string>").to_owned());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Whether `v` is what `schema` (OpenAPI 3.0, references into `doc`) says:
/// types, enums, required properties, items; and, when `strict`, no property
/// an object schema with `properties` does not list (unless it allows others).
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str, strict: bool) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = doc
            .pointer(&r[1..])
            .ok_or_else(|| format!("{at}: {r} resolves to nothing"))?;
        return conforms(doc, target, v, at, strict);
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        // Each part lists some properties: only all of them together are strict.
        let mut listed = BTreeSet::new();
        for part in parts {
            conforms(doc, part, v, at, false)?;
            let part = match part.get("$ref").and_then(Value::as_str) {
                Some(r) => doc.pointer(&r[1..]).unwrap(),
                None => part,
            };
            listed.extend(
                part["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone()),
            );
        }
        if let (true, Value::Object(m), false) = (strict, v, listed.is_empty()) {
            if let Some(k) = m.keys().find(|k| !listed.contains(*k)) {
                return Err(format!("{at}.{k}: the schema does not list this property"));
            }
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        if !one.iter().any(|s| conforms(doc, s, v, at, strict).is_ok()) {
            return Err(format!("{at}: matches none of oneOf: {v}"));
        }
    }
    if v.is_null() {
        return match schema.get("type") {
            Some(_) if schema["nullable"] != true => Err(format!("{at}: null, not nullable")),
            _ => Ok(()),
        };
    }
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            _ => false,
        };
        if !ok {
            return Err(format!("{at}: {v} is not of type {t}"));
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(v) {
            return Err(format!("{at}: {v} is not one of {values:?}"));
        }
    }
    if let Value::Object(m) = v {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !m.contains_key(r) {
                return Err(format!("{at}: required property '{r}' is missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (k, value) in m {
            let here = format!("{at}.{k}");
            match (
                properties.and_then(|p| p.get(k)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) => conforms(doc, s, value, &here, true)?,
                (None, Some(Value::Bool(false))) => return Err(format!("{here}: not allowed")),
                (None, Some(s @ Value::Object(_))) => conforms(doc, s, value, &here, true)?,
                (None, None) if strict && properties.is_some() => {
                    return Err(format!("{here}: the schema does not list this property"));
                }
                _ => {}
            }
        }
    }
    if let (Value::Array(a), Some(items)) = (v, schema.get("items")) {
        for (i, x) in a.iter().enumerate() {
            conforms(doc, items, x, &format!("{at}[{i}]"), true)?;
        }
    }
    Ok(())
}

/// Calls `url` (an instance of `path`): the status must be documented for the
/// operation, a body must be of a documented media type, and a JSON body must
/// be what its schema says. Returns the status and any Location.
async fn call_and_check(
    server: &TestServer,
    doc: &Value,
    method: &str,
    path: &str,
    url: &str,
    body: Option<Value>,
) -> (u16, Option<String>) {
    let method_name = method.to_ascii_uppercase();
    let m = reqwest::Method::from_bytes(method_name.as_bytes()).unwrap();
    let mut request = server.client.request(m, server.url(url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    check_answer(request, doc, method, path, url).await
}

/// A POST of a bare file (`application/octet-stream`), checked as [`call_and_check`] does.
async fn call_and_check_raw(
    server: &TestServer,
    doc: &Value,
    path: &str,
    url: &str,
    file: &str,
) -> u16 {
    let request = server
        .client
        .post(server.url(url))
        .header("content-type", "application/octet-stream")
        .body(file.to_owned());
    check_answer(request, doc, "post", path, url).await.0
}

async fn check_answer(
    request: reqwest::RequestBuilder,
    doc: &Value,
    method: &str,
    path: &str,
    url: &str,
) -> (u16, Option<String>) {
    let at = format!("{method} {url}");
    let r = request
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| essence(v.to_str().unwrap()));
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body = r.bytes().await.unwrap();
    let documented = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        documented.is_object(),
        "{at}: answered {status}, which is not documented: {}",
        String::from_utf8_lossy(&body)
    );
    if body.is_empty() {
        return (status, location);
    }
    let content_type = content_type.unwrap_or_else(|| panic!("{at}: no content type"));
    let content = documented["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{at} {status}: a body, but no content documented"));
    let Some((_, media)) = content
        .iter()
        .find(|(m, _)| essence(m) == content_type || *m == "*/*")
    else {
        panic!(
            "{at} {status}: {content_type} is not one of {:?}",
            content.keys().collect::<Vec<_>>()
        );
    };
    // JSON answers are what their schema says, field by field.
    if content_type.contains("json") {
        let value: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{at}: the answer is not JSON: {e}"));
        if let Err(e) = conforms(doc, &media["schema"], &value, "answer", true) {
            panic!("{at} {status}: the answer is not what the document says: {e}");
        }
    }
    (status, location)
}

/// Media type without parameters, lower case.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route_and_the_server_keeps_to_it() {
    let (_dir, server) = demo_server().await;

    // GET /api: the document, in its media type (also with f=json).
    for path in ["/api", "/api?f=json"] {
        let r = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            OPENAPI_MEDIA_TYPE,
            "{path}"
        );
    }
    let (status, bad) = server.get_json("/api?f=xml").await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("invalid_parameter"))
    );
    let doc: Value = server
        .client
        .get(server.url("/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Well-formed OpenAPI 3.0.3, its servers the address the client reached.
    let api: OpenAPI = serde_json::from_value(doc.clone()).expect("a valid OpenAPI 3.0 document");
    assert_eq!(api.openapi, "3.0.3");
    assert_eq!(api.servers.len(), 1);
    assert_eq!(api.servers[0].url, format!("http://{}", server.addr));
    let proxied: Value = server
        .client
        .get(server.url("/api"))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "gis.example.org")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(proxied["servers"][0]["url"], "https://gis.example.org");

    // References only inside the document, and each one resolves.
    let mut all_refs = Vec::new();
    refs(&doc, &mut all_refs);
    assert!(!all_refs.is_empty());
    for r in &all_refs {
        assert!(r.starts_with("#/"), "a reference outside the document: {r}");
        assert!(
            doc.pointer(&r[1..]).is_some(),
            "a reference to nothing: {r}"
        );
    }

    // Exactly the router's routes are documented.
    let documented: BTreeSet<(String, String)> = api
        .operations()
        .map(|(path, method, _)| (method.to_owned(), path.to_owned()))
        .collect();
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(missing.is_empty(), "routes not documented: {missing:?}");
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(extra.is_empty(), "documented, but not routes: {extra:?}");
    assert_eq!(
        api.paths.paths.len(),
        doc["paths"].as_object().unwrap().len()
    );

    // Each operation: a unique operationId, a summary, a description, a known
    // tag, at least one response; parameters inline, path ones in the path.
    let mut ids = BTreeSet::new();
    for (path, method, op) in api.operations() {
        let at = format!("{method} {path}");
        let id = op
            .operation_id
            .clone()
            .unwrap_or_else(|| panic!("{at}: no operationId"));
        assert!(
            ids.insert(id.clone()),
            "{at}: operationId {id} is used twice"
        );
        assert!(
            op.summary.as_deref().is_some_and(|s| !s.is_empty()),
            "{at}: no summary"
        );
        assert!(
            op.description.as_deref().is_some_and(|s| !s.is_empty()),
            "{at}: no description"
        );
        assert!(!op.tags.is_empty(), "{at}: no tag");
        for tag in &op.tags {
            assert!(TAGS.contains(&tag.as_str()), "{at}: tag {tag}");
        }
        assert!(!op.responses.responses.is_empty(), "{at}: no responses");
        let mut declared = BTreeSet::new();
        for p in &op.parameters {
            let ReferenceOr::Item(p) = p else {
                panic!("{at}: a parameter by reference; write it inline");
            };
            let data = p.parameter_data_ref();
            assert!(
                data.description.as_deref().is_some_and(|d| !d.is_empty()),
                "{at}: parameter {} has no description",
                data.name
            );
            if let Parameter::Path { parameter_data, .. } = p {
                assert!(
                    parameter_data.required,
                    "{at}: path parameter {} not required",
                    parameter_data.name
                );
                assert!(
                    path.contains(&format!("{{{}}}", parameter_data.name)),
                    "{at}: path parameter {} is not in the path",
                    parameter_data.name
                );
                declared.insert(parameter_data.name.clone());
            }
        }
        assert_eq!(declared, template_params(path), "{at}: path parameters");
        // Errors answer {error, message}.
        for (status, r) in &op.responses.responses {
            let status = status.to_string();
            if (status.starts_with('4') || status.starts_with('5')) && path != "/health" {
                let ReferenceOr::Item(r) = r else {
                    panic!("{at}: response by reference")
                };
                let json = r
                    .content
                    .get("application/json")
                    .unwrap_or_else(|| panic!("{at} {status}: not JSON"));
                assert!(
                    matches!(&json.schema, Some(ReferenceOr::Reference { reference }) if reference == "#/components/schemas/Error"),
                    "{at} {status}: not the Error schema"
                );
            }
        }
    }
    assert_eq!(ids.len(), ROUTES.len());
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error", "message"]));

    // Call every operation with its examples (and a few values of the live
    // data): the server answers with a status the document lists, and with
    // one of its content types.
    let snapshot = server.app.index().snapshot();
    let parcels = snapshot
        .values()
        .find(|l| l.code().as_str() == "parcels")
        .unwrap();
    let cadastral = snapshot
        .values()
        .find_map(|l| (1..10_000).find_map(|id| l.feature(id).and_then(|f| f.cadastral.clone())))
        .expect("a parcel")
        .to_string();
    let parcel_id = (1..10_000)
        .find(|id| parcels.feature(*id).is_some())
        .unwrap();
    let mut live: BTreeMap<&str, String> = BTreeMap::from([
        ("cadastral", cadastral.clone()),
        ("layer", "parcels".to_owned()),
        ("code", "parcels".to_owned()),
        ("layers", "parcels".to_owned()),
    ]);
    // POSTs first, so that an application exists for the GETs.
    let mut ops: Vec<(&str, &str, &openapiv3::Operation)> = api.operations().collect();
    // Creations first, deletions last.
    let order = ["post", "get", "put", "patch", "delete"];
    ops.sort_by_key(|(_, method, _)| order.iter().position(|m| m == method));
    let mut answered = BTreeMap::new();
    let mut urls: BTreeMap<&str, String> = BTreeMap::new();
    for (path, method, op) in ops {
        let at = format!("{method} {path}");
        let mut url = path.to_owned();
        let mut query: Vec<(String, String)> = Vec::new();
        for p in &op.parameters {
            let ReferenceOr::Item(p) = p else {
                unreachable!()
            };
            let data = p.parameter_data_ref();
            let example = data.example.clone().or_else(|| {
                let schema = doc["paths"][path][method]["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|q| q["name"] == data.name.as_str())
                    .map(|q| q["schema"]["example"].clone())
                    .filter(|e| !e.is_null());
                schema
            });
            let value = |example: Option<Value>| match example {
                Some(Value::String(s)) => s,
                Some(v) => v.to_string(),
                None => panic!("{at}: parameter {} has no example", data.name),
            };
            match p {
                Parameter::Path { .. } => {
                    let v = match (data.name.as_str(), path) {
                        ("id", p) if p.starts_with("/collections") => parcel_id.to_string(),
                        (name, _) => live.get(name).cloned().unwrap_or_else(|| value(example)),
                    };
                    url = url.replace(&format!("{{{}}}", data.name), &v);
                }
                Parameter::Query { .. } if data.required => {
                    query.push((data.name.clone(), value(example)));
                }
                _ => {}
            }
        }
        if !query.is_empty() {
            url = format!("{url}?{}", serde_urlencoded::to_string(&query).unwrap());
        }
        if path == "/layers/{code}/import" {
            // A new layer of its own: the demo city's layers stay as they are.
            let url = url.replace("/layers/parcels/", "/layers/example_import/");
            let example = doc["paths"][path][method]["requestBody"]["content"]
                ["application/octet-stream"]["example"]
                .as_str()
                .expect("the import's example file");
            let status = call_and_check_raw(&server, &doc, path, &url, example).await;
            assert_eq!(status, 200, "{at}: the example imports");
            answered.insert(at, status);
            continue;
        }
        let body = match &doc["paths"][path][method]["requestBody"] {
            Value::Null => None,
            request_body => {
                let example = &request_body["content"]["application/json"]["example"];
                assert!(!example.is_null(), "{at}: no example body");
                let mut body = example.clone();
                // A plot of the demo city that exists.
                if body.get("cadastral").is_some() {
                    body["cadastral"] = json!(cadastral);
                }
                Some(body)
            }
        };
        let (status, location) = call_and_check(&server, &doc, method, path, &url, body).await;
        urls.insert(path, url.clone());
        if let Some(location) = location {
            live.insert("id", location.rsplit('/').next().unwrap().to_owned());
        }
        if template_params(path).is_empty() && method == "get" {
            assert_ne!(status, 404, "{at}: no resource");
        }
        answered.insert(at, status);
    }
    // Optional parameters, and the other shapes of some answers.
    let extra = [
        (
            "/nearest",
            format!("/nearest?lon={DEMO_LON}&lat={DEMO_LAT}"),
        ),
        (
            "/nearest",
            format!("/nearest?cadastral={cadastral}&network=water"),
        ),
        ("/nearest", "/nearest?cadastral=1&lon=2".to_owned()),
        ("/identify", "/identify?lon=200&lat=55".to_owned()),
        (
            "/collections/{layer}/items",
            format!(
                "/collections/parcels/items?limit=2&offset=1&bbox={}&crs={}",
                "49.09,55.79,49.12,55.81", "http://www.opengis.net/def/crs/EPSG/0/3857"
            ),
        ),
        (
            "/collections/{layer}/items",
            format!("/collections/parcels/items?cadastral={cadastral}"),
        ),
        (
            "/collections/{layer}/items",
            "/collections/parcels/items?colour=red".to_owned(),
        ),
        (
            "/collections/{layer}/items/{id}",
            "/collections/parcels/items/0".to_owned(),
        ),
        (
            "/collections/{layer}",
            "/collections/nothing_here".to_owned(),
        ),
        (
            "/applications",
            "/applications?status=received&overdue=false&department=KZIO&limit=5&offset=0"
                .to_owned(),
        ),
        ("/applications", "/applications?page=2".to_owned()),
        ("/parcels/{cadastral}", "/parcels/16:50".to_owned()),
        (
            "/parcels/{cadastral}/constraints",
            format!("/parcels/{cadastral}/constraints?layers=heritage_zones,sanitary_zones"),
        ),
        (
            "/parcels/{cadastral}/constraints",
            format!("/parcels/{cadastral}/constraints?layers=water"),
        ),
        (
            "/tiles/{layers}.json",
            "/tiles/parcels,nothing_here.json".to_owned(),
        ),
        (
            "/tiles/{layers}/{z}/{x}/{y}.mvt",
            "/tiles/parcels/40/0/0.mvt".to_owned(),
        ),
        (
            "/collections/{layer}/tiles/{tms}",
            "/collections/parcels/tiles/WorldCRS84Quad".to_owned(),
        ),
        ("/conformance", "/conformance?f=xml".to_owned()),
    ];
    for (path, url) in extra {
        call_and_check(&server, &doc, "get", path, &url, None).await;
    }
    // The filter example is CQL2 the server takes.
    let items = &doc["paths"]["/collections/{layer}/items"]["get"]["parameters"];
    let filter = items
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "filter")
        .expect("items take a filter");
    let url = format!(
        "/collections/parcels/items?{}",
        serde_urlencoded::to_string([("filter", filter["schema"]["example"].as_str().unwrap())])
            .unwrap()
    );
    let (status, _) = call_and_check(
        &server,
        &doc,
        "get",
        "/collections/{layer}/items",
        &url,
        None,
    )
    .await;
    assert_eq!(status, 200, "{url}");
    let posts = [
        (
            "/constraints",
            json!({ "geometry": { "type": "Point", "coordinates": [49.1, 55.8] } }),
        ),
        (
            "/constraints",
            json!({ "geometry": { "type": "Polygon", "coordinates": [] }, "colour": 1 }),
        ),
        (
            "/route",
            json!({ "life_situation": "build_office", "cadastral": cadastral }),
        ),
        (
            "/route",
            json!({ "service": "teleportation", "cadastral": cadastral }),
        ),
        (
            "/applications",
            json!({ "service": "excavation_order", "cadastral": cadastral }),
        ),
        (
            "/applications/{id}/tasks/{task}/decision",
            json!({ "decision": "rejected" }),
        ),
    ];
    for (path, body) in posts {
        let url = path.replace("{id}", &live["id"]).replace("{task}", "1");
        call_and_check(&server, &doc, "post", path, &url, Some(body)).await;
    }
    // The examples do what they say where the demo city allows it.
    for at in [
        "post /constraints",
        "post /route",
        "get /layers/{code}",
        "get /parcels/{cadastral}",
        "get /parcels/{cadastral}/constraints",
        "get /identify",
        "get /collections/{layer}/items/{id}",
        "get /tiles/{layers}.json",
        "get /collections/{layer}/tiles/{tms}",
        "get /web/{path}",
        "get /styles/{path}",
    ] {
        assert_eq!(answered[at], 200, "{at}");
    }
    for at in [
        "get /tiles/{layers}/{z}/{x}/{y}.mvt",
        "get /collections/{layer}/tiles/{tms}/{matrix}/{row}/{col}",
    ] {
        assert!([200, 204].contains(&answered[at]), "{at}: {}", answered[at]);
    }
    assert_eq!(
        answered["get /archives/{name}.json"], 404,
        "the test serves no archives"
    );

    // Methods the document does not list are not served (405) at any of its
    // paths: a new method on a documented path must be documented.
    for (path, url) in &urls {
        for method in ["get", "post", "put", "patch", "delete"] {
            if documented.contains(&(method.to_owned(), (*path).to_owned())) {
                continue;
            }
            let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let r = server
                .client
                .request(m, server.url(url))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                405,
                "{method} {url} is served but not documented"
            );
        }
    }

    // The page for people: every path, no scripts.
    let r = server
        .client
        .get(server.url("/api.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        essence(r.headers()["content-type"].to_str().unwrap()),
        "text/html"
    );
    let page = r.text().await.unwrap();
    for (method, path) in ROUTES {
        assert!(
            page.contains(&format!("<code>{path}</code>")),
            "/api.html lacks {path}"
        );
        assert!(
            page.contains(&format!(">{method}</span>")),
            "/api.html lacks {method}"
        );
    }
    assert!(
        !page.contains("<script"),
        "the page runs offline, without scripts"
    );
    let r = server
        .client
        .get(server.url("/api?f=html"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), page);

    // The landing page links to both, and the links answer.
    let landing: Value = server
        .client
        .get(server.url("/"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = |rel: &str| {
        landing["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == rel)
            .unwrap_or_else(|| panic!("no {rel} link in {landing}"))
            .clone()
    };
    let desc = link("service-desc");
    assert_eq!(desc["type"], OPENAPI_MEDIA_TYPE);
    let r = server
        .client
        .get(desc["href"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        OPENAPI_MEDIA_TYPE
    );
    let again: Value = r.json().await.unwrap();
    assert_eq!(again, doc);
    let page_link = link("service-doc");
    assert_eq!(page_link["type"], "text/html");
    let r = server
        .client
        .get(page_link["href"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, conformance) = server.get_json("/conformance").await;
    assert!(conformance["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30"));

    server.stop().await;
}

/// The schema check used above finds what it is there to find.
#[test]
fn the_schema_check_refuses_what_the_schema_does_not_say() {
    let doc = json!({ "components": { "schemas": {
        "Part": { "type": "object", "required": ["a"], "properties": { "a": { "type": "integer" } } },
        "Both": { "allOf": [
            { "$ref": "#/components/schemas/Part" },
            { "type": "object", "properties": { "b": { "type": "string", "nullable": true } } },
        ] },
    } } });
    let both = json!({ "$ref": "#/components/schemas/Both" });
    let check = |v: Value| conforms(&doc, &both, &v, "v", true);
    assert!(check(json!({ "a": 1, "b": "x" })).is_ok());
    assert!(check(json!({ "a": 1, "b": null })).is_ok());
    assert!(check(json!({ "b": "x" })).is_err(), "a required property");
    assert!(check(json!({ "a": "1" })).is_err(), "a type");
    assert!(
        check(json!({ "a": 1, "c": 2 })).is_err(),
        "an unlisted property"
    );
    let part = json!({ "$ref": "#/components/schemas/Part" });
    assert!(conforms(&doc, &part, &json!({ "a": null }), "v", true).is_err());
    let e = json!({ "type": "string", "enum": ["x"] });
    assert!(conforms(&doc, &e, &json!("y"), "v", true).is_err());
}
