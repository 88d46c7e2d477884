//! The container image `scripts/image.sh` builds without a container engine (#21), from this
//! test build's binary: its OCI layout read back by hand and by an independent OCI tool
//! (umoci), its archive checked the way `docker load` reads it, what it says checked
//! (entrypoint `serin controller`, a user that is not root, version, revision and source
//! labels, under 100 MB), then its binary run from the unpacked root filesystem, as the image's
//! user and with only the image's libraries: `serin version`, and `serin controller` as
//! `kubectl apply -k deploy/` runs it on a real API server (the Deployment's arguments and
//! environment, its ServiceAccount's token, in-cluster configuration) until it reports ready and
//! holds the leader Lease.
//!
//! The debug binary goes into the image here (CI builds no release binary); without its debug
//! information it is about twice the release binary's size, so the size limit checked here
//! holds for the release image a fortiori.

mod kubeenv;

use kubeenv::KubeEnv;
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const SOURCE: &str = "https://example.test/serin.git";
const ENTRYPOINT: [&str; 2] = ["/usr/local/bin/serin", "controller"];
const LIMIT: u64 = 100 * 1024 * 1024;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn succeeded(what: &str, output: Output) -> String {
    assert!(output.status.success(), "{what}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    succeeded(&format!("{program} {args:?}"), output)
}

fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha256(path: &Path) -> String {
    let line = run("sha256sum", &[path.to_str().unwrap()]);
    format!("sha256:{}", line.split_whitespace().next().unwrap())
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// A command run inside `rootfs` as the user `uid:gid`, as a container runtime would start
/// it (without namespaces): with chroot as root, else as the root of a user namespace (the only
/// user there is).
fn in_image(rootfs: &Path, (uid, gid): (u64, u64), args: &[&str]) -> Command {
    // Found on this machine's PATH (chroot is in /usr/sbin): the command's own environment is
    // the image's.
    let path = std::env::var("PATH").unwrap_or_default();
    let find = |name: &str| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
            .or_else(|| ["/usr/sbin", "/sbin"].iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file()))
            .unwrap_or_else(|| panic!("{name} is not installed"))
    };
    let mut command = if is_root() {
        let mut chroot = Command::new(find("chroot"));
        chroot.arg(format!("--userspec={uid}:{gid}"));
        chroot
    } else {
        let mut unshare = Command::new(find("unshare"));
        unshare.args(["--map-root-user", find("chroot").to_str().unwrap()]);
        unshare
    };
    command.arg(rootfs).args(args).env_clear();
    command
}

/// The image, built into a temporary directory.
struct Image {
    dir: tempfile::TempDir,
    out: PathBuf,
    reference: String,
}

fn build() -> Image {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(repo().join("scripts/image.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_serin"), "--out"])
        .arg(&out)
        .env("SERIN_IMAGE_SOURCE", SOURCE)
        .output()
        .unwrap();
    let printed = succeeded("scripts/image.sh", output);
    eprintln!("scripts/image.sh took {:?}", started.elapsed());
    let reference = printed.trim().to_string();
    Image { dir, out, reference }
}

/// The OCI layout: every blob is named by its digest, the index tags one manifest with the
/// version, and the manifest and its config say what the image runs. Returns the config.
fn check_layout(image: &Image) -> Json {
    let layout = image.out.join("oci");
    assert_eq!(read_json(&layout.join("oci-layout")), json!({"imageLayoutVersion": "1.0.0"}));
    let blobs = layout.join("blobs/sha256");
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        let name = format!("sha256:{}", path.file_name().unwrap().to_str().unwrap());
        assert_eq!(sha256(&path), name, "a blob's content matches its name");
    }
    let blob = |digest: &Json| blobs.join(digest.as_str().unwrap().strip_prefix("sha256:").unwrap());

    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    assert_eq!(manifests[0]["annotations"]["org.opencontainers.image.ref.name"], VERSION);
    let digest = manifests[0]["digest"].as_str().unwrap();
    assert_eq!(image.reference, format!("serin:{VERSION}@{digest}"), "what the script prints");
    assert_eq!(std::fs::read_to_string(image.out.join("digest")).unwrap().trim(), digest);

    let manifest = read_json(&blob(&manifests[0]["digest"]));
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    let config = read_json(&blob(&manifest["config"]["digest"]));

    let revision = run("git", &["-C", repo().to_str().unwrap(), "rev-parse", "HEAD"]);
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], VERSION);
    assert_eq!(labels["org.opencontainers.image.revision"], revision.trim());
    assert_eq!(labels["org.opencontainers.image.source"], SOURCE);
    assert_eq!(&manifest["annotations"], labels, "the manifest is annotated as the image is labelled");
    assert_eq!(config["config"]["Entrypoint"], json!(ENTRYPOINT));
    assert!(config["config"].get("Cmd").is_none(), "a Pod's args follow the entrypoint alone");
    assert_eq!(config["config"]["User"], "65532:65532");

    // The layer unpacks to what the config's diff_id says, and the image stays small.
    let unpacked = image.dir.path().join("layer.tar");
    let layer = std::fs::File::create(&unpacked).unwrap();
    let gunzip = Command::new("gzip").arg("-dc").arg(blob(&layers[0]["digest"])).stdout(layer).status().unwrap();
    assert!(gunzip.success());
    assert_eq!(config["rootfs"]["diff_ids"], json!([sha256(&unpacked)]));
    let (size, compressed) = (unpacked.metadata().unwrap().len(), layers[0]["size"].as_u64().unwrap());
    eprintln!("the image: {} MB unpacked, {} MB compressed", size >> 20, compressed >> 20);
    assert!(size < LIMIT, "the image unpacks to {size} bytes");
    config
}

