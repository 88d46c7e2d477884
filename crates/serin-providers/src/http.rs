//! The HTTP providers: one client (http and https, connect timeout 5 s) for Prometheus's query
//! API and any web endpoint, JSONPath into JSON answers as Argo's web provider reads them.
//!
//! https trusts the system's certificate authorities (`SSL_CERT_FILE` and `SSL_CERT_DIR` are
//! honoured, as by OpenSSL) and those of an optional CA file; a web metric with Argo's
//! `insecure: true` skips verification of the endpoint's certificate.

use crate::{Outcome, Reading};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::Value as Json;
use serin_analysis::MetricValue;
use serin_model::analysis::MetricProvider;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct Http {
    client: Client<Connector, Full<Bytes>>,
    /// For `insecure: true` endpoints: their certificate is not verified.
    unverified: Client<Connector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Http::new(None).expect("the system's certificate authorities need no file")
    }
}

impl Http {
    /// A client trusting the system's certificate authorities and those in `ca_file` (PEM).
    pub fn new(ca_file: Option<&Path>) -> Result<Http, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(trusted_roots(ca_file)?);
        let verified = tls_config().with_root_certificates(roots).with_no_client_auth();
        let unverified = tls_config()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate::new()))
            .with_no_client_auth();
        Ok(Http { client: client(verified), unverified: client(unverified) })
    }

    /// The reading of a `prometheus` or `web` metric; `None` for the other providers.
    pub async fn measure(&self, provider: &MetricProvider) -> Option<Outcome> {
        if let Some(prometheus) = &provider.prometheus {
            return Some(self.prometheus(&serde_json::to_value(prometheus).unwrap_or_default()).await);
        }
        if let Some(web) = &provider.web {
            return Some(self.web(&serde_json::to_value(web).unwrap_or_default()).await);
        }
        None
    }

    /// One request; the body of any answer, or why there was none.
    async fn call(&self, url: &str, request: Request<'_>, timeout: Duration) -> Result<(u16, String), String> {
        let Request { method, headers, body, insecure } = request;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("{url}: only http:// and https:// URLs can be measured"));
        }
        let client = if insecure { &self.unverified } else { &self.client };
        let mut request = hyper::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| format!("invalid request to {url}: {e}"))?;
        let response = tokio::time::timeout(timeout, client.request(request))
            .await
            .map_err(|_| format!("{url} did not answer within {}s", timeout.as_secs_f64()))?
            .map_err(|e| format!("cannot reach {url}: {}", error_chain(&e)))?;
        let status = response.status().as_u16();
        let bytes = tokio::time::timeout(timeout, response.into_body().collect())
            .await
            .map_err(|_| format!("{url} did not finish its answer within {}s", timeout.as_secs_f64()))?
            .map_err(|e| format!("reading the answer of {url}: {e}"))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Prometheus: a scalar gives a number, a vector the list of its sample values.
    async fn prometheus(&self, spec: &Json) -> Outcome {
        let address = spec["address"].as_str().ok_or("prometheus.address is required")?.trim_end_matches('/');
        let query = spec["query"].as_str().ok_or("prometheus.query is required")?;
        let timeout = Duration::from_secs(spec["timeout"].as_u64().unwrap_or(30).max(1));
        let url = format!("{address}/api/v1/query?query={}", percent_encode(query));
        let headers = key_values(&spec["headers"]);
        let request = Request { method: "GET", headers, body: None, insecure: spec["insecure"] == true };
        let (status, body) = self.call(&url, request, timeout).await?;
        let answer: Json = serde_json::from_str(&body).map_err(|_| {
            format!("Prometheus at {address} answered {status} with something that is not JSON: {}", snippet(&body))
        })?;
        if answer["status"] != "success" {
            return Err(format!(
                "Prometheus query failed ({status}): {}",
                answer["error"].as_str().unwrap_or(&snippet(&body))
            ));
        }
        let data = &answer["data"];
        let number = |sample: &Json| -> Result<f64, String> {
            let text = sample.get(1).and_then(Json::as_str).ok_or_else(|| format!("unexpected sample {sample}"))?;
            match text {
                "NaN" => Ok(f64::NAN),
                "+Inf" => Ok(f64::INFINITY),
                "-Inf" => Ok(f64::NEG_INFINITY),
                t => t.parse().map_err(|_| format!("unexpected sample value {t:?}")),
            }
        };
        match data["resultType"].as_str() {
            // NaN (0/0: no traffic) counts as no sample, so it is Inconclusive, not a verdict.
            Some("scalar") => {
                let x = number(&data["result"])?;
                Ok(Reading { value: MetricValue::Float(x), samples: Some(u64::from(!x.is_nan())) })
            }
            Some("vector") => {
                // An empty vector is no data: the minimum-sample guard makes it Inconclusive.
                let series = data["result"].as_array().cloned().unwrap_or_default();
                let values = series.iter().map(|s| number(&s["value"])).collect::<Result<Vec<_>, _>>()?;
                let samples = values.iter().filter(|x| !x.is_nan()).count() as u64;
                Ok(Reading { samples: Some(samples), value: MetricValue::Floats(values) })
            }
            other => Err(format!(
                "Prometheus result type {other:?} is not supported (use an instant query giving a scalar or a vector)"
            )),
        }
    }

    /// A web endpoint; with `jsonPath`, the value found there, else the whole JSON answer.
    async fn web(&self, spec: &Json) -> Outcome {
        let url = spec["url"].as_str().ok_or("web.url is required")?;
        let method = spec["method"].as_str().unwrap_or("GET");
        let timeout = Duration::from_secs(spec["timeoutSeconds"].as_u64().unwrap_or(10).max(1));
        let mut headers = key_values(&spec["headers"]);
        let body = match (&spec["body"], &spec["jsonBody"]) {
            (Json::String(body), _) => Some(body.clone()),
            (_, Json::Null) => None,
            (_, json_body) => {
                headers.push(("Content-Type".into(), "application/json".into()));
                Some(json_body.to_string())
            }
        };
        let request = Request { method, headers, body, insecure: spec["insecure"] == true };
        let (status, text) = self.call(url, request, timeout).await?;
        if !(200..300).contains(&status) {
            return Err(format!("{url} answered {status}: {}", snippet(&text)));
        }
        let answer: Json = serde_json::from_str(&text)
            .map_err(|_| format!("{url} answered with something that is not JSON: {}", snippet(&text)))?;
        let value = match spec["jsonPath"].as_str() {
            Some(path) => json_path(&answer, path)?,
            None => answer,
        };
        Ok(Reading { value: MetricValue::Json(value), samples: None })
    }
}

