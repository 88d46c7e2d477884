//! The routing brain of serin's router, kept apart from sockets and async runtimes so that what
//! decides where a request goes can be tested exactly and reused by every front end.
//!
//! serin routes canary traffic the way Traefik does, because Argo Rollouts users come with
//! Traefik rules and expect Traefik's split: [`rule`] parses and matches Traefik's router rules
//! and gives their default priority, and [`weighted`] reproduces Traefik's deterministic
//! earliest-deadline-first weighted round robin as a precomputed table (90/10 sends exactly one
//! request in ten to the canary, never a coin flip).

pub mod rule;
pub mod weighted;

pub use rule::{RequestInfo, Rule, RuleError};
pub use weighted::Schedule;
