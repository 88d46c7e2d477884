//! Leader election on a `coordination.k8s.io/v1` Lease, so several controller replicas can
//! run and exactly one acts. The leader renews the Lease; the others take it over when it has
//! not changed for a whole lease duration, measured on their own clock from when they last saw
//! it change (as client-go does), so clock skew between nodes does not matter.
//!
//! A leader that cannot renew within the renew deadline (two thirds of the lease duration, as
//! client-go's defaults of 10 s in 15 s) stops acting then, even while its request to the API
//! server still hangs: it stops a third of a lease duration before any other replica may take
//! over, so two replicas never act at once.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct LeaseOptions {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
}

/// Who holds the Lease as this replica last saw it, and when the record last changed.
struct Observed {
    record: Option<(String, Option<MicroTime>)>,
    changed_at: Instant,
}

/// Keeps trying to lead; `leader` says whether this replica leads now, `changed` is notified
/// when that flips. Returns (releasing the Lease) when `stop` is notified.
pub async fn elect(
    client: Client,
    options: LeaseOptions,
    leader: Arc<AtomicBool>,
    changed: Arc<Notify>,
    stop: Arc<Notify>,
) {
    let api: Api<Lease> = Api::namespaced(client, &options.namespace);
    let mut observed = Observed { record: None, changed_at: Instant::now() };
    let mut renewed_at: Option<Instant> = None;
    let retry = options.duration / 3;
    let renew_deadline = renew_deadline(options.duration);
    loop {
        // A leader's round must end by its renew deadline; a follower's within a retry period.
        let time = match renewed_at.filter(|_| leader.load(Ordering::SeqCst)) {
            Some(at) => (at + renew_deadline).saturating_duration_since(Instant::now()),
            None => retry,
        };
        let leading = match tokio::time::timeout(time, try_acquire(&api, &options, &mut observed)).await {
            Ok(Ok(true)) => {
                renewed_at = Some(Instant::now());
                true
            }
            Ok(Ok(false)) => false,
            Ok(Err(error)) => {
                tracing::warn!(%error, lease = %options.name, "cannot reach the leader Lease");
                // Keep leading only while the last renewal is within the renew deadline.
                renewed_at.is_some_and(|at| at.elapsed() < renew_deadline)
            }
            Err(_) => {
                tracing::warn!(lease = %options.name, "the API server did not answer within the renew deadline");
                false
            }
        };
        if leader.swap(leading, Ordering::SeqCst) != leading {
            tracing::info!(identity = %options.identity, leading, "leadership changed");
            changed.notify_one();
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = stop.notified() => break,
        }
    }
    if leader.swap(false, Ordering::SeqCst) {
        release(&api, &options).await;
    }
}

/// How long a leader may go without renewing before it stops acting: two thirds of the lease
/// duration (client-go's defaults are 10 s of 15 s).
fn renew_deadline(lease_duration: Duration) -> Duration {
    lease_duration * 2 / 3
}

/// One round: acquires or renews the Lease; returns whether this replica holds it now.
async fn try_acquire(api: &Api<Lease>, options: &LeaseOptions, observed: &mut Observed) -> kube::Result<bool> {
    let now = MicroTime(Timestamp::now());
    let seconds = options.duration.as_secs().max(1) as i32;
    let Some(mut lease) = api.get_opt(&options.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta { name: Some(options.name.clone()), ..Default::default() },
            spec: Some(LeaseSpec {
                holder_identity: Some(options.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let record = Some((holder.clone(), spec.renew_time.clone()));
    if record != observed.record {
        observed.record = record;
        observed.changed_at = Instant::now();
    }
    let mine = holder == options.identity;
    let expired = holder.is_empty() || observed.changed_at.elapsed() >= options.duration;
    if !mine && !expired {
        return Ok(false);
    }
    if !mine {
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        spec.holder_identity = Some(options.identity.clone());
    }
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(seconds);
    // The replace carries the resourceVersion just read: of two replicas racing for an
    // expired Lease, one wins and the other gets a conflict.
    match api.replace(&options.name, &PostParams::default(), &lease).await {
        Ok(written) => {
            let spec = written.spec.unwrap_or_default();
            observed.record = Some((spec.holder_identity.unwrap_or_default(), spec.renew_time));
            observed.changed_at = Instant::now();
            Ok(true)
        }
        Err(kube::Error::Api(status)) if status.is_conflict() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives the Lease up on shutdown, so another replica takes over at once.
async fn release(api: &Api<Lease>, options: &LeaseOptions) {
    let Ok(Some(mut lease)) = api.get_opt(&options.name).await else { return };
    let Some(spec) = lease.spec.as_mut().filter(|s| s.holder_identity.as_deref() == Some(&options.identity)) else {
        return;
    };
    spec.holder_identity = None;
    if let Err(error) = api.replace(&options.name, &PostParams::default(), &lease).await {
        tracing::warn!(%error, "cannot release the leader Lease");
    }
}