fn key_values(list: &Json) -> Vec<(String, String)> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            (h["key"].as_str().unwrap_or_default().to_string(), h["value"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

fn snippet(text: &str) -> String {
    let trimmed: String = text.trim().chars().take(120).collect();
    if trimmed.is_empty() { "(empty)".into() } else { format!("{trimmed:?}") }
}

/// Percent-encodes a URL query value (RFC 3986 unreserved characters stay).
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Kubernetes' JSONPath template as Argo's web provider uses it: `{$.data.ok}`,
/// `{$.items[0].value}`, `{.status}`. Missing fields are an error, not a silent null.
pub fn json_path(value: &Json, path: &str) -> Result<Json, String> {
    let inner = path.trim().strip_prefix('{').and_then(|p| p.strip_suffix('}')).unwrap_or(path.trim());
    let inner = inner.strip_prefix('$').unwrap_or(inner);
    let mut current = value;
    let mut rest = inner;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if !key.is_empty() {
                current = current.get(key).ok_or_else(|| format!("jsonPath {path}: no field {key:?} in the answer"))?;
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| format!("jsonPath {path}: unclosed ["))?;
            let index = &after[..end];
            current = match index.trim_matches(['\'', '"']).parse::<usize>() {
                Ok(i) => current.get(i).ok_or_else(|| format!("jsonPath {path}: index {i} is out of range"))?,
                Err(_) => current
                    .get(index.trim_matches(['\'', '"']))
                    .ok_or_else(|| format!("jsonPath {path}: no field {index}"))?,
            };
            rest = &after[end + 1..];
        } else {
            return Err(format!("jsonPath {path}: unexpected {rest:?}"));
        }
    }
    Ok(current.clone())
}

/// The certificate authorities https is checked against: the system's (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` honoured, as by OpenSSL) and those of `ca_file` (PEM), which must hold at
/// least one valid certificate. Shared by the metric providers and the CLI.
pub fn trusted_roots(ca_file: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut roots = rustls_native_certs::load_native_certs().certs;
    if let Some(path) = ca_file {
        let certificates = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!("the CA file {} holds no certificate", path.display()));
        }
        let mut check = rustls::RootCertStore::empty();
        for certificate in &certificates {
            check
                .add(certificate.clone())
                .map_err(|e| format!("a certificate in {} is not valid: {e}", path.display()))?;
        }
        roots.extend(certificates);
    }
    Ok(roots)
}

