//! `serin app`: Argo CD's `argocd app` verbs (list, get, sync, diff, history) for the
//! Applications the local platform syncs from git, printed in the argocd CLI's layouts.

use crate::client::{Backend, Client, ClientOptions, encode};
use crate::view::table;
use anyhow::{Result, bail};
use serde_json::{Value, json};
use serin_kube::controller::Error as KubeError;
use serin_model::application::{Application, ApplicationStatus};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Where the Applications are: a serin server, or a cluster, where `app` commands look in
/// Argo CD's namespace unless `-n` or `NAMESPACE/NAME` names another (as `argocd` does).
enum Apps {
    Server(Client),
    Cluster { client: kube::Client, runtime: tokio::runtime::Runtime },
}

/// Argo CD's namespace, where its CLI looks for Applications on a cluster.
const ARGOCD_NAMESPACE: &str = "argocd";

impl Apps {
    fn connect(options: &ClientOptions) -> Result<Apps> {
        Ok(match Backend::connect(options)? {
            Backend::Server(client) => Apps::Server(client),
            Backend::Cluster { client, runtime } => Apps::Cluster { client, runtime },
        })
    }

    fn cluster<T>(runtime: &tokio::runtime::Runtime, call: impl Future<Output = Result<T, KubeError>>) -> Result<T> {
        runtime.block_on(call).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The Applications in `namespace` (on a server without one: in every namespace).
    fn list(&self, namespace: Option<&str>) -> Result<Vec<Value>> {
        let list = match self {
            Apps::Server(client) => {
                let list = client.get("/api/v1/objects?kind=Application&group=argoproj.io")?;
                let items = list["items"].as_array().cloned().unwrap_or_default();
                return Ok(items
                    .into_iter()
                    .filter(|i| namespace.is_none_or(|ns| i["metadata"]["namespace"] == ns))
                    .collect());
            }
            Apps::Cluster { client, runtime } => {
                let namespace = namespace.unwrap_or(ARGOCD_NAMESPACE);
                Self::cluster(runtime, serin_kube::commands::applications(client, namespace))?
            }
        };
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// An Application found by name: as `namespace/name`, in the namespace `-n` names, else
    /// (on a server) in any namespace.
    fn find(&self, options: &ClientOptions, name: &str) -> Result<Application> {
        let (namespace, name) =
            name.split_once('/').map_or((options.namespace.as_deref(), name), |(ns, n)| (Some(ns), n));
        let items = self.list(namespace)?;
        let found: Vec<&Value> = items.iter().filter(|i| i["metadata"]["name"] == name).collect();
        let namespace = match self {
            Apps::Cluster { .. } => namespace.or(Some(ARGOCD_NAMESPACE)),
            Apps::Server(_) => namespace,
        };
        match found.as_slice() {
            [one] => Ok(serde_json::from_value((*one).clone())?),
            [] => match namespace {
                Some(namespace) => bail!("application '{name}' not found in namespace {namespace}"),
                None => bail!("application '{name}' not found"),
            },
            many => {
                let names: Vec<String> = many.iter().map(|a| qualified(&a["metadata"])).collect();
                bail!("several applications are named '{name}': {}; name one as NAMESPACE/NAME", names.join(", "))
            }
        }
    }

    /// The Application as it is now.
    fn reread(&self, app: &Application) -> Result<Application> {
        let (namespace, name) = (app.metadata.namespace(), app.metadata.name());
        let items = self.list(Some(namespace))?;
        match items.into_iter().find(|i| i["metadata"]["name"] == name) {
            Some(found) => Ok(serde_json::from_value(found)?),
            None => bail!("application '{name}' not found in namespace {namespace}"),
        }
    }

    fn request_sync(&self, app: &Application, prune: bool) -> Result<()> {
        match self {
            Apps::Server(client) => client.post(&app_path(app, "sync"), &json!({"prune": prune})).map(|_| ()),
            Apps::Cluster { client, runtime } => {
                let (namespace, name) = (app.metadata.namespace(), app.metadata.name());
                Self::cluster(runtime, serin_kube::commands::request_sync(client, namespace, name, prune))
            }
        }
    }

    /// What a sync would change, as `{"items": [{key, live, target}]}`.
    fn diff(&self, app: &Application) -> Result<Value> {
        match self {
            Apps::Server(client) => client.get(&app_path(app, "diff")),
            Apps::Cluster { client, runtime } => {
                let cache = tempfile::Builder::new().prefix("serin-app-diff-").tempdir()?;
                let found = Self::cluster(runtime, serin_kube::gitops::diff(client, app, cache.path().to_path_buf()))?;
                Ok(json!({"items": found.map_err(anyhow::Error::msg)?}))
            }
        }
    }
}

fn qualified(metadata: &Value) -> String {
    format!("{}/{}", metadata["namespace"].as_str().unwrap_or_default(), metadata["name"].as_str().unwrap_or_default())
}

fn short(revision: &str) -> &str {
    &revision[..revision.len().min(7)]
}

fn status(app: &Application) -> ApplicationStatus {
    app.status.clone().unwrap_or_default()
}

fn or_unknown(text: &str) -> &str {
    if text.is_empty() { "Unknown" } else { text }
}

fn cluster(app: &Application) -> String {
    let destination = &app.spec.destination;
    match (destination.server.as_deref(), destination.name.as_deref()) {
        (Some(server), _) if !server.is_empty() => server.to_string(),
        (_, Some(name)) if !name.is_empty() => name.to_string(),
        _ => "https://kubernetes.default.svc".to_string(),
    }
}

/// `argocd app list`'s columns.
pub fn list(options: &ClientOptions) -> Result<ExitCode> {
    let apps = Apps::connect(options)?;
    let items = apps.list(options.namespace.as_deref())?;
    let mut rows = vec![
        [
            "NAME",
            "CLUSTER",
            "NAMESPACE",
            "PROJECT",
            "STATUS",
            "HEALTH",
            "SYNCPOLICY",
            "CONDITIONS",
            "REPO",
            "PATH",
            "TARGET",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for item in &items {
        let app: Application = serde_json::from_value(item.clone())?;
        let status = status(&app);
        let source = app.spec.source.clone().unwrap_or_default();
        let policy = match app.spec.automated() {
            Some(a) if a.prune == Some(true) => "Auto-Prune",
            Some(_) => "Auto",
            None => "Manual",
        };
        let mut conditions: Vec<(String, usize)> = Vec::new();
        for condition in &status.conditions {
            match conditions.iter_mut().find(|(kind, _)| *kind == condition.kind) {
                Some((_, n)) => *n += 1,
                None => conditions.push((condition.kind.clone(), 1)),
            }
        }
        let conditions: Vec<String> =
            conditions.into_iter().map(|(kind, n)| if n == 1 { kind } else { format!("{kind}({n})") }).collect();
        rows.push(vec![
            qualified(&item["metadata"]),
            cluster(&app),
            app.spec.destination.namespace.clone().unwrap_or_default(),
            app.spec.project.clone().unwrap_or_default(),
            or_unknown(&status.sync.status).to_string(),
            or_unknown(&status.health.status).to_string(),
            policy.to_string(),
            if conditions.is_empty() { "<none>".to_string() } else { conditions.join(",") },
            source.repo_url,
            source.path.unwrap_or_default(),
            source.target_revision.unwrap_or_else(|| "HEAD".to_string()),
        ]);
    }
    if rows.len() == 1 {
        println!("No applications found.");
    } else {
        print!("{}", table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn line(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("{label:<20}{value}\n"));
}

/// `argocd app get`: the header, conditions, and each resource with its sync and health.
fn render(app: &Application, with_operation: bool) -> String {
    let status = status(app);
    let source = app.spec.source.clone().unwrap_or_default();
    let target = source.target_revision.clone().unwrap_or_else(|| "HEAD".to_string());
    let mut out = String::new();
    line(&mut out, "Name:", &format!("{}/{}", app.metadata.namespace(), app.metadata.name()));
    line(&mut out, "Project:", app.spec.project.as_deref().unwrap_or("default"));
    line(&mut out, "Server:", &cluster(app));
    line(&mut out, "Namespace:", app.spec.destination.namespace.as_deref().unwrap_or_default());
    line(&mut out, "Repo:", &source.repo_url);
    line(&mut out, "Target:", &target);
    line(&mut out, "Path:", source.path.as_deref().unwrap_or_default());
    let policy = match app.spec.automated() {
        Some(a) if a.prune == Some(true) => "Automated (Prune)",
        Some(_) => "Automated",
        None => "<none>",
    };
    line(&mut out, "Sync Policy:", policy);
    let mut sync = or_unknown(&status.sync.status).to_string();
    match sync.as_str() {
        "Synced" => sync += &format!(" to {target}"),
        "OutOfSync" => sync += &format!(" from {target}"),
        _ => {}
    }
    if let Some(revision) = status.sync.revision.as_deref().filter(|r| r.len() > 7 && !target.starts_with(short(r))) {
        sync += &format!(" ({})", short(revision));
    }
    line(&mut out, "Sync Status:", &sync);
    line(&mut out, "Health Status:", or_unknown(&status.health.status));
    if with_operation && let Some(state) = &status.operation_state {
        out.push('\n');
        line(&mut out, "Operation:", "Sync");
        let revision = state.sync_result.as_ref().map(|r| r.revision.as_str()).unwrap_or_default();
        line(&mut out, "Sync Revision:", revision);
        line(&mut out, "Phase:", &state.phase);
        line(&mut out, "Start:", &state.started_at.map(|t| t.to_string()).unwrap_or_default());
        line(&mut out, "Finished:", &state.finished_at.map(|t| t.to_string()).unwrap_or_default());
        line(&mut out, "Message:", state.message.as_deref().unwrap_or_default());
    }
    if !status.conditions.is_empty() {
        let mut rows = vec![["CONDITION", "MESSAGE", "LAST TRANSITION"].map(String::from).to_vec()];
        for condition in &status.conditions {
            let since = condition.last_transition_time.map(|t| t.to_string()).unwrap_or_default();
            rows.push(vec![condition.kind.clone(), condition.message.clone(), since]);
        }
        out.push('\n');
        out.push_str(&table(&rows));
    }
    let mut rows =
        vec![["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"].map(String::from).to_vec()];
    for resource in &status.resources {
        let health = resource.health.clone().unwrap_or_default();
        let mut sync = resource.status.clone();
        if resource.requires_pruning == Some(true) {
            sync += " (requires pruning)";
        }
        rows.push(vec![
            resource.group.clone(),
            resource.kind.clone(),
            resource.namespace.clone(),
            resource.name.clone(),
            sync,
            health.status,
            health.message.unwrap_or_default(),
        ]);
    }
    out.push('\n');
    out.push_str(&table(&rows));
    out
}

pub fn get(options: &ClientOptions, name: &str) -> Result<ExitCode> {
    let apps = Apps::connect(options)?;
    print!("{}", render(&apps.find(options, name)?, true));
    Ok(ExitCode::SUCCESS)
}

fn app_path(app: &Application, what: &str) -> String {
    format!("/api/v1/applications/{}/{}/{what}", encode(app.metadata.namespace()), encode(app.metadata.name()))
}

/// `argocd app sync`: reads `targetRevision` from git, applies it, waits for the result.
pub fn sync(options: &ClientOptions, name: &str, prune: bool, timeout: Duration) -> Result<ExitCode> {
    let apps = Apps::connect(options)?;
    let app = apps.find(options, name)?;
    apps.request_sync(&app, prune)?;
    let deadline = Instant::now() + timeout;
    loop {
        let current = apps.reread(&app)?;
        let state = status(&current);
        // The operation's result is written first, the comparison with git just after: wait
        // for both, so the status printed (and the next command's) is the synced commit's.
        let synced = state.operation_state.as_ref().and_then(|o| o.sync_result.as_ref()).map(|r| &r.revision);
        let compared = synced.is_none_or(|revision| state.sync.revision.as_ref() == Some(revision));
        if current.operation.is_none() && (compared || Instant::now() >= deadline) {
            print!("{}", render(&current, true));
            let phase = status(&current).operation_state.map(|s| s.phase).unwrap_or_default();
            if phase == "Succeeded" {
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!("error: operation has completed with phase: {phase}");
            return Ok(ExitCode::FAILURE);
        }
        if Instant::now() >= deadline {
            bail!("timed out waiting for the sync of application '{name}'");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `argocd app history`.
pub fn history(options: &ClientOptions, name: &str) -> Result<ExitCode> {
    let app = Apps::connect(options)?.find(options, name)?;
    let mut rows = vec![["ID", "DATE", "REVISION"].map(String::from).to_vec()];
    for entry in status(&app).history {
        let target = entry.source.and_then(|s| s.target_revision).unwrap_or_else(|| "HEAD".to_string());
        rows.push(vec![entry.id.to_string(), entry.deployed_at.to_string(), format!("{target} ({})", entry.revision)]);
    }
    print!("{}", table(&rows));
    Ok(ExitCode::SUCCESS)
}

/// `argocd app diff`: for each object git and the store disagree on, the lines a sync would
/// change (`<` live, `>` after the sync). Exits 1 when there are differences (and, from
/// `main`, 2 on an error), like argocd.
pub fn diff(options: &ClientOptions, name: &str) -> Result<ExitCode> {
    let apps = Apps::connect(options)?;
    let app = apps.find(options, name)?;
    let differences = apps.diff(&app)?;
    let items = differences["items"].as_array().cloned().unwrap_or_default();
    for item in &items {
        let key = &item["key"];
        let text = |side: &str| -> Vec<String> {
            let mut object = item[side].clone();
            // What the server sets is not drift, and a sync would not write it from git.
            if let Some(metadata) = object.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                for field in ["generation", "resourceVersion", "uid", "creationTimestamp", "managedFields"] {
                    metadata.remove(field);
                }
            }
            if let Some(annotations) = object.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
                annotations.remove(serin_local::apply::LAST_APPLIED);
            }
            if object.is_null() {
                Vec::new()
            } else {
                crate::yaml_out::to_yaml(&object).lines().map(str::to_string).collect()
            }
        };
        println!(
            "\n===== {}/{} {}/{} ======",
            key["group"].as_str().unwrap_or_default(),
            key["kind"].as_str().unwrap_or_default(),
            key["namespace"].as_str().unwrap_or_default(),
            key["name"].as_str().unwrap_or_default()
        );
        print!("{}", line_diff(&text("live"), &text("target")));
    }
    Ok(if items.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The changed lines between two texts (longest common subsequence), `<` for lines only in
/// `old`, `>` for lines only in `new`, hunks separated by `---`.
fn line_diff(old: &[String], new: &[String]) -> String {
    let (n, m) = (old.len(), new.len());
    let mut common = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] =
                if old[i] == new[j] { common[i + 1][j + 1] + 1 } else { common[i + 1][j].max(common[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    let mut hunk = (Vec::new(), Vec::new());
    let flush = |hunk: &mut (Vec<&String>, Vec<&String>), out: &mut String| {
        if hunk.0.is_empty() && hunk.1.is_empty() {
            return;
        }
        if !out.is_empty() {
            out.push_str("---\n");
        }
        for l in hunk.0.drain(..) {
            out.push_str(&format!("< {l}\n"));
        }
        for l in hunk.1.drain(..) {
            out.push_str(&format!("> {l}\n"));
        }
    };
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            flush(&mut hunk, &mut out);
            (i, j) = (i + 1, j + 1);
        } else if j < m && (i == n || common[i][j + 1] >= common[i + 1][j]) {
            hunk.1.push(&new[j]);
            j += 1;
        } else {
            hunk.0.push(&old[i]);
            i += 1;
        }
    }
    flush(&mut hunk, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_shows_only_what_changed() {
        let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
        let diff = line_diff(&lines("a\nport: 80\nc\nd"), &lines("a\nport: 8080\nc\nd\ne"));
        assert_eq!(diff, "< port: 80\n> port: 8080\n---\n> e\n");
        assert_eq!(line_diff(&lines("x"), &lines("x")), "");
    }
}
