//! The supervisor: one tokio task per pod that keeps its process running (restarts with CrashLoopBackOff),
//! runs its probes, stops it gracefully, and publishes a [`PodRuntime`] for the controller. It is built to
//! survive the server's crash: dropping a `Supervisor` stops watching but leaves every process running, and a
//! new one takes them over with [`Supervisor::adopt`] and kills strays with [`Supervisor::reap_orphans`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::process::{MARKER_ENV, Proc, spawn_pod};
use crate::status::ExitInfo;
use crate::{ContainerState, Error, PodRuntime, PodSpec, ProbeAction, procfs};

/// Timing of restarts and of watching adopted processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// First CrashLoopBackOff delay (Kubernetes: 10 s).
    pub backoff_base: Duration,
    /// Longest CrashLoopBackOff delay (Kubernetes: 5 min).
    pub backoff_cap: Duration,
    /// A container that ran this long resets the backoff (Kubernetes: 10 min).
    pub backoff_reset: Duration,
    /// How often an adopted process (not our child, so not waitable) is checked in `/proc`.
    pub adopted_poll: Duration,
    /// A running container's log is rotated when it grows past this (the kubelet's
    /// containerLogMaxSize: 10 MiB).
    pub log_max_bytes: u64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            backoff_base: Duration::from_secs(10),
            backoff_cap: Duration::from_secs(300),
            backoff_reset: Duration::from_secs(600),
            adopted_poll: Duration::from_millis(200),
            log_max_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Runs pods as processes. Dropping it stops all supervision (tasks are aborted) but leaves the processes
/// running, like a crash of the server would: a new `Supervisor` with the same marker can adopt them.
/// Must be created and used inside a tokio runtime with time and process support.
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    marker: String,
    config: SupervisorConfig,
    pods: Mutex<HashMap<String, Entry>>,
    /// Bumped on every change of any `PodRuntime`.
    changes: watch::Sender<u64>,
    /// Held while spawning a process and recording its pid, and while looking for orphans, so that a process
    /// just spawned is never taken for an orphan.
    spawn_lock: Mutex<()>,
}

struct Entry {
    runtime: PodRuntime,
    /// Set to `true` to ask the pod task to stop.
    stop: watch::Sender<bool>,
    /// Becomes `true` (or closed) when the pod task has ended.
    done: watch::Receiver<bool>,
    task: Option<JoinHandle<()>>,
}

