use chrono::NaiveDate;
use serde_json::json;

use super::*;
use crate::model::props;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[test]
fn builtin_catalog_has_the_city_units_and_external_approvers() {
    let c = Catalog::builtin();
    let codes: Vec<&str> = c.departments.iter().map(|d| d.code.as_str()).collect();
    for code in [
        "KZIO",
        "UAIG",
        "KVB",
        "UGR",
        "GAS",
        "POWER",
        "VODOKANAL",
        "HEAT",
        "TELECOM",
        "HERITAGE",
    ] {
        assert!(codes.contains(&code), "{code} missing");
    }
    assert!(c.departments.iter().any(|d| d.external));
    assert!(!c.department("KZIO").unwrap().external);
}

#[test]
fn builtin_catalog_covers_the_design_tables() {
    let c = Catalog::builtin();
    // The 14 zone types of DESIGN.md, under the codes zone features carry.
    for code in [
        "gas_protection",
        "gas_station_protection",
        "power_protection",
        "power_cable_protection",
        "heat_protection",
        "telecom_protection",
        "water_sanitary_strip",
        "sewer_protection",
        "water_protection",
        "shore_strip",
        "sanitary_protection",
        "heritage_protection",
        "airfield_subzone_3",
        "territorial",
    ] {
        let z = c
            .zone_type(code)
            .unwrap_or_else(|| panic!("{code} missing"));
        assert!(!z.name.is_empty() && !z.legal_basis.is_empty(), "{code}");
    }
    assert!(c.services.len() >= 10);
    let gpzu = c.service("gpzu").unwrap().deadline();
    assert_eq!((gpzu.days, gpzu.kind), (14, DeadlineKind::Working));
    let permit = c.service("building_permit").unwrap();
    assert_eq!(
        (permit.deadline_days, permit.department.as_str()),
        (5, "UGR")
    );
    for code in ["build_office", "connect_house"] {
        let s = c.life_situation(code).unwrap();
        assert_eq!(s.ordered_steps().len(), s.steps.len(), "{code}");
    }
    // "Build an office" runs lease → ГПЗУ → … → commissioning, in that order.
    let order: Vec<&str> = c
        .life_situation("build_office")
        .unwrap()
        .ordered_steps()
        .iter()
        .map(|s| s.service.as_str())
        .collect();
    assert_eq!(order.first(), Some(&"land_lease"));
    assert_eq!(order.last(), Some(&"commissioning_permit"));
}

#[test]
fn buffer_rules_give_the_regulation_widths() {
    let c = Catalog::builtin();
    let width = |layer: &str, p: Properties| {
        c.buffer_rule_for(&layer.parse().unwrap(), &p)
            .map(|r| (r.zone_type.as_str(), r.width_m))
    };
    let power = |kv: serde_json::Value, placement: &str| {
        width(
            "power",
            props([("voltage_kv", kv), ("placement", json!(placement))]),
        )
    };
    assert_eq!(
        power(json!(0.4), "overhead"),
        Some(("power_protection", 2.0))
    );
    assert_eq!(
        power(json!(10), "overhead"),
        Some(("power_protection", 10.0))
    );
    assert_eq!(
        power(json!(35), "overhead"),
        Some(("power_protection", 15.0))
    );
    assert_eq!(
        power(json!(110), "overhead"),
        Some(("power_protection", 20.0))
    );
    assert_eq!(
        power(json!(150), "overhead"),
        Some(("power_protection", 25.0))
    );
    assert_eq!(
        power(json!(220), "overhead"),
        Some(("power_protection", 25.0))
    );
    assert_eq!(
        power(json!(10), "underground"),
        Some(("power_cable_protection", 1.0))
    );
    let steel = props([("material", json!("steel"))]);
    assert_eq!(width("gas", steel), Some(("gas_protection", 2.0)));
    assert_eq!(
        width("gas_stations", props([])),
        Some(("gas_station_protection", 10.0))
    );
    assert_eq!(width("heat", props([])), Some(("heat_protection", 3.0)));
    assert_eq!(
        width("telecom", props([])),
        Some(("telecom_protection", 2.0))
    );
    let water = |mm: u32| width("water", props([("diameter_mm", json!(mm))]));
    assert_eq!(water(1000), Some(("water_sanitary_strip", 10.0)));
    assert_eq!(water(1200), Some(("water_sanitary_strip", 20.0)));
    let sewer = |flow: &str| width("sewer", props([("flow", json!(flow))]));
    assert_eq!(sewer("gravity"), Some(("sewer_protection", 3.0)));
    assert_eq!(sewer("pressure"), Some(("sewer_protection", 5.0)));
    assert_eq!(width("water", props([])), None, "no diameter, no rule");
    assert!(c.is_buffer_source(&"power".parse().unwrap()));
    assert!(!c.is_buffer_source(&"parcels".parse().unwrap()));
}

