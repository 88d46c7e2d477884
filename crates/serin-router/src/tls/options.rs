//! A TLSOption made into what rustls serves: the versions between its minimum (TLS 1.2 by
//! default, as Traefik's) and maximum, the TLS 1.2 cipher suites and the curves it lists (in
//! Go's names), the ALPN protocols (h2 and http/1.1 unless it says otherwise), whether a client
//! certificate is asked for, required and verified, whether a server name no certificate
//! answers for is refused (`sniStrict`), and session tickets.

use super::certificates::CertificateStore;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use serin_rules::tls::{CIPHER_SUITES, CURVES, ClientAuthType, TlsVersion, Word, lookup};
use std::sync::Arc;

/// One TLSOption, in Traefik's words (already checked by `serin lint`).
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    /// Go's names; `None` offers every suite serin has.
    pub cipher_suites: Option<Vec<String>>,
    /// Go's or the RFC's names, in order of preference; `None` offers every curve serin has.
    pub curve_preferences: Option<Vec<String>>,
    /// `None`: h2, then http/1.1.
    pub alpn_protocols: Option<Vec<String>>,
    pub sni_strict: bool,
    pub client_auth: ClientAuthType,
    /// The CAs client certificates are verified against.
    pub client_cas: Vec<CertificateDer<'static>>,
    pub disable_session_tickets: bool,
}

impl Default for TlsSettings {
    /// Traefik's default options.
    fn default() -> TlsSettings {
        TlsSettings {
            min_version: None,
            max_version: None,
            cipher_suites: None,
            curve_preferences: None,
            alpn_protocols: None,
            sni_strict: false,
            client_auth: ClientAuthType::NoClientCert,
            client_cas: Vec::new(),
            disable_session_tickets: false,
        }
    }
}

/// The protocols the router speaks over TLS, in the order it prefers them.
const PROTOCOLS: [&str; 2] = ["h2", "http/1.1"];

impl TlsSettings {
    /// The server configuration these settings give, with certificates from `store`, and what
    /// of the settings serin could not honour (TLS 1.0 or 1.1, suites and curves rustls lacks).
    pub fn server_config(&self, store: &Arc<CertificateStore>) -> Result<(Arc<ServerConfig>, Vec<String>), String> {
        let mut ignored = Vec::new();
        let mut provider = rustls::crypto::ring::default_provider();
        // Go's preference, which Traefik's handshakes show: AES-128-GCM, then AES-256-GCM,
        // then ChaCha20-Poly1305, ECDSA before RSA; the server's order, not the client's.
        provider.cipher_suites.sort_by_key(|suite| {
            let name = suite.suite().as_str().unwrap_or_default();
            let cipher = ["AES_128_GCM", "AES_256_GCM", "CHACHA20"].iter().position(|c| name.contains(c));
            (!name.starts_with("TLS13_"), cipher, !name.contains("ECDSA"))
        });
        if let Some(suites) = &self.cipher_suites {
            let named: Vec<&str> = offered(CIPHER_SUITES, suites, "cipher suite", &mut ignored);
            // TLS 1.3's suites are always on, as in Go; the list chooses among TLS 1.2's.
            provider.cipher_suites.retain(|suite| {
                let name = suite.suite().as_str().unwrap_or_default();
                name.starts_with("TLS13_") || named.contains(&name)
            });
        }
        if let Some(curves) = &self.curve_preferences {
            let named: Vec<&str> = offered(CURVES, curves, "curve", &mut ignored);
            let groups = std::mem::take(&mut provider.kx_groups);
            provider.kx_groups = named
                .iter()
                .filter_map(|name| groups.iter().find(|g| g.name().as_str() == Some(*name)).copied())
                .collect();
            provider.kx_groups.dedup_by_key(|g| g.name());
        }
        let min = self.min_version.unwrap_or(TlsVersion::Tls12);
        let max = self.max_version.unwrap_or(TlsVersion::Tls13);
        if !min.supported() {
            ignored.push(format!("TLS versions below 1.2 ({min:?} is the minimum asked for)"));
        }
        let versions: Vec<&'static rustls::SupportedProtocolVersion> =
            [(TlsVersion::Tls12, &rustls::version::TLS12), (TlsVersion::Tls13, &rustls::version::TLS13)]
                .into_iter()
                .filter(|(version, _)| (min..=max).contains(version))
                .map(|(_, supported)| supported)
                .collect();
        let provider = Arc::new(provider);
        let verifier = self.client_verifier(&provider)?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| format!("no TLS version, suite and curve left to offer: {e}"))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(Resolver { store: store.clone(), strict: self.sni_strict, unnamed: None }));
        config.ignore_client_order = true;
        config.alpn_protocols = match &self.alpn_protocols {
            None => PROTOCOLS.iter().map(|p| p.as_bytes().to_vec()).collect(),
            Some(asked) => {
                asked.iter().filter(|p| PROTOCOLS.contains(&p.as_str())).map(|p| p.as_bytes().to_vec()).collect()
            }
        };
        if !self.disable_session_tickets {
            config.ticketer = ticketer()?;
        }
        Ok((Arc::new(config), ignored))
    }

    fn client_verifier(&self, provider: &Arc<CryptoProvider>) -> Result<Arc<dyn ClientCertVerifier>, String> {
        let kind = self.client_auth;
        if kind == ClientAuthType::NoClientCert {
            return Ok(WebPkiClientVerifier::no_client_auth());
        }
        if !kind.verifies() {
            let algorithms = provider.signature_verification_algorithms;
            return Ok(Arc::new(AnyClientCertificate { mandatory: kind.mandatory(), algorithms }));
        }
        let mut roots = rustls::RootCertStore::empty();
        for ca in &self.client_cas {
            roots.add(ca.clone()).map_err(|e| format!("a client CA does not load: {e}"))?;
        }
        let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
        let builder = if kind.mandatory() { builder } else { builder.allow_unauthenticated() };
        builder.build().map_err(|e| format!("client certificates cannot be verified: {e}"))
    }
}

