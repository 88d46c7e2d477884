//! Starting, signalling and waiting for one container process. A pod process is spawned so that it outlives the
//! server: its own process group (signals reach its children too, and a terminal's or the server's group signals
//! do not reach it), output appended straight to a log file (no pipe to the server, so no SIGPIPE when the
//! server dies), no parent-death signal, and the `SERIN_POD=<marker>/<uid>` environment marker by which a
//! restarted server recognises it. A process is either our child (waited on) or adopted (polled in `/proc`).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::status::ExitInfo;
use crate::{Error, PodSpec, procfs};

/// Name of the environment marker carried by every pod process.
pub const MARKER_ENV: &str = "SERIN_POD";

/// Used when neither the pod nor the server has a `PATH`.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds the program to execute, with the checks and messages of Kubernetes (Go's `exec.LookPath`):
/// `exec: "nosuch": executable file not found in $PATH`.
pub(crate) fn resolve_program(
    program: &str,
    env: &[(String, String)],
    working_dir: Option<&Path>,
) -> Result<PathBuf, Error> {
    let exec_error = |reason: String| Error::Exec { program: program.to_string(), reason };
    if program.is_empty() {
        return Err(exec_error("empty program name".into()));
    }
    if program.contains('/') {
        let path = Path::new(program);
        let full = match working_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        };
        return match std::fs::metadata(&full) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(exec_error(format!("stat {program}: no such file or directory")))
            }
            Err(e) => Err(exec_error(format!("stat {program}: {e}"))),
            Ok(m) if m.is_dir() => Err(exec_error("is a directory".into())),
            Ok(m) if m.permissions().mode() & 0o111 == 0 => Err(exec_error("permission denied".into())),
            Ok(_) => Ok(full),
        };
    }
    let path: OsString = match env.iter().rev().find(|(k, _)| k == "PATH") {
        Some((_, v)) => v.into(),
        None => std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
    };
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| exec_error("executable file not found in $PATH".into()))
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `<log_file>.previous`.
pub(crate) fn previous_log(log_file: &Path) -> PathBuf {
    let mut name = log_file.as_os_str().to_owned();
    name.push(".previous");
    PathBuf::from(name)
}

/// `<log_file>.1`: what a running container wrote before its log last grew past the cap.
pub fn rotated_log(log_file: &Path) -> PathBuf {
    let mut name = log_file.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Keeps a running container's log under `max` bytes, as the kubelet's log rotation does:
/// checked every second, a larger log is copied to `<log>.1` (replacing the one before) and
/// emptied. The process keeps appending to the same open file (append mode writes at the new
/// end), so nothing is reopened; what it writes between the copy and the truncation, a few
/// microseconds, is lost.
pub(crate) async fn keep_log_under(log_file: &Path, max: u64) -> std::convert::Infallible {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if std::fs::metadata(log_file).is_ok_and(|m| m.len() > max)
            && let Err(e) = rotate_log(log_file)
        {
            tracing::warn!(log = %log_file.display(), error = %e, "cannot rotate a pod's log");
        }
    }
}

fn rotate_log(log_file: &Path) -> std::io::Result<()> {
    let rotated = rotated_log(log_file);
    let mut from = File::open(log_file)?;
    let mut to = OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&rotated)?;
    std::io::copy(&mut from, &mut to)?;
    OpenOptions::new().write(true).open(log_file)?.set_len(0)
}

fn open_log(spec: &PodSpec, rotate: bool) -> Result<File, Error> {
    let log_error = |source| Error::LogFile { path: spec.log_file.clone(), source };
    if let Some(dir) = spec.log_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(log_error)?;
    }
    if rotate {
        match std::fs::rename(&spec.log_file, previous_log(&spec.log_file)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(log_error(e)),
            _ => {}
        }
    }
    // A pod's output may hold anything it prints (tokens, customer data): its owner's only.
    OpenOptions::new().create(true).append(true).mode(0o600).open(&spec.log_file).map_err(log_error)
}

/// Spawns the pod's process in a new process group, output appended to the log file (after moving the old log
/// to `.previous` when `rotate`).
pub(crate) fn spawn_pod(spec: &PodSpec, marker: &str, rotate: bool) -> Result<Proc, Error> {
    let argv = spec.argv();
    let Some(program) = argv.first() else {
        return Err(Error::InvalidSpec(format!("pod {}: no command", spec.uid)));
    };
    if let Some(dir) = spec.working_dir.as_deref().filter(|d| !d.is_dir()) {
        let reason = format!("chdir to cwd ({:?}) failed: no such directory", dir.display().to_string());
        return Err(Error::Exec { program: program.to_string(), reason });
    }
    let resolved = resolve_program(program, &spec.env, spec.working_dir.as_deref())?;
    let stdout = open_log(spec, rotate)?;
    let stderr = stdout.try_clone().map_err(|source| Error::LogFile { path: spec.log_file.clone(), source })?;

    let mut cmd = tokio::process::Command::new(&resolved);
    cmd.arg0(program).args(&argv[1..]);
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    cmd.env(MARKER_ENV, format!("{marker}/{}", spec.uid));
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    cmd.process_group(0);
    cmd.kill_on_drop(false);
    let child = cmd.spawn().map_err(|e| Error::Exec { program: program.to_string(), reason: e.to_string() })?;
    let pid = child.id().ok_or_else(|| Error::Exec { program: program.to_string(), reason: "no pid".into() })?;
    // The child is not reaped before we wait for it, so its stat entry is there even if it exited already.
    let start = procfs::stat(pid).map(|s| s.starttime).unwrap_or_default();
    tracing::info!(uid = %spec.uid, pid, program = %resolved.display(), "started pod process");
    Ok(Proc { pid, start, child: Some(child), exit: None })
}

