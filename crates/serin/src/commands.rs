//! CLI commands that talk to a server: apply, delete, get, list, logs and the rollout
//! commands, printed the way kubectl and kubectl-argo-rollouts print them.

use crate::client::{Backend, Client, ClientOptions, encode};
use crate::view::{Paint, age, kubectl_table, table};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use serin_model::Time;
use serin_model::rollout::Rollout;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

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
    if response["results"].as_array().is_none_or(Vec::is_empty) {
        bail!("no objects passed to apply");
    }
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
    format!("/api/v1/rollouts/{}/{}/{what}", encode(options.namespace()), encode(name))
}

/// How `get rollout` and `list rollouts` show themselves.
#[derive(Clone, Copy, Debug)]
pub struct Display {
    pub watch: bool,
    pub paint: Paint,
    pub timeout: Option<Duration>,
}

pub fn get_rollout(options: &ClientOptions, name: &str, display: Display) -> Result<ExitCode> {
    let backend = Backend::connect(options)?;
    watch(display, || {
        let mut tree = backend.rollout_tree(backend.namespace(options), name)?;
        let view = crate::tree::render(&tree, display.paint)?;
        if let Some(object) = tree.as_object_mut() {
            object.remove("now");
        }
        Ok((view, tree.to_string()))
    })
}

