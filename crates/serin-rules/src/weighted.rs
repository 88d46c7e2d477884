//! Traefik's weighted round robin, exact and deterministic, precomputed for speed.
//!
//! Traefik (`pkg/server/service/loadbalancer/wrr`) balances a weighted service with Earliest
//! Deadline First: each backend has a deadline, first `1/weight`; a request pops the backend
//! with the earliest deadline from a binary heap (Go's `container/heap`), adds `1/weight` to its
//! deadline and pushes it back. Backends that are down are popped and pushed back like the
//! others but skipped, so they lose their turn.
//!
//! [`Schedule`] replays that algorithm with exact rational deadlines (`k/weight` compared by
//! cross-multiplication, never floats) and with Go's heap operations copied step for step, so
//! equal deadlines are ordered as Go's heap orders them. Go's heap is not stable: which of two
//! equal deadlines comes out first depends on the heap's layout, so the sequence is not always
//! periodic from the first request. What is exact: after `period = sum(weights) / gcd(weights)`
//! picks every backend has been picked exactly `weight / gcd` times and all deadlines are back to
//! their start plus a constant, so only the heap layout can differ. The layout at each period
//! boundary decides everything after it, so the sequence is a few prefix periods followed by a
//! cycle of whole periods; [`Schedule`] stores prefix and cycle as a table and answers
//! [`Schedule::pick`] with an index. For two backends (stable and canary) the table is always a
//! single period; over random sets of two to five weights from 1 to 100, about half have a
//! prefix of one or two periods and 2 to 3 % a cycle of two or three periods.
//! When the table would exceed [`DEFAULT_TABLE_LIMIT`] entries it runs the same EDF live.
//!
//! Where this differs from Traefik itself: Traefik accumulates deadlines in `float64`, so two
//! deadlines that are equal as fractions (`9 × 1/90` and `1 × 1/10`) usually differ in their last
//! bits and the rounding, not the heap, decides which goes first. Equal weights accumulate
//! identical floats, so there the heap decides and this schedule is Traefik's exactly. At 90/10
//! Traefik sends the canary requests #9, 20, 30, 39, 49, 60, ... (float rounding) and this
//! schedule #9, 19, 29, 39, 49, 59, ...; both send exactly one request in every ten, which is
//! what matters, and this schedule does so identically in every period, forever, where float
//! accumulation drifts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest table [`Schedule::new`] precomputes; beyond it the schedule runs EDF live.
pub const DEFAULT_TABLE_LIMIT: usize = 10_000;

/// Positions remembered by a live schedule, so that counters arriving slightly out of order
/// (from concurrent requests) are answered without replaying.
const LIVE_RING: usize = 1024;

/// Period boundaries a live schedule records while looking for its cycle.
const LIVE_MAX_BOUNDARIES: usize = 256;

/// Traefik's weighted round robin over backends, as a deterministic sequence indexed by a
/// request counter. Built once per weight change, then shared: [`Schedule::pick`] takes `&self`
/// and does no locking in the precomputed case.
#[derive(Debug)]
pub struct Schedule {
    /// Backend of each EDF entry (entries are the positive-weight inputs, in input order).
    backends: Vec<usize>,
    weights: Vec<u64>,
    /// `weight / gcd`: picks of each entry per period.
    quotas: Vec<u64>,
    period: u64,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    Empty,
    Table(Table),
    Live(Box<Mutex<Live>>),
}

/// The precomputed sequence: `prefix` entries that happen once, then `cycle` entries repeating.
#[derive(Debug, Clone)]
struct Table {
    slots: Vec<usize>,
    prefix: u64,
    cycle: u64,
}

impl Table {
    fn slot(&self, t: u64) -> usize {
        let i = if t < self.prefix { t } else { self.prefix + (t - self.prefix) % self.cycle };
        self.slots[i as usize]
    }
}

/// Go's `container/heap` over EDF entries ("slots"), with deadlines kept as numerators over
/// each slot's weight, relative to the start of the current period.
#[derive(Debug, Clone)]
struct Edf {
    /// The heap array: slot numbers.
    heap: Vec<usize>,
    /// Deadline of each slot is `next[slot] / weight[slot]` past the current period's start.
    next: Vec<u64>,
    /// Picks made in the current period.
    done: u64,
}

