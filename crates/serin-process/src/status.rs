//! What the supervisor reports about each pod: the values the controller copies into Pod status (phase, Ready
//! condition, restartCount, container state, pid). Kept separate from the supervisor so the controller can store
//! and compare them without touching any process.

use std::fmt;
use std::time::SystemTime;

/// The observed state of one supervised pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRuntime {
    pub uid: String,
    /// Pid of the current container process (also its process group id); `None` when no process runs.
    pub pid: Option<u32>,
    /// Start time of that process (field 22 of `/proc/<pid>/stat`, clock ticks since boot). With `pid` it
    /// identifies the process across a serin restart: pass both to [`crate::Supervisor::adopt`].
    pub process_start: Option<u64>,
    /// Wall-clock start of the current process (derived from `process_start`; second precision).
    pub started_at: Option<SystemTime>,
    /// Whether the readiness check currently passes.
    pub ready: bool,
    /// Kubernetes `restartCount`: +1 for every container restart (crash, liveness failure, failed start, process
    /// found gone at adoption).
    pub restarts: u32,
    pub state: ContainerState,
    /// How the previous container ended (Kubernetes `lastState.terminated`); after a stop, how the last one did.
    pub last_exit: Option<ExitInfo>,
}

/// Container state, after Kubernetes' `containerStatuses[].state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// Accepted, process not spawned yet.
    Starting,
    /// A process runs (ready or not: see [`PodRuntime::ready`]).
    Running,
    /// No process runs and one will be started later; `reason` is `CrashLoopBackOff`.
    Waiting { reason: String, message: String },
    /// Stop requested: SIGTERM sent, waiting for the process group to exit.
    Terminating,
    /// Stopped for good (only seen briefly: the pod is forgotten once `stop` resolves).
    Terminated,
}

/// How one container process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code as Kubernetes reports it (128 + signal when killed by a signal); `None` when unknown (an adopted
    /// process, which is not our child, or a start that failed).
    pub exit_code: Option<i32>,
    /// The signal that killed the process, if it was one.
    pub signal: Option<i32>,
    /// Kubernetes reason: `Completed`, `Error`, `StartError` or `Unknown`.
    pub reason: String,
    /// Human-readable detail, possibly empty.
    pub message: String,
    pub finished_at: SystemTime,
}

impl ExitInfo {
    pub(crate) fn from_code(code: i32) -> Self {
        let reason = if code == 0 { "Completed" } else { "Error" };
        ExitInfo {
            exit_code: Some(code),
            signal: None,
            reason: reason.into(),
            message: String::new(),
            finished_at: SystemTime::now(),
        }
    }

    pub(crate) fn from_signal(signal: i32) -> Self {
        ExitInfo {
            exit_code: Some(128 + signal),
            signal: Some(signal),
            reason: "Error".into(),
            message: String::new(),
            finished_at: SystemTime::now(),
        }
    }

    pub(crate) fn other(reason: &str, message: String) -> Self {
        ExitInfo { exit_code: None, signal: None, reason: reason.into(), message, finished_at: SystemTime::now() }
    }

    pub(crate) fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::from_code(code),
            (None, Some(signal)) => Self::from_signal(signal),
            (None, None) => Self::other("Unknown", format!("unrecognised wait status {status}")),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.exit_code, self.signal) {
            (Some(code), Some(signal)) => write!(f, "{}: exit code {code} (signal {signal})", self.reason)?,
            (Some(code), None) => write!(f, "{}: exit code {code}", self.reason)?,
            _ => write!(f, "{}", self.reason)?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}
