//! `check` against templates with several mistakes at once: every issue must be reported
//! with its path, not only the first.

use serde_json::json;
use serin_podtemplate::{SchemaIssue, check};

fn sorted(mut issues: Vec<SchemaIssue>) -> Vec<(String, String)> {
    issues.sort_by(|a, b| a.path.cmp(&b.path));
    issues.into_iter().map(|i| (i.path, i.message)).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = items.iter().map(|(p, m)| ((*p).to_string(), (*m).to_string())).collect();
    v.sort();
    v
}

#[test]
fn seed_template_is_valid() {
    let t = json!({
        "metadata": {"labels": {"app": "myapp"}},
        "spec": {"containers": [{
            "name": "myapp",
            "image": "ikubernetes/myapp:v1",
            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}]
        }]}
    });
    assert_eq!(check(&t), vec![]);
}

#[test]
fn reports_every_issue_with_its_path() {
    let t = json!({
        "metadata": {"labels": {"app": "web", "version": 1, "app.kubernetes.io/name": true}},
        "spec": {
            "containers": [{
                "name": "web",
                "image": "web:1",
                "imagePullPolicyy": "Always",
                "ports": [{"containerPort": "80"}],
                "args": "run",
                "resources": {"limits": {"cpu": "12xyz", "memory": "1Gi"}, "requests": {"cpu": true}},
                "readinessProbe": {"httpGet": {"port": true, "pth": "/"}},
                "securityContext": "privileged"
            }],
            "volumes": {"name": "x"},
            "terminationGracePeriodSeconds": 1.5,
            "priority": 3_000_000_000_u64,
            "foo": 1
        }
    });
    let expected = pairs(&[
        ("metadata.labels.version", "expected a string, found an integer"),
        (r#"metadata.labels["app.kubernetes.io/name"]"#, "expected a string, found a boolean"),
        (
            "spec.containers[0].imagePullPolicyy",
            r#"unknown field "imagePullPolicyy", expected one of "imagePullPolicy""#,
        ),
        ("spec.containers[0].ports[0].containerPort", "expected an integer, found a string"),
        ("spec.containers[0].args", "expected a list, found a string"),
        ("spec.containers[0].resources.limits.cpu", r#"invalid quantity "12xyz""#),
        ("spec.containers[0].resources.requests.cpu", "expected a quantity (a string or a number), found a boolean"),
        ("spec.containers[0].readinessProbe.httpGet.port", "expected an integer or a string, found a boolean"),
        ("spec.containers[0].readinessProbe.httpGet.pth", r#"unknown field "pth", expected one of "path""#),
        ("spec.containers[0].securityContext", "expected a mapping, found a string"),
        ("spec.volumes", "expected a list, found a mapping"),
        ("spec.terminationGracePeriodSeconds", "expected an integer, found a float (1.5)"),
        ("spec.priority", "integer 3000000000 is out of range for int32"),
        ("spec.foo", r#"unknown field "foo""#),
    ]);
    assert_eq!(sorted(check(&t)), expected);
}

#[test]
fn nested_volume_and_inline_fields_are_known() {
    // Fields reached through inline structs (Volume -> VolumeSource, Probe -> ProbeHandler,
    // ConfigMapVolumeSource -> LocalObjectReference) are known; typos inside them are not.
    let t = json!({"spec": {
        "containers": [{"name": "a", "livenessProbe": {"exec": {"command": ["true"]}, "periodSecond": 5}}],
        "volumes": [
            {"name": "cfg", "configMap": {"name": "c", "itemz": []}},
            {"name": "tmp", "emptydir": {}}
        ]
    }});
    let expected = pairs(&[
        (
            "spec.containers[0].livenessProbe.periodSecond",
            r#"unknown field "periodSecond", expected one of "periodSeconds""#,
        ),
        ("spec.volumes[0].configMap.itemz", r#"unknown field "itemz", expected one of "items""#),
        ("spec.volumes[1].emptydir", r#"unknown field "emptydir", expected one of "emptyDir""#),
    ]);
    assert_eq!(sorted(check(&t)), expected);
}

#[test]
fn bad_timestamp_and_root_type() {
    let t = json!({"metadata": {"creationTimestamp": "yesterday"}, "spec": {"containers": []}});
    assert_eq!(
        sorted(check(&t)),
        pairs(&[(
            "metadata.creationTimestamp",
            r#"invalid timestamp "yesterday", expected RFC 3339 such as "2024-05-01T10:00:00Z""#,
        )])
    );
    assert_eq!(
        check(&json!([1])),
        vec![SchemaIssue { path: String::new(), message: "expected a mapping, found a list".into() }]
    );
}

#[test]
fn null_is_accepted_anywhere() {
    let t = json!({"metadata": null, "spec": {"containers": [{"name": "a", "resources": null, "ports": null}]}});
    assert_eq!(check(&t), vec![]);
}