#[test]
fn routing_rules_read_as_the_design_says() {
    let c = Catalog::builtin();
    let zone = props([]);
    let house = props([(
        "permitted_use",
        json!("индивидуальное жилищное строительство"),
    )]);
    let office = props([("permitted_use", json!("деловое управление"))]);
    let applying = |service: &str, zt: Option<&str>, plot: &Properties| -> Vec<(String, Action)> {
        c.rules_for(service)
            .filter(|r| r.applies(service, zt.map(|t| (t, &zone)), Some(plot)))
            .map(|r| (r.department.clone(), r.action))
            .collect()
    };
    // Excavation: KVB always, the gas operator in a gas zone.
    assert_eq!(
        applying("excavation_order", None, &office),
        [("KVB".into(), Action::Approve)]
    );
    assert_eq!(
        applying("excavation_order", Some("gas_protection"), &office),
        [("GAS".into(), Action::Approve)]
    );
    // Building permit: a house in a sanitary zone is blocked, an office is not.
    assert_eq!(
        applying("building_permit", Some("sanitary_protection"), &house),
        [("SANITARY".into(), Action::Block)]
    );
    assert!(applying("building_permit", Some("sanitary_protection"), &office).is_empty());
    assert_eq!(
        applying("building_permit", Some("water_protection"), &office),
        [("FISHERIES".into(), Action::Consult)]
    );
    // The heritage rule takes the permit's deadline from 5 working days to 30 days.
    let permit = c.service("building_permit").unwrap();
    let heritage = c
        .rules_for("building_permit")
        .find(|r| {
            r.applies(
                "building_permit",
                Some(("heritage_protection", &zone)),
                None,
            )
        })
        .unwrap();
    assert_eq!(heritage.department, "HERITAGE");
    assert_eq!(heritage.deadline(permit).unwrap().days, 30);
    // A zone condition: only recreational territorial zones.
    let r1 = props([("code", json!("Р1"))]);
    let zh1 = props([("code", json!("Ж1"))]);
    let territorial = |z: &Properties| {
        c.rules_for("building_permit")
            .any(|r| r.applies("building_permit", Some(("territorial", z)), None))
    };
    assert!(territorial(&r1) && !territorial(&zh1));
}

#[test]
fn holidays_move_deadlines() {
    let c = Catalog::builtin();
    let cal = &c.calendar;
    // 5 working days from Friday 6 March 2026: 8 and 9 March are off.
    assert_eq!(cal.add_working_days(d(2026, 3, 6), 5), d(2026, 3, 16));
    // Tatarstan: Uraza Bayram, Friday 20 March 2026.
    assert_eq!(cal.add_working_days(d(2026, 3, 17), 5), d(2026, 3, 25));
    // ГПЗУ submitted on Wednesday 31 December 2025: the New Year break runs
    // to Sunday 11 January, so the 14 working days start on the 12th.
    let gpzu = c.service("gpzu").unwrap().deadline();
    assert_eq!(cal.due(d(2025, 12, 31), gpzu), d(2026, 1, 29));
    // The May holidays of 2026: 1–3 and 9–11 May.
    assert_eq!(cal.add_working_days(d(2026, 4, 30), 1), d(2026, 5, 4));
    assert_eq!(cal.add_working_days(d(2026, 5, 8), 1), d(2026, 5, 12));
    assert!(!cal.is_working_day(d(2026, 12, 31)));
    assert!(!cal.is_working_day(d(2027, 6, 14)));
    assert!(cal.is_working_day(d(2027, 8, 31)));
}

