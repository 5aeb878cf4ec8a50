//! The `imgis` binary as an operator runs it: the embedded default from an empty
//! folder, the demo into both stores, GDAL reading the GeoPackage, and clear
//! failures (database down, a file that is not a GeoPackage).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

fn imgis(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imgis"))
        .args(args)
        .current_dir(cwd)
        .env_remove("IMGIS_DATABASE")
        .env_remove("IMGIS_GPKG")
        .env_remove("IMGIS_CONFIG")
        .output()
        .expect("running imgis")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `ogrinfo -so -al` parsed into (layer name, feature count, geometry).
fn ogrinfo_layers(file: &Path) -> Vec<(String, i64, String)> {
    let out = Command::new("ogrinfo")
        .args(["-ro", "-so", "-al"])
        .arg(file)
        .output()
        .expect("ogrinfo (Debian gdal-bin) must be installed: scripts/test.sh installs it");
    assert!(
        out.status.success(),
        "ogrinfo failed: {}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let mut layers = Vec::new();
    let mut current: Option<(String, i64, String)> = None;
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("Layer name: ") {
            layers.extend(current.take());
            current = Some((name.trim().to_owned(), -1, String::new()));
        } else if let (Some(c), Some(n)) = (current.as_mut(), line.strip_prefix("Feature Count: "))
        {
            c.1 = n.trim().parse().expect("a count");
        } else if let (Some(c), Some(g)) = (current.as_mut(), line.strip_prefix("Geometry: ")) {
            c.2 = g.trim().to_owned();
        }
    }
    layers.extend(current);
    layers
}

#[test]
fn demo_into_gpkg_is_read_by_gdal_with_every_layer_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = imgis(
        &["demo", "--gpkg", "city.gpkg", "--parcels", "400"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = dir.path().join("city.gpkg");
    let layers = ogrinfo_layers(&file);
    let names: Vec<&str> = layers.iter().map(|l| l.0.as_str()).collect();
    for code in [
        "districts",
        "quarters",
        "parcels",
        "streets",
        "water",
        "sewer",
        "gas",
        "gas_stations",
        "power",
        "heat",
        "telecom",
        "rivers",
        "water_protection_zones",
        "heritage_objects",
        "heritage_zones",
        "territorial_zones",
        "sanitary_zones",
    ] {
        assert!(
            names.contains(&code),
            "ogrinfo does not list {code}: {names:?}"
        );
    }
    let parcels = layers.iter().find(|l| l.0 == "parcels").unwrap();
    assert_eq!(parcels.1, 400, "GDAL counts the parcels the demo wrote");
    assert_eq!(parcels.2, "Polygon");
    for (name, count, _) in &layers {
        assert!(*count > 0, "layer {name} is empty");
    }
    // Running the demo again replaces the layers; the counts stay, nothing doubles.
    let out = imgis(
        &["demo", "--gpkg", "city.gpkg", "--parcels", "400"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(ogrinfo_layers(&file), layers);
}

#[tokio::test]
async fn demo_into_postgis_writes_valid_geometries_that_postgis_agrees_with() {
    let url = crate::common::postgis::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let out = imgis(
        &["demo", "--database", &url, "--parcels", "400"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let (n, invalid, srid): (i64, i64, i32) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid(f.geom)), min(ST_SRID(f.geom)) \
         FROM features f JOIN layers l ON l.id = f.layer_id WHERE l.code = 'parcels'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!((n, invalid, srid), (400, 0, 4326));
    // Every parcel lies in one of Kazan's districts, as PostGIS sees it.
    let outside: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM features p JOIN layers lp ON lp.id = p.layer_id AND lp.code = 'parcels' \
         WHERE NOT EXISTS (SELECT 1 FROM features d JOIN layers ld ON ld.id = d.layer_id AND ld.code = 'districts' \
                           WHERE ST_Intersects(d.geom, ST_PointOnSurface(p.geom)))",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(outside, 0);
    let numbers: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT cadastral) FROM features WHERE cadastral IS NOT NULL",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(numbers, 400);
}

#[test]
fn a_database_that_is_down_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 on loopback: nothing listens there.
    for args in [
        vec![
            "migrate",
            "--database",
            "postgres://city:secret@127.0.0.1:9/gis",
        ],
        vec![
            "serve",
            "--database",
            "postgres://city:secret@127.0.0.1:9/gis",
            "--listen",
            "127.0.0.1:0",
        ],
    ] {
        let started = Instant::now();
        let out = imgis(&args, dir.path());
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(
            stderr.contains("cannot connect to postgres://city:***@127.0.0.1:9/gis"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("secret"),
            "the password never reaches the log: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gives up promptly"
        );
    }
}

#[test]
fn a_file_that_is_not_a_geopackage_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.gpkg");
    std::fs::write(&path, "these are my notes, not a GeoPackage\n").unwrap();
    let before = std::fs::read(&path).unwrap();
    for args in [
        vec!["serve", "--gpkg", "notes.gpkg", "--listen", "127.0.0.1:0"],
        vec!["demo", "--gpkg", "notes.gpkg"],
        vec!["migrate", "--gpkg", "notes.gpkg"],
    ] {
        let out = imgis(&args, dir.path());
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(stderr.contains("is not a GeoPackage"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the file is untouched"
        );
    }
}

/// The first README command, minus the build: `imgis serve` in an empty folder
/// creates data/imgis.gpkg, loads the demo city, serves it, and stops on SIGTERM.
#[test]
fn serve_on_a_fresh_folder_creates_the_geopackage_loads_the_demo_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgis"))
        .args(["serve", "--listen", &listen, "--demo-parcels", "1000"])
        .current_dir(dir.path())
        .env_remove("IMGIS_DATABASE")
        .env_remove("IMGIS_GPKG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::blocking_get_json;
    let deadline = Instant::now() + Duration::from_secs(120);
    let health = loop {
        if let Some(h) = client(&format!("http://{listen}/health")) {
            break h;
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the server exited early"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"]["backend"], "gpkg");
    let parcels = health["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["code"] == "parcels")
        .unwrap();
    assert_eq!(parcels["features"], 1000);
    assert!(dir.path().join("data/imgis.gpkg").is_file());

    // SIGTERM: a clean stop with exit status 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("SIGTERM"), "{stderr}");

    // GDAL reads the file the server created, with the parcels it generated.
    assert_eq!(
        ogrinfo_layers(&dir.path().join("data/imgis.gpkg"))
            .iter()
            .find(|l| l.0 == "parcels")
            .unwrap()
            .1,
        1000
    );
}

mod reqwest {
    /// A tiny blocking GET for a test that has no async runtime; None until the server answers.
    pub fn blocking_get_json(url: &str) -> Option<serde_json::Value> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let r = ::reqwest::get(url).await.ok()?;
            r.json().await.ok()
        })
    }
}
