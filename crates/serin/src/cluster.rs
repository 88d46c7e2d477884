//! `serin controller`: the Kubernetes platform's entry point. Connects to a cluster (a
//! kubeconfig, or the pod's service account when run in one) and runs serin-kube's controller
//! until SIGINT or SIGTERM, releasing its leader Lease on the way out.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct KubeOptions {
    /// Work against a Kubernetes cluster, with this kubeconfig file.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Work against a Kubernetes cluster, with this context of $KUBECONFIG or ~/.kube/config.
    #[arg(long, global = true)]
    pub context: Option<String>,
}

/// What git push webhooks must prove, per forge (`serin server` and `serin controller --gitops`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct WebhookSecretArgs {
    /// The secret GitHub signs push webhooks with (X-Hub-Signature-256); once set, GitHub
    /// pushes without a valid signature are refused. Argo CD's webhook.github.secret.
    #[arg(long, env = "SERIN_WEBHOOK_GITHUB_SECRET", hide_env_values = true)]
    pub webhook_github_secret: Option<String>,
    /// The token GitLab sends with push webhooks (X-Gitlab-Token). Argo CD's
    /// webhook.gitlab.secret.
    #[arg(long, env = "SERIN_WEBHOOK_GITLAB_SECRET", hide_env_values = true)]
    pub webhook_gitlab_secret: Option<String>,
    /// The secret Gitea (or Gogs) signs push webhooks with (X-Gitea-Signature). Argo CD's
    /// webhook.gogs.secret.
    #[arg(long, env = "SERIN_WEBHOOK_GITEA_SECRET", hide_env_values = true)]
    pub webhook_gitea_secret: Option<String>,
}

impl WebhookSecretArgs {
    pub fn secrets(&self) -> serin_gitops::webhook::WebhookSecrets {
        serin_gitops::webhook::WebhookSecrets {
            github: self.webhook_github_secret.clone(),
            gitlab: self.webhook_gitlab_secret.clone(),
            gitea: self.webhook_gitea_secret.clone(),
        }
    }
}

#[derive(clap::Args)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub kube: KubeOptions,
    /// Watch only this namespace (default: every namespace).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Where /healthz, /readyz and /metrics are served.
    #[arg(long, default_value = "0.0.0.0:8090")]
    pub listen: SocketAddr,
    /// Act without leader election (only when a single replica runs).
    #[arg(long)]
    pub no_leader_election: bool,
    /// The namespace of the leader Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long a leader's Lease holds without renewal before another replica takes over.
    #[arg(long, default_value = "15s", value_parser = crate::parse_duration_millis)]
    pub lease_duration: i64,
    /// This replica's name in the Lease and in events (default: $POD_NAME, else host-pid).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// A PEM file of certificate authorities that https metric endpoints (Prometheus, web) may
    /// use, besides the system's.
    #[arg(long)]
    pub analysis_ca_file: Option<std::path::PathBuf>,
    /// How long to wait for the cluster to serve the Rollout CRDs (installed with the
    /// controller, they take a moment) before giving up.
    #[arg(long, default_value = "30s", value_parser = crate::parse_duration_millis)]
    pub crd_wait: i64,
    /// Also sync Argo CD's Applications from git, as Argo CD's application controller does
    /// (leave this off while Argo CD runs on the cluster).
    #[arg(long)]
    pub gitops: bool,
    /// With --gitops: the longest time between two reads of an Application's repository.
    #[arg(long, default_value = "3m", value_parser = crate::parse_duration_millis)]
    pub app_resync: i64,
    /// With --gitops: where clones of the Applications' repositories are kept (default: a
    /// directory under the system's temporary directory).
    #[arg(long)]
    pub git_cache: Option<PathBuf>,
    /// With --gitops: push webhooks are taken on POST /api/webhook of --listen.
    #[command(flatten)]
    pub webhook: WebhookSecretArgs,
}

/// A client for the cluster the options name.
pub async fn client(options: &KubeOptions) -> Result<kube::Client> {
    let kube_options = kube::config::KubeConfigOptions { context: options.context.clone(), ..Default::default() };
    let config = match &options.kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube_options).await?
        }
        None if options.context.is_some() => kube::Config::from_kubeconfig(&kube_options).await?,
        None => kube::Config::infer().await.context("no cluster configured: pass --kubeconfig or set KUBECONFIG")?,
    };
    Ok(kube::Client::try_from(config)?)
}

pub fn run(args: ControllerArgs) -> Result<std::process::ExitCode> {
    crate::init_logging();
    let identity = args.identity.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        format!("{}-{}", if host.is_empty() { "serin" } else { &host }, std::process::id())
    });
    let lease = (!args.no_leader_election).then(|| serin_kube::lease::LeaseOptions {
        namespace: args.lease_namespace.clone().unwrap_or_else(|| "default".to_string()),
        name: "serin-controller-lock".to_string(),
        identity: identity.clone(),
        duration: Duration::from_millis(args.lease_duration as u64),
    });
    let options = serin_kube::Options {
        namespace: args.namespace,
        listen: args.listen,
        lease,
        identity,
        analysis_ca_file: args.analysis_ca_file,
        crd_wait: Duration::from_millis(args.crd_wait as u64),
        gitops: args.gitops.then(|| serin_kube::gitops::Options {
            git_cache: args.git_cache.clone().unwrap_or_else(|| std::env::temp_dir().join("serin-git")),
            resync: Duration::from_millis(args.app_resync as u64),
            webhook_secrets: args.webhook.secrets(),
        }),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = client(&args.kube).await?;
        serin_kube::run(client, options, shutdown_signal()).await?;
        Ok(std::process::ExitCode::SUCCESS)
    })
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