impl Edf {
    /// The heap after Traefik adds the entries one by one, each with deadline `1/weight`.
    fn new(weights: &[u64]) -> Self {
        let mut edf = Edf { heap: Vec::with_capacity(weights.len()), next: vec![1; weights.len()], done: 0 };
        for slot in 0..weights.len() {
            edf.heap.push(slot);
            edf.up(weights, slot);
        }
        edf
    }

    /// The state at a period boundary with the given heap layout.
    fn at_boundary(layout: &[usize]) -> Self {
        Edf { heap: layout.to_vec(), next: vec![1; layout.len()], done: 0 }
    }

    /// Go's `Less(i, j)`: strictly earlier deadline, `next_a / w_a < next_b / w_b`.
    fn less(&self, weights: &[u64], i: usize, j: usize) -> bool {
        let (a, b) = (self.heap[i], self.heap[j]);
        u128::from(self.next[a]) * u128::from(weights[b]) < u128::from(self.next[b]) * u128::from(weights[a])
    }

    /// Go's `up`: sift an element towards the root while it is strictly less than its parent.
    fn up(&mut self, weights: &[u64], mut j: usize) {
        while j > 0 {
            let parent = (j - 1) / 2;
            if !self.less(weights, j, parent) {
                break;
            }
            self.heap.swap(parent, j);
            j = parent;
        }
    }

    /// Go's `down` over the first `n` elements: swap with the smaller child (the right one only
    /// when strictly less) while that child is strictly less.
    fn down(&mut self, weights: &[u64], i0: usize, n: usize) {
        let mut i = i0;
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let mut j = left;
            if left + 1 < n && self.less(weights, left + 1, left) {
                j = left + 1;
            }
            if !self.less(weights, j, i) {
                break;
            }
            self.heap.swap(i, j);
            i = j;
        }
    }

    /// One request: `heap.Pop` (swap root and last, sift down, remove last), deadline plus one
    /// step, `heap.Push` (append, sift up). The popped element is re-pushed at the index it was
    /// removed from, so the array never shrinks.
    fn step(&mut self, weights: &[u64], quotas: &[u64], period: u64) -> usize {
        let last = self.heap.len() - 1;
        self.heap.swap(0, last);
        self.down(weights, 0, last);
        let slot = self.heap[last];
        self.next[slot] += 1;
        self.up(weights, last);
        self.done += 1;
        if self.done == period {
            // Every slot was picked exactly `quota` times this period (EDF pops deadlines in
            // order and exactly `period` deadlines are <= 1/gcd), so all deadlines moved by
            // 1/gcd: shift the origin, which keeps every comparison and the numbers small.
            for (next, quota) in self.next.iter_mut().zip(quotas) {
                debug_assert_eq!(*next, quota + 1);
                *next -= quota;
            }
            self.done = 0;
        }
        slot
    }
}

/// Simulates period after period until a boundary layout repeats; `None` past `limit` entries.
fn build_table(weights: &[u64], quotas: &[u64], period: u64, limit: usize) -> Option<Table> {
    if period > limit as u64 {
        return None;
    }
    let mut edf = Edf::new(weights);
    let mut seen: HashMap<Vec<usize>, u64> = HashMap::new();
    let mut slots = Vec::new();
    loop {
        let boundary = slots.len() as u64 / period;
        if let Some(&first) = seen.get(&edf.heap) {
            return Some(Table { slots, prefix: first * period, cycle: (boundary - first) * period });
        }
        if slots.len() as u64 + period > limit as u64 {
            return None;
        }
        seen.insert(edf.heap.clone(), boundary);
        for _ in 0..period {
            slots.push(edf.step(weights, quotas, period));
        }
    }
}

/// A schedule too long to precompute: the EDF runs on demand. Positions are normalised onto
/// prefix + cycle once the cycle is found; recent positions are remembered in a ring, and every
/// recorded period boundary can be restored, so any position costs at most one period of steps.
/// (Only a counter far beyond every boundary seen, before the cycle is known, costs the steps up
/// to it: counters are meant to start at 0 and grow.)
#[derive(Debug)]
struct Live {
    edf: Edf,
    /// The position `edf` produces next.
    pos: u64,
    /// `(position, slot)` of recent positions, at `position % LIVE_RING`.
    ring: Vec<(u64, usize)>,
    /// Heap layout at the start of period `b`, for the recorded `b`.
    boundaries: Vec<Vec<usize>>,
    index: HashMap<Vec<usize>, u64>,
    /// `(prefix periods, cycle periods)` once a boundary layout repeated.
    cycle: Option<(u64, u64)>,
    recording: bool,
}

