//! Tests of the weighted schedule against two independent models of Traefik's balancer: one with
//! exact fractions (what [`Schedule`] promises) and one with `f64` deadlines (what Traefik's Go
//! code computes), both driving a plain port of Go's `container/heap` algorithm.

use std::sync::atomic::AtomicU64;

use proptest::prelude::*;

use super::*;

/// Go's `container/heap` algorithm over entries `(deadline, step, name)`, with `Less` given
/// as a closure, driven the way Traefik's balancer drives it. `is_up` decides which popped
/// entries serve a request; the others are pushed back and the loop pops again.
fn go_heap_balancer<D: Copy>(
    entries: Vec<(D, D)>,
    requests: usize,
    less: impl Fn(D, D) -> bool,
    add: impl Fn(D, D) -> D,
    is_up: impl Fn(usize) -> bool,
) -> Vec<usize> {
    // h[i] = (deadline, step, name)
    let mut h: Vec<(D, D, usize)> = Vec::new();
    let lt = |h: &Vec<(D, D, usize)>, i: usize, j: usize| less(h[i].0, h[j].0);
    let up = |h: &mut Vec<(D, D, usize)>, mut j: usize| {
        loop {
            let i = if j == 0 { 0 } else { (j - 1) / 2 };
            if i == j || !lt(h, j, i) {
                break;
            }
            h.swap(i, j);
            j = i;
        }
    };
    let down = |h: &mut Vec<(D, D, usize)>, i0: usize, n: usize| {
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && lt(h, j2, j1) {
                j = j2;
            }
            if !lt(h, j, i) {
                break;
            }
            h.swap(i, j);
            i = j;
        }
    };
    for (name, (first, step)) in entries.into_iter().enumerate() {
        h.push((first, step, name));
        let last = h.len() - 1;
        up(&mut h, last);
    }
    let mut out = Vec::with_capacity(requests);
    while out.len() < requests {
        let n = h.len() - 1;
        h.swap(0, n);
        down(&mut h, 0, n);
        let mut e = h.pop().expect("non-empty heap");
        e.0 = add(e.0, e.1);
        let name = e.2;
        h.push(e);
        let last = h.len() - 1;
        up(&mut h, last);
        if is_up(name) {
            out.push(name);
        }
    }
    out
}

/// An exact deadline `k / weight`; every step of an entry adds `1 / weight`, keeping the
/// denominator, and deadlines compare by cross-multiplication.
#[derive(Clone, Copy, Debug)]
struct Frac(u128, u128);

/// Traefik's EDF with exact deadlines: the sequence of entry indices.
fn exact_model(weights: &[u32], requests: usize, is_up: impl Fn(usize) -> bool) -> Vec<usize> {
    let entries = weights.iter().map(|&w| (Frac(1, u128::from(w)), Frac(1, u128::from(w)))).collect();
    go_heap_balancer(entries, requests, |a, b| a.0 * b.1 < b.0 * a.1, |a, step| Frac(a.0 + step.0, a.1), is_up)
}

/// Traefik's EDF as Traefik computes it: `deadline += 1 / weight` in `f64`, starting from
/// `0 + 1 / weight`.
fn float_model(weights: &[u32], requests: usize) -> Vec<usize> {
    let entries = weights.iter().map(|&w| (0.0 + 1.0 / f64::from(w), 1.0 / f64::from(w))).collect();
    go_heap_balancer(entries, requests, |a: f64, b: f64| a < b, |a, step| a + step, |_| true)
}

fn picks(s: &Schedule, n: u64) -> Vec<usize> {
    (0..n).map(|i| s.pick(i).expect("non-empty")).collect()
}

/// 1-based request numbers that went to `backend`.
fn positions(seq: &[usize], backend: usize) -> Vec<usize> {
    seq.iter().enumerate().filter(|&(_, &b)| b == backend).map(|(i, _)| i + 1).collect()
}

fn pairs(weights: &[u32]) -> Vec<(usize, u32)> {
    weights.iter().copied().enumerate().collect()
}

// ---------------------------------------------------------------------------------------------
// The reference cases