/// Prints a view once, or with `--watch` again on every change: redrawn in place on a
/// terminal (at most five times a second, so ages tick), appended as snapshots otherwise.
fn watch(display: Display, mut fetch: impl FnMut() -> Result<(String, String)>) -> Result<ExitCode> {
    use std::io::{IsTerminal, Write};
    let (view, _) = fetch()?;
    if !display.watch {
        print!("{view}");
        return Ok(ExitCode::SUCCESS);
    }
    let terminal = std::io::stdout().is_terminal();
    let deadline = display.timeout.map(|t| Instant::now() + t);
    let (mut last_view, mut last_state) = (String::new(), String::new());
    loop {
        let (view, state) = fetch()?;
        let mut out = std::io::stdout().lock();
        if terminal && view != last_view {
            write!(out, "\x1b[H\x1b[2J{view}")?;
        } else if !terminal && state != last_state {
            if !last_state.is_empty() {
                writeln!(out)?;
            }
            write!(out, "{view}")?;
        }
        out.flush()?;
        (last_view, last_state) = (view, state);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `status`: waits for the rollout to finish, printing each phase change; exits 0 when
/// Healthy, 1 when Degraded or when the timeout passes first.
pub fn status(options: &ClientOptions, name: &str, timeout: Option<Duration>) -> Result<ExitCode> {
    let backend = Backend::connect(options)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut last = String::new();
    loop {
        let rollout = backend.rollout(backend.namespace(options), name)?;
        let observed = rollout.pointer("/status/observedGeneration").and_then(Value::as_str).map(str::to_string);
        let generation = rollout.pointer("/metadata/generation").and_then(Value::as_i64).map(|g| g.to_string());
        let phase = rollout.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Progressing");
        let message = rollout.pointer("/status/message").and_then(Value::as_str).unwrap_or_default();
        let line = match (observed == generation, message.is_empty()) {
            (false, _) => "Progressing - waiting for rollout spec update to be observed".to_string(),
            (true, true) => phase.to_string(),
            (true, false) => format!("{phase} - {message}"),
        };
        if line != last {
            println!("{line}");
            last = line;
        }
        if observed == generation && phase == "Healthy" {
            return Ok(ExitCode::SUCCESS);
        }
        if observed == generation && phase == "Degraded" {
            return Ok(ExitCode::FAILURE);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            eprintln!("error: timed out waiting for rollout '{name}' to become Healthy (it is {phase})");
            return Ok(ExitCode::FAILURE);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `wait --for=condition=NAME[=VALUE] rollout/NAME`, as `kubectl wait` reads it (names and
/// values compared without case, the value True when not given): polls the Rollout until the
/// condition holds and prints kubectl's line; exits 1 when `timeout` passes first.
pub fn wait(options: &ClientOptions, target: &[String], wanted: &str, timeout: Duration) -> Result<ExitCode> {
    let Some(condition) = wanted.strip_prefix("condition=") else {
        bail!("--for must be condition=NAME or condition=NAME=VALUE (e.g. --for=condition=Paused), got {wanted:?}");
    };
    let (kind, value) = condition.split_once('=').unwrap_or((condition, "True"));
    let name = match target {
        [one] => one.split_once('/').map(|(kind, name)| (kind, name.to_string())),
        [kind, name] => Some((kind.as_str(), name.clone())),
        _ => None,
    };
    let name = match name {
        Some((what, name)) if resolve_kind(what).is_ok_and(|(_, kind)| kind == "Rollout") => name,
        _ => bail!("serin waits on rollouts: give rollout/NAME or rollout NAME, got {:?}", target.join(" ")),
    };
    let backend = Backend::connect(options)?;
    let deadline = Instant::now() + timeout;
    loop {
        let rollout = backend.rollout(backend.namespace(options), &name)?;
        let conditions = rollout.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        let met = conditions.iter().any(|c| {
            c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(kind))
                && c["status"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(value))
        });
        if met {
            println!("rollout.argoproj.io/{name} condition met");
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() >= deadline {
            eprintln!("error: timed out waiting for the condition on rollouts/{name}");
            return Ok(ExitCode::FAILURE);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn list_rollouts(options: &ClientOptions, display: Display) -> Result<ExitCode> {
    let backend = Backend::connect(options)?;
    watch(display, || {
        let table = rollouts_table(&backend, options, display.paint)?;
        Ok((table.clone(), table))
    })
}

fn rollouts_table(backend: &Backend, options: &ClientOptions, paint: Paint) -> Result<String> {
    let namespace = backend.namespace(options);
    let list = backend.rollouts(namespace)?;
    let items: Vec<&Value> = list["items"].as_array().into_iter().flatten().collect();
    if items.is_empty() {
        return Ok(format!("No resources found in {namespace} namespace.\n"));
    }
    Ok(table(&rollout_rows(&items, paint)?))
}

/// `list rollouts`' columns: the header, then a row for each Rollout.
fn rollout_rows(items: &[&Value], paint: Paint) -> Result<Vec<Vec<String>>> {
    let mut rows = vec![
        ["NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "READY", "DESIRED", "UP-TO-DATE", "AVAILABLE"]
            .map(String::from)
            .to_vec(),
    ];
    for item in items {
        let rollout: Rollout = serde_json::from_value((*item).clone())?;
        let status = rollout.status.clone().unwrap_or_default();
        let step = serin_engine::phase::step_progress(&rollout).map_or("-".to_string(), |(i, n)| format!("{i}/{n}"));
        // As kubectl-argo-rollouts: a blue-green Rollout has no step and no weight.
        let (strategy, step, set_weight) = match (&rollout.spec.strategy.canary, &rollout.spec.strategy.blue_green) {
            (None, Some(_)) => ("BlueGreen", "-".to_string(), "-".to_string()),
            _ => ("Canary", step, serin_engine::phase::set_weight(&rollout).to_string()),
        };
        rows.push(vec![
            rollout.metadata.name().to_string(),
            strategy.into(),
            paint.status(status.phase.as_deref().unwrap_or("Progressing")),
            step,
            set_weight,
            format!("{}/{}", status.ready_replicas, rollout.spec.replicas()),
            rollout.spec.replicas().to_string(),
            status.updated_replicas.to_string(),
            status.available_replicas.to_string(),
        ]);
    }
    Ok(rows)
}

/// kubectl's word for an empty list, on standard error (so that standard output stays empty).
fn no_resources(options: &ClientOptions, all_namespaces: bool) {
    match all_namespaces {
        true => eprintln!("No resources found"),
        false => eprintln!("No resources found in {} namespace.", options.namespace()),
    }
}

/// promote, abort, retry, undo, pause, restart, set-image.
pub fn rollout_command(options: &ClientOptions, name: &str, verb: &str, body: Value, done: &str) -> Result<ExitCode> {
    let backend = Backend::connect(options)?;
    backend.rollout_command(backend.namespace(options), name, verb, &body)?;
    println!("rollout '{name}' {done}");
    Ok(ExitCode::SUCCESS)
}

/// What `get KIND [NAME]` lists and how (`-o`, `-A`).
pub struct GetObjects<'a> {
    pub kind: &'a str,
    pub name: Option<&'a str>,
    pub output: Option<&'a str>,
    pub all_namespaces: bool,
}

/// `get KIND [NAME]` for the kinds kubectl users look at, once or with `--watch`.
pub fn get_objects(options: &ClientOptions, get: GetObjects, display: Display) -> Result<ExitCode> {
    let (group, kind) = resolve_kind(get.kind)?;
    let client = Client::connect(options)?;
    let group_query = group.map(|g| format!("&group={}", encode(g))).unwrap_or_default();
    let namespace_query =
        if get.all_namespaces { String::new() } else { format!("&namespace={}", encode(options.namespace())) };
    let path = format!("/api/v1/objects?kind={kind}{group_query}{namespace_query}");
    let look = || objects_view(&client, &path, kind, &get, display.paint);
    if !display.watch {
        match look()? {
            Some((view, _)) => print!("{view}"),
            None => no_resources(options, get.all_namespaces),
        }
        return Ok(ExitCode::SUCCESS);
    }
    watch(display, || Ok(look()?.unwrap_or_default()))
}

/// One look at the objects: the text `get` prints, and what must change for `--watch` to
/// print it again (the objects, not their ages); `None` when there are none to list.
fn objects_view(
    client: &Client,
    path: &str,
    kind: &str,
    get: &GetObjects,
    paint: Paint,
) -> Result<Option<(String, String)>> {
    let GetObjects { name, output, all_namespaces, .. } = *get;
    let list = client.get(path)?;
    let now = Time::parse(list["now"].as_str().unwrap_or_default()).unwrap_or_default();
    let items: Vec<&Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| name.is_none_or(|n| i["metadata"]["name"] == n))
        .collect();
    let state = serde_json::to_string(&items)?;
    if let (Some(n), []) = (name, items.as_slice()) {
        bail!("{} \"{n}\" not found", kind.to_lowercase());
    }
    let wide = match output {
        None => false,
        Some("wide") => true,
        Some(format @ ("yaml" | "json")) => {
            let value = match (name, items.as_slice()) {
                (Some(_), [one]) => (*one).clone(),
                _ => json!({"apiVersion": "v1", "kind": "List", "items": items}),
            };
            let text = if format == "json" {
                serde_json::to_string_pretty(&value)? + "\n"
            } else {
                crate::yaml_out::to_yaml(&value)
            };
            return Ok(Some((text, state)));
        }
        Some(other) => bail!("unknown output format {other:?}: use yaml, json or wide"),
    };
    if items.is_empty() {
        return Ok(None);
    }
    if let (Some(_), "AnalysisRun", [run]) = (name, kind, items.as_slice()) {
        return Ok(Some((crate::analysisrun::render(run, now, paint), state)));
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
            for item in &items {
                let pod = serin_local::objects::pod_summary(item);
                let status = match (&pod.waiting, pod.phase.as_str()) {
                    _ if pod.terminating => "Terminating".to_string(),
                    (Some(reason), _) => reason.clone(),
                    (None, "") => "Pending".to_string(),
                    (None, phase) => phase.to_string(),
                };
                let (ready, total, restarts) = (pod.ready, pod.containers, pod.restarts);
                rows.push(vec![name_of(item), format!("{ready}/{total}"), status, restarts.to_string(), age_of(item)]);
            }
        }
        "ReplicaSet" => {
            rows.push(["NAME", "DESIRED", "CURRENT", "READY", "AGE"].map(String::from).to_vec());
            for item in &items {
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
            for item in &items {
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
        "Application" => {
            // Argo CD's printer columns, as `kubectl get application` shows them.
            rows.push(["NAME", "SYNC STATUS", "HEALTH STATUS"].map(String::from).to_vec());
            for item in &items {
                let text = |p: &str| item.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
                rows.push(vec![name_of(item), text("/status/sync/status"), text("/status/health/status")]);
            }
        }
        "Rollout" => rows = rollout_rows(&items, paint)?,
        // Traefik's kinds live in two API groups (traefik.io and the older traefik.containo.us),
        // which serin keeps in step: the group tells the rows apart, and the weights a
        // TraefikService splits by are what a canary changes.
        "TraefikService" | "IngressRoute" => {
            let detail = if kind == "TraefikService" { "SERVICES" } else { "ROUTES" };
            rows.push(["NAME", "APIGROUP", detail, "AGE"].map(String::from).to_vec());
            for item in &items {
                let group = item["apiVersion"].as_str().unwrap_or_default().split('/').next().unwrap_or_default();
                let detail = if kind == "TraefikService" { traefik_services(item) } else { ingress_routes(item) };
                rows.push(vec![name_of(item), group.to_string(), detail, age_of(item)]);
            }
        }
        _ => {
            rows.push(["NAME", "AGE"].map(String::from).to_vec());
            for item in &items {
                rows.push(vec![name_of(item), age_of(item)]);
            }
        }
    }
    if wide && kind == "Pod" {
        for (row, item) in rows.iter_mut().skip(1).zip(&items) {
            row.push(item.pointer("/status/podIP").and_then(Value::as_str).unwrap_or("<none>").to_string());
            let port =
                item.pointer("/metadata/annotations/serin.dev~1port").and_then(Value::as_str).unwrap_or("<none>");
            row.push(port.to_string());
        }
        rows[0].extend(["IP".to_string(), "PORT".to_string()]);
    }
    if all_namespaces {
        for (i, row) in rows.iter_mut().enumerate() {
            let namespace = if i == 0 {
                "NAMESPACE".to_string()
            } else {
                items[i - 1]["metadata"]["namespace"].as_str().unwrap_or_default().to_string()
            };
            row.insert(0, namespace);
        }
    }
    Ok(Some((kubectl_table(&rows), state)))
}

/// A TraefikService's services with their weights (`canary-preview:90,canary-active:10`), or
/// what it mirrors.
fn traefik_services(item: &Value) -> String {
    let list = |pointer: &str| item.pointer(pointer).and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(main) = item.pointer("/spec/mirroring/name").and_then(Value::as_str) {
        let mirrors: Vec<String> = list("/spec/mirroring/mirrors")
            .iter()
            .map(|m| format!("{}:{}%", m["name"].as_str().unwrap_or_default(), m["percent"].as_i64().unwrap_or(0)))
            .collect();
        return format!("{main} mirrored to {}", mirrors.join(","));
    }
    let weighted: Vec<String> = list("/spec/weighted/services")
        .iter()
        .map(|s| format!("{}:{}", s["name"].as_str().unwrap_or_default(), s["weight"].as_i64().unwrap_or(1)))
        .collect();
    weighted.join(",")
}

/// An IngressRoute's entry points and the number of its routes (`web: 1 route`).
fn ingress_routes(item: &Value) -> String {
    let strings = |pointer: &str| -> Vec<String> {
        let values = item.pointer(pointer).and_then(Value::as_array).cloned().unwrap_or_default();
        values.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
    };
    let entry_points = strings("/spec/entryPoints");
    let routes = item.pointer("/spec/routes").and_then(Value::as_array).map_or(0, Vec::len);
    let entry_points = if entry_points.is_empty() { "all".to_string() } else { entry_points.join(",") };
    format!("{entry_points}: {routes} route{}", if routes == 1 { "" } else { "s" })
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
        "serverstransport" | "serverstransports" => (None, "ServersTransport"),
        "tlsoption" | "tlsoptions" => (None, "TLSOption"),
        "tlsstore" | "tlsstores" => (None, "TLSStore"),
        "secret" | "secrets" => (Some(""), "Secret"),
        other => bail!(
            "serin does not keep objects of kind {other:?}; it keeps pods, replicasets, services, secrets, rollouts, analysisruns, analysistemplates, applications, traefikservices, ingressroutes, serverstransports, tlsoptions, tlsstores"
        ),
    })
}

/// `logs [--previous] [-f]`. Following is `kubectl logs -f`'s: the output of the container
/// running now, as it comes, until that container ends (exits, restarts, or its pod goes);
/// then the rest of its output and stop.
pub fn logs(options: &ClientOptions, pod: &str, previous: bool, follow: bool) -> Result<ExitCode> {
    use std::io::Write;
    let client = Client::connect(options)?;
    // A read of the log from `offset`: its bytes, the file they came from (a restart starts a
    // new one), whether the container writing it still runs, and where the log ends now (the
    // bytes start at 0 when the log was rotated since the last read; see the API's `pod_logs`).
    let read = |previous: bool, offset: usize| -> Result<(Vec<u8>, Option<String>, bool, usize)> {
        let path =
            format!("/api/v1/logs/{}/{}?previous={previous}&offset={offset}", encode(options.namespace()), encode(pod));
        let (bytes, headers) = client.get_bytes(&path)?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let from: usize = header("serin-log-from").and_then(|f| f.parse().ok()).unwrap_or(offset);
        let end = from + bytes.len();
        Ok((bytes, header("serin-log-file"), header("serin-container-running").as_deref() == Some("true"), end))
    };
    let mut out = std::io::stdout().lock();
    let (bytes, file, mut running, mut offset) = read(previous, 0)?;
    out.write_all(&bytes)?;
    out.flush()?;
    while follow && !previous && running {
        std::thread::sleep(Duration::from_millis(250));
        match read(false, offset) {
            Ok((bytes, now, still, end)) if now == file => {
                out.write_all(&bytes)?;
                out.flush()?;
                offset = end;
                running = still;
            }
            // Another file, or none: the container has been restarted (or its pod deleted).
            // What it wrote since the last read is in its previous log, unless it has
            // restarted twice since.
            Err(error) if !crate::client::is_not_found(&error) => return Err(error),
            _ => {
                if let Ok((rest, previous, _, _)) = read(true, offset)
                    && previous == file
                {
                    out.write_all(&rest)?;
                }
                break;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `describe rollout`: kubectl describe's layout, with the Rollout's events in Argo's words.
pub fn describe(options: &ClientOptions, name: &str) -> Result<ExitCode> {
    let client = Client::connect(options)?;
    let tree = client.get(&rollout_path(options, name, "tree"))?;
    let rollout = &tree["rollout"];
    let now = Time::parse(tree["now"].as_str().unwrap_or_default()).unwrap_or_default();
    let events = client.get(&format!(
        "/api/v1/events?group=argoproj.io&kind=Rollout&namespace={}&name={}",
        encode(options.namespace()),
        encode(name)
    ))?;
    let map = |v: &Value| -> String {
        match v.as_object() {
            Some(m) if !m.is_empty() => m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("\n                 "),
            _ => "<none>".into(),
        }
    };
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<17}{value}\n"));
    line("Name:", rollout["metadata"]["name"].as_str().unwrap_or_default().into());
    line("Namespace:", rollout["metadata"]["namespace"].as_str().unwrap_or_default().into());
    line("Labels:", map(&rollout["metadata"]["labels"]));
    let mut annotations = rollout["metadata"]["annotations"].clone();
    if let Some(a) = annotations.as_object_mut() {
        a.remove(serin_local::apply::LAST_APPLIED);
    }
    line("Annotations:", map(&annotations));
    line("API Version:", rollout["apiVersion"].as_str().unwrap_or_default().into());
    line("Kind:", "Rollout".into());
    out.push_str("Spec:\n");
    out.push_str(&indent(&crate::yaml_out::to_yaml(&rollout["spec"]), 2));
    out.push_str("Status:\n");
    out.push_str(&indent(&crate::yaml_out::to_yaml(&rollout["status"]), 2));
    out.push_str("Events:\n");
    let items = events["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let mut rows = vec![["Type", "Reason", "Age", "From", "Message"].map(String::from).to_vec()];
        rows.push(["----", "------", "----", "----", "-------"].map(String::from).to_vec());
        for event in items {
            let at = Time::parse(event["time"].as_str().unwrap_or_default()).unwrap_or(now);
            rows.push(vec![
                event["type"].as_str().unwrap_or_default().into(),
                event["reason"].as_str().unwrap_or_default().into(),
                age(now.since(at)),
                "rollouts-controller".into(),
                event["message"].as_str().unwrap_or_default().into(),
            ]);
        }
        out.push_str(&indent(&table(&rows), 2));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn indent(text: &str, by: usize) -> String {
    text.lines().map(|l| format!("{}{l}\n", " ".repeat(by))).collect()
}

/// `top pods`: CPU (from two samples half a second apart) and resident memory per pod.
pub fn top_pods(options: &ClientOptions) -> Result<ExitCode> {
    let client = Client::connect(options)?;
    let path = format!("/api/v1/usage?namespace={}", encode(options.namespace()));
    let first = client.get(&path)?;
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let second = client.get(&path)?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_before = |pod: &str| {
        first["items"].as_array().into_iter().flatten().find(|i| i["pod"] == pod).and_then(|i| i["cpuSeconds"].as_f64())
    };
    let mut rows = vec![["NAME", "CPU(cores)", "MEMORY(bytes)"].map(String::from).to_vec()];
    for item in second["items"].as_array().into_iter().flatten() {
        let pod = item["pod"].as_str().unwrap_or_default();
        let cpu = item["cpuSeconds"].as_f64().unwrap_or(0.0);
        let millicores = cpu_before(pod).map_or(0.0, |before| (cpu - before).max(0.0) / elapsed * 1000.0);
        let memory = item["memoryBytes"].as_u64().unwrap_or(0);
        rows.push(vec![
            pod.to_string(),
            format!("{}m", millicores.round() as u64),
            format!("{}Mi", memory / (1 << 20)),
        ]);
    }
    if rows.len() == 1 {
        no_resources(options, false);
    } else {
        print!("{}", kubectl_table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// `delete -f FILES` or `delete KIND NAME`.
pub fn delete(options: &ClientOptions, kind: Option<&str>, name: Option<&str>, files: &[PathBuf]) -> Result<ExitCode> {
    let mut keys = Vec::new();
    match (kind, name, files.is_empty()) {
        (Some(kind), Some(name), true) => {
            let (group, kind) = resolve_kind(kind)?;
            let key =
                |group: &str| json!({"group": group, "kind": kind, "namespace": options.namespace(), "name": name});
            match group {
                Some(group) => keys.push(key(group)),
                // Traefik's kinds live in two groups (traefik.io, and traefik.containo.us as in
                // the seed): the object of that name in either.
                None => {
                    let path = format!("/api/v1/objects?kind={kind}&namespace={}", encode(options.namespace()));
                    let list = Client::connect(options)?.get(&path)?;
                    let named =
                        list["items"].as_array().into_iter().flatten().filter(|i| i["metadata"]["name"] == name);
                    let groups =
                        named.filter_map(|i| i["apiVersion"].as_str()?.split_once('/').map(|(g, _)| g.to_string()));
                    keys.extend(groups.map(|group| key(&group)));
                    if keys.is_empty() {
                        keys.push(key("traefik.io"));
                    }
                }
            }
        }
        (None, None, false) => {
            for file in read_sources(files)? {
                let name = file["name"].as_str().unwrap_or_default();
                let loaded = serin_model::load_str(name, file["text"].as_str().unwrap_or_default());
                if let Some(problem) = loaded.problems().first() {
                    bail!("{problem}");
                }
                for document in loaded.documents {
                    let mut key = document.object.key();
                    if !key.namespace.is_empty() && document.object.metadata().namespace.is_none() {
                        key.namespace = options.namespace().to_string();
                    }
                    keys.push(serde_json::to_value(key)?);
                }
            }
        }
        _ => bail!("usage: serin delete -f FILE, or serin delete KIND NAME"),
    }
    if keys.is_empty() {
        bail!("no objects passed to delete");
    }
    let client = Client::connect(options)?;
    let response = client.post("/api/v1/delete", &json!({"keys": keys}))?;
    let mut missing = false;
    for result in response["results"].as_array().into_iter().flatten() {
        // kubectl's words: `rollout.argoproj.io "NAME" deleted`, and the resource's plural
        // when it is not there (`rollouts.argoproj.io "NAME" not found`).
        let object = result["object"].as_str().unwrap_or_default();
        let (kind, name) = object.rsplit_once('/').unwrap_or(("", object));
        if result["deleted"] == true {
            println!("{kind} \"{name}\" deleted");
        } else {
            let plural = match kind.split_once('.') {
                Some((kind, group)) => format!("{kind}s.{group}"),
                None => format!("{kind}s"),
            };
            eprintln!("Error from server (NotFound): {plural} \"{name}\" not found");
            missing = true;
        }
    }
    Ok(if missing { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
