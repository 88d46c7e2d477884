//! What a GitOps sync decides, as Argo CD decides it, with no I/O: which manifests a git
//! snapshot holds for an Application's source, how they compare with the live objects (drift,
//! health, what would be pruned), whether an automated sync runs now, and in which order a
//! sync applies and prunes. The platforms are adapters around it: the local platform reads
//! its store and writes in one transaction; a cluster reads and writes the Kubernetes API.
//!
//! Drift is what a re-apply would change (`apply`'s three-way merge), so fields git never set
//! (a Service selector's pod-template-hash, a TraefikService's weights, status, server
//! metadata) are never drift: a sync never fights the rollout controller.

pub mod apply;
pub mod compare;
pub mod refresh;
pub mod source;
pub mod status;
pub mod sync;
pub mod tracking;
pub mod waves;
pub mod webhook;