/// Derivation, with stable = backend 0 (weight 90) and canary = backend 1 (weight 10): stable's
/// deadlines are j/90, the canary's k/10 = 9k/90, so the canary's k-th deadline ties with
/// stable's 9k-th. With two entries, Go's heap keeps the root on a tie and pushes the entry it
/// just re-added below it; at the tie the re-added entry is stable (it just served 9k−1/90), so
/// the canary, root, goes first. Before the canary's k-th turn come stable's 9k−1 turns with
/// smaller deadlines and the canary's k−1 earlier turns: 10k−2 requests, so the canary serves
/// request 10k−1: #9, 19, 29, ..., 99; then stable serves #10k. One in every ten, in every
/// period, forever.
#[test]
fn ninety_ten_sends_one_in_ten_to_the_canary() {
    let s = Schedule::new(&[(0, 90), (1, 10)]);
    assert!(s.is_precomputed());
    assert_eq!(s.period(), 10);
    let seq = picks(&s, 100);
    assert_eq!(positions(&seq[..10], 1).len(), 1);
    assert_eq!(positions(&seq, 1), [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]);
    assert_eq!(seq, exact_model(&[90, 10], 100, |_| true));
    // Every window of ten consecutive requests, anywhere, holds exactly one canary request.
    let long = picks(&s, 10_000);
    assert!(long.windows(10).all(|w| w.iter().filter(|&&b| b == 1).count() == 1));
}

/// The reference's "#9, 20, 30, 39, 49" is Traefik's float arithmetic: 9 × (1/90) and 1/10 round
/// differently, and so on at every tie. The counts agree with the exact schedule.
#[test]
fn ninety_ten_in_traefiks_floats() {
    let seq = float_model(&[90, 10], 100);
    assert_eq!(positions(&seq, 1), [9, 20, 30, 39, 49, 60, 70, 80, 90, 100]);
    assert_eq!(positions(&seq[..10], 1).len(), 1);
    // Floats drift: the second hundred is not the first one again.
    let seq = float_model(&[90, 10], 200);
    assert_eq!(
        positions(&seq[100..], 1).iter().map(|p| p + 100).collect::<Vec<_>>(),
        [110, 120, 130, 140, 150, 160, 170, 180, 190, 200]
    );
}

#[test]
fn three_to_one() {
    let s = Schedule::new(&[(0, 3), (1, 1)]);
    assert_eq!(s.period(), 4);
    assert_eq!(picks(&s, 8), [0, 0, 1, 0, 0, 0, 1, 0]);
    let long = picks(&s, 4_000);
    for w in long.windows(4) {
        assert_eq!(w.iter().filter(|&&b| b == 1).count(), 1, "{w:?}");
    }
    // Traefik's floats give 0,0,1,0 then 0,0,0,1: 3 and 1 per four requests as well.
    assert_eq!(float_model(&[3, 1], 8), [0, 0, 1, 0, 0, 0, 0, 1]);
}

#[test]
fn ninety_nine_to_one() {
    let s = Schedule::new(&[(0, 99), (1, 1)]);
    let seq = picks(&s, 1_000);
    // Exact EDF: the canary's deadline 1/1 ties with stable's 99th (99/99) and, as at 90/10,
    // takes the tie: request #99, then every hundred.
    assert_eq!(positions(&seq, 1), [99, 199, 299, 399, 499, 599, 699, 799, 899, 999]);
    // Traefik's floats round 99 × (1/99) below 1, so Traefik sends #100 to the canary first.
    assert_eq!(positions(&float_model(&[99, 1], 300), 1), [100, 199, 300]);
}