/// Marks the pod task finished when dropped, however it ends.
struct DoneGuard(watch::Sender<bool>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

enum Outcome {
    Stop,
    Exited(ExitInfo),
    Unhealthy(String),
}

impl Supervisor {
    /// A supervisor with Kubernetes' timing. `marker` identifies the serin data dir; every pod process gets
    /// `SERIN_POD=<marker>/<uid>`.
    pub fn new(marker: String) -> Self {
        Self::with_config(marker, SupervisorConfig::default())
    }

    pub fn with_config(marker: String, config: SupervisorConfig) -> Self {
        let (changes, _) = watch::channel(0);
        let inner = Inner { marker, config, pods: Mutex::new(HashMap::new()), changes, spawn_lock: Mutex::new(()) };
        Supervisor { inner: Arc::new(inner) }
    }

    pub fn marker(&self) -> &str {
        &self.inner.marker
    }

    /// Starts a pod and supervises it until [`Supervisor::stop`]. A program that does not exist or is not
    /// executable is an error right away (`exec: "nosuch": executable file not found in $PATH`), as is a uid
    /// already supervised.
    pub async fn start(&self, spec: PodSpec) -> Result<(), Error> {
        self.launch(spec, None, 0)
    }

    /// Takes over a pod process started by an earlier serin, identified by `pid` and `process_start` (from its
    /// last [`PodRuntime`]). If that process is gone (or the pid now names another process), starts the pod again
    /// and counts a restart. `restarts` continues from the given count.
    pub async fn adopt(&self, spec: PodSpec, pid: u32, process_start: u64, restarts: u32) -> Result<(), Error> {
        self.launch(spec, Some((pid, process_start)), restarts)
    }

    /// Common part of `start` and `adopt`; synchronous, so a pod is either fully registered or not at all.
    fn launch(&self, spec: PodSpec, adopt: Option<(u32, u64)>, restarts: u32) -> Result<(), Error> {
        validate(&spec)?;
        let inner = &self.inner;
        let uid = spec.uid.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        let runtime = PodRuntime {
            uid: uid.clone(),
            pid: None,
            process_start: None,
            started_at: None,
            ready: false,
            restarts,
            state: ContainerState::Starting,
            last_exit: None,
        };

        let _spawning = inner.spawn_lock.lock();
        {
            let mut pods = inner.pods.lock();
            if pods.contains_key(&uid) {
                return Err(Error::AlreadySupervised(uid));
            }
            pods.insert(uid.clone(), Entry { runtime, stop: stop_tx, done: done_rx, task: None });
        }
        let expected_marker = format!("{}/{uid}", inner.marker);
        let adoptable = adopt.filter(|&(pid, start)| {
            procfs::is_alive(pid, start)
                && procfs::environ_var(pid, MARKER_ENV).is_none_or(|marker| marker == expected_marker)
        });
        let (proc, adopted, gone) = match adoptable {
            Some((pid, start)) => (Proc::adopted(pid, start), true, None),
            None => match spawn_pod(&spec, &inner.marker, adopt.is_some()) {
                Ok(proc) => {
                    let gone = adopt.map(|(pid, _)| {
                        ExitInfo::other("Unknown", format!("process {pid} was gone when serin took the pod over"))
                    });
                    (proc, false, gone)
                }
                Err(e) => {
                    inner.pods.lock().remove(&uid);
                    return Err(e);
                }
            },
        };
        if adopted {
            tracing::info!(%uid, pid = proc.pid, "adopted pod process");
        }
        inner.update(&uid, |rt| {
            rt.pid = Some(proc.pid);
            rt.process_start = Some(proc.start);
            rt.started_at = proc.started_at();
            rt.state = ContainerState::Running;
            if let Some(gone) = gone {
                rt.restarts += 1;
                rt.last_exit = Some(gone);
            }
        });
        let task = tokio::spawn(run_pod(inner.clone(), spec, proc, adopted, stop_rx, DoneGuard(done_tx)));
        if let Some(entry) = inner.pods.lock().get_mut(&uid) {
            entry.task = Some(task);
        }
        Ok(())
    }

    /// Graceful stop: SIGTERM to the process group, up to `grace_period` to exit, then SIGKILL. Resolves when
    /// the process is gone (at once when the pod is waiting in CrashLoopBackOff); the pod is then forgotten
    /// (`runtime` returns `None`).
    pub async fn stop(&self, uid: &str) -> Result<(), Error> {
        let mut done = {
            let pods = self.inner.pods.lock();
            let entry = pods.get(uid).ok_or_else(|| Error::NotSupervised(uid.to_string()))?;
            entry.stop.send_replace(true);
            entry.done.clone()
        };
        // An error means the task is gone too (its sender was dropped).
        let _ = done.wait_for(|finished| *finished).await;
        // A pod that had completed (restartPolicy Never) is forgotten now.
        if self.inner.pods.lock().remove(uid).is_some() {
            self.inner.notify();
        }
        Ok(())
    }

    /// The current state of one pod.
    pub fn runtime(&self, uid: &str) -> Option<PodRuntime> {
        self.inner.pods.lock().get(uid).map(|e| e.runtime.clone())
    }

    /// The current state of every supervised pod.
    pub fn runtimes(&self) -> Vec<PodRuntime> {
        self.inner.pods.lock().values().map(|e| e.runtime.clone()).collect()
    }

    /// A receiver whose value (a counter) changes on every change of any pod's [`PodRuntime`], including a pod
    /// being forgotten; read the states with [`Supervisor::runtime`] / [`Supervisor::runtimes`]. Changes in quick
    /// succession may be seen as one.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Kills (SIGKILL, by process group) every live process carrying this supervisor's marker that belongs to no
    /// pod we keep, and returns their pids. A process is kept if its uid is in `keep` and not supervised here, or
    /// if its uid is supervised here and it is the current container process, in its process group, or one of its
    /// descendants; so duplicates of a supervised pod (say, one spawned just before a crash, whose pid was never
    /// recorded) are killed too. Reads `/proc/*/environ`.
    pub fn reap_orphans(&self, keep: &[String]) -> Vec<u32> {
        let _spawning = self.inner.spawn_lock.lock();
        let supervised: HashMap<String, Option<u32>> =
            self.inner.pods.lock().iter().map(|(uid, e)| (uid.clone(), e.runtime.pid)).collect();
        let prefix = format!("{}/", self.inner.marker);
        let me = std::process::id();
        let my_group = nix::unistd::getpgrp().as_raw();
        let mut killed = Vec::new();
        for pid in procfs::pids() {
            if pid == me {
                continue;
            }
            let Some(value) = procfs::environ_var(pid, MARKER_ENV) else { continue };
            let Some(uid) = value.strip_prefix(&prefix) else { continue };
            let Some(stat) = procfs::stat(pid) else { continue };
            if stat.is_dead() {
                continue;
            }
            let keep_it = match supervised.get(uid) {
                Some(Some(leader)) => stat.pgrp == *leader || procfs::descends_from(pid, *leader),
                Some(None) => false,
                None => keep.iter().any(|k| k == uid),
            };
            if keep_it {
                continue;
            }
            // Kill the whole group when it is a pod's group: led by a process with the same marker (or by none).
            let group_is_pod = stat.pgrp as i32 != my_group
                && stat.pgrp > 1
                && (stat.pgrp == pid
                    || procfs::stat(stat.pgrp).is_none()
                    || procfs::environ_var(stat.pgrp, MARKER_ENV).as_deref() == Some(value.as_str()));
            let result = if group_is_pod {
                nix::sys::signal::killpg(nix::unistd::Pid::from_raw(stat.pgrp as i32), nix::sys::signal::SIGKILL)
            } else {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::SIGKILL)
            };
            match result {
                Ok(()) => {
                    tracing::warn!(pid, %uid, "killed orphaned pod process");
                    killed.push(pid);
                }
                Err(e) => tracing::warn!(pid, %uid, error = %e, "could not kill orphaned pod process"),
            }
        }
        killed
    }
}

