//! A real Prometheus (Debian's package) for the analysis tests of both platforms, scraping one
//! target's `/metrics` every second.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary `scripts/test.sh` unpacked from Debian's package into the test cache
/// (`$SERIN_TEST_CACHE`, by default /var/cache/serin-tests), else `prometheus` on PATH.
fn binary() -> PathBuf {
    let cache = std::env::var_os("SERIN_TEST_CACHE").unwrap_or_else(|| "/var/cache/serin-tests".into());
    let unpacked = PathBuf::from(cache).join("prometheus/usr/bin/prometheus");
    if unpacked.is_file() { unpacked } else { PathBuf::from("prometheus") }
}

pub struct Prometheus {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus on a free loopback port, scraping `target` (host:port) every second.
    pub fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n- job_name: serin\n  static_configs:\n  - targets: ['{target}']\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let binary = binary();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {} (scripts/test.sh unpacks Debian's package): {e}", binary.display())
            });
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{url}/-/ready")).call().is_err() {
            assert!(Instant::now() < deadline, "Prometheus did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Prometheus { child, url, _dir: dir }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
