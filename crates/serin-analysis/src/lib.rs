//! Argo Rollouts' analysis, as pure functions: conditions in the expr language, the assessment of
//! a measured value, and the AnalysisRun state machine that decides which metrics to measure,
//! when, and what the run's phase is; and an AnalysisRun object as stored (JSON in Argo's
//! shape) taken through that state machine, the part both platforms' analysis controllers share.
//!
//! Nothing here performs I/O or reads a clock: providers run elsewhere, and time comes in as
//! [`serin_model::Time`] values.

pub mod assess;
pub mod object;
pub mod run;

pub use assess::{Measurement, Phase, assess_metric_value, assess_value, guard_min_sample};
pub use run::{Decision, MetricResult, MetricSpec, RunSpec, RunStatus, RunSummary, reconcile, record};
pub use serin_expr as condition;
pub use serin_expr::{ConditionError, ConditionErrorKind, MetricValue, check_syntax, evaluate, evaluate_value};
