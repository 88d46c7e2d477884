//! TLS through a router on loopback, with certificates made by the test: which certificate a
//! server name gets, which routes a TLS connection reaches, HTTP/2 by ALPN, TLS options chosen
//! by SNI (versions, strict SNI, client certificates), the 421 of a route asking for other
//! options, and how conflicting options are settled.

use super::*;
use crate::downstream::tests::{TIMEOUT, echo_pod, route_to, serving};
use crate::proxy::{Limits, Proxy};
use crate::table::RouteTable;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA, and certificates it signs.
struct Authority {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    der: CertificateDer<'static>,
}

impl Authority {
    fn new() -> Authority {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "serin test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().clone();
        Authority { issuer: rcgen::Issuer::new(params, key), der }
    }

    /// A certificate for `names` (DNS names or IP addresses), as PEM chain and key.
    fn sign(&self, common_name: Option<&str>, names: &[&str]) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(name) = common_name {
            params.distinguished_name.push(rcgen::DnType::CommonName, name);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        (params.signed_by(&key, &self.issuer).unwrap().pem(), key.serialize_pem())
    }

    fn certificate(&self, names: &[&str]) -> Certificate {
        let (chain, key) = self.sign(None, names);
        Certificate::from_pem(chain.as_bytes(), key.as_bytes()).unwrap()
    }
}

/// Accepts any server certificate: the tests look at which one was served.
#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// How a test client connects.
#[derive(Default)]
struct Hello<'a> {
    /// The server name sent; none sends none (the client names the IP address).
    name: Option<&'a str>,
    tls12_only: bool,
    alpn: &'a [&'a str],
    certificate: Option<(String, String)>,
}

/// Connects with `hello`: the stream, or the handshake's error.
async fn connect(
    router: SocketAddr,
    hello: Hello<'_>,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let versions: &[&'static rustls::SupportedProtocolVersion] =
        if hello.tls12_only { &[&rustls::version::TLS12] } else { rustls::DEFAULT_VERSIONS };
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer));
    let mut config = match hello.certificate {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let chain = CertificateDer::pem_slice_iter(chain.as_bytes()).map(Result::unwrap).collect();
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap()).unwrap()
        }
    };
    config.alpn_protocols = hello.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let name = match hello.name {
        Some(name) => ServerName::try_from(name.to_string()).unwrap(),
        None => ServerName::IpAddress(router.ip().into()),
    };
    let tcp = tokio::net::TcpStream::connect(router).await.unwrap();
    let mut stream =
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| e.to_string())?;
    // A TLS 1.3 server sends its verdict on the client's certificate after the handshake.
    stream.write_all(b"").await.map_err(|e| e.to_string())?;
    Ok(stream)
}

/// The names of the certificate the router served for `name`.
async fn served_for(router: SocketAddr, name: Option<&str>) -> Vec<String> {
    let stream = connect(router, Hello { name, ..Hello::default() }).await.unwrap();
    let certificate = &stream.get_ref().1.peer_certificates().unwrap()[0];
    names_of(certificate).unwrap()
}

