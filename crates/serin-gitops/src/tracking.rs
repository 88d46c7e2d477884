//! Argo CD's annotation tracking: each object an Application applies carries
//! `argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>`, and only objects
//! carrying their own id count as the Application's (an annotation copied onto another object
//! does not), so only those are ever pruned.

use crate::apply::Manifest;
use serde_json::Value as Json;
use serin_model::ObjectKey;

pub const TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
/// Argo CD's namespace; Applications elsewhere are named `<namespace>_<name>` in tracking ids.
pub const CONTROL_NAMESPACE: &str = "argocd";

/// The key of the Application `name` in `namespace`.
pub fn application_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new("argoproj.io/v1alpha1", "Application", namespace, name)
}

/// Argo CD's name for an Application in tracking ids.
pub fn instance_name(app: &ObjectKey) -> String {
    if app.namespace == CONTROL_NAMESPACE { app.name.clone() } else { format!("{}_{}", app.namespace, app.name) }
}

pub fn tracking_id(instance: &str, key: &ObjectKey) -> String {
    format!("{instance}:{}/{}:{}/{}", key.group, key.kind, key.namespace, key.name)
}

/// The Application a live object belongs to, if its tracking id names the object itself.
pub fn tracked_by<'a>(key: &ObjectKey, body: &'a Json) -> Option<&'a str> {
    let id = body.pointer("/metadata/annotations")?.get(TRACKING_ANNOTATION)?.as_str()?;
    let (instance, rest) = id.split_once(':')?;
    (rest == format!("{}/{}:{}/{}", key.group, key.kind, key.namespace, key.name)).then_some(instance)
}

/// A manifest as the Application applies it: with its tracking id.
pub fn tracked_manifest(instance: &str, manifest: &Manifest) -> Manifest {
    let mut body = manifest.body.clone();
    body["metadata"]["annotations"][TRACKING_ANNOTATION] = tracking_id(instance, &manifest.key).into();
    Manifest { key: manifest.key.clone(), body }
}
