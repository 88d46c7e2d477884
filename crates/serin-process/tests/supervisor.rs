//! End-to-end tests of the supervisor with real processes (sh, sleep, python3): start, probes, restarts and
//! backoff, graceful stop, logs, adoption after a simulated server crash, and orphan reaping.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serin_process::{ContainerState, Error, PodRuntime, PodSpec, Probe, ProbeAction, Supervisor, SupervisorConfig};

const DEADLINE: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn marker(test: &str) -> String {
    format!("test-{}-{test}", std::process::id())
}

/// Test-sized timing: 100 ms backoff base, 400 ms cap, fast polling of adopted processes.
fn fast_config() -> SupervisorConfig {
    SupervisorConfig {
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_millis(400),
        adopted_poll: Duration::from_millis(50),
        ..SupervisorConfig::default()
    }
}

/// A supervisor for one test. When dropped, it kills whatever the test's pods left running, even when the test
/// failed (dropping a plain `Supervisor` leaves its processes running, by design).
struct TestSupervisor {
    sup: Option<Supervisor>,
    marker: String,
}

fn supervisor(test: &str) -> TestSupervisor {
    TestSupervisor { sup: Some(Supervisor::with_config(marker(test), fast_config())), marker: marker(test) }
}

impl TestSupervisor {
    /// Drops the supervisor only, as a crash of the server would, leaving its processes running.
    fn crash(&mut self) {
        self.sup = None;
    }
}

impl std::ops::Deref for TestSupervisor {
    type Target = Supervisor;
    fn deref(&self) -> &Supervisor {
        self.sup.as_ref().expect("supervisor crashed")
    }
}

impl Drop for TestSupervisor {
    fn drop(&mut self) {
        if self.sup.take().is_some() {
            // Let aborted pod tasks wind down so none restarts a pod after the sweep.
            std::thread::sleep(Duration::from_millis(50));
        }
        // A supervisor that supervises nothing takes every process with the marker for an orphan.
        Supervisor::new(self.marker.clone()).reap_orphans(&[]);
    }
}

fn spec(dir: &Path, uid: &str, command: &[&str]) -> PodSpec {
    let command = command.iter().map(|s| s.to_string()).collect();
    let mut spec = PodSpec::new(uid, format!("pod-{uid}"), command, dir.join(format!("{uid}.log")));
    spec.grace_period = Duration::from_secs(2);
    spec
}

/// A pod serving HTTP on `port` (after `delay`), files from `dir`.
fn http_server(dir: &Path, uid: &str, port: u16, delay: &str) -> PodSpec {
    let script = format!("sleep {delay}; exec python3 -m http.server \"$PORT\" --bind 127.0.0.1 --directory \"$DIR\"");
    let mut s = spec(dir, uid, &["sh", "-c", &script]);
    s.port = port;
    s.env = vec![("PORT".into(), port.to_string()), ("DIR".into(), dir.display().to_string())];
    s
}

fn fast_probe(action: ProbeAction) -> Probe {
    Probe { period: Duration::from_millis(100), ..Probe::new(action) }
}

/// Waits (on change notifications) until the pod's runtime satisfies `pred`.
async fn wait_for(sup: &Supervisor, uid: &str, what: &str, pred: impl Fn(&PodRuntime) -> bool) -> PodRuntime {
    let mut changes = sup.changes();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let current = sup.runtime(uid);
        if let Some(rt) = current.as_ref().filter(|rt| pred(rt)) {
            return rt.clone();
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep_until(deadline) => panic!("timed out waiting for {what}; last runtime: {current:?}"),
        }
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !matches!(s[s.rfind(')').unwrap() + 2..].chars().next(), Some('Z' | 'X')))
}

fn sigkill(pid: u32) {
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
}

