//! Routing and applications over real HTTP, on the demo city, written as a
//! planner would check them:
//! - an excavation order on a plot crossed by a gas pipe and a heat line goes
//!   to the gas operator, the heat operator and KVB, due across the New Year
//!   holidays;
//! - a building permit in a heritage zone gets 30 days;
//! - a house in a sanitary protection zone is blocked, and cannot be registered;
//! - an application lives through its decisions ("most severe wins"), its
//!   history, the list filters and the statistics, on PostGIS and on the
//!   GeoPackage alike;
//! - bad input gets a 4xx JSON error and writes nothing;
//! - the catalog is data: a file given to the server becomes a stored revision
//!   that routing follows.
//!
//! The plots are found by asking the server's own constraints endpoint (which
//! `tests/constraints.rs` checks against PostGIS), never by hard-coded ids.

use std::collections::BTreeSet;

use geo::{BooleanOps, BoundingRect, InteriorPoint};
use geo_types::{Geometry, MultiPolygon, Rect};
use imgis::store::DynStore;
use serde_json::{json, Value};

use crate::common::server::{test_config, TestServer};

/// Zone types an excavation order is routed by, and who approves in each
/// (the regulations as data/catalog.toml writes them).
const EXCAVATION_ZONES: [(&str, &str); 10] = [
    ("gas_protection", "GAS"),
    ("gas_station_protection", "GAS"),
    ("power_protection", "POWER"),
    ("power_cable_protection", "POWER"),
    ("heat_protection", "HEAT"),
    ("telecom_protection", "TELECOM"),
    ("water_sanitary_strip", "VODOKANAL"),
    ("sewer_protection", "VODOKANAL"),
    ("heritage_protection", "HERITAGE"),
    ("red_lines", "TRAFFIC"),
];

/// Zone types where a building permit is refused outright for any plot.
const BUILDING_BLOCKERS: [&str; 2] = ["red_lines", "natural_recreational"];

/// Every parcel's cadastral number and attributes, in store order.
async fn parcels(store: &DynStore) -> Vec<(String, Value)> {
    let layer = "parcels".parse().unwrap();
    store
        .features(&layer)
        .await
        .expect("reading parcels")
        .into_iter()
        .map(|f| {
            (
                f.cadastral.expect("parcels carry numbers").to_string(),
                serde_json::to_value(&f.properties).unwrap(),
            )
        })
        .collect()
}