impl Drop for Supervisor {
    /// Stops supervising without touching the processes (they keep running, to be adopted later).
    fn drop(&mut self) {
        for entry in self.inner.pods.lock().values_mut() {
            if let Some(task) = entry.task.take() {
                task.abort();
            }
        }
    }
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor").field("marker", &self.inner.marker).finish_non_exhaustive()
    }
}

fn validate(spec: &PodSpec) -> Result<(), Error> {
    if spec.uid.is_empty() {
        return Err(Error::InvalidSpec("empty pod uid".into()));
    }
    if spec.argv().is_empty() {
        return Err(Error::InvalidSpec(format!("pod {}: no command", spec.uid)));
    }
    for probe in spec.readiness.iter().chain(&spec.liveness) {
        match &probe.action {
            ProbeAction::HttpGet { scheme_https: true, .. } => {
                return Err(Error::InvalidSpec(format!("pod {}: HTTPS probes are not supported", spec.uid)));
            }
            ProbeAction::Exec { command } if command.is_empty() => {
                return Err(Error::InvalidSpec(format!("pod {}: exec probe without a command", spec.uid)));
            }
            _ => {}
        }
    }
    Ok(())
}

impl Inner {
    /// Applies `f` to a pod's runtime and announces the change, if any.
    fn update(&self, uid: &str, f: impl FnOnce(&mut PodRuntime)) {
        let changed = {
            let mut pods = self.pods.lock();
            let Some(entry) = pods.get_mut(uid) else { return };
            let before = entry.runtime.clone();
            f(&mut entry.runtime);
            entry.runtime != before
        };
        if changed {
            self.notify();
        }
    }

