//! CLI commands that talk to a server: apply, delete, get, list, logs and the rollout
//! commands, printed the way kubectl and kubectl-argo-rollouts print them.

use crate::client::{Client, ClientOptions, encode};
use crate::view::{age, table};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use serin_model::Time;
use serin_model::rollout::Rollout;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Reads files, directories (recursively: .yaml, .yml, .json) or `-` into (name, text) pairs.
fn read_sources(paths: &[PathBuf]) -> Result<Vec<Value>> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, true, &mut files)?;
    }
    Ok(files)
}

fn collect(path: &Path, explicit: bool, out: &mut Vec<Value>) -> Result<()> {
    if path == Path::new("-") {
        let text = std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?;
        out.push(json!({"name": "<stdin>", "text": text}));
    } else if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            collect(&entry, false, out)?;
        }
    } else if explicit || matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        out.push(json!({"name": path.display().to_string(), "text": text}));
    }
    Ok(())
}

pub fn apply(options: &ClientOptions, paths: &[PathBuf]) -> Result<ExitCode> {
    let files = read_sources(paths)?;
    let client = Client::connect(options)?;
    let response = client.post("/api/v1/apply", &json!({"files": files, "namespace": options.namespace}))?;
    for result in response["results"].as_array().into_iter().flatten() {
        println!(
            "{} {}",
            result["object"].as_str().unwrap_or_default(),
            result["outcome"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rollout_path(options: &ClientOptions, name: &str, what: &str) -> String {
    format!("/api/v1/rollouts/{}/{}/{what}", encode(&options.namespace), encode(name))
}

pub fn get_rollout(options: &ClientOptions, name: &str) -> Result<ExitCode> {
    let client = Client::connect(options)?;
    let tree = client.get(&rollout_path(options, name, "tree"))?;
    print!("{}", crate::tree::render(&tree)?);
    Ok(ExitCode::SUCCESS)
}

pub fn list_rollouts(options: &ClientOptions) -> Result<ExitCode> {
    let client = Client::connect(options)?;
    let list = client
        .get(&format!("/api/v1/objects?kind=Rollout&group=argoproj.io&namespace={}", encode(&options.namespace)))?;
    let mut rows = vec![
        ["NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "READY", "DESIRED", "UP-TO-DATE", "AVAILABLE"]
            .map(String::from)
            .to_vec(),
    ];
    for item in list["items"].as_array().into_iter().flatten() {
        let rollout: Rollout = serde_json::from_value(item.clone())?;
        let status = rollout.status.clone().unwrap_or_default();
        let step = serin_engine::phase::step_progress(&rollout).map_or("-".to_string(), |(i, n)| format!("{i}/{n}"));
        rows.push(vec![
            rollout.metadata.name().to_string(),
            "Canary".into(),
            status.phase.clone().unwrap_or_default(),
            step,
            serin_engine::phase::set_weight(&rollout).to_string(),
            format!("{}/{}", status.ready_replicas, rollout.spec.replicas()),
            rollout.spec.replicas().to_string(),
            status.updated_replicas.to_string(),
            status.available_replicas.to_string(),
        ]);
    }
    if rows.len() == 1 {
        println!("No resources found in {} namespace.", options.namespace);
    } else {
        print!("{}", table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// promote, abort, retry, undo, pause, restart, set-image.
pub fn rollout_command(options: &ClientOptions, name: &str, verb: &str, body: Value, done: &str) -> Result<ExitCode> {
    let client = Client::connect(options)?;
    client.post(&rollout_path(options, name, verb), &body)?;
    println!("rollout '{name}' {done}");
    Ok(ExitCode::SUCCESS)
}

/// `get KIND [NAME]` for the kinds kubectl users look at.
pub fn get_objects(options: &ClientOptions, kind: &str, name: Option<&str>) -> Result<ExitCode> {
    let (group, kind) = resolve_kind(kind)?;
    let client = Client::connect(options)?;
    let group_query = group.map(|g| format!("&group={}", encode(g))).unwrap_or_default();
    let list =
        client.get(&format!("/api/v1/objects?kind={kind}{group_query}&namespace={}", encode(&options.namespace)))?;
    let now = Time::parse(list["now"].as_str().unwrap_or_default()).unwrap_or_default();
    let items: Vec<&Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| name.is_none_or(|n| i["metadata"]["name"] == n))
        .collect();
    if items.is_empty() {
        match name {
            Some(n) => bail!("{} \"{n}\" not found", kind.to_lowercase()),
            None => println!("No resources found in {} namespace.", options.namespace),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let age_of = |item: &Value| {
        let created = Time::parse(item["metadata"]["creationTimestamp"].as_str().unwrap_or_default()).unwrap_or(now);
        age(now.since(created))
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let name_of = |item: &Value| item["metadata"]["name"].as_str().unwrap_or_default().to_string();
    match kind {
        "Pod" => {
            rows.push(["NAME", "READY", "STATUS", "RESTARTS", "AGE"].map(String::from).to_vec());
            for item in items {
                let statuses =
                    item.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
                let ready = statuses.iter().filter(|c| c["ready"] == true).count();
                let total = item.pointer("/spec/containers").and_then(Value::as_array).map_or(1, Vec::len);
                let restarts: i64 = statuses.iter().map(|c| c["restartCount"].as_i64().unwrap_or(0)).sum();
                let status = if item.pointer("/metadata/deletionTimestamp").is_some() {
                    "Terminating".to_string()
                } else {
                    statuses
                        .iter()
                        .find_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str).map(str::to_string))
                        .unwrap_or_else(|| {
                            item.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Pending").to_string()
                        })
                };
                rows.push(vec![name_of(item), format!("{ready}/{total}"), status, restarts.to_string(), age_of(item)]);
            }
        }
        "ReplicaSet" => {
            rows.push(["NAME", "DESIRED", "CURRENT", "READY", "AGE"].map(String::from).to_vec());
            for item in items {
                let n = |p: &str| item.pointer(p).and_then(Value::as_i64).unwrap_or(0).to_string();
                rows.push(vec![
                    name_of(item),
                    n("/spec/replicas"),
                    n("/status/replicas"),
                    n("/status/readyReplicas"),
                    age_of(item),
                ]);
            }
        }
        "Service" => {
            rows.push(["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"].map(String::from).to_vec());
            for item in items {
                let ports: Vec<String> = item
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                    .collect();
                let kind = item.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
                rows.push(vec![
                    name_of(item),
                    kind.into(),
                    "<none>".into(),
                    "<none>".into(),
                    ports.join(","),
                    age_of(item),
                ]);
            }
        }
        "Rollout" => return list_rollouts(options),
        _ => {
            rows.push(["NAME", "AGE"].map(String::from).to_vec());
            for item in items {
                rows.push(vec![name_of(item), age_of(item)]);
            }
        }
    }
    print!("{}", table(&rows));
    Ok(ExitCode::SUCCESS)
}

/// kubectl's names and short names for the kinds serin keeps.
fn resolve_kind(kind: &str) -> Result<(Option<&'static str>, &'static str)> {
    Ok(match kind.to_lowercase().as_str() {
        "po" | "pod" | "pods" => (Some(""), "Pod"),
        "rs" | "replicaset" | "replicasets" => (Some("apps"), "ReplicaSet"),
        "svc" | "service" | "services" => (Some(""), "Service"),
        "ro" | "rollout" | "rollouts" => (Some("argoproj.io"), "Rollout"),
        "ar" | "analysisrun" | "analysisruns" => (Some("argoproj.io"), "AnalysisRun"),
        "at" | "analysistemplate" | "analysistemplates" => (Some("argoproj.io"), "AnalysisTemplate"),
        "app" | "application" | "applications" => (Some("argoproj.io"), "Application"),
        "traefikservice" | "traefikservices" => (None, "TraefikService"),
        "ingressroute" | "ingressroutes" => (None, "IngressRoute"),
        other => bail!(
            "serin does not keep objects of kind {other:?}; it keeps pods, replicasets, services, rollouts, analysisruns, analysistemplates, applications, traefikservices, ingressroutes"
        ),
    })
}

pub fn logs(options: &ClientOptions, pod: &str, previous: bool) -> Result<ExitCode> {
    let client = Client::connect(options)?;
    let text =
        client.get_text(&format!("/api/v1/logs/{}/{}?previous={previous}", encode(&options.namespace), encode(pod)))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