/// A small valid catalog, to break one thing at a time.
const SMALL: &str = r#"
[[departments]]
code = "KVB"
name = "Комитет внешнего благоустройства"
[[departments]]
code = "GAS"
name = "Газ"
external = true

[[zone_types]]
code = "gas_protection"
name = "Охранная зона газопровода"
legal_basis = "878"
department = "GAS"
blocks_construction = true

[[buffer_rules]]
layer = "gas"
zone_type = "gas_protection"
width_m = 2

[[services]]
code = "excavation_order"
name = "Ордер"
department = "KVB"
deadline_days = 10
deadline_kind = "working"

[[services]]
code = "green_spaces"
name = "Вырубка"
department = "KVB"
deadline_days = 14
deadline_kind = "calendar"

[[life_situations]]
code = "dig"
name = "Копать"
steps = [
    { service = "green_spaces" },
    { service = "excavation_order", after = ["green_spaces"] },
]

[[rules]]
service = "excavation_order"
zone_type = "gas_protection"
department = "GAS"
action = "approve"

[calendar]
holidays = [2026-03-09]
working_days = [2026-03-14]
"#;

/// `SMALL` with `from` replaced by `to` (which must change it), parsed.
fn broken(from: &str, to: &str) -> CatalogError {
    assert!(SMALL.contains(from), "{from}");
    let text = SMALL.replacen(from, to, 1);
    Catalog::parse(&text, "test.toml").expect_err(&format!("{from} → {to} must be refused"))
}

#[test]
fn the_small_catalog_is_valid() {
    let c = Catalog::parse(SMALL, "test.toml").unwrap();
    assert_eq!(
        c.calendar.add_working_days(d(2026, 3, 13), 1),
        d(2026, 3, 14)
    );
}

#[test]
fn duplicate_codes_are_refused() {
    let text = "[[departments]]\ncode='A'\nname='a'\n[[departments]]\ncode='A'\nname='b'\n";
    let e = Catalog::parse(text, "t").unwrap_err();
    assert!(
        matches!(&e, CatalogError::Duplicate { what: "department code", code, .. } if code == "A"),
        "{e}"
    );
    let e = broken("code = \"green_spaces\"", "code = \"excavation_order\"");
    assert!(
        e.to_string()
            .contains("service code 'excavation_order' appears twice"),
        "{e}"
    );
    let e = broken(
        "{ service = \"green_spaces\" },",
        "{ service = \"green_spaces\" }, { service = \"green_spaces\" },",
    );
    assert!(
        e.to_string().contains("'green_spaces' appears twice"),
        "{e}"
    );
}

#[test]
fn every_broken_reference_is_named() {
    for (from, to, owner, what, code) in [
        (
            "department = \"GAS\"\nblocks",
            "department = \"GAZ\"\nblocks",
            "zone type 'gas_protection'",
            "department",
            "GAZ",
        ),
        (
            "zone_type = \"gas_protection\"\nwidth_m",
            "zone_type = \"gas_zone\"\nwidth_m",
            "buffer rule #1 (gas → gas_zone)",
            "zone type",
            "gas_zone",
        ),
        (
            "department = \"KVB\"\ndeadline_days = 10",
            "department = \"KBB\"\ndeadline_days = 10",
            "service 'excavation_order'",
            "department",
            "KBB",
        ),
        (
            "{ service = \"green_spaces\" },",
            "{ service = \"felling\" },",
            "life situation 'dig'",
            "service",
            "felling",
        ),
        (
            "after = [\"green_spaces\"]",
            "after = [\"felling\"]",
            "life situation 'dig', step 'excavation_order'",
            "step",
            "felling",
        ),
        (
            "service = \"excavation_order\"\nzone_type",
            "service = \"excavation\"\nzone_type",
            "rule #1 (excavation × gas_protection → GAS)",
            "service",
            "excavation",
        ),
        (
            "zone_type = \"gas_protection\"\ndepartment = \"GAS\"\naction",
            "zone_type = \"gas\"\ndepartment = \"GAS\"\naction",
            "rule #1 (excavation_order × gas → GAS)",
            "zone type",
            "gas",
        ),
        (
            "department = \"GAS\"\naction",
            "department = \"GOS\"\naction",
            "rule #1 (excavation_order × gas_protection → GOS)",
            "department",
            "GOS",
        ),
    ] {
        let e = broken(from, to);
        match &e {
            CatalogError::UnknownReference {
                owner: o,
                what: w,
                code: c,
                ..
            } => assert_eq!((o.as_str(), *w, c.as_str()), (owner, what, code), "{e}"),
            other => panic!("{from} → {to}: {other}"),
        }
        let message = e.to_string();
        assert!(
            message.contains("test.toml") && message.contains(code),
            "{message}"
        );
    }
}

