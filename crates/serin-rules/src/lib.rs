//! The pure core of serin's router, kept apart from sockets and async runtimes so that what
//! decides where a request goes can be tested exactly, checked by `serin lint` (through
//! serin-model, which the pure engine uses too) and reused by every front end.
//!
//! serin routes canary traffic the way Traefik does, because Argo Rollouts users come with
//! Traefik rules and expect Traefik's split: [`rule`] parses and matches Traefik's router rules
//! (both of its syntaxes) and gives their default priority, and [`weighted`] reproduces
//! Traefik's deterministic weighted round robin as a precomputed table (90/10 sends exactly one
//! request in ten to the canary, never a coin flip). [`tls`] holds Traefik's TLS vocabulary
//! (versions, Go's cipher-suite and curve names) and what of it serin can offer. serin-router
//! re-exports all three.

pub mod rule;
pub mod tls;
pub mod weighted;

pub use rule::{RequestInfo, Rule, RuleError};
pub use weighted::Schedule;
