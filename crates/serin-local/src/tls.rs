//! The router's TLS, from the store as Traefik's Kubernetes CRD provider reads it: the
//! certificates of the `kubernetes.io/tls` Secrets that IngressRoutes name in
//! `spec.tls.secretName` and that the `default` TLSStore lists, that store's default
//! certificate, and every TLSOption (the one named `default` replacing the default options),
//! with the CAs its client authentication names. A route of an IngressRoute with `spec.tls`
//! asks for the options it names, under Traefik's id for them (`namespace-name`).
//!
//! Pure: objects in, a TLS table and the problems found out (a missing Secret, a TLSOption
//! nobody defined), which the router logs once.

use crate::store::Stored;
use serde_json::Value as Json;
use serin_model::secret::Secret;
use serin_model::traefik::{IngressRouteTls, TlsOption, TlsStore};
use serin_router::table::traefik_normalized;
use serin_router::tls::{
    Certificate, ClientAuthType, DEFAULT_OPTIONS, TlsSettings, TlsTable, TlsVersion, certificates_from_pem,
};
use std::collections::{BTreeMap, HashMap};

/// The id of the TLS options an IngressRoute's `spec.tls` asks for: `default` when it names
/// none, else Traefik's `namespace-name` (the namespace defaulting to the IngressRoute's).
pub fn options_id(namespace: &str, tls: &Json) -> String {
    match tls.pointer("/options/name").and_then(Json::as_str).filter(|name| !name.is_empty()) {
        None => DEFAULT_OPTIONS.to_string(),
        Some(name) => {
            let namespace = tls.pointer("/options/namespace").and_then(Json::as_str).unwrap_or(namespace);
            traefik_normalized(&format!("{namespace}-{name}"))
        }
    }
}

/// The TLS table (from the Secrets, TLSOptions, TLSStores and IngressRoutes among the route
/// table's objects), and what could not be loaded or honoured.
pub fn build(objects: &crate::routing::Objects<'_>) -> (TlsTable, Vec<String>) {
    let mut problems = Vec::new();
    let secrets: HashMap<(&str, &str), &Stored> =
        objects.secrets.iter().map(|s| ((s.key.namespace.as_str(), s.key.name.as_str()), s)).collect();
    let mut load = |namespace: &str, name: &str, user: &str| -> Option<Certificate> {
        let Some(stored) = secrets.get(&(namespace, name)) else {
            problems.push(format!("Secret {namespace}/{name} named by {user} does not exist"));
            return None;
        };
        let loaded = certificate(stored).map_err(|e| format!("Secret {namespace}/{name} named by {user}: {e}"));
        loaded.map_err(|problem| problems.push(problem)).ok()
    };
    let mut certificates = Vec::new();
    for route in objects.ingress_routes {
        let tls = typed::<IngressRouteTls>(&route.body["spec"]["tls"]);
        if let Some(name) = tls.and_then(|tls| tls.secret_name) {
            let user = format!("IngressRoute {}/{}", route.key.namespace, route.key.name);
            certificates.extend(load(&route.key.namespace, &name, &user));
        }
    }
    let stores: Vec<&Stored> = objects.tls_stores.iter().filter(|s| s.key.name == "default").collect();
    let mut default = None;
    match stores.as_slice() {
        [] => {}
        [stored] => {
            let store = typed::<TlsStore>(&stored.body).unwrap_or_default();
            let (namespace, user) = (&stored.key.namespace, format!("TLSStore {}/default", stored.key.namespace));
            for reference in &store.spec.certificates {
                certificates.extend(load(namespace, &reference.secret_name, &user));
            }
            if let Some(reference) = &store.spec.default_certificate {
                default = load(namespace, &reference.secret_name, &user);
            }
        }
        several => {
            let namespaces: Vec<&str> = several.iter().map(|s| s.key.namespace.as_str()).collect();
            problems.push(format!(
                "TLSStores named default in several namespaces ({}): none is used",
                namespaces.join(", ")
            ));
        }
    }
    let mut options = BTreeMap::new();
    let defaults: Vec<&str> = objects
        .tls_options
        .iter()
        .filter(|o| o.key.name == DEFAULT_OPTIONS)
        .map(|o| o.key.namespace.as_str())
        .collect();
    for stored in objects.tls_options {
        let (namespace, name) = (&stored.key.namespace, &stored.key.name);
        let id = match name.as_str() {
            DEFAULT_OPTIONS if defaults.len() > 1 => {
                problems.push(format!(
                    "TLSOptions named default in several namespaces ({}): the built-in default options apply",
                    defaults.join(", ")
                ));
                continue;
            }
            DEFAULT_OPTIONS => DEFAULT_OPTIONS.to_string(),
            _ => traefik_normalized(&format!("{namespace}-{name}")),
        };
        let option = typed::<TlsOption>(&stored.body).unwrap_or_default();
        let settings = settings(&option, namespace, &secrets).map_err(|e| format!("TLSOption {namespace}/{name}: {e}"));
        options.insert(id, settings);
    }
    for route in objects.ingress_routes {
        let tls = &route.body["spec"]["tls"];
        if tls.is_object() {
            let id = options_id(&route.key.namespace, tls);
            if !options.contains_key(&id) && id != DEFAULT_OPTIONS {
                let hint = if tls.pointer("/options/name") == Some(&Json::from(DEFAULT_OPTIONS)) {
                    " (the TLSOption named default replaces the default options: name none to use them)"
                } else {
                    ""
                };
                problems.push(format!(
                    "IngressRoute {}/{} asks for TLS options {id}, which no TLSOption defines{hint}: its TLS connections are closed",
                    route.key.namespace, route.key.name
                ));
            }
        }
    }
    let (table, built) = TlsTable::new(certificates, default, options);
    problems.extend(built);
    (table, problems)
}