#[test]
fn a_cycle_in_a_life_situation_is_found() {
    let e = broken(
        "{ service = \"green_spaces\" },",
        "{ service = \"green_spaces\", after = [\"excavation_order\"] },",
    );
    match &e {
        CatalogError::Cycle {
            situation, cycle, ..
        } => {
            assert_eq!(situation, "dig");
            assert!(
                cycle == "green_spaces → excavation_order → green_spaces"
                    || cycle == "excavation_order → green_spaces → excavation_order",
                "{cycle}"
            );
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("cycle"), "{e}");
}

#[test]
fn widths_deadlines_and_conditions_are_checked() {
    for (from, to) in [("width_m = 2\n", "\n"), ("width_m = 2\n", "width_m = -1\n")] {
        let e = broken(from, to);
        assert!(matches!(e, CatalogError::NoWidth { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("buffer rule #1 (gas → gas_protection) has no width"),
            "{e}"
        );
    }
    let e = broken("deadline_days = 10\n", "deadline_days = 0\n");
    assert!(
        e.to_string()
            .contains("service 'excavation_order' has a deadline of 0"),
        "{e}"
    );
    let e = broken("deadline_days = 10\n", "\n");
    assert!(matches!(e, CatalogError::ZeroDeadline { .. }), "{e}");
    let e = broken(
        "action = \"approve\"\n",
        "action = \"approve\"\ndeadline_days = 0\n",
    );
    assert!(e.to_string().contains("rule #1"), "{e}");
    let e = broken(
        "width_m = 2\n",
        "width_m = 2\nwhen = [{ property = \"material\" }]\n",
    );
    assert!(e.to_string().contains("tests nothing"), "{e}");
    let e = broken(
        "zone_type = \"gas_protection\"\ndepartment = \"GAS\"\naction",
        "when = [{ property = \"x\", equals = 1 }]\ndepartment = \"GAS\"\naction",
    );
    assert!(e.to_string().contains("no zone_type"), "{e}");
    let e = broken("working_days = [2026-03-14]", "working_days = [2026-03-13]");
    assert!(
        e.to_string().contains("calendar") && e.to_string().contains("2026-03-13"),
        "{e}"
    );
}

#[test]
fn unknown_fields_and_values_are_refused() {
    for (from, to) in [
        ("external = true", "external = true\nexternel = true"),
        (
            "blocks_construction = true",
            "blocks_construction = true\nwidth = 3",
        ),
        ("width_m = 2", "width_m = 2\nwidth = 3"),
        ("action = \"approve\"", "action = \"allow\""),
        (
            "deadline_kind = \"working\"",
            "deadline_kind = \"business\"",
        ),
        ("[calendar]", "[calendar]\nweekends = []"),
        ("holidays = [2026-03-09]", "holidays = [\"9 March\"]"),
    ] {
        let e = broken(from, to);
        assert!(
            matches!(e, CatalogError::Parse { .. }),
            "{from} → {to}: {e}"
        );
    }
}

#[test]
fn the_catalog_round_trips_through_json() {
    // The store keeps the catalog as JSON; what it reads back must validate.
    let c = Catalog::builtin();
    let json = serde_json::to_string(&c).unwrap();
    let back: Catalog = serde_json::from_str(&json).unwrap();
    back.validate("json").unwrap();
    assert_eq!(back.calendar, c.calendar);
    assert_eq!(back.rules, c.rules);
    assert_eq!(back.buffer_rules, c.buffer_rules);
}