/// The zone types a parcel overlaps beyond the sliver tolerance, and the
/// whole constraints answer.
async fn zone_types(server: &TestServer, cadastral: &str) -> (BTreeSet<String>, Value) {
    let (status, body) = server
        .get_json(&format!("/parcels/{cadastral}/constraints"))
        .await;
    assert_eq!(status, 200, "{body}");
    let types = body["constraints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["zone_type"].as_str().map(str::to_owned))
        .collect();
    (types, body)
}

/// The first parcel whose zone types satisfy `wanted` (and whose attributes, `props`).
async fn find_parcel(
    server: &TestServer,
    all: &[(String, Value)],
    what: &str,
    wanted: impl Fn(&BTreeSet<String>, &Value) -> bool,
) -> (String, Value) {
    for (cadastral, props) in all {
        let (types, body) = zone_types(server, cadastral).await;
        if wanted(&types, props) {
            return (cadastral.clone(), body);
        }
    }
    panic!("no parcel of the demo city is {what}");
}

/// A small area an applicant would draw for a trench (about 2.5 × 2.2 m)
/// where a protection zone of type `a` and one of type `b` overlap, each by
/// more than the sliver tolerance: found from the derived zones layer, checked
/// with `POST /constraints`. Returns the GeoJSON polygon and the zone types
/// the constraints answer lists for it.
async fn trench_across(
    server: &TestServer,
    store: &DynStore,
    a: &str,
    b: &str,
) -> (Value, BTreeSet<String>) {
    let layer = "utility_protection_zones".parse().unwrap();
    let zones = store.features(&layer).await.expect("reading derived zones");
    let of = |t: &str| -> Vec<(Rect<f64>, MultiPolygon<f64>)> {
        zones
            .iter()
            .filter(|f| f.properties.get("zone_type") == Some(&json!(t)))
            .filter_map(|f| {
                let mp = match &f.geometry {
                    Geometry::Polygon(p) => MultiPolygon(vec![p.clone()]),
                    Geometry::MultiPolygon(m) => m.clone(),
                    _ => return None,
                };
                Some((mp.bounding_rect()?, mp))
            })
            .collect()
    };
    let (zones_a, zones_b) = (of(a), of(b));
    let mut tried = 0;
    for (ra, za) in &zones_a {
        for (rb, zb) in &zones_b {
            let overlap_x = ra.min().x <= rb.max().x && rb.min().x <= ra.max().x;
            let overlap_y = ra.min().y <= rb.max().y && rb.min().y <= ra.max().y;
            if !(overlap_x && overlap_y) {
                continue;
            }
            let both = za.intersection(zb);
            let Some(p) = both.interior_point() else {
                continue;
            };
            let (dx, dy) = (0.00002, 0.00001);
            let (x, y) = (p.x(), p.y());
            let trench = json!({"type": "Polygon", "coordinates": [[
                [x - dx, y - dy], [x + dx, y - dy], [x + dx, y + dy], [x - dx, y + dy], [x - dx, y - dy]
            ]]});
            let (status, body) = server
                .post_json("/constraints", &json!({ "geometry": trench }))
                .await;
            assert_eq!(status, 200, "{body}");
            let types: BTreeSet<String> = body["constraints"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| c["zone_type"].as_str().map(str::to_owned))
                .collect();
            if types.contains(a) && types.contains(b) {
                return (trench, types);
            }
            tried += 1;
            assert!(tried < 500, "no trench found across {a} and {b}");
        }
    }
    panic!("no {a} zone of the demo city overlaps a {b} zone");
}

fn departments(route: &Value) -> BTreeSet<String> {
    route["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["department"].as_str().unwrap().to_owned())
        .collect()
}

fn approval<'a>(route: &'a Value, department: &str) -> &'a Value {
    route["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["department"] == department)
        .unwrap_or_else(|| panic!("no approval for {department}: {route}"))
}

#[tokio::test]
async fn planners_scenarios_route_as_the_regulations_say() {
    let store = crate::common::postgis_demo(5_000, 42).await;
    let all = parcels(&store).await;
    let server = TestServer::start(store.clone()).await;

    // 1. Excavation: a trench drawn across a gas pipe and a heat line.
    let (trench, types) = trench_across(&server, &store, "gas_protection", "heat_protection").await;
    // Everyone the regulations name for the zones the trench lies in, and KVB.
    let expected: BTreeSet<String> = EXCAVATION_ZONES
        .iter()
        .filter(|(t, _)| types.contains(*t))
        .map(|(_, d)| (*d).to_owned())
        .chain(["KVB".to_owned()])
        .collect();
    assert!(expected.contains("GAS") && expected.contains("HEAT"));
    let (status, constraints) = server
        .post_json("/constraints", &json!({ "geometry": trench }))
        .await;
    assert_eq!(status, 200);
    // Friday 25 December 2026: 10 working days skip 31 December, the New
    // Year days off (1–8 January 2027) and two weekends.
    let (status, route) = server
        .post_json(
            "/route",
            &json!({"service": "excavation_order", "geometry": trench, "submitted": "2026-12-25"}),
        )
        .await;
    assert_eq!(status, 200, "{route}");
    assert_eq!(departments(&route), expected);
    assert_eq!(route["blocked"], false);
    assert_eq!(route["due"], "2027-01-19");
    for d in &expected {
        let d = d.as_str();
        let a = approval(&route, d);
        assert_eq!(a["action"], "approve", "{a}");
        assert_eq!(a["due"], "2027-01-19", "{a}");
    }
    // Each operator's reasons are the zones of its networks that the
    // constraints answer lists, with the same overlaps.
    let department_of = |zone_type: &str| {
        EXCAVATION_ZONES
            .iter()
            .find(|(t, _)| *t == zone_type)
            .map(|(_, d)| *d)
    };
    for department in ["GAS", "HEAT"] {
        let expected: BTreeSet<(i64, String)> = constraints["constraints"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["zone_type"].as_str().and_then(department_of) == Some(department))
            .map(|c| {
                (
                    c["feature_id"].as_i64().unwrap(),
                    format!("{:.3}", c["overlap_m2"].as_f64().unwrap()),
                )
            })
            .collect();
        let given: BTreeSet<(i64, String)> = approval(&route, department)["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let zone_type = r["zone"]["zone_type"].as_str().unwrap();
                assert_eq!(department_of(zone_type), Some(department), "{r}");
                (
                    r["zone"]["feature_id"].as_i64().unwrap(),
                    format!("{:.3}", r["zone"]["overlap_m2"].as_f64().unwrap()),
                )
            })
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(given, expected, "{department}");
    }
    assert!(route["plot"]["area_m2"].as_f64().unwrap() > 4.0);
    assert!(route["catalog_revision"]["revision"].as_i64().unwrap() >= 1);

    // 2. A building permit in a heritage zone: 30 calendar days (1 March
    //    2027 + 30 = 31 March, a Wednesday); without the zone, 5 working
    //    days, over the 8 March holiday.
    let (heritage_plot, _) = find_parcel(
        &server,
        &all,
        "in a heritage zone, with nothing blocking a building",
        |types, props| {
            types.contains("heritage_protection")
                && !BUILDING_BLOCKERS.iter().any(|b| types.contains(*b))
                && !(types.contains("sanitary_protection")
                    && props["permitted_use"]
                        .as_str()
                        .is_some_and(|u| u.contains("жил")))
        },
    )
    .await;
    let (status, route) = server
        .post_json(
            "/route",
            &json!({"service": "building_permit", "cadastral": heritage_plot, "submitted": "2027-03-01"}),
        )
        .await;
    assert_eq!(status, 200, "{route}");
    assert_eq!(
        route["steps"][0]["deadline"],
        json!({"days": 30, "kind": "calendar"})
    );
    assert_eq!(route["due"], "2027-03-31");
    assert!(route["steps"][0]["deadline_source"]
        .as_str()
        .unwrap()
        .contains("heritage_protection"));
    assert_eq!(approval(&route, "HERITAGE")["action"], "approve");
    assert_eq!(approval(&route, "UGR")["due"], "2027-03-31");

    let (plain_plot, _) = find_parcel(&server, &all, "free of zones", |types, _| {
        types.iter().all(|t| t == "territorial")
    })
    .await;
    let (status, route) = server
        .post_json(
            "/route",
            &json!({"service": "building_permit", "cadastral": plain_plot, "submitted": "2027-03-01"}),
        )
        .await;
    assert_eq!(status, 200, "{route}");
    assert_eq!(route["due"], "2027-03-09");
    assert_eq!(route["steps"][0]["deadline_source"], "service");

    // 3. A house in a sanitary protection zone: blocked, and not registered.
    let (house, _) = find_parcel(
        &server,
        &all,
        "a plot for a residential house in a sanitary protection zone",
        |types, props| {
            types.contains("sanitary_protection")
                && [
                    "индивидуальное жилищное строительство",
                    "многоэтажная жилая застройка",
                ]
                .contains(&props["permitted_use"].as_str().unwrap_or(""))
        },
    )
    .await;
    let request =
        json!({"service": "building_permit", "cadastral": house, "submitted": "2026-11-02"});
    let (status, route) = server.post_json("/route", &request).await;
    assert_eq!(status, 200, "{route}");
    assert_eq!(route["blocked"], true);
    let reasons = route["block_reasons"].as_array().unwrap();
    assert!(reasons
        .iter()
        .all(|r| r["department"] == "SANITARY" && r["zone"]["zone_type"] == "sanitary_protection"));
    assert!(!reasons.is_empty());
    let mut register = request.clone();
    register["applicant"] = json!({"name": "Гарипов Ильдар Ринатович"});
    let (status, body) = server.post_json("/applications", &register).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("route_blocked")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("SANITARY"));
    let (_, list) = server.get_json("/applications").await;
    assert_eq!(
        list["returned"], 0,
        "a blocked application is not registered"
    );

    // 4. A life situation on a plot free of zones: the due date is the end of its
    //    critical path, and every step starts when those it waits for are due.
    let (status, route) = server
        .post_json(
            "/route",
            &json!({
                "life_situation": "build_office",
                "cadastral": plain_plot,
                "submitted": "2027-02-01",
            }),
        )
        .await;
    assert_eq!(status, 200, "{route}");
    let steps = route["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    let latest = steps
        .iter()
        .map(|s| s["due"].as_str().unwrap())
        .max()
        .unwrap();
    assert_eq!(route["due"], latest);
    for s in steps {
        for a in s["after"].as_array().unwrap() {
            let before = steps.iter().find(|p| p["service"] == *a).unwrap();
            assert!(s["start"].as_str() >= before["due"].as_str(), "{s}");
        }
    }
    assert!(steps
        .iter()
        .any(|s| s["critical"] == true && s["due"] == latest));
    server.stop().await;
}

