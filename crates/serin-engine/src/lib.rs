//! serin's rollout engine (canary and blue-green): a pure function from what a Rollout asks for and what the platform
//! observed to what must happen next. No I/O, no clock: time arrives as a value.

pub mod antiaffinity;
pub mod bluegreen;
pub mod command;
pub mod ephemeral;
pub mod objects;
pub mod phase;
pub mod plan;
pub mod reconcile;
pub mod replicas;
pub mod sim;
pub mod stages;
pub mod state;

pub use reconcile::reconcile;
pub use state::{Action, Decision, World};
