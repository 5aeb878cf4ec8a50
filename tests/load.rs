//! The load test (`benches/load_test.sh`) as part of the suite: a mixed read
//! load (tiles, composite map tiles, constraints, feature pages) on a release
//! build of the server for 60 s, with zero failed requests, and the server's
//! memory before and after reported.
//!
//! A debug build answers a composite tile in about a second, which would
//! measure the compiler's settings, not imgis: `scripts/test.sh` builds the
//! release binary and names it in `IMGIS_RELEASE_BIN`.

use std::process::Command;

#[test]
fn a_minute_of_mixed_reads_without_a_single_error() {
    let bin = std::env::var("IMGIS_RELEASE_BIN").expect(
        "IMGIS_RELEASE_BIN must name a release build of imgis (scripts/test.sh sets it; \
         or `cargo build --release` and point it at target/release/imgis)",
    );
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
