//! CPU and memory of pod processes, read from /proc (the seed's monitoring list includes
//! resource use): served at `/metrics` and used by `top pods`.

use serde_json::Value as Json;

/// Clock ticks per second for /proc times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Usage {
    /// CPU time used since the process started.
    pub cpu_seconds: f64,
    /// Resident memory.
    pub memory_bytes: u64,
}

/// The usage of one process, if it is alive.
pub fn of_pid(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(Usage { cpu_seconds: ticks as f64 / TICKS_PER_SECOND, memory_bytes: resident * PAGE_SIZE })
}

/// The usage of a Pod object's process (from the pid the pod controller recorded).
pub fn of_pod(pod: &Json) -> Option<Usage> {
    let pid = pod.pointer("/metadata/annotations/serin.dev~1pid")?.as_str()?.parse().ok()?;
    of_pid(pid)
}

/// Prometheus text for every pod with a live process.
pub fn render(pods: &[crate::store::Stored]) -> String {
    let mut cpu = String::from(
        "# HELP serin_pod_cpu_seconds_total CPU time used by the pod's process.\n# TYPE serin_pod_cpu_seconds_total counter\n",
    );
    let mut memory = String::from(
        "# HELP serin_pod_memory_bytes Resident memory of the pod's process.\n# TYPE serin_pod_memory_bytes gauge\n",
    );
    for pod in pods {
        if let Some(usage) = of_pod(&pod.body) {
            let labels = format!("namespace=\"{}\",pod=\"{}\"", pod.key.namespace, pod.key.name);
            cpu.push_str(&format!("serin_pod_cpu_seconds_total{{{labels}}} {}\n", usage.cpu_seconds));
            memory.push_str(&format!("serin_pod_memory_bytes{{{labels}}} {}\n", usage.memory_bytes));
        }
    }
    cpu + &memory
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let usage = super::of_pid(std::process::id()).unwrap();
        assert!(usage.memory_bytes > 1 << 20, "{usage:?}");
        assert!(usage.cpu_seconds >= 0.0);
        assert!(super::of_pid(u32::MAX).is_none());
    }
}
