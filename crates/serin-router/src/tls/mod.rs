//! TLS on the router's entry points, terminated as Traefik terminates it. Every entry point
//! takes both: a connection whose first byte opens a TLS handshake is served TLS, any other
//! clear HTTP. Routes of IngressRoutes with `spec.tls` serve TLS connections only, the others
//! clear ones only; a TLS connection no route matches gets Traefik's 404.
//!
//! The handshake's server name (SNI) chooses two things. The TLS options: those of the TLS
//! routes whose `Host` rules name that host on this entry point (routes that disagree about a
//! host, or name options without a host to choose them by, fall back to the default options,
//! as Traefik 3.7 resolves such conflicts), else the default ones; a request whose route asks
//! for other options than its connection was given is answered 421, as Traefik's SNI check
//! does. And the certificate, from every certificate the platform gave (see
//! [`certificates`]). After the handshake, ALPN decides between HTTP/2 and HTTP/1.1.
//!
//! The table of certificates and options is part of the route table: a new one applies to the
//! connections that follow, and the connections already open keep theirs.

mod certificates;
mod options;

pub use certificates::{Certificate, CertificateStore, certificates_from_pem, names_of};
pub use options::TlsSettings;
use serin_rules::tls::CIPHER_SUITES;
pub use serin_rules::tls::{ClientAuthType, TlsVersion};

use crate::table::CompiledRoute;
use options::Resolver;
use rustls::ServerConfig;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The name of the options used when nothing else applies, and of the TLSOption that replaces
/// them.
pub const DEFAULT_OPTIONS: &str = "default";

/// A TLS handshake begins with a record of this type.
const HANDSHAKE_RECORD: u8 = 0x16;

/// One TLS options' server configuration.
#[derive(Debug)]
struct Policy {
    config: Arc<ServerConfig>,
    strict: bool,
}

/// The certificates and TLS options the entry points serve with.
#[derive(Debug)]
pub struct TlsTable {
    store: Arc<CertificateStore>,
    /// By options name; options that could not be built are absent, and the connections that
    /// would use them are closed (as Traefik closes them).
    policies: HashMap<Arc<str>, Policy>,
    /// Per entry point, the options each server name gets; `None` when they could not be built.
    hosts: HashMap<String, HashMap<String, Arc<str>>>,
}

impl Default for TlsTable {
    /// The default options and serin's generated certificate only.
    fn default() -> TlsTable {
        TlsTable::new(Vec::new(), None, BTreeMap::new()).0
    }
}

impl TlsTable {
    /// The table of `certificates`, the `default` certificate (else serin's generated one) and
    /// the options by name (the built-in default options unless some named
    /// [`DEFAULT_OPTIONS`] are given). Options given as an error (a TLSOption whose client CAs
    /// cannot be read, say) are not served: the connections that would use them are closed,
    /// rather than served under laxer ones. Also returns what could not be honoured or built,
    /// one message each.
    pub fn new(
        certificates: Vec<Certificate>,
        default: Option<Certificate>,
        mut options: BTreeMap<String, Result<TlsSettings, String>>,
    ) -> (TlsTable, Vec<String>) {
        let store = Arc::new(CertificateStore::new(certificates, default));
        options.entry(DEFAULT_OPTIONS.to_string()).or_insert_with(|| Ok(TlsSettings::default()));
        let mut problems = Vec::new();
        let mut policies = HashMap::new();
        for (name, settings) in options {
            let settings = match settings {
                Ok(settings) => settings,
                Err(e) => {
                    problems.push(format!("{e}; connections that need them are closed"));
                    continue;
                }
            };
            match settings.server_config(&store) {
                Ok((config, ignored)) => {
                    if !ignored.is_empty() {
                        problems.push(format!("TLS options {name}: serin cannot offer {}", ignored.join(", ")));
                    }
                    policies.insert(name.into(), Policy { config, strict: settings.sni_strict });
                }
                Err(e) => problems.push(format!("TLS options {name}: {e}; connections that need them are closed")),
            }
        }
        (TlsTable { store, policies, hosts: HashMap::new() }, problems)
    }

    /// Settles the options of each entry point's TLS routes (the names they ask for) as Traefik
    /// does, and which options each server name gets. Returns a message for each route whose
    /// options gave way to the default ones.
    pub(crate) fn bind(&mut self, entrypoints: &mut HashMap<String, Vec<CompiledRoute>>) -> Vec<String> {
        self.hosts.clear();
        let mut problems = Vec::new();
        for (entrypoint, routes) in entrypoints {
            // Routes whose options cannot be chosen by SNI: no host to choose by, or a host
            // another route wants other options for.
            let mut wanted: HashMap<String, Vec<(usize, &str)>> = HashMap::new();
            let mut conflicting = Vec::new();
            for (index, route) in routes.iter().enumerate() {
                let Some(options) = route.tls.as_deref() else { continue };
                let domains = route.rule.domains();
                if domains.is_empty() && options != DEFAULT_OPTIONS {
                    conflicting.push(index);
                }
                for domain in domains {
                    wanted.entry(domain).or_default().push((index, options));
                }
            }
            for users in wanted.values() {
                if users.iter().any(|(_, options)| *options != users[0].1) {
                    conflicting.extend(users.iter().map(|(index, _)| *index));
                }
            }
            let default: Arc<str> = DEFAULT_OPTIONS.into();
            conflicting.sort_unstable();
            conflicting.dedup();
            for index in conflicting {
                let route = &mut routes[index];
                problems.push(format!(
                    "route {} on entry point {entrypoint}: its TLS options {} differ from another route's for the same host, or have no Host rule to be chosen by: the default options apply",
                    route.name,
                    route.tls.as_deref().unwrap_or_default()
                ));
                route.tls = Some(default.clone());
            }
            let hosts = self.hosts.entry(entrypoint.clone()).or_default();
            for route in routes.iter() {
                let Some(options) = &route.tls else { continue };
                for domain in route.rule.domains() {
                    let chosen = hosts.entry(domain).or_insert_with(|| options.clone());
                    if chosen != options {
                        *chosen = default.clone();
                    }
                }
            }
        }
        problems
    }

