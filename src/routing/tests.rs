//! Routing over the built-in catalog with zones given by hand (the HTTP tests
//! in `tests/routing.rs` route real plots of the demo city).

use std::sync::Arc;

use chrono::NaiveDate;
use geo_types::{point, Geometry};
use serde_json::json;

use super::*;
use crate::constraints::ZoneOverlap;
use crate::model::{Feature, Properties};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn zone(id: i64, zone_type: &str, properties: serde_json::Value) -> ZoneOverlap {
    let properties: Properties = serde_json::from_value(properties).unwrap();
    ZoneOverlap {
        zone_type: Some(zone_type.into()),
        department: None,
        layer: LayerRef {
            code: "zones_under_test".parse().unwrap(),
            version: 3,
        },
        feature_id: id,
        overlap_m2: 12.5,
        overlap_percent: 2.5,
        feature: Arc::new(Feature {
            id,
            geometry: Geometry::Point(point!(x: 49.1, y: 55.8)),
            cadastral: None,
            properties,
        }),
        note: None,
    }
}

fn departments(plan: &RoutePlan) -> Vec<&str> {
    let mut d: Vec<&str> = plan
        .departments
        .iter()
        .map(|d| d.department.as_str())
        .collect();
    d.sort_unstable();
    d
}

#[test]
fn an_excavation_across_gas_and_heat_lines_goes_to_both_operators_and_kvb() {
    let catalog = Catalog::builtin();
    let zones = [
        zone(1, "gas_protection", json!({})),
        zone(2, "heat_protection", json!({})),
    ];
    let facts = PlotFacts {
        zones: &zones,
        properties: None,
    };
    // Friday 25 December 2026: 10 working days skip 31 December and the
    // New Year days off (1–8 January 2027) and two weekends.
    let plan = route(
        &catalog,
        Request::Service("excavation_order"),
        &facts,
        d(2026, 12, 25),
    )
    .unwrap();
    assert_eq!(departments(&plan), ["GAS", "HEAT", "KVB"]);
    assert_eq!(plan.due, d(2027, 1, 19));
    assert!(!plan.blocked);
    let gas = plan
        .approvals
        .iter()
        .find(|a| a.department == "GAS")
        .unwrap();
    assert_eq!(gas.action, Action::Approve);
    assert_eq!(gas.due, d(2027, 1, 19));
    let zone = gas.reasons[0].zone.as_ref().unwrap();
    assert_eq!((zone.feature_id, zone.layer.version), (1, 3));
    // KVB provides the service and a rule names it too: one approval, two reasons.
    let kvb: Vec<&Approval> = plan
        .approvals
        .iter()
        .filter(|a| a.department == "KVB")
        .collect();
    assert_eq!(kvb.len(), 1);
    assert_eq!(kvb[0].reasons.len(), 2);
}

#[test]
fn a_building_permit_in_a_heritage_zone_takes_thirty_days() {
    let catalog = Catalog::builtin();
    let zones = [zone(7, "heritage_protection", json!({}))];
    let facts = PlotFacts {
        zones: &zones,
        properties: None,
    };
    let plan = route(
        &catalog,
        Request::Service("building_permit"),
        &facts,
        d(2027, 3, 1),
    )
    .unwrap();
    assert_eq!(plan.steps[0].deadline.days, 30);
    assert!(plan.steps[0]
        .deadline_source
        .contains("heritage_protection"));
    assert_eq!(plan.due, d(2027, 3, 31));
    assert!(plan.departments.iter().any(|d| d.department == "HERITAGE"));

    // The same plot without the zone: the service's own 5 working days.
    let bare = route(
        &catalog,
        Request::Service("building_permit"),
        &PlotFacts {
            zones: &[],
            properties: None,
        },
        d(2027, 3, 1),
    )
    .unwrap();
    assert_eq!(bare.due, d(2027, 3, 9), "8 March is a holiday");
    assert_eq!(departments(&bare), ["UGR"]);
}

#[test]
fn a_house_in_a_sanitary_zone_is_blocked_and_a_warehouse_is_not() {
    let catalog = Catalog::builtin();
    let zones = [zone(9, "sanitary_protection", json!({"hazard_class": 3}))];
    let house: Properties =
        serde_json::from_value(json!({"permitted_use": "индивидуальное жилищное строительство"}))
            .unwrap();
    let plan = route(
        &catalog,
        Request::Service("building_permit"),
        &PlotFacts {
            zones: &zones,
            properties: Some(&house),
        },
        d(2027, 3, 1),
    )
    .unwrap();
    assert!(plan.blocked);
    assert_eq!(plan.block_reasons.len(), 1);
    assert_eq!(plan.block_reasons[0].department, "SANITARY");
    assert_eq!(
        plan.block_reasons[0]
            .reason
            .zone
            .as_ref()
            .unwrap()
            .feature_id,
        9
    );

    let warehouse: Properties = serde_json::from_value(json!({"permitted_use": "склады"})).unwrap();
    let plan = route(
        &catalog,
        Request::Service("building_permit"),
        &PlotFacts {
            zones: &zones,
            properties: Some(&warehouse),
        },
        d(2027, 3, 1),
    )
    .unwrap();
    assert!(!plan.blocked);
}

#[test]
fn a_life_situation_is_due_at_the_end_of_its_critical_path() {
    let catalog = Catalog::builtin();
    let plan = route(
        &catalog,
        Request::LifeSituation("build_office"),
        &PlotFacts {
            zones: &[],
            properties: None,
        },
        d(2027, 2, 1),
    )
    .unwrap();
    assert_eq!(plan.steps.len(), 8);
    for s in &plan.steps {
        for a in &s.after {
            let before = plan.steps.iter().find(|p| &p.service == a).unwrap();
            assert_eq!(
                s.start.max(before.due),
                s.start,
                "{} starts before {a} is due",
                s.service
            );
        }
    }
    let last = plan.steps.iter().max_by_key(|s| s.due).unwrap();
    assert_eq!(plan.due, last.due);
    assert!(last.critical);
    assert_eq!(last.service, "commissioning_permit");
    // Excavation (10 working days) is longer than felling (14 calendar days)
    // here, so felling is off the critical path … unless the dates say otherwise.
    let critical: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.critical)
        .map(|s| s.service.as_str())
        .collect();
    assert!(critical.starts_with(&["land_lease", "gpzu", "stormwater_conditions"]));
}

#[test]
fn unknown_codes_are_refused() {
    let catalog = Catalog::builtin();
    let facts = PlotFacts {
        zones: &[],
        properties: None,
    };
    assert!(matches!(
        route(
            &catalog,
            Request::Service("teleport"),
            &facts,
            d(2027, 3, 1)
        ),
        Err(RoutingError::UnknownService(_))
    ));
    assert!(matches!(
        route(
            &catalog,
            Request::LifeSituation("build_office"),
            &facts,
            d(2027, 3, 1)
        )
        .map(|p| p.steps.len()),
        Ok(8)
    ));
    assert!(matches!(
        route(
            &catalog,
            Request::LifeSituation("gpzu"),
            &facts,
            d(2027, 3, 1)
        ),
        Err(RoutingError::UnknownLifeSituation(_))
    ));
}