#[test]
fn equal_weights_are_traefiks_sequence_exactly() {
    // Equal weights accumulate identical floats, so Traefik's ties are real ties, decided by Go's
    // heap, and the exact schedule reproduces Traefik request for request.
    let s = Schedule::new(&pairs(&[1, 1, 1]));
    assert_eq!(picks(&s, 9), [0, 2, 1, 2, 1, 0, 1, 0, 2]);
    // So a backend can wait four requests for its turn even at equal weights: ±1 request
    // around the target only holds for two backends (see `windows_stay_within_the_edf_bound`).
    assert!(!picks(&s, 5)[1..5].contains(&0));
    for weights in [&[1, 1][..], &[1, 1, 1], &[5, 5, 5, 5], &[7, 7, 7, 7, 7], &[2, 2, 2, 2, 2, 2, 2, 2]] {
        let s = Schedule::new(&pairs(weights));
        assert_eq!(picks(&s, 2_000), float_model(weights, 2_000), "{weights:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Edges

#[test]
fn empty_and_zero_weights() {
    for weights in [&[][..], &[(0, 0)], &[(0, 0), (1, 0)]] {
        let s = Schedule::new(weights);
        assert!(s.is_empty());
        assert_eq!(s.period(), 0);
        assert_eq!(s.pick(0), None);
        assert_eq!(s.pick(u64::MAX), None);
        assert_eq!(s.pick_available(3, |_| true), None);
        assert_eq!(s.next_available(&AtomicU64::new(0), |_| true), None);
    }
    let s = Schedule::new(&[(0, 0), (1, 5), (2, 0)]);
    assert_eq!(s.period(), 1);
    assert!(picks(&s, 50).iter().all(|&b| b == 1));
}

#[test]
fn single_and_duplicate_backends() {
    let s = Schedule::new(&[(42, 7)]);
    assert_eq!(picks(&s, 10), [42; 10]);
    assert_eq!(s.pick(u64::MAX), Some(42));
    let s = Schedule::new(&[(7, 1), (7, 1), (3, 2)]);
    let seq = picks(&s, 400);
    assert_eq!(seq.iter().filter(|&&b| b == 7).count(), 200);
    assert_eq!(seq.iter().filter(|&&b| b == 3).count(), 200);
}

#[test]
fn large_periods_run_live_with_the_same_sequence() {
    let s = Schedule::new(&[(0, 10_000), (1, 1)]);
    assert!(!s.is_precomputed());
    assert_eq!(s.period(), 10_001);
    assert_eq!(s.pick(9_998), Some(0));
    assert_eq!(s.pick(9_999), Some(1));
    assert_eq!(s.pick(10_000), Some(0));
    assert_eq!(s.pick(20_000), Some(1));
    assert_eq!(s.pick(10_001 * 1_000_000 + 9_999), Some(1));
    let first: Vec<usize> = picks(&s, 20_002);
    assert_eq!(positions(&first, 1), [10_000, 20_001]);
    // Out of order and backwards.
    assert_eq!(s.pick(9_999), Some(1));
    assert_eq!(s.pick(5), Some(0));
}

#[test]
fn live_and_table_agree_under_any_access_order() {
    for weights in [&[3, 1][..], &[1, 1, 1], &[12, 94, 11, 16, 12], &[76, 75, 51, 83, 22, 22], &[64, 65, 51, 76, 5, 62]]
    {
        let table = Schedule::new(&pairs(weights));
        let live = Schedule::with_table_limit(&pairs(weights), 0);
        assert!(table.is_precomputed(), "{weights:?}");
        assert!(!live.is_precomputed());
        let period = table.period();
        let mut counters: Vec<u64> = (0..period * 8).collect();
        counters.extend((0..period * 8).rev());
        counters.extend([period * 1_000_003 + 7, 3, period * 5 + 1, 0, u64::MAX, u64::MAX - period, 17 * period]);
        for c in counters {
            assert_eq!(live.pick(c), table.pick(c), "{weights:?} at {c}");
        }
        assert_eq!(picks(&live.clone(), period * 4), picks(&table.clone(), period * 4));
    }
}

#[test]
fn live_schedules_answer_random_access_beyond_their_memory() {
    // Periods longer than the live ring, so going back means restoring a period boundary, and
    // going forward again passes boundaries already recorded.
    for weights in [&[1000, 999, 7][..], &[700, 500, 300, 11], &[1100, 1]] {
        let table = Schedule::with_table_limit(&pairs(weights), 1_000_000);
        let live = Schedule::with_table_limit(&pairs(weights), 0);
        assert!(table.is_precomputed());
        assert!(!live.is_precomputed());
        let p = table.period();
        assert!(p > LIVE_RING as u64);
        for c in [p + 5, 3, 2 * p + 5, p - 1, 7 * p + 2, 0, 3 * p, 40 * p + 17, 2 * p - 1] {
            assert_eq!(live.pick(c), table.pick(c), "{weights:?} at {c}");
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let c = (x >> 33) % (p * 9);
            assert_eq!(live.pick(c), table.pick(c), "{weights:?} at {c}");
        }
    }
}

#[test]
fn some_weights_need_more_than_one_period() {
    // Go's heap is not stable: here the heap layout after the first period differs from the
    // initial one, so the first period is a prefix of its own and the cycle starts after it.
    let weights = [64, 65, 51, 76, 5, 62];
    let s = Schedule::new(&pairs(&weights));
    let period = s.period();
    let seq = picks(&s, period * 5);
    let p = period as usize;
    assert_ne!(seq[..p], seq[p..2 * p]);
    assert_eq!(seq[p..2 * p], seq[2 * p..3 * p]);
    assert_eq!(seq, exact_model(&weights, p * 5, |_| true));
    // And here the cycle is two periods long.
    let weights = [76, 75, 51, 83, 22, 22];
    let s = Schedule::new(&pairs(&weights));
    let p = s.period() as usize;
    let seq = picks(&s, p as u64 * 6);
    assert_ne!(seq[..p], seq[p..2 * p]);
    assert_eq!(seq[..2 * p], seq[2 * p..4 * p]);
    assert_eq!(seq, exact_model(&weights, p * 6, |_| true));
}

// ---------------------------------------------------------------------------------------------
// Down backends

#[test]
fn pick_available_walks_forward_past_down_backends() {
    let s = Schedule::new(&pairs(&[1, 1, 1]));
    for c in 0..30 {
        assert_eq!(s.pick_available(c, |_| true), s.pick(c));
        let got = s.pick_available(c, |b| b != 1).unwrap();
        assert_ne!(got, 1);
        // It is the first up backend at or after position c.
        let expected = (c..).map(|i| s.pick(i).unwrap()).find(|&b| b != 1).unwrap();
        assert_eq!(got, expected);
    }
    assert_eq!(s.pick_available(5, |_| false), None);
    assert_eq!(s.pick_available(5, |b| b == 2), Some(2));
    // Large live schedules stop as soon as every entry was seen down.
    let live = Schedule::new(&[(0, 100_000), (1, 1)]);
    assert_eq!(live.pick_available(0, |_| false), None);
    assert_eq!(live.pick_available(0, |b| b == 1), Some(1));
}

#[test]
fn next_available_consumes_down_turns_like_traefik() {
    let weights = [3, 2, 1];
    let s = Schedule::new(&pairs(&weights));
    let cursor = AtomicU64::new(0);
    let got: Vec<usize> = (0..600).map(|_| s.next_available(&cursor, |b| b != 1).unwrap()).collect();
    assert_eq!(got, exact_model(&weights, 600, |b| b != 1));
    // Traefik keeps the up backends in proportion: 3 to 1.
    assert_eq!(got.iter().filter(|&&b| b == 0).count(), 450);
    // 600 up turns are 150 periods of 6 turns; the cursor stops right after the 600th.
    let after = cursor.load(Ordering::Relaxed);
    assert!((895..=900).contains(&after), "{after}");
    // Nothing up: no pick, cursor unchanged.
    assert_eq!(s.next_available(&cursor, |_| false), None);
    assert_eq!(cursor.load(Ordering::Relaxed), after);
}

#[test]
fn schedules_are_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Schedule>();
    let s = std::sync::Arc::new(Schedule::with_table_limit(&[(0, 2), (1, 1)], 0));
    let cursor = std::sync::Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (s, cursor) = (s.clone(), cursor.clone());
            std::thread::spawn(move || {
                (0..300).map(|_| s.next_available(&cursor, |_| true).unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<usize> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(all.iter().filter(|&&b| b == 1).count(), 400);
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Largest |count·W − n·w| over all windows of consecutive picks in `seq`, for entry `slot`:
/// with d(k) = W·count(first k) − k·w, a window (a, b] deviates by d(b) − d(a).
fn max_window_deviation(seq: &[usize], slot: usize, w: i64, total: i64) -> i64 {
    let mut d = 0i64;
    let (mut lo, mut hi) = (0i64, 0i64);
    for &s in seq {
        d += if s == slot { total - w } else { -w };
        lo = lo.min(d);
        hi = hi.max(d);
    }
    hi - lo
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The fairness EDF guarantees, for any window of n consecutive picks (across period
    /// boundaries too) and any backend i with weight w of a total W over m backends:
    ///
    /// |count_i − n·w/W| ≤ 1 + (m − 2)·w/W, and < 1 when m = 2.
    ///
    /// Proof sketch: the window holds every entry whose deadline lies strictly between the
    /// deadlines s and e of its first and last picks, plus some of those at s and e. Backend j's
    /// deadlines are 1/w_j apart, so its count is L·w_j + x_j with L = e − s and −1 ≤ x_j ≤ 1
    /// (x_j = −1 when j has deadlines exactly at s and e and the ties put both outside). Then
    /// n = L·W + Σx, and count_i − n·w_i/W = x_i·(1 − w_i/W) − (w_i/W)·Σ_{j≠i} x_j, at most
    /// (1 − w_i/W) + (m − 1)·w_i/W in magnitude. The bound is reached: with three equal
    /// weights Go's heap serves 0, 2, 1, 2, 1, 0, ..., so backend 0 gets none of requests 2 to 5,
    /// 4/3 of a request under its share. With two backends the tie order is the same at every tie (the lighter backend,
    /// then the first listed), so x_i = 1 and x_j = −1 cannot both happen and the deviation
    /// stays below one request: the reference's "never drifts more than one request" holds for
    /// a stable/canary pair, not beyond.
    #[test]
    fn windows_stay_within_the_edf_bound(weights in prop::collection::vec(1u32..=100, 2..=5)) {
        let s = Schedule::new(&pairs(&weights));
        let n = s.period() * 4;
        let seq = picks(&s, n);
        let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
        let m = weights.len() as i64;
        for (slot, &w) in weights.iter().enumerate() {
            let w = i64::from(w);
            let worst = max_window_deviation(&seq, slot, w, total);
            // |count·W − n·w| ≤ W + (m − 2)·w
            prop_assert!(worst <= total + (m - 2) * w, "{weights:?} backend {slot}: {worst}/{total}");
            if m == 2 {
                prop_assert!(worst < total);
            }
        }
    }

    /// Every aligned period holds each backend exactly weight/gcd times.
    #[test]
    fn every_period_holds_exact_counts(weights in prop::collection::vec(1u32..=100, 2..=5)) {
        let s = Schedule::new(&pairs(&weights));
        let g = weights.iter().fold(0u64, |g, &w| gcd(g, u64::from(w)));
        let period = s.period();
        prop_assert_eq!(period, weights.iter().map(|&w| u64::from(w)).sum::<u64>() / g);
        let seq = picks(&s, period * 6);
        for block in seq.chunks(period as usize) {
            for (slot, &w) in weights.iter().enumerate() {
                let count = block.iter().filter(|&&b| b == slot).count() as u64;
                prop_assert_eq!(count, u64::from(w) / g);
            }
        }
    }

    /// The schedule is the exact EDF with Go's heap, request for request, from the first one,
    /// zero weights included (skipped), table or live.
    #[test]
    fn schedule_is_the_go_heap_edf(weights in prop::collection::vec(0u32..=100, 1..=6), live in any::<bool>()) {
        let input = pairs(&weights);
        let s = if live { Schedule::with_table_limit(&input, 0) } else { Schedule::new(&input) };
        let positive: Vec<u32> = weights.iter().copied().filter(|&w| w > 0).collect();
        let names: Vec<usize> = input.iter().filter(|&&(_, w)| w > 0).map(|&(b, _)| b).collect();
        if positive.is_empty() {
            prop_assert!(s.is_empty());
            return Ok(());
        }
        let n = (s.period() * 5).min(4_000) as usize;
        let expected: Vec<usize> = exact_model(&positive, n, |_| true).into_iter().map(|i| names[i]).collect();
        prop_assert_eq!(picks(&s, n as u64), expected);
    }

    /// Two backends: the counts after any number of requests are within one of the target, and
    /// the order never depends on anything but the weights.
    #[test]
    fn two_backends_track_the_target(stable in 1u32..=1_000, canary in 1u32..=1_000, n in 1u64..5_000) {
        let s = Schedule::new(&[(0, stable), (1, canary)]);
        let seq = picks(&s, n);
        let got = seq.iter().filter(|&&b| b == 1).count() as f64;
        let target = n as f64 * f64::from(canary) / f64::from(stable + canary);
        prop_assert!((got - target).abs() < 1.0, "{got} vs {target}");
    }
}
