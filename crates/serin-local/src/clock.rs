//! Time for the local platform, optionally running faster than the wall clock.
//!
//! `--time-scale N` makes pauses, analysis intervals and scale-down delays pass N times
//! faster, so the seed's manifests run unchanged in tests and the demo. The engine only ever
//! sees the clock's `now`; the anchor is kept in the database so a restarted server continues
//! the same timeline (a timed pause keeps its original start).

use crate::store::{Result, Store};
use serin_model::Time;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    fn now(&self) -> Time;
    /// The wall-clock time that `millis` of this clock's time take.
    fn real(&self, millis: i64) -> Duration;
    fn scale(&self) -> f64;
}

/// `virtual = anchor_virtual + (wall - anchor_wall) * scale`.
#[derive(Clone, Copy, Debug)]
pub struct ScaledClock {
    anchor_wall: i64,
    anchor_virtual: i64,
    scale: f64,
}

fn wall_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl ScaledClock {
    /// Resumes the timeline stored in `store`, or starts one at the wall clock's now.
    pub fn resume(store: &Store, scale: f64) -> Result<Self> {
        let wall = wall_millis();
        let stored = store.meta("clock")?.and_then(|text| {
            let mut parts = text.split(',').map(|p| p.parse::<f64>().ok());
            Some((parts.next()?? as i64, parts.next()?? as i64, parts.next()??))
        });
        let clock = match stored {
            Some((anchor_wall, anchor_virtual, old_scale)) if old_scale == scale => {
                ScaledClock { anchor_wall, anchor_virtual, scale }
            }
            Some((anchor_wall, anchor_virtual, old_scale)) => {
                let now = anchor_virtual + ((wall - anchor_wall) as f64 * old_scale) as i64;
                ScaledClock { anchor_wall: wall, anchor_virtual: now, scale }
            }
            None => ScaledClock { anchor_wall: wall, anchor_virtual: wall, scale },
        };
        store.set_meta("clock", &format!("{},{},{}", clock.anchor_wall, clock.anchor_virtual, clock.scale))?;
        Ok(clock)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Time {
        Time::from_millis(self.anchor_virtual + ((wall_millis() - self.anchor_wall) as f64 * self.scale) as i64)
    }

    fn real(&self, millis: i64) -> Duration {
        Duration::from_secs_f64((millis.max(0) as f64 / self.scale) / 1000.0)
    }

    fn scale(&self) -> f64 {
        self.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_clock_runs_faster_and_resumes_its_timeline() {
        let (_dir, store) = Store::scratch();
        let clock = ScaledClock::resume(&store, 60.0).unwrap();
        assert_eq!(clock.real(60_000), Duration::from_secs(1));
        let before = clock.now();
        std::thread::sleep(Duration::from_millis(50));
        let elapsed = clock.now().since(before);
        assert!((2_500..=20_000).contains(&elapsed), "50 ms at 60x should be about 3 s, was {elapsed} ms");
        let resumed = ScaledClock::resume(&store, 60.0).unwrap();
        assert!(resumed.now() >= clock.now().plus_millis(-1000), "the timeline continues after a restart");
        let rescaled = ScaledClock::resume(&store, 1.0).unwrap();
        assert!(rescaled.now() >= before, "a new scale does not move time backwards");
    }
}