/// What one measurement asks of its endpoint.
struct Request<'a> {
    method: &'a str,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// Argo's `insecure: true`: the endpoint's certificate is not verified.
    insecure: bool,
}

/// TLS as rustls does it safely by default (TLS 1.2 and 1.3), with the ring provider.
fn tls_config() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
}

/// An HTTP client over `tls`, for http:// and https:// alike, connecting within 5 s.
fn client(tls: rustls::ClientConfig) -> Client<Connector, Full<Bytes>> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// An error with its causes ("cannot reach ...: client error (Connect): invalid peer certificate: UnknownIssuer").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The verifier of `insecure: true`: every certificate is taken, signatures still checked
/// (with ring's algorithms, read once).
#[derive(Debug)]
struct AnyCertificate(rustls::crypto::WebPkiSupportedAlgorithms);

impl AnyCertificate {
    fn new() -> AnyCertificate {
        AnyCertificate(rustls::crypto::ring::default_provider().signature_verification_algorithms)
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A request as the fake endpoint received it: its head (names as sent) and its body.
    struct Received {
        head: String,
        body: String,
    }

    /// An endpoint on loopback that takes one request and answers it with `answer` (a whole
    /// HTTP/1.1 response), or with `None` holds the connection without answering until the
    /// client gives up (which it must, by closing the connection, within 10 s). Its task hands
    /// over the request it received.
    async fn endpoint(answer: Option<String>) -> (String, tokio::task::JoinHandle<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut bytes = Vec::new();
            let mut more = async |bytes: &mut Vec<u8>| {
                let mut chunk = [0; 4096];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the client closed in the middle of its request: {:?}", String::from_utf8_lossy(bytes));
                bytes.extend_from_slice(&chunk[..n]);
            };
            let end = loop {
                if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                more(&mut bytes).await;
            };
            let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
            let length = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase().strip_prefix("content-length:").map(|n| n.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while bytes.len() < end + length {
                more(&mut bytes).await;
            }
            let body = String::from_utf8(bytes[end..].to_vec()).unwrap();
            match answer {
                Some(answer) => stream.write_all(answer.as_bytes()).await.unwrap(),
                None => {
                    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut [0; 1])).await;
                    assert_eq!(
                        closed.expect("the client kept the connection open").unwrap(),
                        0,
                        "the client sent more"
                    );
                }
            }
            Received { head, body }
        });
        (url, task)
    }

    fn json_answer(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn a_web_metric_sends_its_method_headers_and_json_body() {
        let (url, received) = endpoint(Some(json_answer(r#"{"data": {"ok": true}}"#))).await;
        let spec = json!({
            "url": format!("{url}/check?window=5m"),
            "method": "POST",
            "headers": [{"key": "X-Token", "value": "abc"}],
            "jsonBody": {"service": "canary"},
            "jsonPath": "{$.data.ok}",
        });
        let reading = Http::default().web(&spec).await.unwrap();
        assert_eq!(reading, Reading { value: MetricValue::Json(json!(true)), samples: None });
        let Received { head, body } = received.await.unwrap();
        assert!(head.starts_with("POST /check?window=5m HTTP/1.1\r\n"), "{head}");
        let head = head.to_ascii_lowercase();
        assert!(head.contains("\r\nx-token: abc\r\n"), "{head}");
        assert!(head.contains("\r\ncontent-type: application/json\r\n"), "{head}");
        assert_eq!(body, r#"{"service":"canary"}"#);
    }

    #[tokio::test]
    async fn a_prometheus_query_carries_its_headers_and_counts_the_series_it_reads() {
        let vector = r#"{"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"pod": "a"}, "value": [1764250000, "0.5"]},
            {"metric": {"pod": "b"}, "value": [1764250000, "NaN"]}]}}"#;
        let (url, received) = endpoint(Some(json_answer(vector))).await;
        let spec = json!({
            "address": format!("{url}/"),
            "query": "sum(rate(errors[1m]))",
            "headers": [{"key": "Authorization", "value": "Bearer t0ken"}],
        });
        let reading = Http::default().prometheus(&spec).await.unwrap();
        let MetricValue::Floats(values) = &reading.value else { panic!("{reading:?}") };
        assert_eq!((values.len(), values[0], values[1].is_nan()), (2, 0.5, true));
        assert_eq!(reading.samples, Some(1), "NaN is no sample");
        let Received { head, body } = received.await.unwrap();
        assert!(head.starts_with("GET /api/v1/query?query=sum%28rate%28errors%5B1m%5D%29%29 HTTP/1.1\r\n"), "{head}");
        assert!(head.to_ascii_lowercase().contains("\r\nauthorization: bearer t0ken\r\n"), "{head}");
        assert_eq!(body, "");
    }

    #[tokio::test]
    async fn an_endpoint_that_does_not_answer_within_the_timeout_is_an_error() {
        // Each provider names its timeout in its own field, as Argo's do.
        for (provider, field) in [("web", "timeoutSeconds"), ("prometheus", "timeout")] {
            let (url, received) = endpoint(None).await;
            let mut spec = json!({"url": url, "address": url, "query": "up"});
            spec[field] = json!(1);
            let started = std::time::Instant::now();
            let http = Http::default();
            let error =
                if provider == "web" { http.web(&spec).await } else { http.prometheus(&spec).await }.unwrap_err();
            assert!(error.contains("did not answer within 1s"), "{provider}: {error}");
            assert!(started.elapsed() < Duration::from_secs(5), "{provider}: gave up after {:?}", started.elapsed());
            drop(http);
            received.await.unwrap();
        }
    }

    #[test]
    fn json_paths_like_argo_uses_them() {
        let answer = json!({"data": {"ok": true, "items": [{"value": 0.98}]}});
        assert_eq!(json_path(&answer, "{$.data.ok}"), Ok(json!(true)));
        assert_eq!(json_path(&answer, "{$.data.items[0].value}"), Ok(json!(0.98)));
        assert_eq!(json_path(&answer, "{.data}").unwrap()["ok"], true);
        assert!(json_path(&answer, "{$.data.missing}").unwrap_err().contains("no field \"missing\""));
        assert!(json_path(&answer, "{$.data.items[3]}").unwrap_err().contains("out of range"));
    }

    /// A real TLS server (`openssl s_server -WWW`) on loopback serving `{"ok": true}` as
    /// `/data.json`, with a certificate for 127.0.0.1 from a CA made for the test: the server's
    /// base URL, the CA's PEM file, and the server process (killed on drop).
    struct TlsEndpoint {
        url: String,
        ca: std::path::PathBuf,
        _dir: tempfile::TempDir,
        server: std::process::Child,
    }

    impl Drop for TlsEndpoint {
        fn drop(&mut self) {
            let _ = self.server.kill();
            let _ = self.server.wait();
        }
    }

    fn openssl(dir: &Path, args: &[&str]) {
        let output = std::process::Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    async fn tls_endpoint() -> TlsEndpoint {
        let dir = tempfile::tempdir().unwrap();
        let days = ["-days", "2"];
        openssl(
            dir.path(),
            &[
                &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=serin test CA"][..],
                &["-keyout", "ca.key", "-out", "ca.pem"],
                &days,
            ]
            .concat(),
        );
        openssl(
            dir.path(),
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        std::fs::write(dir.path().join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(
            dir.path(),
            &[
                &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"][..],
                &["-extfile", "san.ext", "-out", "server.pem"],
                &days,
            ]
            .concat(),
        );
        std::fs::write(dir.path().join("data.json"), r#"{"ok": true}"#).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-cert", "server.pem", "-key", "server.key"])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        TlsEndpoint { url: format!("https://127.0.0.1:{port}"), ca: dir.path().join("ca.pem"), _dir: dir, server }
    }

    #[tokio::test]
    async fn https_endpoints_are_measured_when_their_certificate_is_trusted() {
        let tls = tls_endpoint().await;
        let spec = json!({"url": format!("{}/data.json", tls.url), "jsonPath": "{$.ok}"});
        // The system does not know the test's CA: refused, saying why.
        let error = Http::default().web(&spec).await.unwrap_err();
        assert!(error.contains("cannot reach https://127.0.0.1:") && error.contains("certificate"), "{error}");
        // With the CA file, it is measured.
        let trusting = Http::new(Some(&tls.ca)).unwrap();
        assert_eq!(trusting.web(&spec).await.unwrap().value, MetricValue::Json(json!(true)));
        // Argo's `insecure: true` skips the check.
        let insecure = json!({"url": format!("{}/data.json", tls.url), "jsonPath": "{$.ok}", "insecure": true});
        assert_eq!(Http::default().web(&insecure).await.unwrap().value, MetricValue::Json(json!(true)));
        // A CA file that is not one is a clear error.
        let error = Http::new(Some(&tls._dir.path().join("data.json"))).err().unwrap();
        assert!(error.contains("holds no certificate"), "{error}");
    }
}
