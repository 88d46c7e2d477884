//! Where analysis measurements come from when the source is outside serin: Prometheus
//! (`/api/v1/query`) and any web endpoint (with a JSONPath into its JSON answer).
//!
//! The local platform and the Kubernetes controller take these measurements the same way, so
//! they live here once: not in `serin-analysis`, which stays pure (no I/O, no clock), and not
//! in `serin-local`, which the Kubernetes controller must not depend on (it brings SQLite, the
//! router and the process supervisor). What only one platform can measure stays with it:
//! serin's own router metrics and the `job` provider as a local process in `serin-local`, the
//! `job` provider as a Kubernetes Job in `serin-kube`.
//!
//! A provider answers with a [`Reading`] or an error message; [`measurement`] turns that answer
//! into the measurement an AnalysisRun records.

mod http;

pub use http::{Http, json_path, percent_encode, trusted_roots};
use serin_analysis::{Measurement, MetricValue};
use serin_model::Time;
use serin_model::analysis::Metric;

/// A provider's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Numbers from Prometheus may be NaN or infinite, which JSON cannot hold.
    pub value: MetricValue,
    /// Requests (or series) the value summarises, when the provider knows: the minimum-sample
    /// guard reads it.
    pub samples: Option<u64>,
}

pub type Outcome = Result<Reading, String>;

/// The measurement a provider's answer makes: assessed against the metric's conditions (with
/// its sample count, when known), or an Error with the provider's message.
pub fn measurement(metric: &Metric, outcome: Outcome, started: Time, finished: Time) -> Measurement {
    match outcome {
        Ok(reading) => {
            let measured = Measurement::assessed(metric, &reading.value, started, finished);
            match reading.samples {
                Some(n) => measured.with_sample(n),
                None => measured,
            }
        }
        Err(message) => Measurement::error(message, started, finished),
    }
}
