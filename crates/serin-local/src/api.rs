//! The JSON API the CLI talks to. Writes need the bearer token the server keeps in its data
//! directory. Reads answer without it, but with secret values hidden ([`crate::redact`]);
//! pod logs and Application diffs, which may hold anything, need the token.

use crate::apply;
use crate::clock::Clock;
use crate::objects::{self, owned_by};
use crate::store::{Store, StoreError};
use crate::webhook::Received;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use serin_engine::command::{Command, CommandRequest, apply_command};
use serin_engine::state::ReplicaSetState;
use serin_gitops::tracking::application_key;
use serin_model::ObjectKey;
use serin_model::rollout::Rollout;
use std::sync::Arc;

pub struct ApiState {
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub token: String,
    pub data_dir: std::path::PathBuf,
    pub proxy: Arc<serin_router::proxy::Proxy>,
    pub gitops: Arc<crate::gitops::GitOps>,
    /// The weights the router serves, which an abort waits for.
    pub served: Arc<crate::rollouts::ServedTable>,
    /// The revisions the router's Services select, which a blue-green promote waits for.
    pub served_selectors: Arc<crate::rollouts::ServedSelectors>,
    /// What a git push webhook must prove, per forge.
    pub webhook_secrets: crate::webhook::WebhookSecrets,
}

/// How long an abort waits for the router to stop serving the canary, and a blue-green
/// promote for it to serve the new revision on the active Service, before it answers.
const SERVED_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

type Shared = State<Arc<ApiState>>;

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/objects", get(list_objects))
        .route("/api/v1/object", get(get_object))
        .route("/api/v1/apply", post(apply_files))
        .route("/api/v1/delete", post(delete_objects))
        .route("/api/v1/events", get(list_events))
        .route("/api/v1/rollouts/{namespace}/{name}/tree", get(rollout_tree))
        .route("/api/v1/rollouts/{namespace}/{name}/{command}", post(rollout_command))
        .route("/api/v1/logs/{namespace}/{pod}", get(pod_logs))
        .route("/api/v1/usage", get(pod_usage))
        .route("/api/webhook", post(webhook))
        .route("/api/v1/applications/{namespace}/{name}/sync", post(application_sync))
        .route("/api/v1/applications/{namespace}/{name}/diff", get(application_diff))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard_reads))
        .with_state(state)
}

/// Reads without the token: logs and diffs are refused, every other answer has its secret
/// values hidden. `/healthz` and `/metrics` hold none and stay open to probes and scrapers.
async fn guard_reads(State(state): Shared, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open = request.method() != Method::GET || matches!(path, "/healthz" | "/metrics");
    let Err(refusal) = (if open { Ok(()) } else { authorize(&state, request.headers()) }) else {
        return next.run(request).await;
    };
    if path.starts_with("/api/v1/logs/") || path.ends_with("/diff") {
        return refusal.into_response();
    }
    let (mut parts, body) = next.run(request).await.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the answer").into_response();
    };
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return (parts, bytes).into_response();
    };
    crate::redact::secrets(&mut answer);
    parts.headers.remove(header::CONTENT_LENGTH);
    (parts, Json(answer)).into_response()
}

/// An API error: a status and a message for people.
pub struct ApiError(StatusCode, Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let status = match error {
            StoreError::Conflict(..) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, json!({"error": error.to_string()}))
    }
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, json!({"error": message.into()}))
}

pub(crate) fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if same_secret(token, &state.token) => Ok(()),
        Some(_) => Err(error(
            StatusCode::UNAUTHORIZED,
            "the server rejected the API token: use the token in the server's data dir (file `token`)",
        )),
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "this needs the API token: run on the server's machine with the same data dir, or pass --token",
        )),
    }
}

/// Compares a presented token with the real one in time that does not depend on where they
/// differ, so the token cannot be guessed byte by byte from response times.
fn same_secret(given: &str, secret: &str) -> bool {
    given.len() == secret.len() && given.bytes().zip(secret.bytes()).fold(0, |diff, (a, b)| diff | (a ^ b)) == 0
}

