//! A private PostgreSQL 15 + PostGIS cluster, for a test that stops and
//! starts its database (tests/faults.rs) while the shared test cluster keeps
//! serving every other test. Made as scripts/lib.sh `start_throwaway_postgis`
//! makes one: `initdb` into a temporary folder, a free loopback port, run as
//! the `postgres` user when the tests run as root (PostgreSQL refuses root).
//! Stopped and deleted when dropped, also when the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;

/// Where Debian's postgresql-15 puts the server binaries.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct PrivateCluster {
    dir: tempfile::TempDir,
    port: u16,
    /// Run the binaries as `postgres` (the tests run as root).
    as_postgres: bool,
}

impl PrivateCluster {
    /// Makes and starts a cluster with PostGIS installed in database `postgres`.
    pub async fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("imgis-faults-pg")
            .tempdir()
            .expect("a temporary folder for the cluster");
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let port = free_port();
        let cluster = Self {
            dir,
            port,
            as_postgres,
        };
        run(cluster
            .pg("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "--no-sync"]));
        cluster.start_again().await;
        let mut conn = sqlx::PgConnection::connect(&cluster.url())
            .await
            .expect("connecting to the private cluster");
        sqlx::query("CREATE EXTENSION postgis")
            .execute(&mut conn)
            .await
            .expect("PostGIS (Debian postgresql-15-postgis-3) is installed");
        conn.close().await.ok();
        cluster
    }

    /// The URL of database `postgres`, as the `postgres` superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped) cluster again on its port, waiting until it accepts connections.
    pub async fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c full_page_writes=off -c synchronous_commit=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        let mut start = self.pg("pg_ctl");
        start
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(&log)
            .args(["-w", "-o", &options, "start"]);
        run_async(start, &log).await;
    }

    /// Stops the cluster: `fast` (sessions are told, as on a restart) or
    /// `immediate` (processes quit without a word, as in a crash).
    pub async fn stop(&self, mode: &str) {
        let mut stop = self.pg("pg_ctl");
        stop.arg("-D")
            .arg(self.data())
            .args(["-m", mode, "-w", "stop"]);
        run_async(stop, &self.dir.path().join("postgres.log")).await;
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg(&self, binary: &str) -> Command {
        let path = Path::new(PG_BIN).join(binary);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // Whatever state the test left it in; the folder goes with `dir`.
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("running id");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// A loopback port nobody listens on (free again once this returns).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn run(command: &mut Command) {
    let out = command.output().expect("running a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `command` off the async workers (pg_ctl waits for the server), with
/// the server's log in the failure message.
async fn run_async(command: Command, log: &Path) {
    let mut command = tokio::process::Command::from(command);
    let out = command.output().await.expect("running pg_ctl");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
