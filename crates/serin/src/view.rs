//! The `get rollout` header block, laid out as kubectl-argo-rollouts prints it (`%-17s`
//! labels, status icons, images tagged stable/canary, the five replica counts).

use serin_engine::phase::{actual_weight, set_weight, step_progress};
use serin_engine::state::ReplicaSetState;
use serin_model::rollout::Rollout;
use std::fmt::Write;

/// The icon kubectl-argo-rollouts puts before a phase or status.
pub fn icon(status: &str) -> &'static str {
    match status {
        "Healthy" | "Running" | "Successful" | "Completed" => "✔",
        "Progressing" | "Pending" | "ContainerCreating" => "◌",
        "Paused" => "॥",
        "Degraded" | "Failed" | "Error" | "CrashLoopBackOff" => "✖",
        "ScaledDown" | "Terminating" => "•",
        _ => "?",
    }
}

/// The icon kubectl-argo-rollouts puts before an AnalysisRun's or a measurement's phase: an
/// Error is a warning there, not a failure, and Pending is waiting.
pub fn analysis_icon(phase: &str) -> &'static str {
    match phase {
        "Error" => "⚠",
        "Pending" => "◷",
        other => icon(other),
    }
}

/// Whether output is coloured: on a terminal, unless `--no-color` or `NO_COLOR` say otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paint(pub bool);

impl Paint {
    pub fn detect(no_color: bool) -> Paint {
        use std::io::IsTerminal;
        Paint(!no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal())
    }

    /// `✔ Healthy`, coloured as kubectl-argo-rollouts colours it.
    pub fn status(self, status: &str) -> String {
        self.led_by(icon(status), format!("{} {status}", icon(status)))
    }

    /// `⚠ Error`: an analysis phase with its icon.
    pub fn analysis(self, phase: &str) -> String {
        self.led_by(analysis_icon(phase), format!("{} {phase}", analysis_icon(phase)))
    }

    /// `✖ 2`: an icon and a count, as in an AnalysisRun's INFO column.
    pub fn count(self, icon: &str, count: i64) -> String {
        self.led_by(icon, format!("{icon} {count}"))
    }

    /// `text`, coloured by the icon it starts with.
    fn led_by(self, icon: &str, text: String) -> String {
        let code = match icon {
            "✔" => 32,
            "◌" | "॥" | "◷" => 33,
            "✖" | "⚠" => 31,
            _ => 0,
        };
        if self.0 && code != 0 { format!("\x1b[{code}m{text}\x1b[0m") } else { text }
    }
}

/// Printed width of a cell: characters, not counting colour escapes.
pub fn width(cell: &str) -> usize {
    let mut width = 0;
    let mut escape = false;
    for c in cell.chars() {
        match (escape, c) {
            (false, '\x1b') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

fn line(out: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{label:<17}{value}");
}

pub fn rollout_header(rollout: &Rollout, replica_sets: &[ReplicaSetState], paint: Paint) -> String {
    let status = rollout.status.clone().unwrap_or_default();
    let phase = status.phase.clone().unwrap_or_else(|| "Progressing".to_string());
    let mut out = String::new();
    line(&mut out, "Name:", rollout.metadata.name());
    line(&mut out, "Namespace:", rollout.metadata.namespace());
    line(&mut out, "Status:", paint.status(&phase));
    if let Some(message) = status.message.as_deref().filter(|m| !m.is_empty()) {
        line(&mut out, "Message:", message);
    }
    if rollout.spec.strategy.canary.is_none() && rollout.spec.strategy.blue_green.is_some() {
        line(&mut out, "Strategy:", "BlueGreen");
    } else {
        line(&mut out, "Strategy:", "Canary");
        if let Some((index, steps)) = step_progress(rollout) {
            line(&mut out, "  Step:", format!("{index}/{steps}"));
        }
        line(&mut out, "  SetWeight:", set_weight(rollout));
        line(&mut out, "  ActualWeight:", actual_weight(rollout, replica_sets));
    }
    let images: Vec<String> = serin_local::objects::rollout_images(&status, replica_sets)
        .into_iter()
        .map(|(image, roles)| if roles.is_empty() { image } else { format!("{image} ({})", roles.join(", ")) })
        .collect();
    for (i, image) in images.iter().enumerate() {
        line(&mut out, if i == 0 { "Images:" } else { "" }, image);
    }
    let _ = writeln!(out, "Replicas:");
    line(&mut out, "  Desired:", rollout.spec.replicas());
    line(&mut out, "  Current:", status.replicas);
    line(&mut out, "  Updated:", status.updated_replicas);
    line(&mut out, "  Ready:", status.ready_replicas);
    line(&mut out, "  Available:", status.available_replicas);
    out
}

/// kubectl's human-readable age: `63s`, `2m23s`, `14m`, `5h3m`, `3d`.
pub fn age(millis: i64) -> String {
    let seconds = (millis / 1000).max(0);
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    match () {
        _ if seconds < 120 => format!("{seconds}s"),
        _ if minutes < 10 => match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        },
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        },
        _ if hours < 48 => format!("{hours}h"),
        _ if days < 8 => match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        },
        _ if days < 730 => format!("{days}d"),
        _ => format!("{}y{}d", days / 365, days % 365),
    }
}

/// Columns separated by two spaces, each as wide as its widest cell, the last one unpadded:
/// Go's tabwriter as kubectl-argo-rollouts, argocd and `kubectl describe` set it up.
pub fn table(rows: &[Vec<String>]) -> String {
    aligned(rows, 2)
}

/// The same with three spaces between columns, as `kubectl get` and `kubectl top` print.
pub fn kubectl_table(rows: &[Vec<String>]) -> String {
    aligned(rows, 3)
}

fn aligned(rows: &[Vec<String>], gap: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..columns).map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| width(c)).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                out.push_str(&" ".repeat(widths[i] - width(cell) + gap));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (63, "63s"),
            (143, "2m23s"),
            (412, "6m52s"),
            (840, "14m"),
            (600, "10m"),
            (3 * 3600 + 120, "3h2m"),
            (86_400 * 3, "3d"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(age(seconds * 1000), expected, "{seconds}s");
        }
    }

    #[test]
    fn tables_pad_like_their_tools() {
        let rows =
            [["NAME", "READY"], ["canary-rollout-69dc9f5f56-28rcd", "1/1"]].map(|r| r.map(String::from).to_vec());
        // The seed's `kubectl get pod` header and first row, and kubectl-argo-rollouts' spacing.
        assert_eq!(
            kubectl_table(&rows),
            "NAME                              READY\ncanary-rollout-69dc9f5f56-28rcd   1/1\n"
        );
        assert_eq!(table(&rows), "NAME                             READY\ncanary-rollout-69dc9f5f56-28rcd  1/1\n");
    }
}