async fn metrics(State(state): Shared) -> Result<String, ApiError> {
    let pods = state.store.list(Some(""), "Pod", None)?;
    Ok(state.proxy.metrics.render() + &crate::usage::render(&pods))
}

#[derive(Deserialize)]
struct ListQuery {
    kind: String,
    group: Option<String>,
    namespace: Option<String>,
}

async fn list_objects(State(state): Shared, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let items: Vec<_> =
        state.store.list(q.group.as_deref(), &q.kind, q.namespace.as_deref())?.into_iter().map(|s| s.body).collect();
    Ok(Json(json!({"items": items, "now": state.clock.now().to_string()})))
}

#[derive(Deserialize)]
struct ObjectQuery {
    group: String,
    kind: String,
    namespace: String,
    name: String,
}

impl ObjectQuery {
    fn key(&self) -> ObjectKey {
        ObjectKey {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

async fn get_object(State(state): Shared, Query(q): Query<ObjectQuery>) -> Result<Json<Value>, ApiError> {
    match state.store.get(&q.key())? {
        Some(stored) => Ok(Json(std::sync::Arc::unwrap_or_clone(stored.body))),
        None => Err(error(StatusCode::NOT_FOUND, format!("{} not found in namespace {}", q.key(), q.namespace))),
    }
}

async fn list_events(State(state): Shared, Query(q): Query<ObjectQuery>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"items": state.store.events(&q.key())?})))
}

#[derive(Deserialize)]
pub struct ApplyRequest {
    pub files: Vec<ApplyFile>,
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Deserialize, serde::Serialize)]
pub struct ApplyFile {
    pub name: String,
    pub text: String,
}

/// The answer to an apply refused for its manifests: every problem, one a line.
fn invalid_manifests(problems: &[serin_model::Diagnostic]) -> ApiError {
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    ApiError(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"error": "invalid manifests; nothing was applied", "problems": problems}),
    )
}

/// Applies every document of every file, all or nothing.
async fn apply_files(
    State(state): Shared,
    headers: HeaderMap,
    Json(request): Json<ApplyRequest>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let documents = apply::load_files(request.files.iter().map(|f| (f.name.as_str(), f.text.as_str())))
        .map_err(|problems| invalid_manifests(&problems))?;
    if let Some(given) = &request.namespace {
        let problems = apply::namespace_conflicts(&documents, given);
        if !problems.is_empty() {
            return Err(invalid_manifests(&problems));
        }
    }
    let namespace = request.namespace.unwrap_or_else(|| "default".to_string());
    let now = state.clock.now();
    let results = state.store.write(|w| {
        let mut results = Vec::new();
        for document in &documents {
            let manifest = apply::Manifest::from_document(document, &namespace);
            let outcome = apply::apply_manifest(w, &manifest, now)?;
            results.push(json!({"object": manifest.key.to_string(), "outcome": outcome}));
        }
        Ok(results)
    })?;
    Ok(Json(json!({"results": results})))
}

#[derive(Deserialize)]
struct DeleteRequest {
    keys: Vec<ObjectKey>,
}

