//! How CLI commands reach a server: `--server`/`--token` (or `SERIN_SERVER`/`SERIN_TOKEN`),
//! else the `server.json` and `token` a local server wrote into its data directory; and, for
//! the rollout commands, a Kubernetes cluster when `--kubeconfig` or `--context` is given.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct ClientOptions {
    /// The server's data directory, where it leaves its address and token.
    #[arg(long, env = "SERIN_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// The server's API URL, for a server elsewhere.
    #[arg(long, env = "SERIN_SERVER", global = true)]
    pub server: Option<String>,
    /// The API token (needed for changes).
    #[arg(long, env = "SERIN_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// A PEM file of certificate authorities an https server may use, besides the system's.
    #[arg(long, env = "SERIN_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// The namespace (default: `default`; on a cluster, the kubeconfig context's namespace).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub kube: crate::cluster::KubeOptions,
}

impl ClientOptions {
    /// The namespace a serin server is asked about: `-n`, else `default`.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    fn wants_cluster(&self) -> bool {
        let plugin = AS_KUBECTL_PLUGIN.load(std::sync::atomic::Ordering::Relaxed);
        self.kube.kubeconfig.is_some() || self.kube.context.is_some() || (plugin && self.server.is_none())
    }
}

/// Set when serin runs as `kubectl argo rollouts`: its commands then go to the cluster of the
/// kubeconfig (`$KUBECONFIG`, `~/.kube/config` or the pod's service account), as the plugin's
/// do, unless `--server` names a serin server.
static AS_KUBECTL_PLUGIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn act_as_kubectl_plugin() {
    AS_KUBECTL_PLUGIN.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Where the rollout commands go: a serin server, or a cluster's API server.
pub enum Backend {
    Server(Client),
    Cluster { client: kube::Client, runtime: tokio::runtime::Runtime },
}

impl Backend {
    pub fn connect(options: &ClientOptions) -> Result<Backend> {
        if !options.wants_cluster() {
            return Ok(Backend::Server(Client::connect(options)?));
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = runtime.block_on(crate::cluster::client(&options.kube))?;
        Ok(Backend::Cluster { client, runtime })
    }

    /// The namespace the rollout commands act in: `-n`, else on a cluster the kubeconfig
    /// context's namespace (as kubectl-argo-rollouts does), else `default`.
    pub fn namespace<'a>(&'a self, options: &'a ClientOptions) -> &'a str {
        match (self, &options.namespace) {
            (_, Some(namespace)) => namespace,
            (Backend::Cluster { client, .. }, None) => client.default_namespace(),
            (Backend::Server(_), None) => options.namespace(),
        }
    }

    fn cluster<T>(
        runtime: &tokio::runtime::Runtime,
        call: impl Future<Output = Result<T, serin_kube::controller::Error>>,
    ) -> Result<T> {
        runtime.block_on(call).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// A Rollout with its ReplicaSets, pods and AnalysisRuns, as the tree view reads them.
    pub fn rollout_tree(&self, namespace: &str, name: &str) -> Result<Value> {
        match self {
            Backend::Server(client) => {
                client.get(&format!("/api/v1/rollouts/{}/{}/tree", encode(namespace), encode(name)))
            }
            Backend::Cluster { client, runtime } => {
                Self::cluster(runtime, serin_kube::commands::rollout_tree(client, namespace, name))
            }
        }
    }

    pub fn rollout(&self, namespace: &str, name: &str) -> Result<Value> {
        match self {
            Backend::Server(client) => client.get(&format!(
                "/api/v1/object?group=argoproj.io&kind=Rollout&namespace={}&name={}",
                encode(namespace),
                encode(name)
            )),
            Backend::Cluster { client, runtime } => {
                Self::cluster(runtime, serin_kube::commands::rollout(client, namespace, name))
            }
        }
    }

    /// The Rollouts of a namespace, as `{"items": [...]}`.
    pub fn rollouts(&self, namespace: &str) -> Result<Value> {
        match self {
            Backend::Server(client) => {
                client.get(&format!("/api/v1/objects?kind=Rollout&group=argoproj.io&namespace={}", encode(namespace)))
            }
            Backend::Cluster { client, runtime } => {
                Self::cluster(runtime, serin_kube::commands::rollouts(client, namespace))
            }
        }
    }

    /// promote, abort, retry, undo, pause, restart, set-image, with their arguments.
    pub fn rollout_command(&self, namespace: &str, name: &str, verb: &str, request: &Value) -> Result<()> {
        match self {
            Backend::Server(client) => {
                let path = format!("/api/v1/rollouts/{}/{}/{verb}", encode(namespace), encode(name));
                client.post(&path, request).map(|_| ())
            }
            Backend::Cluster { client, runtime } => {
                let request = serde_json::from_value(request.clone())?;
                let now = serin_kube::controller::now();
                let command =
                    serin_engine::command::Command::from_request(verb, &request, now).map_err(anyhow::Error::msg)?;
                Self::cluster(runtime, serin_kube::commands::run_command(client, namespace, name, &command))
            }
        }
    }
}

pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    pub fn connect(options: &ClientOptions) -> Result<Client> {
        if options.wants_cluster() {
            bail!(
                "this command works against a serin server; against a cluster, serin runs get rollout, list rollouts, status, promote, abort, retry, undo, pause, restart, set image and app list/get/sync/diff/history (use kubectl for the rest)"
            );
        }
        let data_dir = options.data_dir.clone().unwrap_or_else(serin_local::datadir::default_data_dir);
        let local = match &options.server {
            Some(_) => serin_local::datadir::read_info(&data_dir).map(|info| info.api),
            None => local_api(&data_dir),
        };
        let base = match &options.server {
            Some(server) => server.trim_end_matches('/').to_string(),
            None => local.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?.clone(),
        };
        // The data directory's token is that server's: it goes to no other (--server elsewhere
        // needs --token).
        let token = options.token.clone().or_else(|| {
            let ours = local.is_ok_and(|api| api == base);
            ours.then(|| std::fs::read_to_string(serin_local::datadir::token_path(&data_dir)).ok())
                .flatten()
                .map(|t| t.trim().to_string())
        });
        let mut config = ureq::Agent::config_builder().http_status_as_error(false);
        if base.starts_with("https://") {
            config = config.tls_config(tls(options.ca_file.as_deref())?);
        } else if token.is_some() && !loopback(&base) {
            eprintln!("warning: the API token goes to {base} in clear text; put the server behind https");
        }
        Ok(Client { base, token, agent: config.build().into() })
    }

    /// The server's API URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The API token, when one was given or the data directory holds it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn finish(&self, what: &str, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value> {
        let bytes = self.body(what, &mut self.answered(what, response)?)?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!("the serin server at {} answered {what} with something that is not JSON", self.base)
        })
    }

    /// A response's whole body (of any size).
    fn body(&self, what: &str, response: &mut ureq::http::Response<ureq::Body>) -> Result<Vec<u8>> {
        let body = response.body_mut().with_config().limit(u64::MAX).read_to_vec();
        body.with_context(|| format!("reading the answer to {what} from {}", self.base))
    }

    /// A response that succeeded; otherwise the server's error message (and problems, one a
    /// line) as the error.
    fn answered(
        &self,
        what: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut response = response.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the serin server at {} ({what}): {e}; is it running? Start one with `serin server`, or pass --server",
                self.base
            )
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = String::from_utf8_lossy(&self.body(what, &mut response).unwrap_or_default()).into_owned();
        let value: Value = serde_json::from_str(&text).unwrap_or_default();
        let message = match (value.get("error").and_then(Value::as_str), text.trim()) {
            (Some(error), _) => error.to_string(),
            (None, "") => format!("the serin server at {} answered {what} with {status}", self.base),
            (None, text) => format!("the serin server at {} answered {what} with {status}: {text}", self.base),
        };
        let problems = value.get("problems").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
        let lines: Vec<&str> = problems.chain([message.as_str()]).collect();
        Err(ApiError { status: status.as_u16(), message: lines.join("\n") }.into())
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        self.finish(path, self.with_token(self.agent.get(&url)).call())
    }

    /// A GET whose answer is bytes, not JSON (a pod's log): the body as sent, of any size, and
    /// the response's headers.
    pub fn get_bytes(&self, path: &str) -> Result<(Vec<u8>, ureq::http::HeaderMap)> {
        let url = format!("{}{path}", self.base);
        let mut response = self.answered(path, self.with_token(self.agent.get(&url)).call())?;
        Ok((self.body(path, &mut response)?, response.headers().clone()))
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        self.finish(path, self.with_token(self.agent.post(&url)).send_json(body))
    }

    /// The request with the API token, when there is one: writes need it, and reads without it
    /// see secret values hidden (logs and diffs are refused).
    fn with_token<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }
}

