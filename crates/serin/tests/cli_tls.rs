//! The CLI against a server behind https: trusted through `--ca-file` (the system does not
//! know the test's CA), refused without it with the reason, and the token never sent in clear.

mod common;

use common::Server;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Terminates TLS on a loopback port and relays each connection to `api` (as a reverse proxy
/// in front of the server would); returns the https URL.
fn tls_front(dir: &Path, api: &str) -> String {
    let chain = CertificateDer::pem_file_iter(dir.join("server.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let upstream = api.trim_start_matches("http://").to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(mut client) = acceptor.accept(client).await else { return };
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
    });
    url
}

#[test]
fn the_cli_speaks_https_trusting_the_ca_file() {
    let server = Server::start(1.0);
    let dir = tempfile::tempdir().unwrap();
    common::tls::certificate(dir.path(), "ca", "server", "IP:127.0.0.1");
    let url = tls_front(dir.path(), &server.api);
    let token = std::fs::read_to_string(server.data_dir().join("token")).unwrap();
    let serin = |args: &[&str]| {
        Command::new(common::serin_binary())
            .args(args)
            .args(["--server", &url, "--token", token.trim()])
            .env_remove("SERIN_DATA_DIR")
            .output()
            .unwrap()
    };
    // Without the CA the server's certificate is not trusted, and the CLI says so.
    let refused = serin(&["list", "rollouts"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("certificate"), "{stderr}");
    // With it, reads and writes go through (a write needs the token, sent inside TLS).
    let ca = dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let listed = serin(&["list", "rollouts", "--ca-file", ca]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let applied = Command::new(common::serin_binary())
        .args(["apply", "-f", &format!("{}/service.yaml", common::SEED), "--server", &url, "--ca-file", ca])
        .args(["--token", token.trim()])
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    assert!(!String::from_utf8_lossy(&applied.stderr).contains("clear text"));
    let got = serin(&["get", "service", "canary-active", "--ca-file", ca]);
    assert!(String::from_utf8_lossy(&got.stdout).contains("canary-active"), "{}", String::from_utf8_lossy(&got.stderr));
}
