//! The planners' web map (`web/`) in a real browser: a demo city served on
//! 127.0.0.1, and `tests/web/map.test.mjs` driving Debian's chromium through
//! playwright-core against it (layers load without tile errors, the switcher
//! groups them by department, search and click open a plot, the plot panel's
//! route check shows what `POST /route` answers (departments, due dates,
//! steps, a blocked building permit, a late or refused answer), bad numbers
//! are explained). The screenshot lands in `target/artifacts/web-map.png`.
//!
//! Needs `node` (20 or later) and `/usr/bin/chromium` (Debian package
//! `chromium`); without them the test fails and says what to install. It runs
//! `npm ci --prefix tests/web` itself when `tests/web/node_modules` is missing.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use imgis::model::LayerCode;

use crate::common::server::TestServer;
use imgis::auth::Role;

/// Enough plots for several cadastral quarters with their networks and zones.
const PARCELS: usize = 1_500;
const CHROMIUM: &str = "/usr/bin/chromium";
/// The browser script's own deadline is 240 s; this one only catches a hang.
const NODE_TIMEOUT: Duration = Duration::from_secs(300);

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn show(output: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Fails with what to install when node or chromium is missing.
async fn require_tools() {
    let node = tokio::process::Command::new("node")
        .arg("--version")
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the web map test needs Node.js 20+ (`node`), which could not be run: {e}; \
                 install it (Debian: apt-get install -y nodejs npm)"
            )
        });
    assert!(
        node.status.success(),
        "`node --version` failed:\n{}",
        show(&node)
    );
    let version = String::from_utf8_lossy(&node.stdout).trim().to_owned();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 20,
        "the web map test needs Node.js 20 or later (playwright-core), found {version}"
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "the web map test needs {CHROMIUM}; install it with: apt-get install -y chromium"
    );
}

/// Installs playwright-core from tests/web/package-lock.json, once.
async fn install_test_dependencies(web_tests: &Path) {
    if web_tests
        .join("node_modules")
        .join("playwright-core")
        .exists()
    {
        return;
    }
    let npm = tokio::process::Command::new("npm")
        .arg("ci")
        .arg("--prefix")
        .arg(web_tests)
        .arg("--no-audit")
        .arg("--no-fund")
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("`npm ci --prefix tests/web` could not be run (is npm installed?): {e}")
        });
    assert!(
        npm.status.success(),
        "`npm ci --prefix tests/web` failed:\n{}",
        show(&npm)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_map_in_a_real_browser() {
    require_tools().await;
    let root = crate_dir();
    let web_tests = root.join("tests").join("web");
    install_test_dependencies(&web_tests).await;

    let (_dir, store) = crate::common::gpkg_demo(PARCELS, 42).await;
    let server = TestServer::start(store).await;

    // The plots by their distance from the middle of the parcels. The nearest
    // is in the built-up centre, among zones and networks, which makes the
    // screenshot worth a look.
    let parcels: LayerCode = "parcels".parse().expect("a valid layer code");
    let layer = server
        .app
        .index()
        .layer(&parcels)
        .expect("the demo city has a parcels layer");
    let extent = layer.extent().expect("the parcels layer is not empty");
    let middle = extent.center();
    let mut plots: Vec<(f64, String)> = layer
        .in_envelope(extent)
        .filter_map(|f| {
            let c = f.cadastral.as_ref()?;
            let r = geo::BoundingRect::bounding_rect(&f.geometry)?;
            let d = (r.center().x - middle.x).hypot(r.center().y - middle.y);
            Some((d, c.to_string()))
        })
        .collect();
    plots.sort_by(|a, b| a.0.total_cmp(&b.0));
    let cadastral = plots
        .first()
        .map(|(_, c)| c.clone())
        .expect("a parcel with a cadastral number");

    // The plot nearest the middle where a building permit is refused (in the
    // demo city: housing in a sanitary protection zone), for the panel's warning.
    let mut blocked = None;
    for (_, plot) in &plots {
        let (status, answer) = server
            .post_json(
                "/route",
                &serde_json::json!({ "service": "building_permit", "cadastral": plot }),
            )
            .await;
        assert_eq!(status, 200, "POST /route for {plot}: {answer}");
        if answer["blocked"] == true {
            blocked = Some(plot.clone());
            break;
        }
    }
    let blocked = blocked.expect("a plot of the demo city where a building permit is blocked");

    let screenshot = root.join("target").join("artifacts").join("web-map.png");
    let run = tokio::process::Command::new("node")
        .arg(web_tests.join("map.test.mjs"))
        .arg(server.url(""))
        .arg(&screenshot)
        .arg(&cadastral)
        .arg(&blocked)
        // A planner's token: the map signs in with it for the route check.
        .env("IMGIS_TOKEN", server.token(Role::Intake, None).await)
        .current_dir(&root)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(NODE_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("the browser test did not finish in {NODE_TIMEOUT:?}"))
        .expect("running node tests/web/map.test.mjs");
    println!("{}", show(&output));
    assert!(
        output.status.success(),
        "the web map test failed ({}) for plots {cadastral} and {blocked}:\n{}",
        output.status,
        show(&output)
    );
    assert!(
        screenshot.exists(),
        "the browser test passed but wrote no screenshot at {}",
        screenshot.display()
    );

    server.stop().await;
}