/// One application through its decisions; the same on both backends.
async fn lifecycle(store: DynStore) {
    let server = TestServer::start(store.clone()).await;
    let (plot, _) = trench_across(&server, &store, "gas_protection", "heat_protection").await;
    let applicant =
        json!({"name": "ООО «Казаньводстрой»", "inn": "1655000000", "phone": "+7 843 000-00-00"});
    let (status, created) = server
        .post_json(
            "/applications",
            &json!({
                "service": "excavation_order",
                "geometry": plot,
                "submitted": "2026-10-01",
                "applicant": applicant,
                "description": "Прокладка водопровода к жилому дому",
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["status"], "received");
    assert_eq!(created["applicant"], applicant);
    assert_eq!(created["history"].as_array().unwrap().len(), 1);
    // Submitted on 1 October 2026: 10 working days, due 15 October; long past.
    assert_eq!(created["due"], "2026-10-15");
    assert_eq!(created["overdue"], true);
    let tasks = created["tasks"].as_array().unwrap();
    let task_of = |d: &str| {
        tasks
            .iter()
            .find(|t| t["department"] == d)
            .unwrap_or_else(|| panic!("no task for {d}: {created}"))["id"]
            .as_i64()
            .unwrap()
    };
    let (kvb, gas) = (task_of("KVB"), task_of("GAS"));
    assert!(tasks
        .iter()
        .all(|t| t["status"] == "pending" && t["overdue"] == true));
    assert_eq!(created["geometry"]["type"], "MultiPolygon");

    let (status, again) = server.get_json(&format!("/applications/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(again["tasks"], created["tasks"]);

    let decide = |task: i64, decision: &str, comment: Option<&str>| {
        let body = match comment {
            Some(c) => json!({"decision": decision, "comment": c}),
            None => json!({"decision": decision}),
        };
        let path = format!("/applications/{id}/tasks/{task}/decision");
        let server = &server;
        async move { server.post_json(&path, &body).await }
    };
    let (status, a) = decide(
        gas,
        "revision_required",
        Some("Сместить траншею на 2 м от газопровода"),
    )
    .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["status"], "revision_required");
    let (status, a) = decide(kvb, "approved", None).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(
        a["status"], "revision_required",
        "the revision still outweighs"
    );
    // The gas operator's overdue list holds it while it waits for revision.
    let (status, waiting) = server
        .get_json("/applications?status=revision_required&department=GAS&overdue=true")
        .await;
    assert_eq!(status, 200, "{waiting}");
    assert_eq!(waiting["returned"], 1, "{waiting}");
    assert_eq!(waiting["applications"][0]["id"], id);
    assert_eq!(waiting["applications"][0]["overdue"], true);
    let (status, a) = decide(gas, "approved_with_comments", Some("Работы вести вручную")).await;
    assert_eq!(status, 200, "{a}");
    // Every approval given (other tasks, if the plot has more zones, still open?)
    let open: Vec<&Value> = a["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "pending")
        .collect();
    let mut a = a.clone();
    for t in open {
        let (status, next) = decide(t["id"].as_i64().unwrap(), "approved", None).await;
        assert_eq!(status, 200, "{next}");
        a = next;
    }
    assert_eq!(a["status"], "approved_with_comments");
    assert_eq!(a["overdue"], false, "a closed application is not overdue");
    assert!(a["closed_at"].is_string());
    let history = a["history"].as_array().unwrap();
    assert_eq!(history[0]["status"], "received");
    assert_eq!(history.last().unwrap()["status"], "approved_with_comments");
    assert!(history
        .iter()
        .any(|h| h["decision"] == "revision_required" && h["department"] == "GAS"));

    // A closed application takes no more decisions, and nothing changes.
    let (status, body) = decide(gas, "rejected", Some("передумали")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("application_closed")),
        "{body}"
    );
    let (_, after) = server.get_json(&format!("/applications/{id}")).await;
    assert_eq!(after["revision"], a["revision"]);

    // A second application, rejected; a decided task takes no second decision.
    let (status, second) = server
        .post_json(
            "/applications",
            &json!({"service": "excavation_order", "geometry": plot, "applicant": {"name": "Сафина Алия"}}),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let id2 = second["id"].as_i64().unwrap();
    let kvb2 = second["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["department"] == "KVB")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/applications/{id2}/tasks/{kvb2}/decision");
    let (status, _) = server
        .post_json(&path, &json!({"decision": "approved"}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = server
        .post_json(&path, &json!({"decision": "rejected", "comment": "ошибка"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("task_closed")),
        "{body}"
    );
    let gas2 = second["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["department"] == "GAS")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, body) = server
        .post_json(
            &format!("/applications/{id2}/tasks/{gas2}/decision"),
            &json!({"decision": "rejected"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("comment_required"))
    );
    let (status, rejected) = server
        .post_json(
            &format!("/applications/{id2}/tasks/{gas2}/decision"),
            &json!({"decision": "rejected", "comment": "Газопровод высокого давления"}),
        )
        .await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    assert!(
        rejected["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] != "pending"),
        "closing cancels what is left"
    );

    // Lists and filters.
    let ids = |body: &Value| -> Vec<i64> {
        body["applications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect()
    };
    let (_, all_apps) = server.get_json("/applications").await;
    assert_eq!(ids(&all_apps), [id2, id], "newest first");
    assert!(all_apps["applications"][0].get("history").is_none());
    let (_, l) = server.get_json("/applications?status=rejected").await;
    assert_eq!(ids(&l), [id2]);
    let (_, l) = server
        .get_json("/applications?department=GAS&status=approved_with_comments")
        .await;
    assert_eq!(ids(&l), [id]);
    let (_, l) = server.get_json("/applications?overdue=true").await;
    assert_eq!(ids(&l), Vec::<i64>::new(), "both are closed");
    let (_, l) = server.get_json("/applications?limit=1&offset=1").await;
    assert_eq!(ids(&l), [id]);

    // An open, overdue one for the statistics.
    let (status, third) = server
        .post_json(
            "/applications",
            &json!({"service": "excavation_order", "geometry": plot, "submitted": "2026-09-01", "applicant": {"name": "Хасанов Марат"}}),
        )
        .await;
    assert_eq!(status, 201, "{third}");
    let id3 = third["id"].as_i64().unwrap();
    let (_, l) = server.get_json("/applications?overdue=true").await;
    assert_eq!(ids(&l), [id3]);
    let (_, l) = server.get_json("/applications?overdue=false").await;
    assert_eq!(ids(&l), [id2, id]);

    let (status, stats) = server.get_json("/stats").await;
    assert_eq!(status, 200, "{stats}");
    let s = &stats["by_service"]["service:excavation_order"];
    assert_eq!(s["received"], 3);
    assert_eq!(
        (s["accepted"].as_i64(), s["denied"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (s["in_progress"].as_i64(), s["overdue"].as_i64()),
        (Some(1), Some(1))
    );
    assert!(s["median_days"].as_f64().unwrap() >= 0.0);
    let gas_row = &stats["by_department"]["GAS"];
    assert_eq!(gas_row["received"], 3);
    assert_eq!(
        (gas_row["accepted"].as_i64(), gas_row["denied"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(gas_row["in_progress"], 1);
    server.stop().await;
}

#[tokio::test]
async fn an_application_lives_through_its_decisions_on_postgis() {
    lifecycle(crate::common::postgis_demo(3_000, 42).await).await;
}

#[tokio::test]
async fn an_application_lives_through_its_decisions_in_the_geopackage() {
    let (_dir, store) = crate::common::gpkg_demo(3_000, 42).await;
    lifecycle(store).await;
}

#[tokio::test]
async fn bad_input_gets_json_errors_and_writes_nothing() {
    let (_dir, store) = crate::common::gpkg_demo(1_000, 42).await;
    let all = parcels(&store).await;
    let server = TestServer::start(store.clone()).await;
    let plot = &all[0].0;
    let (status, first) = server
        .post_json(
            "/applications",
            &json!({"service": "gpzu", "cadastral": plot, "applicant": {"name": "Иванов"}}),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    let id = first["id"].as_i64().unwrap();

    let self_crossing = json!({"type": "Polygon", "coordinates": [[[49.10, 55.79], [49.11, 55.80], [49.11, 55.79], [49.10, 55.80], [49.10, 55.79]]]});
    let huge = json!({"type": "Polygon", "coordinates": [[[48.9, 55.6], [49.4, 55.6], [49.4, 55.95], [48.9, 55.95], [48.9, 55.6]]]});
    let ok = |extra: Value| {
        let mut b = json!({"service": "excavation_order", "cadastral": plot, "applicant": {"name": "Петров"}});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "unknown service",
            ok(json!({"service": "teleportation"})),
            404,
            "unknown_service",
        ),
        (
            "unknown life situation",
            ok(json!({"service": null, "life_situation": "fly"})),
            404,
            "unknown_life_situation",
        ),
        (
            "both service and situation",
            ok(json!({"life_situation": "build_office"})),
            400,
            "invalid_parameter",
        ),
        (
            "neither",
            ok(json!({"service": null})),
            400,
            "invalid_parameter",
        ),
        (
            "malformed cadastral",
            ok(json!({"cadastral": "16-50-1"})),
            400,
            "malformed_cadastral_number",
        ),
        (
            "unknown cadastral",
            ok(json!({"cadastral": "16:50:999999:1"})),
            404,
            "unknown_parcel",
        ),
        (
            "no plot",
            ok(json!({"cadastral": null})),
            400,
            "invalid_parameter",
        ),
        (
            "self-intersecting",
            ok(json!({"cadastral": null, "geometry": self_crossing})),
            400,
            "invalid_geometry",
        ),
        (
            "too large",
            ok(json!({"cadastral": null, "geometry": huge})),
            413,
            "geometry_too_large",
        ),
        (
            "not a geometry",
            ok(json!({"cadastral": null, "geometry": {"type": "Circle"}})),
            400,
            "invalid_geometry",
        ),
        (
            "a line",
            ok(
                json!({"cadastral": null, "geometry": {"type": "LineString", "coordinates": [[49.1, 55.8], [49.2, 55.8]]}}),
            ),
            400,
            "invalid_geometry",
        ),
        (
            "bad date",
            ok(json!({"submitted": "25.12.2026"})),
            400,
            "invalid_parameter",
        ),
        (
            "future date",
            ok(json!({"submitted": "2099-01-01"})),
            400,
            "invalid_parameter",
        ),
        (
            "no applicant",
            ok(json!({"applicant": null})),
            400,
            "invalid_parameter",
        ),
        (
            "nameless applicant",
            ok(json!({"applicant": {"phone": "1"}})),
            400,
            "invalid_parameter",
        ),
        (
            "unknown field",
            ok(json!({"priority": "urgent"})),
            400,
            "invalid_json",
        ),
    ];
    for (what, body, status, code) in &cases {
        let (s, b) = server.post_json("/applications", body).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (*status, Some(*code)),
            "{what}: {b}"
        );
        assert!(
            b["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        // The dry run refuses the same bodies the same way (but for what only
        // registration checks: the applicant and a future date).
        if !what.contains("applicant") && *what != "future date" {
            let (s, b) = server.post_json("/route", body).await;
            assert_eq!(
                (s, b["error"].as_str()),
                (*status, Some(*code)),
                "route, {what}: {b}"
            );
        }
    }
    let r = server
        .client
        .post(server.url("/applications"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let decision = |app: &str, task: &str| format!("/applications/{app}/tasks/{task}/decision");
    let decision_cases: Vec<(String, Value, u16, &str)> = vec![
        (
            decision("999999", "1"),
            json!({"decision": "approved"}),
            404,
            "unknown_application",
        ),
        (
            decision("abc", "1"),
            json!({"decision": "approved"}),
            404,
            "unknown_application",
        ),
        (
            decision(&id.to_string(), "99"),
            json!({"decision": "approved"}),
            404,
            "unknown_task",
        ),
        (
            decision(&id.to_string(), "1"),
            json!({"decision": "maybe"}),
            400,
            "invalid_json",
        ),
        (
            decision(&id.to_string(), "1"),
            json!({"decision": "rejected", "comment": "  "}),
            400,
            "comment_required",
        ),
    ];
    for (path, body, status, code) in &decision_cases {
        let (s, b) = server.post_json(path, body).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (*status, Some(*code)),
            "{path}: {b}"
        );
    }
    for (path, status, code) in [
        ("/applications/999999", 404, "unknown_application"),
        ("/applications?status=lost", 400, "invalid_parameter"),
        ("/applications?overdue=yes", 400, "invalid_parameter"),
        ("/applications?limit=-1", 400, "invalid_parameter"),
        ("/applications?limit=100000", 400, "invalid_parameter"),
        ("/applications?department=NOBODY", 400, "invalid_parameter"),
        ("/applications?sort=name", 400, "invalid_parameter"),
    ] {
        let (s, b) = server.get_json(path).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (status, Some(code)),
            "{path}: {b}"
        );
    }

    // Nothing was written: one application, untouched.
    let (_, list) = server.get_json("/applications").await;
    assert_eq!(list["returned"], 1);
    let (_, now) = server.get_json(&format!("/applications/{id}")).await;
    assert_eq!(now["revision"], first["revision"]);
    assert_eq!(now["history"], first["history"]);
    assert_eq!(now["status"], "received");
    server.stop().await;
}

#[tokio::test]
async fn the_catalog_is_data_the_store_keeps() {
    let (dir, store) = crate::common::gpkg_demo(500, 42).await;
    let server = TestServer::start(store.clone()).await;
    let (status, catalog) = server.get_json("/catalog").await;
    assert_eq!(status, 200);
    assert_eq!(catalog["revision"]["revision"], 1);
    let services = catalog["services"].as_array().unwrap();
    assert!(services.len() >= 10);
    assert!(catalog["life_situations"].as_array().unwrap().len() >= 2);
    assert!(catalog["zone_types"].as_array().unwrap().len() >= 14);
    let plot = parcels(&store).await[0].0.clone();
    let request = json!({"service": "gpzu", "cadastral": plot, "submitted": "2027-03-01"});
    let (_, before) = server.post_json("/route", &request).await;
    assert_eq!(before["steps"][0]["deadline"]["days"], 14);
    server.stop().await;

    // The city shortens the ГПЗУ deadline to 10 working days, in its own file.
    let text = imgis::catalog::DEFAULT_CATALOG.replace(
        "code = \"gpzu\"\nname = \"Выдача градостроительного плана земельного участка (ГПЗУ)\"\ndepartment = \"UAIG\"\ndeadline_days = 14",
        "code = \"gpzu\"\nname = \"Выдача градостроительного плана земельного участка (ГПЗУ)\"\ndepartment = \"UAIG\"\ndeadline_days = 10",
    );
    assert_ne!(
        text,
        imgis::catalog::DEFAULT_CATALOG,
        "the test edits the catalog"
    );
    let file = dir.path().join("city-catalog.toml");
    std::fs::write(&file, &text).unwrap();
    let mut config = test_config();
    config.catalog = Some(file.clone());
    let server = TestServer::start_with(config, store.clone()).await;
    let (_, catalog) = server.get_json("/catalog").await;
    assert_eq!(catalog["revision"]["revision"], 2);
    let (_, after) = server.post_json("/route", &request).await;
    assert_eq!(after["steps"][0]["deadline"]["days"], 10);
    assert_eq!(after["catalog_revision"]["revision"], 2);
    server.stop().await;

    // Without the file, the store's newest revision stays in use.
    let server = TestServer::start(store.clone()).await;
    let (_, catalog) = server.get_json("/catalog").await;
    assert_eq!(catalog["revision"]["revision"], 2);
    server.stop().await;

    // A broken catalog is refused at start and stores nothing.
    std::fs::write(
        &file,
        text.replace("department = \"UAIG\"", "department = \"NOBODY\""),
    )
    .unwrap();
    let mut config = test_config();
    config.catalog = Some(file);
    let refused = imgis::app::App::with_store(config, store.clone()).await;
    let message = refused
        .err()
        .expect("a broken catalog is refused")
        .to_string();
    assert!(message.contains("NOBODY"), "{message}");
    assert_eq!(store.catalog().await.unwrap().unwrap().revision, 2);
}