impl Live {
    fn new(weights: &[u64]) -> Self {
        let edf = Edf::new(weights);
        let mut index = HashMap::new();
        index.insert(edf.heap.clone(), 0);
        Live {
            boundaries: vec![edf.heap.clone()],
            edf,
            pos: 0,
            ring: vec![(u64::MAX, 0); LIVE_RING],
            index,
            cycle: None,
            recording: true,
        }
    }

    fn normalize(&self, t: u64, period: u64) -> u64 {
        match self.cycle {
            Some((prefix, cycle)) if t >= prefix * period => prefix * period + (t - prefix * period) % (cycle * period),
            _ => t,
        }
    }

    fn restore(&mut self, boundary: u64, period: u64) {
        self.edf = Edf::at_boundary(&self.boundaries[boundary as usize]);
        self.pos = boundary * period;
    }

    /// Produces the slot at `pos` and moves on; `true` when finding the cycle renumbered `pos`.
    fn advance(&mut self, s: &Schedule) -> (u64, usize, bool) {
        let at = self.pos;
        let slot = self.edf.step(&s.weights, &s.quotas, s.period);
        self.ring[(at % LIVE_RING as u64) as usize] = (at, slot);
        self.pos += 1;
        let mut renumbered = false;
        if self.edf.done == 0 {
            let boundary = self.pos / s.period;
            if let Some((prefix, cycle)) = self.cycle {
                if boundary == prefix + cycle {
                    self.pos = prefix * s.period;
                }
            } else if self.recording && boundary == self.boundaries.len() as u64 {
                // A new boundary (not one passed again after a restore): record it, or find
                // that its layout was seen before.
                if let Some(&first) = self.index.get(&self.edf.heap) {
                    self.cycle = Some((first, boundary - first));
                    self.recording = false;
                    self.pos = first * s.period;
                    renumbered = true;
                } else if self.boundaries.len() < LIVE_MAX_BOUNDARIES {
                    self.index.insert(self.edf.heap.clone(), boundary);
                    self.boundaries.push(self.edf.heap.clone());
                } else {
                    self.recording = false;
                }
            }
        }
        (at, slot, renumbered)
    }