async fn wait_file_contains(path: &Path, text: &str) {
    let deadline = Instant::now() + DEADLINE;
    while !std::fs::read_to_string(path).is_ok_and(|s| s.contains(text)) {
        assert!(Instant::now() < deadline, "{} never contained {text:?}", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_marks_process_and_tcp_readiness_follows_port() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("tcp");
    let port = free_port();
    sup.start(http_server(dir.path(), "web", port, "0.5")).await.unwrap();

    let rt = sup.runtime("web").unwrap();
    assert_eq!(rt.state, ContainerState::Running);
    assert!(!rt.ready);
    assert_eq!(rt.restarts, 0);
    let pid = rt.pid.unwrap();
    assert!(rt.process_start.is_some() && rt.started_at.is_some());
    // Right after exec the kernel may not have set up the new environment yet: it reads as empty for a moment.
    let mut environ = Vec::new();
    for _ in 0..100 {
        environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        if !environ.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let expected = format!("SERIN_POD={}/web", marker("tcp"));
    assert!(
        environ.split(|b| *b == 0).any(|e| e == expected.as_bytes()),
        "marker missing: {:?}",
        String::from_utf8_lossy(&environ)
    );
    assert_eq!(nix::unistd::getpgid(Some(Pid::from_raw(pid as i32))).unwrap().as_raw(), pid as i32, "own group");

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!sup.runtime("web").unwrap().ready, "ready before the port is open");
    let rt = wait_for(&sup, "web", "ready", |rt| rt.ready).await;
    assert_eq!(rt.pid, Some(pid));

    sup.stop("web").await.unwrap();
    assert!(sup.runtime("web").is_none());
    assert!(!alive(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_readiness_probe_follows_status_code() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("http");
    let port = free_port();
    let mut s = http_server(dir.path(), "web", port, "0");
    s.readiness = Some(fast_probe(ProbeAction::HttpGet {
        path: "/ready".into(),
        port,
        host: None,
        scheme_https: false,
        headers: vec![("X-Probe".into(), "yes".into())],
    }));
    sup.start(s).await.unwrap();

    // The server answers (404 for /ready) but the pod must not be ready.
    let deadline = Instant::now() + DEADLINE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!sup.runtime("web").unwrap().ready, "ready while /ready answers 404");

    std::fs::write(dir.path().join("ready"), "ok").unwrap();
    wait_for(&sup, "web", "ready", |rt| rt.ready).await;
    // Three failures in a row (404 again) make it unready.
    std::fs::remove_file(dir.path().join("ready")).unwrap();
    let rt = wait_for(&sup, "web", "unready", |rt| !rt.ready).await;
    assert_eq!(rt.state, ContainerState::Running);
    assert_eq!(rt.restarts, 0);
    sup.stop("web").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_probe_decides_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("exec");
    let flag = dir.path().join("flag");
    let mut s = spec(dir.path(), "worker", &["sleep", "30"]);
    s.readiness =
        Some(fast_probe(ProbeAction::Exec { command: vec!["test".into(), "-f".into(), flag.display().to_string()] }));
    sup.start(s).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(!sup.runtime("worker").unwrap().ready);
    std::fs::write(&flag, "").unwrap();
    wait_for(&sup, "worker", "ready", |rt| rt.ready).await;
    sup.stop("worker").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_failure_restarts_container() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("liveness");
    let alive_flag = dir.path().join("alive");
    std::fs::write(&alive_flag, "").unwrap();
    let mut s = spec(dir.path(), "worker", &["sleep", "30"]);
    s.liveness = Some(Probe {
        failure_threshold: 2,
        ..fast_probe(ProbeAction::Exec { command: vec!["test".into(), "-f".into(), alive_flag.display().to_string()] })
    });
    sup.start(s).await.unwrap();
    let first = sup.runtime("worker").unwrap().pid.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sup.runtime("worker").unwrap().restarts, 0, "restarted while the probe passes");

    std::fs::remove_file(&alive_flag).unwrap();
    let rt = wait_for(&sup, "worker", "a restart", |rt| rt.restarts >= 1 && rt.pid.is_some()).await;
    std::fs::write(&alive_flag, "").unwrap();
    assert_ne!(rt.pid, Some(first));
    assert!(!alive(first));
    let last = rt.last_exit.unwrap();
    assert!(last.message.starts_with("Liveness probe failed"), "{last}");
    assert_eq!(last.signal, Some(15), "{last}");
    sup.stop("worker").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonexistent_command_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("nosuch");
    let err = sup.start(spec(dir.path(), "bad", &["nosuch-serin-command", "x"])).await.unwrap_err();
    assert!(matches!(err, Error::Exec { .. }));
    assert_eq!(err.to_string(), r#"exec: "nosuch-serin-command": executable file not found in $PATH"#);
    assert!(sup.runtime("bad").is_none());
    let mut no_dir = spec(dir.path(), "bad", &["sleep", "30"]);
    no_dir.working_dir = Some(dir.path().join("missing"));
    let err = sup.start(no_dir).await.unwrap_err();
    assert!(err.to_string().contains("chdir to cwd"), "{err}");
    // The uid is free again.
    sup.start(spec(dir.path(), "bad", &["sleep", "30"])).await.unwrap();
    let again = sup.start(spec(dir.path(), "bad", &["sleep", "30"])).await.unwrap_err();
    assert!(matches!(again, Error::AlreadySupervised(_)));
    sup.stop("bad").await.unwrap();
    assert!(matches!(sup.stop("bad").await, Err(Error::NotSupervised(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_process_restarts_and_becomes_ready_again() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("sigkill");
    let port = free_port();
    sup.start(http_server(dir.path(), "web", port, "0")).await.unwrap();
    let rt = wait_for(&sup, "web", "ready", |rt| rt.ready).await;
    let first = rt.pid.unwrap();

    sigkill(first);
    let rt = wait_for(&sup, "web", "restart", |rt| rt.restarts == 1).await;
    let second = rt.pid.unwrap();
    assert_ne!(second, first);
    let last = rt.last_exit.unwrap();
    assert_eq!((last.exit_code, last.signal), (Some(137), Some(9)), "{last}");
    let rt = wait_for(&sup, "web", "ready again", |rt| rt.ready).await;
    assert_eq!((rt.restarts, rt.pid), (1, Some(second)));
    sup.stop("web").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_backoff_grows_and_stop_cancels_it() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("crashloop");
    sup.start(spec(dir.path(), "crash", &["sh", "-c", "exit 3"])).await.unwrap();

    // First time each restart count is seen.
    let mut seen: Vec<Instant> = vec![Instant::now()];
    let mut saw_backoff = false;
    let mut changes = sup.changes();
    let deadline = Instant::now() + DEADLINE;
    while seen.len() <= 5 {
        let rt = sup.runtime("crash").unwrap();
        if let ContainerState::Waiting { reason, message } = &rt.state {
            assert_eq!(reason, "CrashLoopBackOff");
            assert!(message.contains("back-off"), "{message}");
            saw_backoff = true;
        }
        while seen.len() <= rt.restarts as usize {
            seen.push(Instant::now());
        }
        assert!(Instant::now() < deadline, "too slow: {} restarts", rt.restarts);
        let _ = tokio::time::timeout(Duration::from_millis(50), changes.changed()).await;
    }
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1] - w[0]).collect();
    // Restart 1 is immediate, then 100, 200, 400 (cap), 400 ms.
    assert!(saw_backoff);
    assert!(gaps[1] >= Duration::from_millis(80) && gaps[1] < Duration::from_millis(350), "{gaps:?}");
    assert!(gaps[3] >= Duration::from_millis(350), "{gaps:?}");
    assert!(gaps[3] > gaps[1] * 2, "{gaps:?}");
    assert!(gaps[4] < Duration::from_millis(700), "cap exceeded: {gaps:?}");
    let rt = sup.runtime("crash").unwrap();
    assert_eq!(rt.last_exit.as_ref().and_then(|e| e.exit_code), Some(3));

    wait_for(&sup, "crash", "backoff", |rt| matches!(rt.state, ContainerState::Waiting { .. })).await;
    let t = Instant::now();
    sup.stop("crash").await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(200), "stop during backoff took {:?}", t.elapsed());
    assert!(sup.runtime("crash").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sends_sigterm_first() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("sigterm");
    let out = dir.path().join("term");
    let script = format!("trap 'echo term > {}; exit 0' TERM; while :; do sleep 0.05; done", out.display());
    let mut s = spec(dir.path(), "graceful", &["sh", "-c", &script]);
    s.grace_period = Duration::from_secs(5);
    sup.start(s).await.unwrap();
    let pid = sup.runtime("graceful").unwrap().pid.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await; // let sh install its trap

    let t = Instant::now();
    sup.stop("graceful").await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "waited for the grace period: {:?}", t.elapsed());
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), "term");
    assert!(!alive(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_after_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("graceover");
    let mut s = spec(dir.path(), "stubborn", &["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"]);
    s.grace_period = Duration::from_millis(500);
    sup.start(s).await.unwrap();
    let pid = sup.runtime("stubborn").unwrap().pid.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut changes = sup.changes();
    let t = Instant::now();
    let stopping = sup.stop("stubborn");
    tokio::pin!(stopping);
    tokio::select! {
        _ = &mut stopping => panic!("stopped before the grace period"),
        _ = changes.changed() => {}
    }
    assert_eq!(sup.runtime("stubborn").unwrap().state, ContainerState::Terminating);
    stopping.await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(500), "{:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(!alive(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_go_to_file_and_previous_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("logs");
    let script = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; \
                  echo \"out $n\"; echo \"err $n\" >&2; exec sleep 30";
    let mut s = spec(dir.path(), "logger", &["sh", "-c", script]);
    s.working_dir = Some(dir.path().to_path_buf());
    s.log_file = dir.path().join("logs/logger/0.log");
    let log = s.log_file.clone();
    sup.start(s).await.unwrap();
    wait_file_contains(&log, "err 1").await;
    assert!(std::fs::read_to_string(&log).unwrap().contains("out 1"));

    sigkill(sup.runtime("logger").unwrap().pid.unwrap());
    wait_for(&sup, "logger", "restart", |rt| rt.restarts == 1).await;
    wait_file_contains(&log, "err 2").await;
    let current = std::fs::read_to_string(&log).unwrap();
    assert!(current.contains("out 2") && !current.contains("out 1"), "{current}");
    let previous = std::fs::read_to_string(dir.path().join("logs/logger/0.log.previous")).unwrap();
    assert!(previous.contains("out 1") && previous.contains("err 1") && !previous.contains("2"), "{previous}");
    sup.stop("logger").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_after_supervisor_crash() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut a = supervisor("adopt");
    a.start(http_server(dir.path(), "web", port, "0")).await.unwrap();
    let rt = wait_for(&a, "web", "ready", |rt| rt.ready).await;
    let (pid, start) = (rt.pid.unwrap(), rt.process_start.unwrap());
    a.crash(); // the server "crashes"
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(alive(pid), "the pod died with its supervisor");

    let b = supervisor("adopt");
    b.adopt(http_server(dir.path(), "web", port, "0"), pid, start, 2).await.unwrap();
    let rt = b.runtime("web").unwrap();
    assert_eq!((rt.pid, rt.process_start, rt.restarts), (Some(pid), Some(start), 2));
    assert_eq!(rt.state, ContainerState::Running);
    wait_for(&b, "web", "ready after adoption", |rt| rt.ready).await;
    assert!(!dir.path().join("web.log.previous").exists(), "adoption restarted the container");
    assert!(b.reap_orphans(&[]).is_empty(), "the adopted pod is supervised, not an orphan");

    sigkill(pid);
    let rt = wait_for(&b, "web", "restart by B", |rt| rt.restarts == 3 && rt.pid.is_some()).await;
    assert_ne!(rt.pid, Some(pid));
    wait_for(&b, "web", "ready again", |rt| rt.ready).await;
    assert!(dir.path().join("web.log.previous").exists());
    b.stop("web").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopting_a_different_process_starts_the_pod_again() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("readopt");
    // Our own pid with another start time names a process that no longer exists: it must be left alone.
    let me = std::process::id();
    let my_start: u64 = {
        let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
        stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(19).unwrap().parse().unwrap()
    };
    sup.adopt(spec(dir.path(), "w", &["sleep", "30"]), me, my_start + 1, 4).await.unwrap();
    let rt = sup.runtime("w").unwrap();
    assert_ne!(rt.pid, Some(me));
    assert_eq!(rt.restarts, 5);
    assert_eq!(rt.last_exit.unwrap().reason, "Unknown");
    sup.stop("w").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reap_orphans_kills_only_unkept_marked_processes() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("reap");
    let spawn_marked = |value: String| {
        use std::os::unix::process::CommandExt;
        Command::new("sleep").arg("30").env("SERIN_POD", value).process_group(0).spawn().unwrap()
    };
    let mut orphan = spawn_marked(format!("{}/gone", marker("reap")));
    let mut kept = spawn_marked(format!("{}/kept", marker("reap")));
    let mut foreign = spawn_marked(format!("{}/gone", marker("other-data-dir")));
    sup.start(spec(dir.path(), "managed", &["sleep", "30"])).await.unwrap();
    let managed = sup.runtime("managed").unwrap().pid.unwrap();
    // A second process of a supervised pod, not the recorded one (spawned just before a crash, say).
    let mut duplicate = spawn_marked(format!("{}/managed", marker("reap")));

    let mut killed = sup.reap_orphans(&["kept".to_string()]);
    killed.sort_unstable();
    let mut expected = vec![orphan.id(), duplicate.id()];
    expected.sort_unstable();
    assert_eq!(killed, expected);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(orphan.wait().unwrap().signal(), Some(9));
    assert_eq!(duplicate.wait().unwrap().signal(), Some(9));
    assert!(alive(kept.id()) && alive(foreign.id()) && alive(managed));
    assert_eq!(sup.runtime("managed").unwrap().restarts, 0);

    for child in [&mut kept, &mut foreign] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    sup.stop("managed").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_never_restarts_completes_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let sup = supervisor("never");
    for (uid, code, policy) in
        [("job-fails", 3, serin_process::RestartPolicy::Never), ("job-ok", 0, serin_process::RestartPolicy::OnFailure)]
    {
        let mut spec = spec(dir.path(), uid, &["sh", "-c", &format!("echo done; exit {code}")]);
        spec.restart_policy = policy;
        sup.start(spec).await.unwrap();
        let done = wait_for(&sup, uid, "completed", |rt| rt.state == ContainerState::Terminated).await;
        assert_eq!(done.last_exit.as_ref().and_then(|e| e.exit_code), Some(code), "{uid}");
        assert_eq!(done.restarts, 0, "{uid}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(sup.runtime(uid).unwrap().restarts, 0, "{uid} was not restarted");
        sup.stop(uid).await.unwrap();
        assert!(sup.runtime(uid).is_none(), "{uid} is forgotten once stopped");
    }
}

/// A running container's log is kept under the cap, as the kubelet's rotation keeps it: the
/// older output moves to `<log>.1`, and what the process writes next lands in the emptied log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_past_its_cap_is_rotated_while_the_process_keeps_writing() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::with_config(marker("log-cap"), SupervisorConfig { log_max_bytes: 100_000, ..fast_config() });
    let sup = TestSupervisor { sup: Some(sup), marker: marker("log-cap") };
    // 300 kB at once, then a line a second.
    let script = "head -c 300000 /dev/zero | tr '\\0' x; echo; while true; do echo tick; sleep 1; done";
    let pod = spec(dir.path(), "logcap", &["sh", "-c", script]);
    let log = pod.log_file.clone();
    let rotated = serin_process::rotated_log(&log);
    sup.start(pod).await.unwrap();
    let deadline = Instant::now() + DEADLINE;
    while !rotated.exists() {
        assert!(Instant::now() < deadline, "the log was not rotated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(std::fs::metadata(&rotated).unwrap().len() >= 300_000, "the rotated log holds the old output");
    wait_file_contains(&log, "tick").await;
    let now = std::fs::read_to_string(&log).unwrap();
    assert!(now.len() < 100_000 && !now.contains('x'), "the log starts again: {} bytes", now.len());
    sup.stop("logcap").await.unwrap();
}
