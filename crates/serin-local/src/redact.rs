//! What a caller without the API token may not read. The API's reads answer anyone who can
//! reach the address, so a web page rebound to 127.0.0.1 or another local user could read
//! container environment values, provider credentials and repository passwords from them.
//! Without the token those values are replaced by `***`: the shape of every object stays, so
//! `get` and `describe` still work; with the token nothing is hidden.

use serde_json::Value as Json;

/// What stands in for a hidden value.
pub const HIDDEN: &str = "***";

/// kubectl's copy of the applied manifest, as a JSON string inside the object: it holds the
/// same values as the object itself, so it is redacted the same way.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// `https://user:token@host/x` becomes `https://***@host/x`, wherever a URL appears in `text`.
pub fn url_credentials(text: &str) -> String {
    static USERINFO: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pattern = USERINFO.get_or_init(|| regex::Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@").unwrap());
    pattern.replace_all(text, "${1}***@").into_owned()
}

/// Hides, anywhere in `value`: every value of a Secret (its `data` and `stringData`, keys
/// kept), the `value` of every container `env` entry (a `valueFrom` reference names no secret
/// and stays), the `value` of every provider `headers` entry (web and Prometheus metrics carry
/// tokens there), and the credentials of every URL.
pub fn secrets(value: &mut Json) {
    match value {
        Json::Object(fields) if fields.get("kind").and_then(Json::as_str) == Some("Secret") => {
            for field in ["data", "stringData"] {
                for secret in
                    fields.get_mut(field).and_then(Json::as_object_mut).into_iter().flat_map(|m| m.values_mut())
                {
                    *secret = HIDDEN.into();
                }
            }
            let metadata = fields.get_mut("metadata");
            metadata.into_iter().for_each(secrets);
        }
        Json::Object(fields) => {
            for (key, child) in fields.iter_mut() {
                match (key.as_str(), child) {
                    ("env" | "headers", Json::Array(entries)) => {
                        for entry in entries {
                            if let Some(secret) = entry.get_mut("value") {
                                *secret = HIDDEN.into();
                            }
                        }
                    }
                    (LAST_APPLIED, Json::String(text)) => {
                        if let Ok(mut applied) = serde_json::from_str::<Json>(text) {
                            secrets(&mut applied);
                            *text = applied.to_string();
                        } else {
                            *text = HIDDEN.to_string();
                        }
                    }
                    (_, child) => secrets(child),
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(secrets),
        Json::String(text) if text.contains('@') => *text = url_credentials(text),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_lose_their_credentials_only() {
        assert_eq!(
            url_credentials("cannot fetch https://bot:ghp_s3cret@git.example.com/org/repo.git: refused"),
            "cannot fetch https://***@git.example.com/org/repo.git: refused"
        );
        assert_eq!(url_credentials("git@host:org/repo and http://host/x"), "git@host:org/repo and http://host/x");
    }

    #[test]
    fn a_secret_keeps_its_keys_and_loses_its_values_and_its_applied_copy() {
        let applied = json!({"kind": "Secret", "stringData": {"tls.key": "-----BEGIN PRIVATE KEY-----"}});
        let mut secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "tls", "annotations": {LAST_APPLIED: applied.to_string()}},
            "data": {"tls.crt": "LS0tLS1CRUdJTg==", "tls.key": "LS0tLS1CRUdJTg=="},
            "stringData": {"ca.crt": "-----BEGIN CERTIFICATE-----"},
        });
        secrets(&mut secret);
        assert_eq!(secret["data"], json!({"tls.crt": HIDDEN, "tls.key": HIDDEN}));
        assert_eq!(secret["stringData"], json!({"ca.crt": HIDDEN}));
        assert_eq!(secret["type"], "kubernetes.io/tls");
        let copy: Json =
            serde_json::from_str(secret["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap()).unwrap();
        assert_eq!(copy["stringData"]["tls.key"], HIDDEN);
    }

    #[test]
    fn env_values_headers_urls_and_the_applied_copy_are_hidden() {
        let applied = json!({"spec": {"containers": [{"env": [{"name": "DB_PASSWORD", "value": "hunter2"}]}]}});
        let mut object = json!({
            "metadata": {"name": "p", "annotations": {LAST_APPLIED: applied.to_string(), "team": "a@b"}},
            "spec": {
                "containers": [{"name": "app", "image": "img:1", "env": [
                    {"name": "DB_PASSWORD", "value": "hunter2"},
                    {"name": "FROM", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ]}],
                "metrics": [{"provider": {"web": {"url": "https://u:p@metrics.example/q",
                    "headers": [{"key": "Authorization", "value": "Bearer abc"}]}}}],
                "source": {"repoURL": "https://bot:token@git.example/org/app.git"},
            },
        });
        secrets(&mut object);
        let text = object.to_string();
        for secret in ["hunter2", "Bearer abc", "u:p@", "bot:token"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(object["spec"]["containers"][0]["env"][0], json!({"name": "DB_PASSWORD", "value": "***"}));
        assert_eq!(object["spec"]["containers"][0]["env"][1]["valueFrom"]["secretKeyRef"]["key"], "k");
        assert_eq!(object["spec"]["source"]["repoURL"], "https://***@git.example/org/app.git");
        assert_eq!(object["metadata"]["annotations"]["team"], "a@b");
        let applied: Json =
            serde_json::from_str(object["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap()).unwrap();
        assert_eq!(applied["spec"]["containers"][0]["env"][0]["value"], "***");
    }
}
