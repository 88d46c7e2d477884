//! serin's embedded platform: one process that keeps state in SQLite, runs pods as supervised
//! processes, routes traffic with a Traefik-compatible router, and drives the canary engine.

pub mod analysis;
pub mod api;
pub mod api_server;
pub mod apply;
pub mod clock;
pub mod dashboard;
pub mod datadir;
pub mod gc;
pub mod gitops;
pub mod images;
pub mod native;
pub mod objects;
pub mod pods;
pub mod redact;
pub mod replicasets;
pub mod rollouts;
pub mod routing;
pub mod server;
pub mod store;
pub mod tls;
pub mod usage;
pub use serin_gitops::webhook;