/// Sends a GET with `host` and reads the answer to the end.
async fn get(mut stream: impl AsyncRead + AsyncWrite + Unpin, host: &str) -> String {
    let request = format!("GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// A router whose `web` entry point has the routes `(rule, TLS options)` to one echo pod, and
/// the TLS table `tls`.
async fn router(routes: &[(&str, Option<&str>)], tls: TlsTable) -> SocketAddr {
    let (pod, _) = echo_pod().await;
    let proxy = Proxy::new(Limits { client_timeout: TIMEOUT, ..Limits::new(usize::MAX) }, None);
    let mut table = RouteTable { tls, ..RouteTable::default() };
    let routes = routes.iter().map(|(rule, tls)| route_to(&proxy, &[pod], rule, *tls)).collect();
    table.entrypoints.insert("web".into(), routes);
    assert_eq!(table.bind_tls(), Vec::<String>::new());
    proxy.install(table);
    serving(proxy).await
}

fn table(certificates: Vec<Certificate>, options: &[(&str, TlsSettings)]) -> TlsTable {
    let options = options.iter().map(|(name, settings)| (name.to_string(), Ok(settings.clone()))).collect();
    let (table, problems) = TlsTable::new(certificates, None, options);
    assert!(problems.is_empty(), "{problems:?}");
    table
}

#[test]
fn a_certificate_answers_for_its_common_name_and_alternative_names() {
    let ca = Authority::new();
    let (chain, _) = ca.sign(Some("Main.Example"), &["main.example", "www.example", "10.0.0.1", "::1"]);
    let der = CertificateDer::from_pem_slice(chain.as_bytes()).unwrap();
    assert_eq!(names_of(&der).unwrap(), ["main.example", "www.example", "10.0.0.1", "::1"]);
    assert_eq!(names_of(&ca.der).unwrap(), ["serin test ca"]);
    assert_eq!(names_of(b"\x30\x03\x02\x01"), None);
}

#[tokio::test]
async fn certificates_are_chosen_by_server_name_and_the_default_answers_the_rest() {
    let ca = Authority::new();
    let certificates = vec![
        ca.certificate(&["a.example"]),
        ca.certificate(&["*.b.example"]),
        ca.certificate(&["exact.b.example"]),
        ca.certificate(&["127.0.0.1"]),
    ];
    let router = router(&[("Host(`a.example`)", Some(DEFAULT_OPTIONS))], table(certificates, &[])).await;
    assert_eq!(served_for(router, Some("a.example")).await, ["a.example"]);
    assert_eq!(served_for(router, Some("A.Example")).await, ["a.example"]);
    assert_eq!(served_for(router, Some("x.b.example")).await, ["*.b.example"]);
    // Of two that match, the one whose names sort last: "exact..." above "*...".
    assert_eq!(served_for(router, Some("exact.b.example")).await, ["exact.b.example"]);
    // A wildcard stands for one label only.
    let default = ["serin default cert", "serin.default.invalid"];
    assert_eq!(served_for(router, Some("x.y.b.example")).await, default);
    assert_eq!(served_for(router, Some("nobody.example")).await, default);
    // No server name: chosen by the address the client reached.
    assert_eq!(served_for(router, None).await, ["127.0.0.1"]);
}

#[tokio::test]
async fn tls_routes_take_tls_connections_and_the_others_clear_ones() {
    let ca = Authority::new();
    let tls = table(vec![ca.certificate(&["app"])], &[]);
    let router = router(&[("Host(`app`)", Some(DEFAULT_OPTIONS)), ("Host(`plain`)", None)], tls).await;
    let secure = get(connect(router, Hello { name: Some("app"), ..Hello::default() }).await.unwrap(), "app").await;
    assert!(secure.starts_with("HTTP/1.1 200"), "{secure}");
    assert!(secure.contains("x-forwarded-proto: https\n") && secure.contains("x-forwarded-port: 443\n"), "{secure}");
    let tls_to_clear_route =
        get(connect(router, Hello { name: Some("app"), ..Hello::default() }).await.unwrap(), "plain").await;
    assert!(tls_to_clear_route.starts_with("HTTP/1.1 404"), "{tls_to_clear_route}");
    let clear = get(tokio::net::TcpStream::connect(router).await.unwrap(), "plain").await;
    assert!(clear.starts_with("HTTP/1.1 200") && clear.contains("x-forwarded-proto: http\n"), "{clear}");
    let clear_to_tls_route = get(tokio::net::TcpStream::connect(router).await.unwrap(), "app").await;
    assert!(clear_to_tls_route.starts_with("HTTP/1.1 404"), "{clear_to_tls_route}");
}

#[tokio::test]
async fn alpn_chooses_http_2_over_tls() {
    let ca = Authority::new();
    let router = router(&[("Host(`app`)", Some(DEFAULT_OPTIONS))], table(vec![ca.certificate(&["app"])], &[])).await;
    let stream =
        connect(router, Hello { name: Some("app"), alpn: &["h2", "http/1.1"], ..Hello::default() }).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get("https://app/x").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let seen = String::from_utf8_lossy(&body);
    assert!(seen.starts_with("GET /x\n") && seen.contains("x-forwarded-proto: https\n"), "{seen}");
    // A client that offers only HTTP/1.1 gets it.
    let stream = connect(router, Hello { name: Some("app"), alpn: &["http/1.1"], ..Hello::default() }).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert!(get(stream, "app").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn options_are_chosen_by_server_name_and_a_route_reached_under_others_is_misdirected() {
    let ca = Authority::new();
    let modern = TlsSettings { min_version: Some(TlsVersion::Tls13), ..TlsSettings::default() };
    let tls = table(vec![ca.certificate(&["modern.example", "old.example"])], &[("ns-modern", modern)]);
    let routes = [("Host(`modern.example`)", Some("ns-modern")), ("Host(`old.example`)", Some(DEFAULT_OPTIONS))];
    let router = router(&routes, tls).await;
    let tls12 = |name| Hello { name: Some(name), tls12_only: true, ..Hello::default() };
    let refused = connect(router, tls12("modern.example")).await.err().unwrap();
    assert!(refused.contains("ProtocolVersion") || refused.contains("protocol version"), "{refused}");
    let old = connect(router, tls12("old.example")).await.unwrap();
    assert!(get(old, "old.example").await.starts_with("HTTP/1.1 200"));
    // SNI old.example (default options), Host modern.example (whose route asks for TLS 1.3).
    let fronted = get(connect(router, tls12("old.example")).await.unwrap(), "modern.example").await;
    assert!(fronted.starts_with("HTTP/1.1 421 Misdirected Request") && fronted.ends_with("Misdirected Request\n"));
    let modern = connect(router, Hello { name: Some("modern.example"), ..Hello::default() }).await.unwrap();
    assert_eq!(modern.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert!(get(modern, "modern.example").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn default_options_that_cannot_be_built_close_connections_instead_of_falling_back() {
    let ca = Authority::new();
    let options = BTreeMap::from([(DEFAULT_OPTIONS.to_string(), Err("TLSOption ns/default: no CA".to_string()))]);
    let (tls, problems) = TlsTable::new(vec![ca.certificate(&["app"])], None, options);
    assert_eq!(problems, ["TLSOption ns/default: no CA; connections that need them are closed"]);
    let router = router(&[("Host(`app`)", Some(DEFAULT_OPTIONS))], tls).await;
    assert!(connect(router, Hello { name: Some("app"), ..Hello::default() }).await.is_err());
}

#[tokio::test]
async fn strict_sni_refuses_a_name_no_certificate_answers_for() {
    let ca = Authority::new();
    let strict = TlsSettings { sni_strict: true, ..TlsSettings::default() };
    let tls = table(vec![ca.certificate(&["app"])], &[(DEFAULT_OPTIONS, strict)]);
    let router = router(&[("Host(`app`)", Some(DEFAULT_OPTIONS))], tls).await;
    assert_eq!(served_for(router, Some("app")).await, ["app"]);
    assert!(connect(router, Hello { name: Some("other"), ..Hello::default() }).await.is_err());
}

#[tokio::test]
async fn client_certificates_are_required_and_verified_against_the_options_cas() {
    let (ca, stranger) = (Authority::new(), Authority::new());
    let verify = TlsSettings {
        client_auth: ClientAuthType::RequireAndVerifyClientCert,
        client_cas: vec![ca.der.clone()],
        ..TlsSettings::default()
    };
    let tls = table(vec![ca.certificate(&["app"])], &[(DEFAULT_OPTIONS, verify)]);
    let router = router(&[("Host(`app`)", Some(DEFAULT_OPTIONS))], tls).await;
    let with = |certificate| Hello { name: Some("app"), certificate, ..Hello::default() };
    let admitted = connect(router, with(Some(ca.sign(Some("client"), &["client"])))).await.unwrap();
    assert!(get(admitted, "app").await.starts_with("HTTP/1.1 200"));
    assert!(get(connect(router, with(None)).await.unwrap(), "app").await.is_empty(), "no certificate");
    let foreign = connect(router, with(Some(stranger.sign(Some("client"), &["client"])))).await;
    assert!(foreign.is_err() || get(foreign.unwrap(), "app").await.is_empty(), "a certificate of another CA");
}

#[test]
fn routes_that_disagree_about_a_host_or_cannot_be_chosen_by_sni_get_the_default_options() {
    let proxy = Proxy::new(Limits::new(1), None);
    let pod: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let routes = [
        ("Host(`shared.example`)", Some("ns-one")),
        ("Host(`shared.example`) && Path(`/b`)", Some("ns-two")),
        ("PathPrefix(`/any`)", Some("ns-one")),
        ("Host(`own.example`)", Some("ns-one")),
        ("Host(`clear.example`)", None),
    ];
    let mut table = RouteTable::default();
    table
        .entrypoints
        .insert("web".into(), routes.iter().map(|(rule, tls)| route_to(&proxy, &[pod], rule, *tls)).collect());
    let problems = table.bind_tls();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[2].starts_with("route PathPrefix(`/any`) on entry point web: its TLS options ns-one differ"));
    let settled: Vec<Option<&str>> = table.entrypoints["web"].iter().map(|r| r.tls.as_deref()).collect();
    assert_eq!(settled, [Some("default"), Some("default"), Some("default"), Some("ns-one"), None]);
    assert_eq!(&*table.tls.policy("web", Some("own.example")).0, "ns-one");
    assert_eq!(&*table.tls.policy("web", Some("shared.example")).0, "default");
    // Options that were never given (a TLSOption that does not exist) have no configuration:
    // their connections are closed.
    assert!(table.tls.policy("web", Some("own.example")).1.is_none());
    assert!(table.tls.policy("web", Some("nobody.example")).1.is_some());
}

#[test]
fn tables_built_apart_share_session_ticket_keys_so_tickets_outlive_a_rebuild() {
    let ca = Authority::new();
    let first = table(vec![ca.certificate(&["app"])], &[]);
    let second = table(vec![ca.certificate(&["app"])], &[]);
    let ticketer = |table: &TlsTable| table.policies[DEFAULT_OPTIONS].config.ticketer.clone();
    assert!(Arc::ptr_eq(&ticketer(&first), &ticketer(&second)));
    assert!(ticketer(&first).enabled());
}
