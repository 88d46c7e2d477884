//! TLS through the router on the local platform, with real clients (curl and rustls) and
//! certificates made by openssl: the seed's canary behind an IngressRoute with `spec.tls`,
//! certificates chosen by SNI for two hosts from `kubernetes.io/tls` Secrets, HTTP/2 by ALPN
//! (`curl --http2`) splitting exactly as HTTP/1.1 does, a TLSOption holding one host to TLS
//! 1.3, and a renewed certificate served to new connections while an open one keeps working.

mod common;

use common::tls::{certificate, secret};
use common::{SEED, Server, status};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// The seed's canary also served over TLS for canary.myapp.com, and a second host held to TLS
/// 1.3 by a TLSOption, both on the entry point `web` (Traefik takes TLS and clear on one).
const TLS_ROUTES: &str = "apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: myapp-canary-tls
spec:
  entryPoints: [web]
  routes:
  - match: Host(`canary.myapp.com`)
    kind: Rule
    services:
    - name: canary-service
      kind: TraefikService
  tls:
    secretName: canary-tls
---
apiVersion: traefik.io/v1alpha1
kind: TLSOption
metadata:
  name: modern
spec:
  minVersion: VersionTLS13
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: modern-tls
spec:
  entryPoints: [web]
  routes:
  - match: Host(`modern.myapp.com`)
    kind: Rule
    services:
    - name: canary-active
      port: 80
  tls:
    secretName: modern-tls
    options:
      name: modern
";

/// curl to `https://{host}/{path}` through the router, trusting `ca`; `args` come first.
fn curl(server: &Server, dir: &Path, ca: &str, host: &str, path: &str, args: &[&str]) -> Output {
    let port = server.web.port();
    Command::new("curl")
        .args(["--silent", "--show-error", "--cacert", &format!("{ca}.pem")])
        .args(["--resolve", &format!("{host}:{port}:{}", server.web.ip())])
        .args(args)
        .arg(format!("https://{host}:{port}{path}"))
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A rustls connection to canary.myapp.com through the router, trusting the CA in `ca_pem`.
fn connect(server: &Server, ca_pem: &Path) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(ca_pem).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "canary.myapp.com".try_into().unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(server.web).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rustls::StreamOwned::new(connection, tcp)
}

/// A keep-alive GET on an open connection; the answer's status line and body.
fn get(stream: &mut impl ReadWrite, path: &str) -> String {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: canary.myapp.com\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let mut piece = [0u8; 4096];
    loop {
        let n = stream.read(&mut piece).unwrap();
        assert!(n > 0, "the connection closed: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&piece[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| l.strip_prefix("content-length: ")).map(|n| n.parse().unwrap());
            if length.is_some_and(|n: usize| body.len() >= n) {
                return text.into_owned();
            }
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[test]
fn tls_with_sni_http2_by_alpn_and_a_renewed_certificate() {
    let server = Server::start(10.0);
    server.serin(&["apply", "-f", SEED]);
    server.wait_for("10 v1 pods", WAIT, |t| status(t)["phase"] == "Healthy" && status(t)["availableReplicas"] == 10);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    certificate(dir, "ca", "canary.myapp.com", "DNS:canary.myapp.com");
    certificate(dir, "ca", "modern.myapp.com", "DNS:modern.myapp.com");
    let secrets = [secret(dir, "canary-tls", "canary.myapp.com"), secret(dir, "modern-tls", "modern.myapp.com")];
    server.apply_text("tls.yaml", &format!("{}---\n{}---\n{TLS_ROUTES}", secrets[0], secrets[1]));
    server.serin(&["set", "image", "canary-rollout", "myapp=ikubernetes/myapp:v2"]);
    server.wait_for("step 1 (10%)", WAIT, |t| status(t)["currentStepIndex"] == 1 && status(t)["phase"] == "Paused");

    // Twenty requests on one HTTP/2 connection, each host's certificate verified by name:
    // exactly one in ten reaches the canary, as in clear.
    let urls: Vec<String> = (0..19).map(|_| format!("https://canary.myapp.com:{}/", server.web.port())).collect();
    let mut args = vec!["--http2", "--write-out", "[%{http_version} %{http_code} %{num_connects}]\n"];
    args.extend(urls.iter().map(String::as_str));
    let output = curl(&server, dir, "ca", "canary.myapp.com", "/", &args);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}{text}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(text.matches("[2 200 ").count(), 20, "{text}");
    assert_eq!(text.matches(" 1]").count(), 1, "one connection for all: {text}");
    let answers: Vec<&str> = text.lines().filter(|l| l.starts_with("Hello MyApp")).collect();
    for (round, window) in answers.chunks(10).enumerate() {
        assert_eq!(window.iter().filter(|a| a.contains("Version: v2")).count(), 1, "round {round}: {answers:?}");
    }

    // The second host gets its own certificate and its TLSOption: TLS 1.3 only.
    let modern = curl(&server, dir, "ca", "modern.myapp.com", "/", &["--write-out", "[%{http_code}]"]);
    assert!(String::from_utf8_lossy(&modern.stdout).ends_with("[200]"), "{modern:?}");
    let old = curl(&server, dir, "ca", "modern.myapp.com", "/", &["--tls-max", "1.2"]);
    assert!(!old.status.success(), "TLS 1.2 to a TLS 1.3-only host: {old:?}");
    let canary_tls12 =
        curl(&server, dir, "ca", "canary.myapp.com", "/", &["--tls-max", "1.2", "--write-out", "[%{http_code}]"]);
    assert!(String::from_utf8_lossy(&canary_tls12.stdout).ends_with("[200]"), "{canary_tls12:?}");
    // A name no certificate answers for gets the default certificate, which the CA did not sign.
    let unknown = curl(&server, dir, "ca", "nobody.myapp.com", "/", &[]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("certificate"), "{unknown:?}");
    let insecure = curl(&server, dir, "ca", "nobody.myapp.com", "/", &["--insecure", "--write-out", "[%{http_code}]"]);
    assert!(String::from_utf8_lossy(&insecure.stdout).ends_with("404 page not found\n[404]"), "{insecure:?}");

    // Pods learn the request came over https.
    let mut open = connect(&server, &dir.join("ca.pem"));
    let seen = get(&mut open, "/__serin/request");
    assert!(seen.starts_with("HTTP/1.1 200") && seen.contains("x-forwarded-proto: https"), "{seen}");
    assert!(seen.contains("x-forwarded-port: 443"), "{seen}");

    // The certificate renewed (by another CA): new connections get it at once, and the
    // connection already open keeps working.
    certificate(dir, "ca2", "canary.myapp.com", "DNS:canary.myapp.com");
    server.apply_text("renewed.yaml", &secret(dir, "canary-tls", "canary.myapp.com"));
    let renewed = Instant::now();
    while !curl(&server, dir, "ca2", "canary.myapp.com", "/", &[]).status.success() {
        assert!(renewed.elapsed() < Duration::from_secs(10), "the renewed certificate was never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!curl(&server, dir, "ca", "canary.myapp.com", "/", &[]).status.success(), "the old certificate is gone");
    assert!(get(&mut open, "/").starts_with("HTTP/1.1 200"), "the open connection was dropped");

    // A Secret's values are hidden from callers without the API token.
    let stored = server.object("", "Secret", "canary-tls");
    assert_eq!(stored["data"]["tls.key"], "***", "{stored}");
    assert_eq!(stored["type"], "kubernetes.io/tls");
}
