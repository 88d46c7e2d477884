//! What the supervisor is asked to run: the part of a Kubernetes Pod that matters for running it as a local
//! process (command, environment, port, probes, grace period, log file). The controller translates Pod objects
//! into these plain values so this crate needs no knowledge of the Kubernetes object model.

use std::path::PathBuf;
use std::time::Duration;

/// One pod, run as one process group (the platform has one container per pod).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpec {
    /// Pod uid; identifies the pod in the supervisor and in the `SERIN_POD` marker of its processes.
    pub uid: String,
    /// Pod (and container) name, used in messages.
    pub name: String,
    /// The program and its first arguments; `command[0]` is resolved through `PATH` (the pod's own `PATH` if
    /// `env` sets one). When empty, `args[0]` is the program instead.
    pub command: Vec<String>,
    /// Further arguments, appended after `command`.
    pub args: Vec<String>,
    /// Environment added to (and overriding) the server's own environment.
    pub env: Vec<(String, String)>,
    /// Working directory; the server's when `None`. Relative program paths are resolved against it.
    pub working_dir: Option<PathBuf>,
    /// The port the pod serves on (the caller also passes it as `PORT`); 0 means none.
    pub port: u16,
    /// Readiness probe. `None`: the pod is ready while a TCP connect to `127.0.0.1:port` succeeds (or, with
    /// `port == 0`, while it runs).
    pub readiness: Option<Probe>,
    /// Liveness probe; its failure restarts the container.
    pub liveness: Option<Probe>,
    /// `terminationGracePeriodSeconds`: time between SIGTERM and SIGKILL.
    pub grace_period: Duration,
    /// File receiving the container's stdout and stderr (opened for append). On every restart the current file
    /// is first renamed to `<log_file>.previous` (what `kubectl logs --previous` shows).
    pub log_file: PathBuf,
    /// What happens when the process exits (Kubernetes' `restartPolicy`).
    pub restart_policy: RestartPolicy,
}

/// Kubernetes' `restartPolicy`: pods of ReplicaSets always restart; a Job's pod does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    /// Whether a process that exited this way is started again.
    pub fn restarts(self, exit: &crate::ExitInfo) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit.exit_code != Some(0),
            RestartPolicy::Never => false,
        }
    }
}

impl PodSpec {
    /// A spec with no port, no probes, no extra environment and Kubernetes' default grace period (30 s).
    pub fn new(uid: impl Into<String>, name: impl Into<String>, command: Vec<String>, log_file: PathBuf) -> Self {
        PodSpec {
            uid: uid.into(),
            name: name.into(),
            command,
            args: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            port: 0,
            readiness: None,
            liveness: None,
            grace_period: Duration::from_secs(30),
            log_file,
            restart_policy: RestartPolicy::Always,
        }
    }

    /// The whole argument vector: `command` followed by `args`.
    pub(crate) fn argv(&self) -> Vec<&str> {
        self.command.iter().chain(&self.args).map(String::as_str).collect()
    }
}

/// A Kubernetes probe with its timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// What one probe attempt does.
    pub action: ProbeAction,
    /// Time after the container started before the first attempt.
    pub initial_delay: Duration,
    /// Time between attempts (Kubernetes default 10 s).
    pub period: Duration,
    /// Time limit of one attempt (default 1 s).
    pub timeout: Duration,
    /// Consecutive successes needed to become ready again (default 1; liveness uses 1 whatever is given).
    pub success_threshold: u32,
    /// Consecutive failures needed to become unready or, for liveness, to restart (default 3).
    pub failure_threshold: u32,
}

impl Probe {
    /// A probe with Kubernetes' default timing: no initial delay, period 10 s, timeout 1 s, success threshold 1,
    /// failure threshold 3.
    pub fn new(action: ProbeAction) -> Self {
        Probe {
            action,
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: 1,
            failure_threshold: 3,
        }
    }
}

/// One probe attempt, as in a Kubernetes probe handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    /// HTTP GET; a status from 200 to 399 is a success. `host` defaults to 127.0.0.1. HTTPS is not supported
    /// (`start` rejects it).
    HttpGet { path: String, port: u16, host: Option<String>, scheme_https: bool, headers: Vec<(String, String)> },
    /// A TCP connect to 127.0.0.1:port.
    TcpSocket { port: u16 },
    /// A command run with the pod's environment and working directory; exit status 0 is a success.
    Exec { command: Vec<String> },
}