/// The address of the server of `data_dir`, waiting for one that is starting, so a script can
/// start a server and use it on the next line (`serin server & serin apply ...`): up to 15 s
/// for a server whose live pid is in the lock file but whose `server.json` is not written yet,
/// and up to 2 s for one to appear when none is known.
fn local_api(data_dir: &std::path::Path) -> Result<String, anyhow::Error> {
    use serin_local::datadir::{read_info, server_pid};
    use std::time::{Duration, Instant};
    let start = Instant::now();
    loop {
        let info = read_info(data_dir);
        let pid = server_pid(data_dir);
        let up = matches!((&info, pid), (Ok(info), Some(pid)) if info.pid == pid);
        let patience = if pid.is_some() { Duration::from_secs(15) } else { Duration::from_secs(2) };
        if up || start.elapsed() >= patience {
            return info.map(|info| info.api);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// https with rustls (ring), checked against the system's certificate authorities and those
/// of `ca_file`.
fn tls(ca_file: Option<&std::path::Path>) -> Result<ureq::tls::TlsConfig> {
    let roots = serin_providers::trusted_roots(ca_file).map_err(anyhow::Error::msg)?;
    let roots = roots.iter().map(|root| ureq::tls::Certificate::from_der(root).to_owned()).collect();
    Ok(ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)))
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .build())
}

/// Whether a URL names this machine (`localhost` or a loopback address).
fn loopback(url: &str) -> bool {
    let authority = url.split("://").nth(1).unwrap_or(url).split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A server's refusal: its HTTP status and what it said.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// Whether an error is a server's 404 (no such object, or no such log).
pub fn is_not_found(error: &anyhow::Error) -> bool {
    error.downcast_ref::<ApiError>().is_some_and(|e| e.status == 404)
}

pub use serin_providers::percent_encode as encode;
