//! The ReplicaSet controller: keeps as many Pod objects as each ReplicaSet asks for (removing
//! pods that are not ready first, then the newest, as Kubernetes does) and reports the
//! ReplicaSet's replicas, ready and available counts.

use crate::clock::Clock;
use crate::objects::{self, pod_available, pod_key, pod_ready};
use crate::store::{Result, Store, Stored};
use serde_json::Value as Json;
use std::sync::Arc;

pub struct ReplicaSetController {
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
}

impl ReplicaSetController {
    /// Returns when a pod will become available (`minReadySeconds`), if one will.
    pub fn reconcile_all(&self) -> Result<Option<i64>> {
        let mut next = None;
        let replica_sets = self.store.list(Some("apps"), "ReplicaSet", None)?;
        if replica_sets.is_empty() {
            return Ok(None);
        }
        let pods = self.store.list(Some(""), "Pod", None)?;
        let mut ports = ports_in_use(&pods);
        let by_replica_set = crate::objects::by_owner(&pods, "ReplicaSet");
        for rs in &replica_sets {
            let owned = by_replica_set.get(&(rs.key.namespace.as_str(), rs.key.name.as_str()));
            if let Some(due) = self.reconcile(rs, owned.map_or(&[], Vec::as_slice), &mut ports)? {
                next = Some(next.map_or(due, |n: i64| n.min(due)));
            }
        }
        Ok(next)
    }

    fn reconcile(
        &self,
        rs: &Stored,
        pods: &[&Stored],
        ports: &mut std::collections::HashSet<u16>,
    ) -> Result<Option<i64>> {
        let now = self.clock.now();
        let wanted = rs.body.pointer("/spec/replicas").and_then(Json::as_i64).unwrap_or(1).max(0) as usize;
        let min_ready = rs.body.pointer("/spec/minReadySeconds").and_then(Json::as_i64).unwrap_or(0) * 1000;
        let mut live: Vec<&Stored> =
            pods.iter().copied().filter(|p| p.body.pointer("/metadata/deletionTimestamp").is_none()).collect();
        // Victims first: not ready, then the newest.
        live.sort_by_key(|p| {
            (pod_ready(&p.body), std::cmp::Reverse(objects::time_at(&p.body, "/metadata/creationTimestamp")))
        });
        let surplus = live.len().saturating_sub(wanted);
        let (victims, kept) = live.split_at(surplus);
        let missing = wanted.saturating_sub(kept.len());
        let ready = kept.iter().filter(|p| pod_ready(&p.body)).count();
        let available = kept.iter().filter(|p| pod_available(&p.body, min_ready, now)).count();
        let mut status = rs.body.get("status").cloned().unwrap_or_default();
        status["replicas"] = (kept.len() + missing).into();
        status["readyReplicas"] = ready.into();
        status["availableReplicas"] = available.into();
        status["observedGeneration"] = rs.body.pointer("/metadata/generation").cloned().unwrap_or(Json::Null);
        let namespace = rs.key.namespace.clone();
        let status_changed = rs.body.get("status") != Some(&status);
        if victims.is_empty() && missing == 0 && !status_changed {
            return Ok(Self::pending(kept, min_ready, now));
        }
        self.store.write(|w| {
            for victim in victims {
                let mut body = serde_json::Value::clone(&victim.body);
                body["metadata"]["deletionTimestamp"] = now.to_string().into();
                w.put(&victim.key, &body, Some(victim.rev))?;
            }
            for _ in 0..missing {
                let name = format!("{}-{}", rs.key.name, objects::random_suffix());
                let pod = objects::pod(&rs.body, &name, claim_port(ports), now);
                w.put(&pod_key(&namespace, &name), &pod, None)?;
            }
            if status_changed {
                let mut body = serde_json::Value::clone(&rs.body);
                body["status"] = status.clone();
                w.put(&rs.key, &body, Some(rs.rev))?;
            }
            Ok(())
        })?;
        Ok(Self::pending(kept, min_ready, now))
    }

    /// When to look again: soon, if a ready pod is still waiting out `minReadySeconds`.
    fn pending(kept: &[&Stored], min_ready: i64, now: serin_model::Time) -> Option<i64> {
        let pending = kept.iter().any(|p| pod_ready(&p.body) && !pod_available(&p.body, min_ready, now));
        pending.then_some(min_ready.min(1000))
    }
}

/// Pod ports come from below Linux's ephemeral range (32768-60999), so the kernel never hands
/// one to an outgoing connection between the moment it is chosen and the moment the pod binds it.
const POD_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// The loopback ports `pods` listen on.
pub fn ports_in_use(pods: &[Stored]) -> std::collections::HashSet<u16> {
    pods.iter().filter_map(|p| objects::pod_port(&p.body)).collect()
}

/// A loopback port for a new pod (one of a ReplicaSet, or one written by hand that the pod
/// controller is about to start), recorded in `taken`.
pub fn claim_port(taken: &mut std::collections::HashSet<u16>) -> u16 {
    let port = free_port(taken);
    taken.insert(port);
    port
}

/// A loopback port for a new pod: not used by another pod of this server, and free now.
fn free_port(taken: &std::collections::HashSet<u16>) -> u16 {
    let span = u32::from(POD_PORTS.end - POD_PORTS.start);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    for attempt in 0..span {
        let port = POD_PORTS.start + ((seed.wrapping_add(attempt.wrapping_mul(7919))) % span) as u16;
        if !taken.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(0, |a| a.port())
}
