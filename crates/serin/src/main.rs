//! The `serin` binary: a thin command-line layer over the engine and its platforms.

mod analysisrun;
mod apps;
mod client;
mod cluster;
mod commands;
mod crd;
mod dashboard;
mod demo;
mod demo_app;
mod lint;
mod plan;
mod tree;
mod view;
mod yaml_out;

use clap::{Parser, Subcommand};
use client::ClientOptions;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "serin",
    version,
    about = "Canary releases, safe, fast and boring: Argo Rollouts-compatible, in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The example canary release (examples/argo-demo) on the local platform: real pods, real
    /// traffic, v1 -> v2 through 10/30/60/100%, each step shown.
    #[command(
        after_help = "Examples:\n  serin demo\n  serin demo --strategy bluegreen\n  serin demo --time-scale 30\n  sudo serin demo --entrypoint :80   # then curl -H 'Host: canary.myapp.com' 127.0.0.1"
    )]
    Demo {
        /// Which release: the canary of examples/argo-demo, or the blue-green of examples/bluegreen.
        #[arg(long, value_enum, default_value_t = demo::Strategy::Canary)]
        strategy: demo::Strategy,
        /// How much faster the example's pauses and delays pass.
        #[arg(long, default_value_t = 10.0)]
        time_scale: f64,
        /// The router's entry point (the example's curl uses port 80: `--entrypoint :80` as root).
        #[arg(long, default_value = "127.0.0.1:0")]
        entrypoint: String,
    },
    /// Check manifests (files, directories, or - for stdin) and report every problem with its
    /// file, line, column and field.
    #[command(
        after_help = "Examples:\n  serin lint -f examples/argo-demo/argorollout-canary/\n  cat rollout.yaml | serin lint -f -"
    )]
    Lint {
        /// A file, a directory (read recursively) or - for stdin.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
    },
    /// Show what an update to a Rollout's template will do, step by step: weights, replica
    /// counts, pauses and the time it takes.
    #[command(after_help = "Example:\n  serin plan -f examples/argo-demo/argorollout-canary/rollout.yaml")]
    Plan {
        /// The Rollout manifest (the first Rollout found is planned).
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
    /// Run the local platform: state, pods as processes, the router, the controllers.
    #[command(
        after_help = "Examples:\n  serin server\n  serin server --data-dir /var/lib/serin --entrypoint web=:80 --entrypoint websecure=:8443\n  serin server --time-scale 10 --images images.yaml"
    )]
    Server(ServerArgs),
    /// Run serin as the canary controller of a Kubernetes cluster (Argo Rollouts' resources,
    /// ReplicaSets, Services, Traefik / ingress-nginx / Gateway API weights).
    #[command(
        after_help = "Examples:\n  serin crd | kubectl apply -f -\n  serin controller --kubeconfig ~/.kube/config --no-leader-election\n  kubectl apply -k deploy/   # in the cluster: the CRDs, RBAC, two replicas with leader election"
    )]
    Controller(cluster::ControllerArgs),
    /// Create or update objects from files, like kubectl apply.
    #[command(
        after_help = "Examples:\n  serin apply -f examples/argo-demo/argorollout-canary/\n  serin apply -f rollout.yaml -f service.yaml\n  cat rollout.yaml | serin apply -f -"
    )]
    Apply {
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Show objects: `get rollout NAME` draws the rollout tree; `get pods|rs|svc|...` lists.
    #[command(
        after_help = "Examples:\n  serin get rollout canary-rollout --watch\n  serin get pods\n  serin get svc canary-active -o yaml\n  serin get traefikservices -A"
    )]
    Get {
        /// pods (po), replicasets (rs), services (svc), rollouts (ro), analysisruns (ar),
        /// analysistemplates (at), applications (app), traefikservices, ingressroutes
        kind: String,
        name: Option<String>,
        /// Output format: yaml, json or wide.
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// All namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// List rollouts with their step, weight and replica counts.
    #[command(after_help = "Example:\n  serin list rollouts --watch")]
    List {
        /// `rollouts`
        what: String,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Wait for a rollout to finish: exits 0 when Healthy, 1 when Degraded or on timeout.
    #[command(after_help = "Example:\n  serin status canary-rollout --timeout 10m")]
    Status {
        rollout: String,
        /// Give up after this long (30s, 5m); default (or 0): wait for ever.
        #[arg(short = 't', long)]
        timeout: Option<String>,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Wait until a rollout's condition holds, as kubectl wait does (Paused, Progressing,
    /// InvalidSpec).
    #[command(
        after_help = "Examples:\n  serin wait --for=condition=Paused rollout/canary-rollout\n  serin wait --for=condition=Paused=False rollout canary-rollout --timeout 2m"
    )]
    Wait {
        /// rollout/NAME, or rollout NAME.
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
        /// condition=NAME or condition=NAME=VALUE (VALUE True when not given).
        #[arg(long = "for")]
        wanted: String,
        /// Give up after this long (kubectl's default, 30s).
        #[arg(long, default_value = "30s")]
        timeout: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// A rollout's spec, status and events, in kubectl describe's layout.
    #[command(after_help = "Example:\n  serin describe rollout canary-rollout")]
    Describe {
        /// `rollout`
        what: String,
        rollout: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// CPU and memory of each pod, like kubectl top pods.
    #[command(after_help = "Example:\n  serin top pods")]
    Top {
        /// `pods`
        what: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Delete objects named in files (`-f`), or one object (`delete KIND NAME`).
    #[command(
        after_help = "Examples:\n  serin delete -f examples/argo-demo/argorollout-canary/\n  serin delete rollout canary-rollout"
    )]
    Delete {
        kind: Option<String>,
        name: Option<String>,
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Set a container image: `set image ROLLOUT CONTAINER=IMAGE` (`*=IMAGE` for all).
    #[command(after_help = "Example:\n  serin set image canary-rollout myapp=ikubernetes/myapp:v2")]
    Set {
        /// `image`
        what: String,
        rollout: String,
        assignment: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Resume a paused rollout or skip the current step; `--full` skips all remaining steps.
    #[command(after_help = "Examples:\n  serin promote canary-rollout\n  serin promote canary-rollout --full")]
    Promote {
        rollout: String,
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Stop an update: all traffic back to the stable version at once.
    #[command(after_help = "Example:\n  serin abort canary-rollout")]
    Abort {
        rollout: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Start an aborted update again from the first step (`retry rollout NAME`).
    #[command(after_help = "Example:\n  serin retry rollout canary-rollout")]
    Retry {
        /// `rollout`
        what: String,
        rollout: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Go back to the previous revision (or `--to-revision N`).
    #[command(after_help = "Examples:\n  serin undo canary-rollout\n  serin undo canary-rollout --to-revision 1")]
    Undo {
        rollout: String,
        #[arg(long)]
        to_revision: Option<i64>,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Pause a rollout until it is promoted.
    #[command(after_help = "Example:\n  serin pause canary-rollout")]
    Pause {
        rollout: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Replace every pod of a rollout, a few at a time.
    #[command(after_help = "Examples:\n  serin restart canary-rollout\n  serin restart canary-rollout --in 10m")]
    Restart {
        rollout: String,
        /// Restart after this long (30s, 5m).
        #[arg(short = 'i', long = "in")]
        in_: Option<String>,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Print a pod's log.
    #[command(
        after_help = "Examples:\n  serin logs canary-rollout-69dc9f5f56-28rcd\n  serin logs canary-rollout-69dc9f5f56-28rcd --previous\n  serin logs canary-rollout-69dc9f5f56-28rcd -f"
    )]
    Logs {
        pod: String,
        /// The log of the previous run, before the last restart.
        #[arg(short = 'p', long)]
        previous: bool,
        /// Keep printing as the log grows.
        #[arg(short = 'f', long)]
        follow: bool,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// The web dashboard's address (rollouts, routes and applications, live), printed or
    /// opened in a browser.
    #[command(
        after_help = "Examples:\n  serin dashboard\n  serin dashboard --open --with-token\n\nWithout the token the dashboard only shows; with it, it can promote, abort, retry, undo,\npause and sync."
    )]
    Dashboard {
        /// Open it in a browser ($BROWSER, xdg-open, sensible-browser, open).
        #[arg(long)]
        open: bool,
        /// Add the API token to the address (after `#`, which never leaves the browser) so the
        /// dashboard's commands work.
        #[arg(long)]
        with_token: bool,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Argo CD Applications synced from git: `app list`, `app get NAME`, `app sync NAME`,
    /// `app diff NAME`, `app history NAME` (NAME in any namespace, or NAMESPACE/NAME).
    #[command(
        after_help = "Examples:\n  serin app list\n  serin app get canary\n  serin app sync argocd/canary --prune\n  serin app diff canary\n  serin app history canary"
    )]
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Print the CustomResourceDefinitions of Rollout, AnalysisTemplate,
    /// ClusterAnalysisTemplate, AnalysisRun and Application (argoproj.io/v1alpha1, named as
    /// Argo Rollouts and Argo CD name them), as YAML to install on a cluster.
    #[command(after_help = "Example:\n  serin crd | kubectl apply -f -")]
    Crd,
    /// Print a shell completion script: `serin completion bash > /etc/bash_completion.d/serin`.
    #[command(after_help = "Example:\n  source <(serin completion bash)")]
    Completion { shell: clap_complete::Shell },
    /// Print serin's version.
    #[command(after_help = "Example:\n  serin version")]
    Version,
    /// The stand-in for the example's ikubernetes/myapp image (run by pods).
    #[command(hide = true)]
    DemoApp {
        #[arg(long, default_value = "v1")]
        version: String,
    },
}

#[derive(Subcommand)]
enum AppCommand {
    /// Every Application with its sync and health status, like `argocd app list`.
    #[command(after_help = "Example:\n  serin app list")]
    List {
        #[command(flatten)]
        client: ClientOptions,
    },
    /// One Application and each of its resources with sync and health status.
    #[command(after_help = "Example:\n  serin app get canary")]
    Get {
        name: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Read targetRevision from git and apply it now; waits for the result.
    #[command(after_help = "Examples:\n  serin app sync canary\n  serin app sync argocd/canary --prune --timeout 2m")]
    Sync {
        name: String,
        /// Also delete what this Application created and git no longer has.
        #[arg(long)]
        prune: bool,
        /// Give up waiting after this long.
        #[arg(long, default_value = "5m")]
        timeout: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// What a sync would change: `<` live, `>` after the sync; exits 1 when out of sync.
    #[command(after_help = "Example:\n  serin app diff canary")]
    Diff {
        name: String,
        #[command(flatten)]
        client: ClientOptions,
    },
    /// The syncs carried out, with their commits.
    #[command(after_help = "Example:\n  serin app history canary")]
    History {
        name: String,
        #[command(flatten)]
        client: ClientOptions,
    },
}

/// How rollouts are shown.
#[derive(clap::Args, Clone, Copy, Debug)]
struct ViewArgs {
    /// Keep watching: redraw on every change.
    #[arg(short = 'w', long)]
    watch: bool,
    /// No colours (also with NO_COLOR set).
    #[arg(long)]
    no_color: bool,
    /// Stop watching after this many seconds.
    #[arg(long)]
    timeout_seconds: Option<u64>,
}

impl ViewArgs {
    fn display(self) -> commands::Display {
        commands::Display {
            watch: self.watch,
            paint: view::Paint::detect(self.no_color),
            timeout: self.timeout_seconds.map(std::time::Duration::from_secs),
        }
    }
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Where state, logs, the address file and the token live.
    #[arg(long, env = "SERIN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The API (and dashboard) address; loopback by default.
    #[arg(long, default_value = "127.0.0.1:3100")]
    api: SocketAddr,
    /// An entry point of the router, NAME=ADDR (repeatable). `NAME=:PORT` listens on every
    /// interface, as in Traefik (the server warns); `NAME=127.0.0.1:PORT` keeps it local.
    #[arg(long = "entrypoint", default_value = "web=127.0.0.1:8080", value_parser = parse_entrypoint)]
    entrypoints: Vec<(String, SocketAddr)>,
    /// A table of image patterns and commands, for containers without `command`.
    #[arg(long)]
    images: Option<PathBuf>,
    /// Run pauses, analysis intervals and delays N times faster.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// How often Applications are read from git at most (each poll waits between two thirds
    /// of this and all of it); webhooks and `app sync` read at once.
    #[arg(long, default_value = "3m", value_parser = parse_duration_millis)]
    app_resync: i64,
    /// Threads serving the entry points, apart from the control plane's (default: one per
    /// CPU this process may run on).
    #[arg(long)]
    router_threads: Option<usize>,
    /// Client connections the router keeps open at once; one more is answered 503 and closed
    /// (default: half the open-file limit, which the server raises to its hard limit).
    #[arg(long)]
    max_connections: Option<usize>,
    /// How long the router waits to connect to a pod before it tries another (Traefik's
    /// forwardingTimeouts.dialTimeout).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    dial_timeout: Duration,
    /// How long the router waits for a pod's response head, from the first byte of the
    /// request written; past it the client gets 504 (Traefik's responseHeaderTimeout).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    response_header_timeout: Duration,
    /// How long an idle connection to a pod is kept for reuse (Traefik's idleConnTimeout).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    idle_conn_timeout: Duration,
    /// Proxies in front of the router (addresses or CIDR ranges, comma-separated) whose
    /// X-Forwarded-* headers are kept; everyone else's are replaced (Traefik's
    /// forwardedHeaders.trustedIPs).
    #[arg(long, value_delimiter = ',')]
    trusted_ips: Vec<String>,
    /// A file where the router records every request it answers, one JSON object per line
    /// with the fields of Traefik's JSON access log (RouterName, DownstreamStatus, ...).
    #[arg(long)]
    access_log: Option<PathBuf>,
    /// A PEM file of certificate authorities that https metric endpoints (Prometheus, web) may
    /// use, besides the system's.
    #[arg(long)]
    analysis_ca_file: Option<PathBuf>,
    #[command(flatten)]
    webhook: cluster::WebhookSecretArgs,
}

fn parse_duration_millis(text: &str) -> Result<i64, String> {
    match serin_model::duration::parse_go_duration(text)? {
        ms if ms > 0 => Ok(ms),
        _ => Err(format!("{text:?} must be longer than zero")),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_duration_millis(text).map(|ms| Duration::from_millis(ms as u64))
}

fn parse_entrypoint(text: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = text.split_once('=').ok_or_else(|| format!("expected NAME=ADDR, got {text:?}"))?;
    let addr = if addr.starts_with(':') { format!("0.0.0.0{addr}") } else { addr.to_string() };
    let addr = addr.parse().map_err(|e| format!("{addr:?} is not an address: {e}"))?;
    Ok((name.to_string(), addr))
}

/// The name kubectl runs the Argo Rollouts plugin by (`kubectl argo rollouts ...` executes
/// `kubectl-argo-rollouts ...` from PATH). Installed under it, as a symlink or a copy, serin is
/// that plugin: the same commands, aimed at the cluster of the kubeconfig unless `--server`
/// names a serin server.
const KUBECTL_PLUGIN: &str = "kubectl-argo-rollouts";

/// Whether serin was started under the plugin's name.
fn invoked_as_plugin() -> bool {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    std::path::Path::new(&arg0).file_name().is_some_and(|name| name == KUBECTL_PLUGIN)
}

/// The command line's grammar, named as serin or as the plugin (for help and completion).
fn cli_command(plugin: bool) -> clap::Command {
    let command = <Cli as clap::CommandFactory>::command();
    if plugin { command.name(KUBECTL_PLUGIN).bin_name("kubectl argo rollouts") } else { command }
}

fn main() -> ExitCode {
    let plugin = invoked_as_plugin();
    if plugin {
        client::act_as_kubectl_plugin();
    }
    let matches = cli_command(plugin).get_matches();
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = run(cli.command);
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `SERIN_LOG` (default `info`); coloured only on a terminal and
/// without `NO_COLOR`, so a log file or journal gets plain text.
fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SERIN_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
}

fn expect_word(given: &str, expected: &str, usage: &str) -> anyhow::Result<()> {
    if given == expected { Ok(()) } else { anyhow::bail!("unknown {given:?}; usage: {usage}") }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo { strategy, time_scale, entrypoint } => demo::run(time_scale, &entrypoint, strategy),
        Command::Lint { files } => lint::run(&files),
        Command::Plan { file } => plan::run(&file),
        Command::DemoApp { version } => demo_app::run(&version),
        Command::Controller(args) => cluster::run(args),
        Command::Server(args) => {
            init_logging();
            let options = serin_local::server::ServerOptions {
                data_dir: args.data_dir.unwrap_or_else(serin_local::datadir::default_data_dir),
                api: args.api,
                entrypoints: args.entrypoints,
                images: args.images,
                time_scale: args.time_scale,
                serin_binary: std::env::current_exe()?,
                app_resync_ms: args.app_resync,
                router_threads: args
                    .router_threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                max_connections: args.max_connections,
                forwarding: serin_router::upstream::Timeouts {
                    dial: args.dial_timeout,
                    response_header: args.response_header_timeout,
                    idle_conn: args.idle_conn_timeout,
                },
                trusted_ips: {
                    let mut set = serin_router::rule::IpSet::default();
                    for ip in &args.trusted_ips {
                        set.add(ip).map_err(|e| anyhow::anyhow!("--trusted-ips: {e}"))?;
                    }
                    set
                },
                access_log: args.access_log,
                analysis_ca_file: args.analysis_ca_file,
                webhook_secrets: args.webhook.secrets(),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serin_local::server::run(options))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply { files, client } => commands::apply(&client, &files),
        Command::Get { kind, name, output, all_namespaces, view, client } => match (kind.as_str(), name, output) {
            ("rollout" | "rollouts" | "ro", Some(name), None) => commands::get_rollout(&client, &name, view.display()),
            ("rollout" | "rollouts" | "ro", None, None) if !all_namespaces => {
                commands::list_rollouts(&client, view.display())
            }
            (kind, name, output) => {
                let get =
                    commands::GetObjects { kind, name: name.as_deref(), output: output.as_deref(), all_namespaces };
                commands::get_objects(&client, get, view.display())
            }
        },
        Command::List { what, view, client } => {
            expect_word(&what, "rollouts", "serin list rollouts")?;
            commands::list_rollouts(&client, view.display())
        }
        Command::Wait { target, wanted, timeout, client } => {
            let timeout = serin_model::duration::parse_go_duration(&timeout).map_err(anyhow::Error::msg)?;
            commands::wait(&client, &target, &wanted, std::time::Duration::from_millis(timeout.max(0) as u64))
        }
        Command::Status { rollout, timeout, client } => {
            let timeout = timeout
                .map(|t| serin_model::duration::parse_go_duration(&t))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            // As kubectl-argo-rollouts: a timeout of zero waits for ever.
            let timeout = timeout.filter(|ms| *ms > 0).map(|ms| std::time::Duration::from_millis(ms as u64));
            commands::status(&client, &rollout, timeout)
        }
        Command::Describe { what, rollout, client } => {
            expect_word(&what, "rollout", "serin describe rollout NAME")?;
            commands::describe(&client, &rollout)
        }
        Command::Top { what, client } => {
            expect_word(&what, "pods", "serin top pods")?;
            commands::top_pods(&client)
        }
        Command::Delete { kind, name, files, client } => {
            commands::delete(&client, kind.as_deref(), name.as_deref(), &files)
        }
        Command::Completion { shell } => {
            let plugin = invoked_as_plugin();
            let name = if plugin { KUBECTL_PLUGIN } else { "serin" };
            clap_complete::generate(shell, &mut cli_command(plugin), name, &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Crd => crd::run(),
        Command::Version => {
            if invoked_as_plugin() {
                // The plugin's first line, then what is really answering.
                println!("{KUBECTL_PLUGIN}: serin v{}", env!("CARGO_PKG_VERSION"));
                println!("  serin acts as the Argo Rollouts kubectl plugin (Argo Rollouts v1alpha1 resources)");
            } else {
                println!("serin {}", env!("CARGO_PKG_VERSION"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Set { what, rollout, assignment, client } => {
            expect_word(&what, "image", "serin set image ROLLOUT CONTAINER=IMAGE")?;
            let (container, image) = assignment
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("expected CONTAINER=IMAGE, got {assignment:?}"))?;
            commands::rollout_command(
                &client,
                &rollout,
                "set-image",
                json!({"container": container, "image": image}),
                "image updated",
            )
        }
        Command::Promote { rollout, full, client } => commands::rollout_command(
            &client,
            &rollout,
            "promote",
            json!({"full": full}),
            if full { "fully promoted" } else { "promoted" },
        ),
        Command::Abort { rollout, client } => {
            commands::rollout_command(&client, &rollout, "abort", json!({}), "aborted")
        }
        Command::Retry { what, rollout, client } => {
            expect_word(&what, "rollout", "serin retry rollout NAME")?;
            commands::rollout_command(&client, &rollout, "retry", json!({}), "retried")
        }
        Command::Undo { rollout, to_revision, client } => {
            commands::rollout_command(&client, &rollout, "undo", json!({"toRevision": to_revision}), "undo")
        }
        Command::Pause { rollout, client } => {
            commands::rollout_command(&client, &rollout, "pause", json!({}), "paused")
        }
        Command::Restart { rollout, in_, client } => {
            let in_millis =
                in_.map(|d| serin_model::duration::parse_go_duration(&d)).transpose().map_err(anyhow::Error::msg)?;
            commands::rollout_command(&client, &rollout, "restart", json!({"inMillis": in_millis}), "restarts")
        }
        Command::Dashboard { open, with_token, client } => dashboard::run(&client, open, with_token),
        Command::Logs { pod, previous, follow, client } => commands::logs(&client, &pod, previous, follow),
        Command::App { command } => match command {
            AppCommand::List { client } => apps::list(&client),
            AppCommand::Get { name, client } => apps::get(&client, &name),
            AppCommand::Sync { name, prune, timeout, client } => {
                let timeout = parse_duration_millis(&timeout).map_err(anyhow::Error::msg)?;
                apps::sync(&client, &name, prune, std::time::Duration::from_millis(timeout as u64))
            }
            // argocd's exit codes: 1 means differences, so an error is 2.
            AppCommand::Diff { name, client } => apps::diff(&client, &name).or_else(|error| {
                eprintln!("error: {error:#}");
                Ok(ExitCode::from(2))
            }),
            AppCommand::History { name, client } => apps::history(&client, &name),
        },
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command a user can see ends its `--help` with at least one worked example.
    #[test]
    fn every_command_has_a_worked_example() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
                let path = format!("{path} {}", sub.get_name());
                let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
                let mut examples = help.lines().skip_while(|l| !l.starts_with("Example")).skip(1);
                if sub.has_subcommands() {
                    walk(sub, &path, missing);
                } else if !examples.any(|line| line.contains(&path)) {
                    missing.push(path);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "serin", &mut missing);
        assert!(missing.is_empty(), "commands whose help shows no example of themselves: {missing:?}");
    }
}
