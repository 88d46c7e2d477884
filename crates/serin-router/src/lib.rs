//! serin's router: a Traefik-compatible HTTP reverse proxy that splits canary traffic exactly.
//!
//! The pure core decides where a request goes and is tested exactly: [`rule`] parses and
//! matches Traefik's router rules (both of its syntaxes) and gives their default priority, and
//! [`weighted`] reproduces Traefik's deterministic weighted round robin as a precomputed table
//! (90/10 sends exactly one request in ten to the canary, never a coin flip). Both live in the
//! serin-rules crate, re-exported here, so that the manifest checks (and the pure engine that
//! links them) link no runtime.
//!
//! Around it, the data plane: a [`table::RouteTable`] that a platform builds from its objects
//! and installs into a [`proxy::Proxy`], which serves entry points on threads of its own:
//! [`tls`] terminates TLS (certificates by SNI, Traefik's TLS options), `downstream` reads
//! clients' HTTP/1.1 (and hands HTTP/2 to `http2`), [`upstream`] talks to pods over pooled connections (`upstream_h2` to those
//! that speak HTTP/2 in clear)
//! (`http1` is the framing both share), [`window`] keeps the per-backend metrics analysis
//! reads, and [`access_log`] records requests as Traefik's access log does. serin's local
//! platform wires it to its store; nothing here knows where the table came from.

pub mod access_log;
mod downstream;
#[doc(hidden)]
pub mod fuzzing;
mod http1;
mod http2;
pub mod proxy;
pub mod table;
pub mod tls;
pub mod upstream;
mod upstream_h2;
pub mod window;

pub use serin_rules::{RequestInfo, Rule, RuleError, Schedule, rule, weighted};