/// The archive for `docker load`: Docker's manifest.json names the tag, the same config and
/// the same layer as the OCI layout; its index names the image for containerd.
fn check_archive(image: &Image, config: &Json) {
    let archive = image.out.join(format!("serin-{VERSION}.tar"));
    let unpacked = image.dir.path().join("archive");
    std::fs::create_dir(&unpacked).unwrap();
    run("tar", &["-xf", archive.to_str().unwrap(), "-C", unpacked.to_str().unwrap()]);
    let manifest = read_json(&unpacked.join("manifest.json"));
    let entries = manifest.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{manifest}");
    assert_eq!(entries[0]["RepoTags"], json!([format!("serin:{VERSION}")]));
    let config_file = unpacked.join(entries[0]["Config"].as_str().unwrap());
    assert_eq!(&read_json(&config_file), config);
    let layers = entries[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let layer = unpacked.join(layers[0].as_str().unwrap());
    let oci_layer = image.out.join(format!("oci/{}", layers[0].as_str().unwrap()));
    assert_eq!(sha256(&layer), sha256(&oci_layer), "the archive's layer is the layout's");
    let index = read_json(&unpacked.join("index.json"));
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        format!("docker.io/library/serin:{VERSION}")
    );
}

/// The image unpacked by umoci into a runtime bundle: its `config.json` says how a runtime
/// would start the process, `rootfs/` is the root filesystem.
fn unpack(image: &Image) -> (PathBuf, Json) {
    let bundle = image.dir.path().join("bundle");
    let layout = format!("{}:{VERSION}", image.out.join("oci").display());
    let mut args = vec!["unpack", "--image", &layout];
    if !is_root() {
        args.push("--rootless");
    }
    args.push(bundle.to_str().unwrap());
    run("umoci", &args);
    let process = read_json(&bundle.join("config.json"))["process"].clone();
    (bundle.join("rootfs"), process)
}

