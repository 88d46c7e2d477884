//! gRPC through the router on the local platform, with a real gRPC server and client (PyPI's
//! grpcio, which scripts/test.sh installs): the example's canary with its TraefikService
//! sending to the Services with `scheme: h2c`, so the router speaks HTTP/2 in clear to the
//! pods, as Traefik does. Calls split exactly (one in ten to the canary at step 1, on one
//! client connection), and a call the server refuses comes back with its status and message,
//! which travel in HTTP/2 trailers.

mod common;

use common::{SEED, Server, status};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/grpc");

/// The Python that has grpcio: `$SERIN_GRPC_PYTHON`, else the test cache's.
fn grpc_python() -> PathBuf {
    let path = std::env::var_os("SERIN_GRPC_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("SERIN_TEST_CACHE").unwrap_or_else(|| "/var/cache/serin-tests".into());
        PathBuf::from(cache).join("grpcio/bin/python")
    });
    assert!(
        path.exists(),
        "no Python with grpcio at {} ($SERIN_GRPC_PYTHON): `bash scripts/test.sh` installs it",
        path.display()
    );
    path
}

/// The example's manifests with the gRPC greeter as the image and `scheme: h2c` on the
/// TraefikServices' services.
fn grpc_manifests() -> String {
    let read = |file: &str| std::fs::read_to_string(format!("{SEED}/{file}")).unwrap();
    let rollout = read("rollout.yaml").replace("ikubernetes/myapp:v1", "grpc-greeter:v1");
    let ingress = read("ingress.yaml").replace("        port: 80", "        port: 80\n        scheme: h2c");
    assert_eq!(ingress.matches("scheme: h2c").count(), 4, "{ingress}");
    format!("{rollout}\n---\n{}\n---\n{ingress}", read("service.yaml"))
}

/// Calls SayHello once per name through the router; one line per call.
fn call(server: &Server, names: &[&str]) -> Vec<String> {
    let output = Command::new(grpc_python())
        .arg(format!("{FIXTURES}/client.py"))
        .args([&server.web.to_string(), "canary.myapp.com"])
        .args(names)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn grpc_calls_split_exactly_and_carry_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    let python = grpc_python();
    std::fs::write(&images, format!("grpc-greeter:{{tag}} {} {FIXTURES}/greeter.py {{tag}}\n", python.display()))
        .unwrap();
    let server = Server::start_with(10.0, &["--images", images.to_str().unwrap()]);
    server.apply_text("grpc.yaml", &grpc_manifests());
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);
    assert_eq!(call(&server, &["a", "b"]), ["ok v1: hello a", "ok v1: hello b"]);

    server.serin(&["set", "image", "canary-rollout", "myapp=grpc-greeter:v2"]);
    server.wait_for("step 1 (10%)", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");
    let names: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let answers = call(&server, &names.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(answers.len(), 20, "{answers:?}");
    for (i, answer) in answers.iter().enumerate() {
        assert!(answer.ends_with(&format!(": hello {i}")) && answer.starts_with("ok v"), "{answers:?}");
    }
    for (round, window) in answers.chunks(10).enumerate() {
        assert_eq!(window.iter().filter(|a| a.starts_with("ok v2:")).count(), 1, "round {round}: {answers:?}");
    }
    // A refusal's status and message come back from whichever version answered.
    let refused = call(&server, &["deny"; 10]);
    assert_eq!(refused.iter().filter(|r| *r == "error PERMISSION_DENIED denied by v1").count(), 9, "{refused:?}");
    assert_eq!(refused.iter().filter(|r| *r == "error PERMISSION_DENIED denied by v2").count(), 1, "{refused:?}");
}