/// A stored object as its model type (it was validated on apply).
fn typed<T: serde::de::DeserializeOwned>(body: &Json) -> Option<T> {
    serde_json::from_value(body.clone()).ok()
}

/// The certificate a `kubernetes.io/tls` Secret holds.
fn certificate(stored: &Stored) -> Result<Certificate, String> {
    let secret = typed::<Secret>(&stored.body).ok_or("not a Secret")?;
    let value = |key: &str| secret.value(key)?.ok_or_else(|| format!("it holds no {key}"));
    Certificate::from_pem(&value("tls.crt")?, &value("tls.key")?)
}

/// A TLSOption as the router's settings, with its client CAs read from their Secrets (in the
/// TLSOption's namespace, under `tls.ca` or else `ca.crt`, as Traefik reads them).
fn settings(
    option: &TlsOption,
    namespace: &str,
    secrets: &HashMap<(&str, &str), &Stored>,
) -> Result<TlsSettings, String> {
    let spec = &option.spec;
    let mut client_cas = Vec::new();
    let mut client_auth = ClientAuthType::NoClientCert;
    if let Some(auth) = &spec.client_auth {
        for name in &auth.secret_names {
            let stored =
                secrets.get(&(namespace, name.as_str())).ok_or(format!("Secret {namespace}/{name} does not exist"))?;
            let secret = typed::<Secret>(&stored.body).ok_or("not a Secret")?;
            let pem = match secret.value("tls.ca")? {
                Some(pem) => pem,
                None => secret
                    .value("ca.crt")?
                    .ok_or(format!("Secret {namespace}/{name} holds neither tls.ca nor ca.crt"))?,
            };
            client_cas.extend(certificates_from_pem(&pem).map_err(|e| format!("Secret {namespace}/{name}: {e}"))?);
        }
        let written = auth.client_auth_type.as_deref().and_then(ClientAuthType::parse);
        client_auth = ClientAuthType::effective(written, !client_cas.is_empty());
    }
    let version = |name: &Option<String>| name.as_deref().and_then(TlsVersion::parse);
    Ok(TlsSettings {
        min_version: version(&spec.min_version),
        max_version: version(&spec.max_version),
        cipher_suites: spec.cipher_suites.clone(),
        curve_preferences: spec.curve_preferences.clone(),
        alpn_protocols: spec.alpn_protocols.clone(),
        sni_strict: spec.sni_strict.unwrap_or(false),
        client_auth,
        client_cas,
        disable_session_tickets: spec.disable_session_tickets.unwrap_or(false),
    })
}
