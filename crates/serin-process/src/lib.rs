//! Runs serin's pods as supervised local processes: the local platform's stand-in for a kubelet and container
//! runtime. A controller hands [`PodSpec`]s to a [`Supervisor`] and copies the [`PodRuntime`] it reports into
//! Pod status (phase, Ready condition, restartCount, pid).
//!
//! Pod processes must outlive a crash of the serin server (`kill -9`): each runs in its own process group,
//! writes straight to its log file (no pipe back to the server), has no parent-death signal, and carries
//! `SERIN_POD=<marker>/<uid>` in its environment. A restarted server calls [`Supervisor::adopt`] with the pid and
//! start time it had recorded (no duplicate is started; the process is watched through `/proc`), then
//! [`Supervisor::reap_orphans`] to kill marked processes that belong to no pod.

mod backoff;
mod probe;
mod process;
mod procfs;
mod spec;
mod status;
mod supervisor;

pub use process::{MARKER_ENV, rotated_log};
pub use spec::{PodSpec, Probe, ProbeAction, RestartPolicy};
pub use status::{ContainerState, ExitInfo, PodRuntime};
pub use supervisor::{Supervisor, SupervisorConfig};

/// Errors reported by [`Supervisor`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The program cannot be executed; displayed as Kubernetes does:
    /// `exec: "nosuch": executable file not found in $PATH`.
    #[error("exec: {program:?}: {reason}")]
    Exec { program: String, reason: String },
    /// The log file (or its directory) cannot be created or rotated.
    #[error("log file {}: {source}", path.display())]
    LogFile { path: std::path::PathBuf, source: std::io::Error },
    #[error("invalid pod spec: {0}")]
    InvalidSpec(String),
    #[error("pod {0} is already supervised")]
    AlreadySupervised(String),
    #[error("pod {0} is not supervised")]
    NotSupervised(String),
}