    fn notify(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Records that the container process is gone.
    fn exited(&self, uid: &str, exit: ExitInfo) {
        self.update(uid, |rt| {
            rt.pid = None;
            rt.process_start = None;
            rt.started_at = None;
            rt.ready = false;
            rt.last_exit = Some(exit);
        });
    }

    /// Ends a pod for good: `Terminated`, then forgotten.
    fn finish(&self, uid: &str) {
        self.update(uid, |rt| {
            rt.state = ContainerState::Terminated;
            rt.ready = false;
        });
        if self.pods.lock().remove(uid).is_some() {
            self.notify();
        }
    }
}

/// The life of one pod: watch the process, probe it, restart it, until asked to stop.
async fn run_pod(
    inner: Arc<Inner>,
    spec: PodSpec,
    mut proc: Proc,
    mut adopted: bool,
    mut stop: watch::Receiver<bool>,
    _done: DoneGuard,
) {
    let uid = spec.uid.as_str();
    let poll = inner.config.adopted_poll.max(Duration::from_millis(10));
    let mut backoff = Backoff::new(inner.config.backoff_base, inner.config.backoff_cap, inner.config.backoff_reset);
    loop {
        let started = Instant::now();
        let set_ready = |ready: bool| inner.update(uid, |rt| rt.ready = ready);
        let outcome = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => Outcome::Stop,
            exit = proc.wait_gone(poll) => Outcome::Exited(exit),
            message = crate::probe::liveness(&spec, adopted) => Outcome::Unhealthy(message),
            never = crate::probe::readiness(&spec, adopted, set_ready) => match never {},
            never = crate::process::keep_log_under(&spec.log_file, inner.config.log_max_bytes) => match never {},
        };
        adopted = false;
        match outcome {
            Outcome::Stop => {
                inner.update(uid, |rt| {
                    rt.state = ContainerState::Terminating;
                    rt.ready = false;
                });
                let exit = proc.terminate(spec.grace_period, poll).await;
                tracing::info!(%uid, pid = proc.pid, %exit, "pod stopped");
                inner.exited(uid, exit);
                inner.finish(uid);
                return;
            }
            Outcome::Exited(exit) => {
                proc.kill_leftovers();
                tracing::info!(%uid, pid = proc.pid, %exit, "pod process exited");
                let restart = spec.restart_policy.restarts(&exit);
                inner.exited(uid, exit);
                if !restart {
                    // Done for good (a Job's pod): Terminated, kept until stopped so its exit can be read.
                    inner.update(uid, |rt| rt.state = ContainerState::Terminated);
                    return;
                }
            }
            Outcome::Unhealthy(message) => {
                tracing::warn!(%uid, pid = proc.pid, %message, "liveness probe failed, restarting container");
                inner.update(uid, |rt| rt.ready = false);
                let mut exit = proc.terminate(spec.grace_period, poll).await;
                exit.message = message;
                inner.exited(uid, exit);
            }
        }

        let mut ran_for = started.elapsed();
        proc = loop {
            let delay = backoff.delay(ran_for);
            if !delay.is_zero() {
                inner.update(uid, |rt| {
                    rt.state = ContainerState::Waiting {
                        reason: "CrashLoopBackOff".into(),
                        message: format!(
                            "back-off {delay:?} restarting failed container={} pod={}_({uid})",
                            spec.name, spec.name
                        ),
                    }
                });
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => {}
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            if *stop.borrow() {
                inner.finish(uid);
                return;
            }
            let _spawning = inner.spawn_lock.lock();
            let spawned = spawn_pod(&spec, &inner.marker, true);
            inner.update(uid, |rt| {
                rt.restarts = rt.restarts.saturating_add(1);
                match &spawned {
                    Ok(proc) => {
                        rt.pid = Some(proc.pid);
                        rt.process_start = Some(proc.start);
                        rt.started_at = proc.started_at();
                        rt.state = ContainerState::Running;
                    }
                    Err(e) => rt.last_exit = Some(ExitInfo::other("StartError", e.to_string())),
                }
            });
            match spawned {
                Ok(proc) => break proc,
                Err(e) => {
                    tracing::warn!(%uid, error = %e, "restarting pod failed");
                    ran_for = Duration::ZERO;
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervisor_can_be_shared_between_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Supervisor>();
    }
}
