//! Restart delays of a crash-looping container, as the kubelet computes them (CrashLoopBackOff): the first
//! restart is immediate, then the delay starts at `base` and doubles up to `cap`; a container that ran for at
//! least `reset_after` starts the sequence over.

use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    reset_after: Duration,
    /// Delay before the next restart; `None`: the next restart is immediate.
    next: Option<Duration>,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration, reset_after: Duration) -> Self {
        Backoff { base, cap, reset_after, next: None }
    }

    /// Delay before restarting a container that ran for `ran_for`.
    pub fn delay(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.reset_after {
            self.next = None;
        }
        let delay = self.next.unwrap_or(Duration::ZERO);
        self.next = Some(match self.next {
            None => self.base.min(self.cap),
            Some(d) => d.saturating_mul(2).min(self.cap),
        });
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_cap_and_resets() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(10), s(300), s(600));
        let delays: Vec<_> = (0..8).map(|_| b.delay(s(1)).as_secs()).collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(b.delay(s(600)), Duration::ZERO);
        assert_eq!(b.delay(s(1)), s(10));
    }
}
