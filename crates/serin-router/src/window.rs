//! Request outcomes of the last minute in 100 ms slots, per revision: what serin's native
//! analysis provider reads. Recording is lock-free (a few atomic adds on the request path);
//! a query sums the slots inside its window, so a canary can be judged on the last second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const SLOT_MILLIS: u64 = 100;
const SLOTS: usize = 600;
/// Latency bucket bounds in milliseconds, for percentiles.
pub const LATENCY_BOUNDS_MS: [u64; 14] = [1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000];

#[derive(Default, Debug)]
struct Slot {
    /// Which 100 ms period the counters belong to (+1, so 0 means never used).
    period: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; LATENCY_BOUNDS_MS.len() + 1],
}

#[derive(Debug)]
pub struct Window {
    origin: Instant,
    slots: Vec<Slot>,
}

impl Default for Window {
    fn default() -> Self {
        Window { origin: Instant::now(), slots: (0..SLOTS).map(|_| Slot::default()).collect() }
    }
}

/// What a window saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub requests: u64,
    /// Answers with a 5xx status (or no answer).
    pub errors: u64,
    latency: Vec<u64>,
}

impl Summary {
    pub fn merge(&mut self, other: &Summary) {
        self.requests += other.requests;
        self.errors += other.errors;
        if self.latency.len() < other.latency.len() {
            self.latency.resize(other.latency.len(), 0);
        }
        for (total, n) in self.latency.iter_mut().zip(&other.latency) {
            *total += n;
        }
    }

    /// Share of requests that did not fail; None without requests.
    pub fn success_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.requests.saturating_sub(self.errors) as f64 / self.requests as f64)
    }

    /// The latency below which `quantile` of requests fell (bucket upper bound, in ms).
    pub fn latency_quantile_ms(&self, quantile: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let wanted = (quantile.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.latency.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return Some(LATENCY_BOUNDS_MS.get(i).map_or(f64::INFINITY, |b| *b as f64));
            }
        }
        None
    }
}

impl Window {
    fn period(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64 / SLOT_MILLIS
    }

    pub fn record(&self, error: bool, latency_ms: u64) {
        let period = self.period();
        let slot = &self.slots[period as usize % SLOTS];
        let stamp = period + 1;
        let seen = slot.period.load(Ordering::Acquire);
        if seen != stamp && slot.period.compare_exchange(seen, stamp, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            slot.requests.store(0, Ordering::Relaxed);
            slot.errors.store(0, Ordering::Relaxed);
            for bucket in &slot.latency {
                bucket.store(0, Ordering::Relaxed);
            }
        }
        slot.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            slot.errors.fetch_add(1, Ordering::Relaxed);
        }
        let bucket = LATENCY_BOUNDS_MS.iter().position(|b| latency_ms <= *b).unwrap_or(LATENCY_BOUNDS_MS.len());
        slot.latency[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Everything recorded in the last `millis` (rounded up to whole slots, at most a minute).
    pub fn summary(&self, millis: u64) -> Summary {
        let now = self.period();
        let span = millis.div_ceil(SLOT_MILLIS).clamp(1, SLOTS as u64);
        let mut summary = Summary { latency: vec![0; LATENCY_BOUNDS_MS.len() + 1], ..Summary::default() };
        for period in now.saturating_sub(span - 1)..=now {
            let slot = &self.slots[period as usize % SLOTS];
            if slot.period.load(Ordering::Acquire) != period + 1 {
                continue;
            }
            // Router threads count a request, then its error, while this reads: never count
            // more errors than requests from one slot.
            let requests = slot.requests.load(Ordering::Relaxed);
            summary.requests += requests;
            summary.errors += slot.errors.load(Ordering::Relaxed).min(requests);
            for (total, bucket) in summary.latency.iter_mut().zip(&slot.latency) {
                *total += bucket.load(Ordering::Relaxed);
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_recent_requests_only() {
        let window = Window::default();
        for i in 0..100 {
            window.record(i % 4 == 0, if i < 90 { 3 } else { 400 });
        }
        let summary = window.summary(1000);
        assert_eq!((summary.requests, summary.errors), (100, 25));
        assert_eq!(summary.success_rate(), Some(0.75));
        assert_eq!(summary.latency_quantile_ms(0.5), Some(5.0));
        assert_eq!(summary.latency_quantile_ms(0.95), Some(500.0));
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert_eq!(window.summary(100).requests, 0, "a 100 ms window no longer sees them");
        assert_eq!(window.summary(1000).requests, 100);
        assert_eq!(Window::default().summary(1000).success_rate(), None);
        // Read while router threads record: more errors than requests must not underflow.
        let racy = Summary { requests: 3, errors: 4, ..Summary::default() };
        assert_eq!(racy.success_rate(), Some(0.0));
    }
}
