//! Readiness and liveness checks with Kubernetes' probe semantics (initial delay, period, timeout, success and
//! failure thresholds), run against the local process: HTTP GET and TCP on 127.0.0.1, exec as a local command.
//! Readiness decides whether a pod receives traffic; a liveness failure restarts the container.

use std::convert::Infallible;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{MissedTickBehavior, sleep, timeout};

use crate::process::resolve_program;
use crate::{PodSpec, Probe, ProbeAction};

/// Shortest period accepted, so that a zero period cannot make a busy loop.
const MIN_PERIOD: Duration = Duration::from_millis(10);
/// Without a readiness probe: poll the port this often until it answers, then every [`READY_POLL`].
const UNREADY_POLL: Duration = Duration::from_millis(100);
const READY_POLL: Duration = Duration::from_secs(1);
const TCP_TIMEOUT: Duration = Duration::from_secs(1);

/// Keeps `set_ready` up to date for the life of one container; never returns (dropped with the container).
/// `adopted`: the container started long ago, so the initial delay is skipped.
pub(crate) async fn readiness(spec: &PodSpec, adopted: bool, set_ready: impl Fn(bool)) -> Infallible {
    let Some(probe) = &spec.readiness else {
        if spec.port == 0 {
            set_ready(true);
            return std::future::pending().await;
        }
        loop {
            let ok = tcp_connect(spec.port, TCP_TIMEOUT).await.is_ok();
            set_ready(ok);
            sleep(if ok { READY_POLL } else { UNREADY_POLL }).await;
        }
    };
    if !adopted {
        sleep(probe.initial_delay).await;
    }
    let (mut ready, mut successes, mut failures) = (false, 0u32, 0u32);
    let mut ticker = tokio::time::interval(probe.period.max(MIN_PERIOD));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match run_probe(probe, spec).await {
            Ok(()) => {
                failures = 0;
                successes = successes.saturating_add(1);
                if !ready && successes >= probe.success_threshold.max(1) {
                    ready = true;
                    set_ready(true);
                }
            }
            Err(message) => {
                successes = 0;
                failures = failures.saturating_add(1);
                tracing::debug!(uid = %spec.uid, %message, "readiness probe failed");
                if ready && failures >= probe.failure_threshold.max(1) {
                    ready = false;
                    set_ready(false);
                }
            }
        }
    }
}

/// Resolves with a message once the liveness probe has failed `failure_threshold` times in a row; never resolves
/// without a liveness probe.
pub(crate) async fn liveness(spec: &PodSpec, adopted: bool) -> String {
    let Some(probe) = &spec.liveness else { return std::future::pending().await };
    if !adopted {
        sleep(probe.initial_delay).await;
    }
    let mut failures = 0u32;
    let mut ticker = tokio::time::interval(probe.period.max(MIN_PERIOD));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match run_probe(probe, spec).await {
            Ok(()) => failures = 0,
            Err(message) => {
                failures += 1;
                if failures >= probe.failure_threshold.max(1) {
                    return format!("Liveness probe failed: {message}");
                }
            }
        }
    }
}

/// One probe attempt within the probe's timeout.
pub(crate) async fn run_probe(probe: &Probe, spec: &PodSpec) -> Result<(), String> {
    match &probe.action {
        ProbeAction::TcpSocket { port } => tcp_connect(*port, probe.timeout).await,
        ProbeAction::HttpGet { path, port, host, headers, .. } => {
            let host = host.as_deref().unwrap_or("127.0.0.1");
            match timeout(probe.timeout, http_get(host, *port, path, headers)).await {
                Ok(result) => result,
                Err(_) => Err(format!("Get \"http://{host}:{port}{path}\": timeout after {:?}", probe.timeout)),
            }
        }
        ProbeAction::Exec { command } => exec(command, spec, probe.timeout).await,
    }
}

async fn tcp_connect(port: u16, limit: Duration) -> Result<(), String> {
    match timeout(limit, TcpStream::connect(("127.0.0.1", port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("dial tcp 127.0.0.1:{port}: {e}")),
        Err(_) => Err(format!("dial tcp 127.0.0.1:{port}: timeout")),
    }
}

/// A minimal HTTP/1.1 GET; success is a status from 200 to 399, as for Kubernetes.
async fn http_get(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> Result<(), String> {
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    let url = format!("http://{host}:{port}{path}");
    let mut stream = TcpStream::connect((host, port)).await.map_err(|e| format!("Get \"{url}\": {e}"))?;
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {host}:{port}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("user-agent")) {
        request.push_str("User-Agent: kube-probe/serin\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Accept: */*\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("Get \"{url}\": {e}"))?;

    let mut response = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    while !response.windows(2).any(|w| w == b"\r\n") && response.len() < 8192 {
        let n = stream.read(&mut buf).await.map_err(|e| format!("Get \"{url}\": {e}"))?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    let code = parse_status_line(&response).ok_or_else(|| format!("Get \"{url}\": malformed HTTP response"))?;
    if (200..400).contains(&code) { Ok(()) } else { Err(format!("HTTP probe failed with statuscode: {code}")) }
}

fn parse_status_line(response: &[u8]) -> Option<u16> {
    let line = response.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_ascii_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Runs an exec probe in its own process group, killed as a group on timeout.
async fn exec(command: &[String], spec: &PodSpec, limit: Duration) -> Result<(), String> {
    let Some(program) = command.first() else { return Err("exec probe without a command".into()) };
    let resolved = resolve_program(program, &spec.env, spec.working_dir.as_deref()).map_err(|e| e.to_string())?;
    let mut cmd = tokio::process::Command::new(resolved);
    cmd.arg0(program).args(&command[1..]);
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    cmd.process_group(0).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("exec {program:?}: {e}"))?;
    let pid = child.id();
    match timeout(limit, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("command {command:?} failed: {status}")),
        Ok(Err(e)) => Err(format!("command {command:?}: {e}")),
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.wait().await;
            Err(format!("command {command:?} timed out after {limit:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503 Service Unavailable\r\nX: y"), Some(503));
        assert_eq!(parse_status_line(b"garbage"), None);
    }
}
