//! The `get rollout` tree: revisions newest first, each with its ReplicaSet and pods (oldest
//! first) and analysis runs, with kubectl-argo-rollouts' icons, STATUS, AGE and INFO.

use crate::view::{Paint, age, rollout_header, table};
use serde_json::Value;
use serin_engine::state::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION};
use serin_model::Time;
use serin_model::rollout::Rollout;

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn created(v: &Value) -> Time {
    Time::parse(text(v, "/metadata/creationTimestamp")).unwrap_or_default()
}

/// Renders the whole `get rollout` view from the server's tree response.
pub fn render(tree: &Value, paint: Paint) -> anyhow::Result<String> {
    let rollout: Rollout = serde_json::from_value(tree["rollout"].clone())?;
    let now = Time::parse(text(tree, "/now")).unwrap_or_default();
    let pods = tree["pods"].as_array().cloned().unwrap_or_default();
    let mut replica_sets = tree["replicaSets"].as_array().cloned().unwrap_or_default();
    replica_sets.sort_by_key(|rs| {
        std::cmp::Reverse(text(rs, "/metadata/annotations/rollout.argoproj.io~1revision").parse::<i64>().unwrap_or(0))
    });
    let states: Vec<_> = replica_sets.iter().map(|rs| serin_local::objects::replica_set_state(rs, &[])).collect();
    let mut out = rollout_header(&rollout, &states, paint);
    let scale = tree["timeScale"].as_f64().unwrap_or(1.0);
    if scale != 1.0 {
        out.push_str(&format!("{:<17}{scale}x (pauses and delays pass {scale} times faster)\n", "TimeScale:"));
    }
    out.push('\n');
    let status = rollout.status.clone().unwrap_or_default();
    let phase = status.phase.clone().unwrap_or_else(|| "Progressing".into());
    let mut rows = vec![["NAME", "KIND", "STATUS", "AGE", "INFO"].map(String::from).to_vec()];
    rows.push(vec![
        format!("⟳ {}", rollout.metadata.name()),
        "Rollout".into(),
        paint.status(&phase),
        age(now.since(rollout.metadata.creation_timestamp.unwrap_or(now))),
        String::new(),
    ]);
    let runs = tree["analysisRuns"].as_array().cloned().unwrap_or_default();
    for (i, rs) in replica_sets.iter().enumerate() {
        let (to_revision, indent) = branch(i + 1 == replica_sets.len());
        let revision = text(rs, &format!("/metadata/annotations/{}", REVISION_ANNOTATION.replace('/', "~1")));
        rows.push(vec![
            format!("{to_revision}# revision:{revision}"),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        let hash = text(rs, &format!("/metadata/labels/{POD_TEMPLATE_HASH_LABEL}"));
        let mut rs_pods: Vec<&Value> =
            pods.iter().filter(|p| text(p, &format!("/metadata/labels/{POD_TEMPLATE_HASH_LABEL}")) == hash).collect();
        rs_pods.sort_by_key(|p| (created(p), text(p, "/metadata/name").to_string()));
        let pod_rows: Vec<Vec<String>> = rs_pods
            .into_iter()
            .map(|pod| {
                let (status, info) = pod_status(pod);
                vec![
                    format!("□ {}", text(pod, "/metadata/name")),
                    "Pod".into(),
                    paint.status(&status),
                    age(now.since(created(pod))),
                    info,
                ]
            })
            .collect();
        let (rs_status, rs_info) = replica_set_status(rs, &status, now);
        let rs_row = vec![
            format!("⧉ {}", text(rs, "/metadata/name")),
            "ReplicaSet".into(),
            paint.status(&rs_status),
            age(now.since(created(rs))),
            rs_info,
        ];
        // As kubectl-argo-rollouts draws a revision: its ReplicaSet (pods beneath), then its
        // analysis runs, oldest first, side by side with the ReplicaSet.
        let mut children = vec![(rs_row, pod_rows)];
        let mut rs_runs: Vec<&Value> =
            runs.iter().filter(|r| text(r, &format!("/metadata/labels/{POD_TEMPLATE_HASH_LABEL}")) == hash).collect();
        rs_runs.sort_by_key(|r| (created(r), text(r, "/metadata/name").to_string()));
        for run in rs_runs {
            let run_row = vec![
                format!("α {}", text(run, "/metadata/name")),
                "AnalysisRun".into(),
                paint.analysis(text(run, "/status/phase")),
                age(now.since(created(run))),
                crate::analysisrun::measurement_counts(run, paint),
            ];
            children.push((run_row, Vec::new()));
        }
        let count = children.len();
        for (j, (mut row, grandchildren)) in children.into_iter().enumerate() {
            let (twig, child_indent) = branch(j + 1 == count);
            row[0] = format!("{indent}{twig}{}", row[0]);
            rows.push(row);
            let grandchild_count = grandchildren.len();
            for (k, mut row) in grandchildren.into_iter().enumerate() {
                row[0] = format!("{indent}{child_indent}{}{}", branch(k + 1 == grandchild_count).0, row[0]);
                rows.push(row);
            }
        }
    }
    out.push_str(&table(&rows));
    Ok(out)
}

/// The line drawn to a node and the indent under it: the last child closes the branch.
fn branch(last: bool) -> (&'static str, &'static str) {
    if last { ("└──", "   ") } else { ("├──", "│  ") }
}

fn replica_set_status(rs: &Value, status: &serin_model::rollout::RolloutStatus, now: Time) -> (String, String) {
    let summary = serin_local::objects::replica_set_summary(rs, status);
    let mut info: Vec<String> = summary.roles.iter().map(|r| r.to_string()).collect();
    if let Some(deadline) = summary.scale_down_deadline {
        let left = deadline.since(now);
        info.push(if left > 0 { format!("delay:{}", age(left + 999)) } else { "delay:passed".into() });
    }
    (summary.state.to_string(), info.join(","))
}

fn pod_status(pod: &Value) -> (String, String) {
    let summary = serin_local::objects::pod_summary(pod);
    let mut info = format!("ready:{}/{}", summary.ready, summary.containers);
    if summary.restarts > 0 {
        info.push_str(&format!(",restarts:{}", summary.restarts));
    }
    (summary.status(), info)
}