    fn slot(&mut self, counter: u64, s: &Schedule) -> usize {
        let period = s.period;
        let mut t = self.normalize(counter, period);
        loop {
            let (at, slot) = self.ring[(t % LIVE_RING as u64) as usize];
            if at == t {
                return slot;
            }
            // Restart from the nearest recorded boundary when going back, or when it is ahead.
            let nearest = (t / period).min(self.boundaries.len() as u64 - 1);
            if t < self.pos || nearest > self.pos / period {
                self.restore(nearest, period);
            }
            loop {
                let (at, slot, renumbered) = self.advance(s);
                if at == t {
                    return slot;
                }
                if renumbered {
                    t = self.normalize(t, period);
                    break;
                }
            }
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Schedule {
    /// A schedule over `(backend, weight)` pairs, in the order Traefik would add them (the order
    /// of the weighted service's list). Weight 0 entries are skipped, as Traefik ignores
    /// non-positive weights; no entries (or only zeros) gives an empty schedule. A backend may
    /// appear more than once; each entry then takes its own turns.
    pub fn new(weights: &[(usize, u32)]) -> Self {
        Self::with_table_limit(weights, DEFAULT_TABLE_LIMIT)
    }

    /// [`Schedule::new`] with another bound on the precomputed table (0 always runs live).
    pub fn with_table_limit(weights: &[(usize, u32)], max_entries: usize) -> Self {
        let (backends, weights): (Vec<usize>, Vec<u64>) =
            weights.iter().filter(|&&(_, w)| w > 0).map(|&(b, w)| (b, u64::from(w))).unzip();
        if backends.is_empty() {
            return Schedule { backends, weights, quotas: Vec::new(), period: 0, mode: Mode::Empty };
        }
        let g = weights.iter().copied().fold(0, gcd);
        let quotas: Vec<u64> = weights.iter().map(|w| w / g).collect();
        let period = quotas.iter().fold(0u64, |sum, q| sum.saturating_add(*q));
        let mode = match build_table(&weights, &quotas, period, max_entries) {
            Some(table) => Mode::Table(table),
            None => Mode::Live(Box::new(Mutex::new(Live::new(&weights)))),
        };
        Schedule { backends, weights, quotas, period, mode }
    }

    /// No backend has a positive weight: every pick is `None` (Traefik answers 503).
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// `sum(weights) / gcd(weights)`: in every aligned block of this many picks each backend
    /// is picked exactly `weight / gcd` times. 0 for an empty schedule.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// Whether the sequence is a precomputed table (else it runs live, behind a lock).
    pub fn is_precomputed(&self) -> bool {
        matches!(self.mode, Mode::Table(_))
    }

    fn slot_at(&self, counter: u64) -> Option<usize> {
        match &self.mode {
            Mode::Empty => None,
            Mode::Table(table) => Some(table.slot(counter)),
            Mode::Live(live) => {
                let mut live = live.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                Some(live.slot(counter, self))
            }
        }
    }

    /// The backend for request number `counter` (0 for the first request), with every backend
    /// up. Pure: the same counter always gives the same backend.
    pub fn pick(&self, counter: u64) -> Option<usize> {
        self.slot_at(counter).map(|slot| self.backends[slot])
    }

    /// The backend for request number `counter` when some backends are down: the first backend
    /// that `is_up` accepts, walking forward from position `counter`, as Traefik pops past down
    /// backends. `None` when no backend is up.
    ///
    /// Being stateless, this gives a down backend's turns to whichever backend follows it in
    /// the sequence. [`Schedule::next_available`] consumes the skipped turns as Traefik does,
    /// which keeps the up backends exactly in proportion; rebuilding the schedule without the
    /// down backend does too.
    pub fn pick_available(&self, counter: u64, is_up: impl Fn(usize) -> bool) -> Option<usize> {
        self.find_available(counter, &is_up).map(|(_, backend)| backend)
    }

    /// Traefik's behaviour with down backends, on a shared request cursor: takes the first up
    /// backend at or after `cursor` and moves the cursor past it, so the down backends' turns
    /// are consumed, not handed on. Lock-free: concurrent callers each get their own position.
    /// `None`, leaving the cursor as it was, when no backend is up.
    pub fn next_available(&self, cursor: &AtomicU64, is_up: impl Fn(usize) -> bool) -> Option<usize> {
        loop {
            let current = cursor.load(Ordering::Relaxed);
            let (position, backend) = self.find_available(current, &is_up)?;
            if cursor
                .compare_exchange_weak(current, position.wrapping_add(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return Some(backend);
            }
        }
    }

    /// The first position at or after `counter` whose backend is up, with that backend. Any
    /// `2 × period − 1` consecutive positions contain a whole aligned period, hence every
    /// entry, so the walk stops there at the latest; sooner once every entry was seen down.
    fn find_available(&self, counter: u64, is_up: &impl Fn(usize) -> bool) -> Option<(u64, usize)> {
        if self.is_empty() {
            return None;
        }
        let mut down: Vec<bool> = Vec::new();
        let mut down_count = 0;
        for step in 0..self.period.saturating_mul(2).saturating_sub(1).max(1) {
            let position = counter.wrapping_add(step);
            let slot = self.slot_at(position)?;
            let backend = self.backends[slot];
            if is_up(backend) {
                return Some((position, backend));
            }
            if down.is_empty() {
                down = vec![false; self.backends.len()];
            }
            if !down[slot] {
                down[slot] = true;
                down_count += 1;
                if down_count == self.backends.len() {
                    return None;
                }
            }
        }
        None
    }
}

impl Clone for Schedule {
    fn clone(&self) -> Self {
        let mode = match &self.mode {
            Mode::Empty => Mode::Empty,
            Mode::Table(table) => Mode::Table(table.clone()),
            Mode::Live(_) => Mode::Live(Box::new(Mutex::new(Live::new(&self.weights)))),
        };
        Schedule {
            backends: self.backends.clone(),
            weights: self.weights.clone(),
            quotas: self.quotas.clone(),
            period: self.period,
            mode,
        }
    }
}

#[cfg(test)]
mod tests;