/// One container process: our child, or a process adopted from an earlier serin (not waitable; polled).
#[derive(Debug)]
pub(crate) struct Proc {
    pub pid: u32,
    /// Start time from `/proc/<pid>/stat`.
    pub start: u64,
    child: Option<tokio::process::Child>,
    /// Set once the process is known gone.
    exit: Option<ExitInfo>,
}

impl Proc {
    pub fn adopted(pid: u32, start: u64) -> Self {
        Proc { pid, start, child: None, exit: None }
    }

    pub fn started_at(&self) -> Option<SystemTime> {
        procfs::wall_clock(self.start)
    }

    /// Resolves when the process has exited. Cancel-safe; returns the same value on later calls.
    pub async fn wait_gone(&mut self, poll: Duration) -> ExitInfo {
        if let Some(exit) = &self.exit {
            return exit.clone();
        }
        let exit = match &mut self.child {
            Some(child) => match child.wait().await {
                Ok(status) => ExitInfo::from_status(status),
                Err(e) => ExitInfo::other("Unknown", format!("waiting for the process failed: {e}")),
            },
            None => {
                let mut ticker = tokio::time::interval(poll);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    if let Some(exit) = self.poll_adopted() {
                        break exit;
                    }
                }
            }
        };
        self.exit = Some(exit.clone());
        exit
    }

    /// For an adopted process: `Some` once it is gone. If it is a zombie that happens to be our child (a serin
    /// that is a subreaper, or a test), reap it and report its real status.
    fn poll_adopted(&self) -> Option<ExitInfo> {
        match procfs::stat(self.pid) {
            Some(s) if s.starttime == self.start && !s.is_dead() => return None,
            Some(s) if s.starttime == self.start => {
                match waitpid(Pid::from_raw(self.pid as i32), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, code)) => return Some(ExitInfo::from_code(code)),
                    Ok(WaitStatus::Signaled(_, signal, _)) => return Some(ExitInfo::from_signal(signal as i32)),
                    _ => {}
                }
            }
            _ => {}
        }
        Some(ExitInfo::other("Unknown", "the process is gone (adopted process: exit status unknown)".into()))
    }

    /// Whether the process has exited (without blocking).
    fn has_exited(&mut self) -> bool {
        if self.exit.is_some() {
            return true;
        }
        match &mut self.child {
            Some(child) => match child.try_wait() {
                Ok(Some(status)) => {
                    self.exit = Some(ExitInfo::from_status(status));
                    true
                }
                Ok(None) => false,
                Err(_) => true,
            },
            None => !procfs::is_alive(self.pid, self.start),
        }
    }

    /// Sends `signal` to the process group (the pid is the group id); falls back to the process alone.
    fn signal_group(&self, signal: Signal) {
        let Ok(raw) = i32::try_from(self.pid) else { return };
        if raw <= 1 {
            return;
        }
        if killpg(Pid::from_raw(raw), signal).is_err() && self.exit.is_none() {
            let _ = kill(Pid::from_raw(raw), signal);
        }
    }

    /// Kills whatever is left in the process group once the main process is gone (a container's processes end
    /// with it).
    pub fn kill_leftovers(&self) {
        self.signal_group(Signal::SIGKILL);
    }

    /// Graceful stop: SIGTERM to the group, up to `grace` for the process to exit, then SIGKILL; resolves when
    /// the process is gone, with its exit.
    pub async fn terminate(&mut self, grace: Duration, poll: Duration) -> ExitInfo {
        if !self.has_exited() {
            self.signal_group(Signal::SIGTERM);
        }
        let exit = match tokio::time::timeout(grace, self.wait_gone(poll)).await {
            Ok(exit) => exit,
            Err(_) => {
                tracing::info!(pid = self.pid, ?grace, "grace period over, sending SIGKILL");
                self.signal_group(Signal::SIGKILL);
                self.wait_gone(poll).await
            }
        };
        self.kill_leftovers();
        exit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_kubernetes() {
        let err = resolve_program("nosuch-serin", &[], None).unwrap_err();
        assert_eq!(err.to_string(), r#"exec: "nosuch-serin": executable file not found in $PATH"#);
        let err = resolve_program("/nosuch/x", &[], None).unwrap_err();
        assert_eq!(err.to_string(), r#"exec: "/nosuch/x": stat /nosuch/x: no such file or directory"#);
        assert!(resolve_program("sh", &[], None).unwrap().is_absolute());
        let only_tmp = [("PATH".to_string(), "/nonexistent-dir".to_string())];
        assert!(resolve_program("sh", &only_tmp, None).is_err());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("script");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let err = resolve_program("./script", &[], Some(dir.path())).unwrap_err();
        assert_eq!(err.to_string(), r#"exec: "./script": permission denied"#);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(resolve_program("./script", &[], Some(dir.path())).unwrap(), dir.path().join("./script"));
    }

    #[test]
    fn pod_logs_are_their_owners_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/pod.log");
        let spec = PodSpec::new("u", "p", vec!["true".into()], log.clone());
        open_log(&spec, false).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&log), mode(log.parent().unwrap())), (0o600, 0o700));
    }

    #[test]
    fn previous_log_appends_suffix() {
        assert_eq!(previous_log(Path::new("/x/pod.log")), Path::new("/x/pod.log.previous"));
    }
}
