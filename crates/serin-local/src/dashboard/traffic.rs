//! Live traffic per ReplicaSet for the dashboard's small charts: once a second the router's
//! last second of requests (its lock-free 100 ms slots) is read into a five-minute history of
//! request rate, success rate and p50/p99 latency. Reading costs the request path nothing.

use serde::Serialize;
use serin_router::proxy::Metrics;
use serin_router::window::Summary;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How often the router is read, and how many readings are kept (five minutes).
pub const PERIOD: Duration = Duration::from_secs(1);
const KEPT: usize = 300;

/// One second of traffic to one ReplicaSet.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// Wall-clock milliseconds since the epoch, at the end of the second.
    pub at: i64,
    /// Requests per second.
    pub rate: f64,
    /// Share of requests answered without a 5xx; None without requests.
    pub success: Option<f64>,
    /// Latency bucket bounds (ms) below which half, and 99%, of the requests fell.
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

impl Sample {
    fn of(at: i64, summary: &Summary) -> Sample {
        let finite = |q: Option<f64>| q.filter(|v| v.is_finite());
        Sample {
            at,
            rate: summary.requests as f64 * 1000.0 / PERIOD.as_millis() as f64,
            success: summary.success_rate(),
            p50: finite(summary.latency_quantile_ms(0.5)),
            p99: finite(summary.latency_quantile_ms(0.99)),
        }
    }
}

#[derive(Default)]
pub struct TrafficSampler {
    history: parking_lot::RwLock<HashMap<String, VecDeque<Sample>>>,
    /// How many readings were taken: a view drawn at an older reading is out of date.
    readings: std::sync::atomic::AtomicU64,
}

impl TrafficSampler {
    /// Reads the router every [`PERIOD`] until the task is dropped.
    pub async fn run(self: Arc<Self>, metrics: Arc<serin_router::proxy::Proxy>) {
        let mut ticks = tokio::time::interval(PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.sample(&metrics.metrics, wall_millis());
        }
    }

    /// Adds one reading per ReplicaSet the router knows; forgets a ReplicaSet after five
    /// minutes without requests.
    pub fn sample(&self, metrics: &Metrics, at: i64) {
        let recent = metrics.recent_by_replica_set(PERIOD.as_millis() as u64);
        let mut history = self.history.write();
        for (replica_set, summary) in &recent {
            let series = history.entry(replica_set.clone()).or_default();
            if series.len() == KEPT {
                series.pop_front();
            }
            series.push_back(Sample::of(at, summary));
        }
        history.retain(|_, series| series.iter().any(|s| s.rate > 0.0));
        self.readings.fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    pub fn readings(&self) -> u64 {
        self.readings.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A ReplicaSet's readings, oldest first.
    pub fn series(&self, replica_set: &str) -> Vec<Sample> {
        self.history.read().get(replica_set).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }
}

fn wall_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reading_is_the_last_second_of_one_replica_set() {
        let metrics = Metrics::default();
        let stats = metrics.stats("web-bbb", "bbb");
        for i in 0..20 {
            stats.recent.record(i == 0, if i < 19 { 3 } else { 400 });
        }
        metrics.stats("web-aaa", "aaa");
        let sampler = TrafficSampler::default();
        sampler.sample(&metrics, 1_000);
        let series = sampler.series("web-bbb");
        assert_eq!(series, [Sample { at: 1_000, rate: 20.0, success: Some(0.95), p50: Some(5.0), p99: Some(500.0) }]);
        assert!(sampler.series("web-aaa").is_empty(), "a ReplicaSet without requests has no chart");
        sampler.sample(&metrics, 2_000);
        assert_eq!(sampler.series("web-bbb").len(), 2);
    }
}
