//! The manifests serin reads, exactly as Argo Rollouts, Traefik, Argo CD and Kubernetes users
//! write them, with validation errors that name file, line, column and field.

pub mod analysis;
pub mod application;
pub mod crd;
pub mod decode;
pub mod duration;
pub mod intstr;
pub mod load;
pub mod meta;
pub mod object;
pub mod path;
pub mod podtemplate;
mod reindent;
pub mod rollout;
pub mod secret;
pub mod service;
pub mod time;
pub mod traefik;
pub mod validate;
pub mod workload;
pub mod yaml;

pub use intstr::IntOrString;
pub use load::{Diagnostic, Document, Loaded, Unmodelled, load_path, load_str};
pub use object::{Object, ObjectKey};
pub use path::FieldPath;
pub use time::Time;