async fn delete_objects(
    State(state): Shared,
    headers: HeaderMap,
    Json(request): Json<DeleteRequest>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let now = state.clock.now();
    let results = state.store.write(|w| {
        request
            .keys
            .iter()
            .map(|key| Ok(json!({"object": key.to_string(), "deleted": objects::delete(w, key, now)?})))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(Json(json!({"results": results})))
}

fn rollout_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new("argoproj.io/v1alpha1", "Rollout", namespace, name)
}

/// A Rollout with everything `get rollout` draws: ReplicaSets, pods, analysis runs.
async fn rollout_tree(
    State(state): Shared,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let Some(rollout) = state.store.get(&rollout_key(&namespace, &name))? else {
        return Err(error(StatusCode::NOT_FOUND, format!("rollout '{name}' not found in namespace {namespace}")));
    };
    let bodies = |objects: Vec<crate::store::Stored>| {
        objects.into_iter().map(|o| std::sync::Arc::unwrap_or_clone(o.body)).collect::<Vec<Value>>()
    };
    let replica_sets = bodies(objects::owned(&state.store, ("apps", "ReplicaSet"), &namespace, "Rollout", &name)?);
    let rs_names: Vec<&str> = replica_sets.iter().filter_map(|rs| rs["metadata"]["name"].as_str()).collect();
    let pods: Vec<Value> = state
        .store
        .list(Some(""), "Pod", Some(&namespace))?
        .into_iter()
        .map(|s| std::sync::Arc::unwrap_or_clone(s.body))
        .filter(|p| rs_names.iter().any(|rs| owned_by(p, "ReplicaSet", rs)))
        .collect();
    let runs = bodies(objects::owned(&state.store, ("argoproj.io", "AnalysisRun"), &namespace, "Rollout", &name)?);
    Ok(Json(json!({
        "rollout": rollout.body, "replicaSets": replica_sets, "pods": pods, "analysisRuns": runs,
        "now": state.clock.now().to_string(), "timeScale": state.clock.scale(),
    })))
}

async fn rollout_command(
    State(state): Shared,
    headers: HeaderMap,
    Path((namespace, name, verb)): Path<(String, String, String)>,
    Json(request): Json<CommandRequest>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let command =
        Command::from_request(&verb, &request, state.clock.now()).map_err(|e| error(StatusCode::NOT_FOUND, e))?;
    let key = rollout_key(&namespace, &name);
    for _ in 0..5 {
        let Some(stored) = state.store.get(&key)? else {
            return Err(error(StatusCode::NOT_FOUND, format!("rollout '{name}' not found in namespace {namespace}")));
        };
        let mut rollout: Rollout = serde_json::from_value(serde_json::Value::clone(&stored.body))
            .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let pods: Vec<&Value> = Vec::new();
        let replica_sets: Vec<_> = objects::owned(&state.store, ("apps", "ReplicaSet"), &namespace, "Rollout", &name)?
            .iter()
            .map(|rs| objects::replica_set_state(&rs.body, &pods))
            .collect();
        apply_command(&mut rollout, &command, &replica_sets).map_err(|e| error(StatusCode::CONFLICT, e))?;
        let mut body = serde_json::Value::clone(&stored.body);
        let updated =
            serde_json::to_value(&rollout).map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        if body["spec"] != updated["spec"] {
            let generation = body.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
            body["metadata"]["generation"] = (generation + 1).into();
        }
        body["spec"] = updated["spec"].clone();
        body["status"] = updated["status"].clone();
        match state.store.put(&key, &body, Some(stored.rev)) {
            Ok(_) => {
                match &command {
                    Command::Abort => {
                        canary_unserved(&state, &namespace, &body).await;
                        active_back_on_stable(&state, &namespace, &rollout).await;
                    }
                    Command::Promote { .. } => active_served(&state, &namespace, &rollout, &replica_sets).await,
                    _ => {}
                }
                return Ok(Json(json!({"rollout": name, "command": verb})));
            }
            Err(StoreError::Conflict(..)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(error(StatusCode::CONFLICT, "the rollout kept changing; try again"))
}

/// Waits until the router serves the canary of a traffic-routed Rollout no weight, so that no
/// request sent after `serin abort` returned reaches it: the abort is carried out by the
/// control loop, within milliseconds, but after the command was stored.
async fn canary_unserved(state: &ApiState, namespace: &str, rollout: &Value) {
    let pointer = "/spec/strategy/canary/trafficRouting/traefik/weightedTraefikServiceName";
    let Some(split) = rollout.pointer(pointer).and_then(Value::as_str) else { return };
    let key = (namespace.to_string(), split.to_string());
    let deadline = std::time::Instant::now() + SERVED_WAIT;
    while state.served.read().get(&key).is_some_and(|weights| weights.canary != 0) {
        if std::time::Instant::now() > deadline {
            tracing::warn!(rollout = %rollout["metadata"]["name"], "abort: the router still serves the canary");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Waits until the router serves a blue-green Rollout's active Service from the current
/// revision, so that no request sent after `serin promote` returned reaches the old one: the
/// switch is carried out by the control loop, within milliseconds, but after the command was
/// stored. Only when the switch is due now (all the new revision's replicas are available);
/// with `previewReplicaCount` the new revision scales up first, and the switch comes later.
async fn active_served(state: &ApiState, namespace: &str, rollout: &Rollout, replica_sets: &[ReplicaSetState]) {
    let hash = rollout.spec.template.hash(rollout.status.as_ref().and_then(|s| s.collision_count));
    let replicas = rollout.spec.replicas();
    if replica_sets.iter().any(|rs| rs.hash == hash && rs.replicas == replicas && rs.available >= replicas) {
        active_serves(state, namespace, rollout, &hash).await;
    }
}

/// Waits, after an abort of a blue-green Rollout whose active Service already selects the
/// new revision (during post-promotion analysis), until the router serves the stable one
/// there again.
async fn active_back_on_stable(state: &ApiState, namespace: &str, rollout: &Rollout) {
    let status = rollout.status.clone().unwrap_or_default();
    if let Some(stable) = status.stable_rs.filter(|s| status.blue_green.active_selector.as_ref() != Some(s)) {
        active_serves(state, namespace, rollout, &stable).await;
    }
}

/// Waits until the router's route table has a blue-green Rollout's active Service select
/// `hash` (at most [`SERVED_WAIT`]).
async fn active_serves(state: &ApiState, namespace: &str, rollout: &Rollout, hash: &str) {
    let (None, Some(blue_green)) = (&rollout.spec.strategy.canary, &rollout.spec.strategy.blue_green) else { return };
    let key = (namespace.to_string(), blue_green.active_service.clone());
    let deadline = std::time::Instant::now() + SERVED_WAIT;
    while state.served_selectors.read().get(&key).map(String::as_str) != Some(hash) {
        if std::time::Instant::now() > deadline {
            tracing::warn!(rollout = %rollout.metadata.name(), hash, "the router does not serve this revision on the active Service yet");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

#[derive(Deserialize, Default)]
struct LogQuery {
    #[serde(default)]
    previous: bool,
    /// Bytes already read, for `logs -f`.
    #[serde(default)]
    offset: u64,
}

#[derive(Deserialize)]
struct NamespaceQuery {
    namespace: Option<String>,
}

async fn pod_usage(State(state): Shared, Query(q): Query<NamespaceQuery>) -> Result<Json<Value>, ApiError> {
    let items: Vec<Value> = state
        .store
        .list(Some(""), "Pod", q.namespace.as_deref())?
        .iter()
        .filter_map(|pod| {
            let usage = crate::usage::of_pod(&pod.body)?;
            Some(json!({"pod": pod.key.name, "namespace": pod.key.namespace, "cpuSeconds": usage.cpu_seconds, "memoryBytes": usage.memory_bytes}))
        })
        .collect();
    Ok(Json(json!({"items": items})))
}

/// A pod's log from `offset` on, streamed as it is read (a log can be 10 MiB, the size at which
/// it is rotated). Three headers tell `logs -f` where it stands: `serin-log-file` names the
/// file read (its inode; a restart starts a new file), `serin-log-from` the offset the bytes
/// start at (0 when the log was rotated, so shorter than `offset`), and
/// `serin-container-running` whether the pod's container was running when the file was read
/// (the store is read first, so once it says `false` the file holds all the container wrote).
async fn pod_logs(
    State(state): Shared,
    Path((namespace, pod)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Result<([(&'static str, String); 3], axum::body::Body), ApiError> {
    use std::os::unix::fs::MetadataExt;
    use tokio::io::AsyncSeekExt;
    let Some(stored) = state.store.get(&objects::pod_key(&namespace, &pod))? else {
        return Err(error(StatusCode::NOT_FOUND, format!("pod {pod:?} not found in namespace {namespace}")));
    };
    let running = stored.body.pointer("/status/containerStatuses/0/state/running").is_some();
    let path = crate::objects::log_path(&state.data_dir, &namespace, &pod, q.previous);
    let which = if q.previous { "previous " } else { "" };
    let failed = |e: std::io::Error| error(StatusCode::NOT_FOUND, format!("no {which}logs for pod {pod}: {e}"));
    let mut file = tokio::fs::File::open(&path).await.map_err(failed)?;
    let metadata = file.metadata().await.map_err(failed)?;
    let from = if q.offset > metadata.len() { 0 } else { q.offset };
    file.seek(std::io::SeekFrom::Start(from)).await.map_err(failed)?;
    let headers = [
        ("serin-log-file", metadata.ino().to_string()),
        ("serin-log-from", from.to_string()),
        ("serin-container-running", running.to_string()),
    ];
    Ok((headers, axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file))))
}

/// A git push (GitHub, GitLab or Gitea payload): every Application it concerns is read from
/// git at once. Open like Argo CD's webhook: it only ever triggers a refresh.
async fn webhook(State(state): Shared, headers: HeaderMap, body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let push = match crate::webhook::read_request(&state.webhook_secrets, header, &body) {
        Ok(Received::Push(push)) => push,
        Ok(Received::Ignored(why)) => return Ok(Json(json!({"ignored": why}))),
        Err(refused) => {
            let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST);
            return Err(error(status, refused.message));
        }
    };
    let mut refreshed = Vec::new();
    for stored in state.store.list(Some("argoproj.io"), "Application", None)? {
        let Ok(app) = serde_json::from_value::<serin_model::application::Application>(std::sync::Arc::unwrap_or_clone(
            stored.body,
        )) else {
            continue;
        };
        if app.spec.source.as_ref().is_some_and(|source| crate::webhook::concerns(&push, source)) {
            refreshed.push(format!("{}/{}", stored.key.namespace, stored.key.name));
            state.gitops.request_refresh(stored.key);
        }
    }
    Ok(Json(json!({"refreshed": refreshed})))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SyncRequest {
    prune: bool,
}

/// `serin app sync`: records the sync on the Application (as Argo CD's `operation`, so it
/// survives a restart) and has the controller read git and carry it out.
async fn application_sync(
    State(state): Shared,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    Json(request): Json<SyncRequest>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let key = application_key(&namespace, &name);
    for _ in 0..5 {
        let Some(stored) = state.store.get(&key)? else {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("application '{name}' not found in namespace {namespace}"),
            ));
        };
        let mut body = serde_json::Value::clone(&stored.body);
        body["operation"] = json!({"sync": {"prune": request.prune}, "initiatedBy": {"username": "serin"}});
        match state.store.put(&key, &body, Some(stored.rev)) {
            Ok(_) => {
                state.gitops.request_refresh(key);
                return Ok(Json(json!({"application": name})));
            }
            Err(StoreError::Conflict(..)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(error(StatusCode::CONFLICT, "the application kept changing; try again"))
}

/// `serin app diff`: the objects git and the store disagree on.
async fn application_diff(
    State(state): Shared,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let key = application_key(&namespace, &name);
    if state.store.get(&key)?.is_none() {
        return Err(error(StatusCode::NOT_FOUND, format!("application '{name}' not found in namespace {namespace}")));
    }
    match state.gitops.diff(&key)? {
        Ok(differences) => Ok(Json(json!({"items": differences}))),
        Err(message) => Err(error(StatusCode::CONFLICT, message)),
    }
}
