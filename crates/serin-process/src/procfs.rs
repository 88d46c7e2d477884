//! Reading `/proc`: the only way to watch a process that is not our child (one adopted after a serin restart)
//! and to find processes an earlier serin started (by the `SERIN_POD` marker in `/proc/<pid>/environ`).
//! A pid alone can be reused; pid plus start time (field 22 of `/proc/<pid>/stat`) names one process for good.

use std::time::{Duration, SystemTime};

/// The few fields of `/proc/<pid>/stat` the supervisor needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Process state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    /// Start time in clock ticks after boot.
    pub starttime: u64,
}

impl ProcStat {
    /// A zombie or dead process has exited; only its entry remains.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses the text of `/proc/<pid>/stat`. The command name (field 2) may contain spaces and parentheses, so
/// fields are counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?; // field 3
    let ppid = fields.next()?.parse().ok()?; // field 4
    let pgrp = fields.next()?.parse().ok()?; // field 5
    let starttime = fields.nth(22 - 6)?.parse().ok()?; // field 22
    Some(ProcStat { state, ppid, pgrp, starttime })
}

pub(crate) fn stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether `pid` is still the process that started at `starttime` and has not exited.
pub(crate) fn is_alive(pid: u32, starttime: u64) -> bool {
    stat(pid).is_some_and(|s| s.starttime == starttime && !s.is_dead())
}

/// The value of `name` in the environment the process was started with; `None` if it has none or the
/// environment cannot be read (process gone, kernel thread, no permission). Right after an `execve` the kernel
/// shows an empty environment for a moment, so a process may be missed once; callers only ever err on the side of
/// leaving a process alone.
pub(crate) fn environ_var(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    environ
        .split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// All pids currently in `/proc`.
pub(crate) fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// Whether `pid` descends from `ancestor` (following parent pids).
pub(crate) fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match stat(pid) {
            Some(s) if s.ppid > 1 => pid = s.ppid,
            _ => return false,
        }
    }
    false
}

/// Wall-clock time of a process start time (ticks after boot), from `btime` in `/proc/stat`.
pub(crate) fn wall_clock(starttime: u64) -> Option<SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: u64 = stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
    let ticks = match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as u64,
        _ => 100,
    };
    let since_boot = Duration::from_secs(starttime / ticks) + Duration::from_secs(starttime % ticks) / ticks as u32;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(btime) + since_boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_name() {
        let text = "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let s = parse_stat(text).unwrap();
        assert_eq!(s, ProcStat { state: 'S', ppid: 1, pgrp: 1234, starttime: 987654 });
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        let s = stat(me).unwrap();
        assert!(is_alive(me, s.starttime));
        assert!(!is_alive(me, s.starttime + 1));
        assert!(descends_from(me, me));
        let started = wall_clock(s.starttime).unwrap();
        let age = SystemTime::now().duration_since(started).unwrap_or_default();
        assert!(age < Duration::from_secs(3600), "{age:?}");
        assert!(environ_var(me, "PATH").is_some());
        assert!(pids().contains(&me));
    }
}