/// The session-ticket keys, one set for the whole process (rotated by rustls every six hours):
/// the route table, and the TLS configurations in it, are rebuilt at every pod change, and keys
/// made anew each time would void every ticket a client holds, forcing full handshakes.
fn ticketer() -> Result<Arc<dyn rustls::server::ProducesTickets>, String> {
    static TICKETER: std::sync::OnceLock<Result<Arc<dyn rustls::server::ProducesTickets>, String>> =
        std::sync::OnceLock::new();
    TICKETER.get_or_init(|| rustls::crypto::ring::Ticketer::new().map_err(|e| format!("session tickets: {e}"))).clone()
}

/// The names serin offers among `words`, each word it cannot offer noted in `ignored`.
fn offered(
    table: &'static [(&'static str, Option<&'static str>)],
    words: &[String],
    what: &str,
    ignored: &mut Vec<String>,
) -> Vec<&'static str> {
    let mut names = Vec::new();
    for word in words {
        match lookup(table, word) {
            Word::Offered(name) => names.push(name),
            Word::NotOffered | Word::Unknown => ignored.push(format!("{what} {word}")),
        }
    }
    names
}

/// Chooses the certificate by the client's server name, or by the address it connected to
/// when it sent none (`unnamed`); with `strict`, a name nothing answers for gets no
/// certificate and the handshake fails.
#[derive(Debug)]
pub(crate) struct Resolver {
    pub(crate) store: Arc<CertificateStore>,
    pub(crate) strict: bool,
    pub(crate) unnamed: Option<String>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase).or_else(|| self.unnamed.clone());
        match name.as_deref().and_then(|name| self.store.best(name)) {
            Some(found) => Some(found.clone()),
            None if self.strict => None,
            None => Some(self.store.default_certificate().clone()),
        }
    }
}

/// Go's RequestClientCert and RequireAnyClientCert: a certificate is asked for (and, for the
/// second, required) but not checked against any CA; the client still proves it holds its key.
#[derive(Debug)]
struct AnyClientCertificate {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