    /// The options name and configuration for a handshake on `entrypoint` naming `server_name`;
    /// `None` for options that could not be built.
    fn policy(&self, entrypoint: &str, server_name: Option<&str>) -> (Arc<str>, Option<&Policy>) {
        let hosts = self.hosts.get(entrypoint);
        let chosen = server_name
            .and_then(|name| hosts?.get(name))
            .or_else(|| hosts?.get("*"))
            .cloned()
            .unwrap_or_else(|| DEFAULT_OPTIONS.into());
        let policy = self.policies.get(&chosen);
        (chosen, policy)
    }
}

/// A client connection, in clear or TLS.
pub(crate) enum ClientStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// A connection ready for HTTP: the stream, for TLS what was agreed, and whether ALPN chose
/// HTTP/2.
pub(crate) struct Accepted {
    pub(crate) stream: ClientStream,
    pub(crate) tls: Option<Arc<TlsSession>>,
    pub(crate) http2: bool,
}

/// What a TLS connection agreed on: the options it was given (routes asking for others answer
/// 421), and the version and cipher suite in Go's words, as Traefik's access log writes them.
#[derive(Debug)]
pub(crate) struct TlsSession {
    pub(crate) options: Arc<str>,
    pub(crate) version: &'static str,
    pub(crate) cipher: &'static str,
}

impl TlsSession {
    fn of(options: Arc<str>, connection: &rustls::ServerConnection) -> TlsSession {
        let version = match connection.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
            _ => "unknown",
        };
        let suite = connection.negotiated_cipher_suite().and_then(|s| s.suite().as_str()).unwrap_or("unknown");
        // Go names TLS 1.3's suites without rustls' "13" (TLS_AES_128_GCM_SHA256).
        let cipher = CIPHER_SUITES
            .iter()
            .find(|(go, offered)| *offered == Some(suite) && !go.ends_with("_CHACHA20_POLY1305"))
            .map_or("unknown", |(go, _)| *go);
        TlsSession { options, version, cipher }
    }
}

/// Waits for the client's first byte and, if it opens a TLS handshake, completes the
/// handshake with the table's certificates and options, all within `timeout`. `None` when the
/// client left, was too slow, or the handshake failed.
pub(crate) async fn accept(
    table: &TlsTable,
    entrypoint: &str,
    stream: TcpStream,
    timeout: Duration,
) -> Option<Accepted> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == HANDSHAKE_RECORD => {}
        Ok(Ok(1..)) => return Some(Accepted { stream: ClientStream::Plain(stream), tls: None, http2: false }),
        _ => return None,
    }
    let local = stream.local_addr().ok();
    let handshake = async {
        let start = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await.ok()?;
        let server_name = start.client_hello().server_name().map(str::to_ascii_lowercase);
        let (options, policy) = table.policy(entrypoint, server_name.as_deref());
        let Some(policy) = policy else {
            tracing::debug!(%options, "closing a TLS connection whose options could not be built");
            return None;
        };
        let config = match (&server_name, local) {
            (Some(_), _) | (None, None) => policy.config.clone(),
            // No server name: the certificate is chosen by the address the client reached.
            (None, Some(local)) => {
                let mut config = (*policy.config).clone();
                let unnamed = Some(local.ip().to_canonical().to_string());
                config.cert_resolver =
                    Arc::new(Resolver { store: table.store.clone(), strict: policy.strict, unnamed });
                Arc::new(config)
            }
        };
        let stream = start.into_stream(config).await.ok()?;
        let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let session = Arc::new(TlsSession::of(options, stream.get_ref().1));
        Some(Accepted { stream: ClientStream::Tls(Box::new(stream)), tls: Some(session), http2 })
    };
    tokio::time::timeout(timeout, handshake).await.ok().flatten()
}

impl AsyncRead for ClientStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            ClientStream::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_write(cx, data),
            ClientStream::Tls(stream) => Pin::new(stream).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            ClientStream::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            ClientStream::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            ClientStream::Tls(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Plain(stream) => stream.is_write_vectored(),
            ClientStream::Tls(stream) => stream.is_write_vectored(),
        }
    }
}

#[cfg(test)]
mod tests;
