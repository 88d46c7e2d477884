//! `serin plan`: prints the engine's dry run of an update as a table.

use anyhow::{Context, bail};
use serin_model::duration::format_duration;
use serin_model::object::Object;
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let loaded = serin_model::load_path(path);
    let problems = loaded.problems();
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!("{} is not valid:\n{}", path.display(), lines.join("\n"));
    }
    let rollout = loaded
        .documents
        .into_iter()
        .find_map(|d| match d.object {
            Object::Rollout(r) => Some(r),
            _ => None,
        })
        .with_context(|| format!("{} holds no Rollout", path.display()))?;
    let plan = serin_engine::plan::plan(&rollout).map_err(anyhow::Error::msg)?;
    print!("{}", render(&plan));
    Ok(ExitCode::SUCCESS)
}

fn render(plan: &serin_engine::plan::Plan) -> String {
    let mut out = format!("Rollout {}: {} replicas, traffic {}\n\n", plan.rollout, plan.replicas, plan.traffic);
    // A canary's steps set weights; a blue-green update's stages switch a Service instead.
    let canary = plan.steps.iter().any(|s| s.set_weight.is_some());
    let header: &[&str] = if canary {
        &["STEP", "ACTION", "SET-WEIGHT", "CANARY", "STABLE", "WAIT", "DONE-AT"]
    } else {
        &["STAGE", "ACTION", "NEW", "OLD", "WAIT", "DONE-AT"]
    };
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for step in &plan.steps {
        let wait = match (step.pause, step.manual) {
            (_, true) => "until promoted".to_string(),
            (Some(p), _) => format_duration(p),
            (None, _) => "-".to_string(),
        };
        let mut row = vec![format!("{}/{}", step.number, plan.steps.len()), step.description.clone()];
        row.extend(step.set_weight.map(|w| w.to_string()));
        row.extend([
            step.new_replicas.to_string(),
            step.old_replicas.to_string(),
            wait,
            format_duration(step.completed_at),
        ]);
        rows.push(row);
    }
    for line in crate::view::table(&rows).lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let manual = plan.steps.iter().filter(|s| s.manual).count();
    out.push_str(&format!(
        "\nPromoted to stable at {}; old version scaled to zero at {}{}.\n",
        format_duration(plan.promoted_at),
        format_duration(plan.finished_at),
        match manual {
            0 => String::new(),
            n => format!(" (plus {n} manual promotion{})", if n == 1 { "" } else { "s" }),
        }
    ));
    out
}
