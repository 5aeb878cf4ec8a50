//! The load test (`benches/load_test.sh`) as part of the suite: a mixed read
//! load (tiles, composite map tiles, constraints, feature pages) on the server
//! for 60 s, with zero failed requests, and the server's memory before and
//! after reported.
//!
//! It runs the test build's own `imgis` (the dev profile is optimised at
//! level 1 for this: at level 0 a composite tile takes about a second), or the
//! binary named in `IMGIS_BIN`. What it checks is that nothing fails under
//! load; the throughput figures of README come from a release build
//! (`benches/load_test.sh` alone).

use std::process::Command;

#[test]
fn a_minute_of_mixed_reads_without_a_single_error() {
    let bin = std::env::var("IMGIS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_imgis").into());
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/load_test.sh"))
        .env("IMGIS_BIN", &bin)
        .env("DURATION", "60")
        .env("PARCELS", "5000")
        .output()
        .expect("running benches/load_test.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("load: "))
        .unwrap_or_else(|| panic!("no summary line\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    println!("{summary}");
    let number_before = |marker: &str| -> u64 {
        let head = summary.split(marker).next().unwrap();
        head.rsplit([' ', '('])
            .find(|w| !w.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    let requests = number_before(" requests");
    let errors = number_before(" errors");
    assert_eq!(errors, 0, "{summary}\n{stderr}");
    assert!(out.status.success(), "{summary}\n{stderr}");
    // A minute of load on two cores is tens of thousands of requests; a few
    // hundred would mean the server stalled, not that it served.
    assert!(requests > 5_000, "{summary}");
}