/// Every regular file in the image, relative to its root.
fn files(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            files(root, &path, out);
        } else {
            out.insert(format!("/{}", path.strip_prefix(root).unwrap().display()));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_holds_the_binary_and_what_it_needs_and_its_controller_runs_on_a_cluster() {
    let image = build();
    let config = check_layout(&image);
    check_archive(&image, &config);
    let (rootfs, process) = unpack(&image);

    // What umoci makes of the image, as a runtime would start it: the entrypoint, as the
    // image's user, which /etc/passwd names and which is not root.
    assert_eq!(process["args"], json!(ENTRYPOINT));
    let user = (process["user"]["uid"].as_u64().unwrap(), process["user"]["gid"].as_u64().unwrap());
    assert_eq!(user, (65532, 65532));
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("serin:x:65532:65532:")), "{passwd}");

    // Only the binary, the libraries it loads, CA certificates and the user's files.
    let mut expected: BTreeSet<String> = [
        "/usr/local/bin/serin",
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/passwd",
        "/etc/group",
        "/etc/nsswitch.conf",
    ]
    .map(String::from)
    .into();
    let ldd = run("ldd", &[env!("CARGO_BIN_EXE_serin")]);
    expected.extend(ldd.lines().filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/')).map(String::from)));
    let mut found = BTreeSet::new();
    files(&rootfs, &rootfs, &mut found);
    assert_eq!(found, expected, "the image's files");

    // Its binary runs from its root filesystem, with nothing from this machine's.
    let env: Vec<(String, String)> = process["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().split_once('=').unwrap())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let version = in_image(&rootfs, user, &[ENTRYPOINT[0], "version"]).envs(env.clone()).output().unwrap();
    assert_eq!(succeeded("serin version in the image", version), format!("serin {VERSION}\n"));

    controller_from_the_image_becomes_ready(&rootfs, user, env).await;
}

/// `kubectl apply -k deploy/` on a real API server, then the image's entrypoint with the
/// Deployment's arguments and environment and its ServiceAccount's credentials where a pod has
/// them: the controller fills its caches (`/readyz` answers 200), leads (the Lease names it) and
/// ends cleanly on SIGTERM.
async fn controller_from_the_image_becomes_ready(rootfs: &Path, user: (u64, u64), mut env: Vec<(String, String)>) {
    let kube = KubeEnv::start().await;
    let applied = kube.kubectl(&["apply", "-k", repo().join("deploy").to_str().unwrap()], "");
    succeeded("kubectl apply -k deploy/", applied);

    // The ServiceAccount's token and CA, where kubelet mounts them in a pod.
    let secret = kube
        .eventually("the ServiceAccount's token", Duration::from_secs(30), || async {
            let account = kube.get("v1", "ServiceAccount", "serin-system", "serin").await?;
            let name = account["secrets"][0]["name"].as_str()?.to_string();
            kube.get("v1", "Secret", "serin-system", &name).await
        })
        .await;
    let mounted = rootfs.join("var/run/secrets/kubernetes.io/serviceaccount");
    std::fs::create_dir_all(&mounted).unwrap();
    // A Secret's data is base64: the files hold what it encodes.
    for file in ["token", "ca.crt", "namespace"] {
        let encoded = secret["data"][file].as_str().unwrap();
        let mut decode =
            Command::new("base64").arg("--decode").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        decode.stdin.take().unwrap().write_all(encoded.as_bytes()).unwrap();
        let decoded = succeeded("base64 --decode", decode.wait_with_output().unwrap());
        std::fs::write(mounted.join(file), decoded).unwrap();
    }

    let deployment = kube.get("apps/v1", "Deployment", "serin-system", "serin-controller").await.unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], format!("serin:{VERSION}"));
    assert!(container.get("command").is_none(), "the image's entrypoint runs");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut args: Vec<String> = ENTRYPOINT.map(String::from).into();
    for arg in container["args"].as_array().unwrap() {
        let arg = arg.as_str().unwrap();
        // Pods have their own network; here the port must be free on this machine.
        args.push(if arg.starts_with("--listen=") { format!("--listen=127.0.0.1:{port}") } else { arg.to_string() });
    }
    let pod = "serin-controller-7d9c5b-x2x4q";
    for variable in container["env"].as_array().unwrap() {
        let value = match variable["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            Some("metadata.name") => pod,
            Some("metadata.namespace") => "serin-system",
            other => panic!("a variable the test does not provide: {variable} ({other:?})"),
        };
        env.push((variable["name"].as_str().unwrap().to_string(), value.to_string()));
    }
    let (host, api_port) = kube.server.trim_start_matches("https://").rsplit_once(':').unwrap();
    env.push(("KUBERNETES_SERVICE_HOST".into(), host.into()));
    env.push(("KUBERNETES_SERVICE_PORT".into(), api_port.into()));
    env.push(("SERIN_LOG".into(), "info,kube=warn".into()));

    let log = std::fs::File::create(kube.dir.path().join("controller-image.log")).unwrap();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut controller = kubeenv::Controller {
        child: in_image(rootfs, user, &args).envs(env).stdout(Stdio::null()).stderr(log).spawn().unwrap(),
    };
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    kube.eventually("the image's controller ready", Duration::from_secs(60), || async {
        let answer = Command::new("curl")
            .args(["--silent", "--output", "/dev/null", "--write-out", "%{http_code}", &readyz])
            .output();
        let code = answer.ok().map(|o| String::from_utf8_lossy(&o.stdout).to_string());
        (code.as_deref() == Some("200")).then_some(())
    })
    .await;
    kube.eventually("the image's controller leads", Duration::from_secs(30), || async {
        let lease = kube.get("coordination.k8s.io/v1", "Lease", "serin-system", "serin-controller-lock").await?;
        (lease["spec"]["holderIdentity"] == pod).then_some(())
    })
    .await;
    if is_root() {
        let status = std::fs::read_to_string(format!("/proc/{}/status", controller.child.id())).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert_eq!(uid.split_whitespace().nth(1), Some("65532"), "the controller runs as the image's user: {uid}");
    }
    controller.terminate();
    let status = controller.child.wait().unwrap();
    assert!(status.success(), "the controller ends cleanly on SIGTERM: {status}\n{}", kube.logs());
}
