//! End-to-end checks of `go_json` and `pod_template_hash`: each expected string below is
//! derived by hand from the Go encoding rules (field order from the Kubernetes Go types,
//! `omitempty`, pointers, sorted map keys, HTML-safe escapes, canonical quantities), and each
//! hash is recomputed here with an independent FNV-1a so the test checks both the bytes and
//! the hashing over them.

use serde_json::{Value, json};
use serin_podtemplate::{check, go_json, pod_template_hash};

/// An independent implementation of Argo's hash: FNV-1a 32 done in u64 arithmetic modulo
/// 2^32, collision count appended as Go's `binary.LittleEndian.PutUint32` into 8 zero bytes.
fn reference_hash(bytes: &[u8], collision_count: Option<i32>) -> String {
    let mut data = bytes.to_vec();
    if let Some(count) = collision_count {
        let mut extra = [0_u8; 8];
        extra[..4].copy_from_slice(&u32::from_ne_bytes(count.to_ne_bytes()).to_le_bytes());
        data.extend_from_slice(&extra);
    }
    let mut h: u64 = 2_166_136_261;
    for b in data {
        h ^= u64::from(b);
        h = (h * 16_777_619) % (1 << 32);
    }
    let alphabet: Vec<char> = "bcdfghjklmnpqrstvwxz2456789".chars().collect();
    h.to_string().bytes().map(|d| alphabet[usize::from(d) % 27]).collect()
}

/// Asserts the exact encoding, that the template passes `check`, and that the hash is the
/// hash of exactly that encoding.
fn assert_encodes(template: &Value, expected: &str) {
    assert_eq!(check(template), vec![], "template should be valid");
    assert_eq!(go_json(template), expected);
    assert_eq!(pod_template_hash(template, None), reference_hash(expected.as_bytes(), None));
}

fn seed_template(image: &str) -> Value {
    // spec.template of examples/argo-demo/argorollout-canary/rollout.yaml
    json!({
        "metadata": {"labels": {"app": "myapp"}},
        "spec": {"containers": [{
            "name": "myapp",
            "image": image,
            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}]
        }]}
    })
}

#[test]
fn seed_template_matches_argo() {
    let v1 = seed_template("ikubernetes/myapp:v1");
    let expected = r#"{"metadata":{"creationTimestamp":null,"labels":{"app":"myapp"}},"spec":{"containers":[{"name":"myapp","image":"ikubernetes/myapp:v1","ports":[{"name":"http","containerPort":80,"protocol":"TCP"}],"resources":{}}]}}"#;
    assert_encodes(&v1, expected);
    // The hashes the seed's Argo Rollouts installation produced.
    assert_eq!(pod_template_hash(&v1, None), "69dc9f5f56");
    assert_eq!(pod_template_hash(&seed_template("ikubernetes/myapp:v2"), None), "95d95c65");
}

#[test]
fn empty_template_prints_go_zero_values() {
    // metadata and spec are non-pointer structs, so they are printed even though empty;
    // creationTimestamp is a zero metav1.Time (null); containers has no omitempty and is nil.
    assert_encodes(&json!({}), r#"{"metadata":{"creationTimestamp":null},"spec":{"containers":null}}"#);
}

#[test]
fn metadata_fields_in_declaration_order() {
    // ObjectMeta order: name, generateName, namespace, ..., creationTimestamp, ..., labels,
    // annotations, ownerReferences, finalizers. The timestamp is re-printed in UTC.
    let t = json!({
        "metadata": {
            "finalizers": ["example.com/keep"],
            "namespace": "prod",
            "creationTimestamp": "2024-05-01T12:00:00+02:00",
            "generateName": "web-",
            "name": "web"
        },
        "spec": {"containers": [{"name": "web"}]}
    });
    assert_encodes(
        &t,
        r#"{"metadata":{"name":"web","generateName":"web-","namespace":"prod","creationTimestamp":"2024-05-01T10:00:00Z","finalizers":["example.com/keep"]},"spec":{"containers":[{"name":"web","resources":{}}]}}"#,
    );
}

#[test]
fn env_value_and_value_from() {
    // Container order: name, image, ..., envFrom, env, resources.
    // - `value: ""` is omitempty and dropped, leaving only the name.
    // - fieldRef.apiVersion is omitempty and absent.
    // - resourceFieldRef.divisor is a non-pointer Quantity: never omitted, zero prints "0".
    // - secretKeyRef/configMapKeyRef inline LocalObjectReference, so `name` comes before `key`;
    //   `optional: false` is a *bool and printed because it is set.
    // - labels are sorted; "&" in the annotation is escaped as \u0026.
    let t = json!({
        "metadata": {"labels": {"tier": "backend", "app": "web"}, "annotations": {"note": "a&b"}},
        "spec": {"containers": [{
            "name": "web",
            "image": "nginx:1.25",
            "env": [
                {"name": "MODE", "value": "prod"},
                {"name": "EMPTY", "value": ""},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"containerName": "web", "resource": "limits.cpu"}}},
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password", "optional": false}}},
                {"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"key": "level", "name": "cfg"}}}
            ],
            "envFrom": [
                {"configMapRef": {"name": "common"}},
                {"prefix": "S_", "secretRef": {"name": "s", "optional": true}}
            ]
        }]}
    });
    let expected = concat!(
        r#"{"metadata":{"creationTimestamp":null,"labels":{"app":"web","tier":"backend"},"annotations":{"note":"a\u0026b"}},"#,
        r#""spec":{"containers":[{"name":"web","image":"nginx:1.25","#,
        r#""envFrom":[{"configMapRef":{"name":"common"}},{"prefix":"S_","secretRef":{"name":"s","optional":true}}],"#,
        r#""env":[{"name":"MODE","value":"prod"},{"name":"EMPTY"},"#,
        r#"{"name":"POD_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},"#,
        r#"{"name":"CPU_LIMIT","valueFrom":{"resourceFieldRef":{"containerName":"web","resource":"limits.cpu","divisor":"0"}}},"#,
        r#"{"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"name":"db","key":"password","optional":false}}},"#,
        r#"{"name":"LOG_LEVEL","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"level"}}}],"#,
        r#""resources":{}}]}}"#,
    );
    assert_encodes(&t, expected);
}

#[test]
fn resources_use_canonical_quantities() {
    // Quantities are re-printed in canonical form: "1000m" -> "1", "1.5Gi" -> "1536Mi",
    // 1 -> "1", 0.5 -> "500m", "1e3" stays "1e3" (already canonical), "2000m" -> "2",
    // "1024Mi" -> "1Gi", "0.1" -> "100m", "64Mi" and "250m" unchanged. Resource names are
    // map keys, so they are sorted. PodSpec order puts initContainers before containers and
    // overhead far after them.
    let t = json!({
        "spec": {
            "overhead": {"cpu": "250m"},
            "containers": [{
                "name": "app",
                "image": "app:1",
                "resources": {
                    "limits": {"memory": "1.5Gi", "cpu": "1000m", "nvidia.com/gpu": 1},
                    "requests": {"memory": "1024Mi", "cpu": 0.5, "ephemeral-storage": "1e3", "hugepages-2Mi": "2000m"}
                }
            }],
            "initContainers": [{"name": "init", "image": "busybox", "resources": {"requests": {"cpu": "0.1", "memory": "64Mi"}}}]
        }
    });
    let expected = concat!(
        r#"{"metadata":{"creationTimestamp":null},"spec":{"#,
        r#""initContainers":[{"name":"init","image":"busybox","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}],"#,
        r#""containers":[{"name":"app","image":"app:1","resources":{"#,
        r#""limits":{"cpu":"1","memory":"1536Mi","nvidia.com/gpu":"1"},"#,
        r#""requests":{"cpu":"500m","ephemeral-storage":"1e3","hugepages-2Mi":"2","memory":"1Gi"}}}],"#,
        r#""overhead":{"cpu":"250m"}}}"#,
    );
    assert_encodes(&t, expected);
}

#[test]
fn probes_http_exec_tcp_grpc() {
    // Probe inlines ProbeHandler first (exec, httpGet, tcpSocket, grpc), then the int32
    // thresholds (omitempty: 0 is dropped), then the *int64 terminationGracePeriodSeconds
    // (printed even when 0). Containers print livenessProbe, readinessProbe, startupProbe in
    // that order whatever the input order. The httpGet port is an IntOrString: a number stays
    // a number, a name stays a string. ContainerPort.protocol is omitempty and absent here.
    // GRPCAction.service is a *string without omitempty, so it prints null.
    let t = json!({"spec": {"containers": [
        {
            "name": "api",
            "image": "api:2",
            "ports": [{"containerPort": 8080, "name": "http"}],
            "readinessProbe": {
                "periodSeconds": 10,
                "httpGet": {"port": 8080, "path": "/healthz", "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                "initialDelaySeconds": 5
            },
            "livenessProbe": {
                "failureThreshold": 3,
                "httpGet": {"path": "/live", "port": "http", "scheme": "HTTP"},
                "terminationGracePeriodSeconds": 0
            },
            "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "timeoutSeconds": 0}
        },
        {
            "name": "db",
            "image": "postgres:16",
            "readinessProbe": {"tcpSocket": {"port": 5432}, "successThreshold": 1},
            "livenessProbe": {"grpc": {"port": 9090}}
        }
    ]}});
    let expected = concat!(
        r#"{"metadata":{"creationTimestamp":null},"spec":{"containers":["#,
        r#"{"name":"api","image":"api:2","ports":[{"name":"http","containerPort":8080}],"resources":{},"#,
        r#""livenessProbe":{"httpGet":{"path":"/live","port":"http","scheme":"HTTP"},"failureThreshold":3,"terminationGracePeriodSeconds":0},"#,
        r#""readinessProbe":{"httpGet":{"path":"/healthz","port":8080,"httpHeaders":[{"name":"X-Probe","value":"1"}]},"initialDelaySeconds":5,"periodSeconds":10},"#,
        r#""startupProbe":{"exec":{"command":["cat","/tmp/ready"]}}},"#,
        r#"{"name":"db","image":"postgres:16","resources":{},"#,
        r#""livenessProbe":{"grpc":{"port":9090,"service":null}},"#,
        r#""readinessProbe":{"tcpSocket":{"port":5432},"successThreshold":1}}"#,
        r#"]}}"#,
    );
    assert_encodes(&t, expected);
}

#[test]
fn volumes_and_mounts() {
    // Volume = name + inlined VolumeSource. An empty emptyDir is a non-nil pointer: {}.
    // sizeLimit "1024Mi" is canonicalised to "1Gi". configMap inlines LocalObjectReference
    // (name) before items and defaultMode. hostPath.type is a *string, so "" is printed.
    // VolumeMount order: name, readOnly, recursiveReadOnly, mountPath, subPath. volumes
    // precede containers in PodSpec; volumeMounts follow resources in Container.
    let t = json!({"spec": {
        "containers": [{
            "name": "app",
            "image": "app:1",
            "volumeMounts": [
                {"name": "cfg", "mountPath": "/etc/app", "readOnly": true},
                {"mountPath": "/cache", "name": "cache", "subPath": "x"}
            ]
        }],
        "volumes": [
            {"name": "cache", "emptyDir": {}},
            {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1024Mi"}},
            {"name": "cfg", "configMap": {"name": "app-config", "defaultMode": 420, "items": [
                {"key": "app.yaml", "path": "config/app.yaml"},
                {"key": "log.yaml", "path": "log.yaml", "mode": 256}
            ]}},
            {"name": "creds", "secret": {"secretName": "creds", "optional": true}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
        ]
    }});
    let expected = concat!(
        r#"{"metadata":{"creationTimestamp":null},"spec":{"volumes":["#,
        r#"{"name":"cache","emptyDir":{}},"#,
        r#"{"name":"scratch","emptyDir":{"medium":"Memory","sizeLimit":"1Gi"}},"#,
        r#"{"name":"cfg","configMap":{"name":"app-config","items":[{"key":"app.yaml","path":"config/app.yaml"},{"key":"log.yaml","path":"log.yaml","mode":256}],"defaultMode":420}},"#,
        r#"{"name":"creds","secret":{"secretName":"creds","optional":true}},"#,
        r#"{"name":"host","hostPath":{"path":"/var/log","type":""}},"#,
        r#"{"name":"data","persistentVolumeClaim":{"claimName":"data"}}],"#,
        r#""containers":[{"name":"app","image":"app:1","resources":{},"volumeMounts":["#,
        r#"{"name":"cfg","readOnly":true,"mountPath":"/etc/app"},"#,
        r#"{"name":"cache","mountPath":"/cache","subPath":"x"}]}]}}"#,
    );
    assert_encodes(&t, expected);
}

#[test]
fn security_context_pointer_bools() {
    // SecurityContext fields are pointers: privileged=false and allowPrivilegeEscalation=false
    // are printed. Order: capabilities, privileged, seLinuxOptions, windowsOptions, runAsUser,
    // runAsGroup, runAsNonRoot, readOnlyRootFilesystem, allowPrivilegeEscalation, procMount,
    // seccompProfile. Container bools stdin/tty are plain omitempty: false is dropped.
    // PodSpec: terminationGracePeriodSeconds, automountServiceAccountToken,
    // shareProcessNamespace, priority and enableServiceLinks are pointers (printed even when
    // zero/false); hostNetwork is a plain bool (false dropped). PodSecurityContext order:
    // runAsNonRoot, supplementalGroups, fsGroup, sysctls.
    let t = json!({"spec": {
        "containers": [{
            "name": "app",
            "image": "app:1",
            "securityContext": {
                "runAsUser": 1000,
                "allowPrivilegeEscalation": false,
                "privileged": false,
                "readOnlyRootFilesystem": true,
                "runAsNonRoot": true,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"}
            },
            "stdin": false,
            "tty": true
        }],
        "securityContext": {
            "runAsNonRoot": false,
            "fsGroup": 2000,
            "supplementalGroups": [3000],
            "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]
        },
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": false,
        "hostNetwork": false,
        "enableServiceLinks": false,
        "shareProcessNamespace": true,
        "priority": 0
    }});
    let expected = concat!(
        r#"{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"name":"app","image":"app:1","resources":{},"#,
        r#""securityContext":{"capabilities":{"drop":["ALL"]},"privileged":false,"runAsUser":1000,"runAsNonRoot":true,"#,
        r#""readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false,"seccompProfile":{"type":"RuntimeDefault"}},"#,
        r#""tty":true}],"#,
        r#""terminationGracePeriodSeconds":0,"automountServiceAccountToken":false,"shareProcessNamespace":true,"#,
        r#""securityContext":{"runAsNonRoot":false,"supplementalGroups":[3000],"fsGroup":2000,"#,
        r#""sysctls":[{"name":"net.core.somaxconn","value":"1024"}]},"#,
        r#""priority":0,"enableServiceLinks":false}}"#,
    );
    assert_encodes(&t, expected);
}

#[test]
fn strings_are_escaped_like_go() {
    // Go escapes <, > and & as \u003c, \u003e, \u0026; quotes and backslashes with a
    // backslash; \n and \t as short escapes; other control characters as \u00XX; U+2029 as
    // \u2029. command, args and workingDir follow image in Container.
    let t = json!({"spec": {"containers": [{
        "name": "sh",
        "image": "busybox",
        "workingDir": "/w",
        "command": ["sh", "-c"],
        "args": ["echo \"<b>hi</b>\" && exit 0", "tab\there\nnew\\", "\u{1}ctl", "para\u{2029}"]
    }]}});
    let expected = concat!(
        r#"{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"name":"sh","image":"busybox","#,
        r#""command":["sh","-c"],"#,
        r#""args":["echo \"\u003cb\u003ehi\u003c/b\u003e\" \u0026\u0026 exit 0","tab\there\nnew\\","\u0001ctl","para\u2029"],"#,
        r#""workingDir":"/w","resources":{}}]}}"#,
    );
    assert_encodes(&t, expected);
}

#[test]
fn scheduling_fields_and_unknown_fields_dropped() {
    // Fields unknown to the Go types (imagePullPolicyy, bogus) are dropped, as Go's decoder
    // drops them. PodSpec order: containers, nodeSelector, affinity, tolerations.
    // PodAffinityTerm order: labelSelector before topologyKey.
    let t = json!({"spec": {
        "containers": [{"name": "a", "image": "a", "imagePullPolicyy": "Always"}],
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "canary", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "a"}}}}
        ]}},
        "nodeSelector": {"disk": "ssd"},
        "bogus": 1
    }});
    let expected = concat!(
        r#"{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"name":"a","image":"a","resources":{}}],"#,
        r#""nodeSelector":{"disk":"ssd"},"#,
        r#""affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"a"}},"topologyKey":"kubernetes.io/hostname"}}]}},"#,
        r#""tolerations":[{"key":"dedicated","operator":"Equal","value":"canary","effect":"NoSchedule"}]}}"#,
    );
    assert_eq!(check(&t).len(), 2);
    assert_eq!(go_json(&t), expected);
    assert_eq!(pod_template_hash(&t, None), reference_hash(expected.as_bytes(), None));
}

#[test]
fn integral_floats_are_integers() {
    // YAML `80.0` reaches the API server as the JSON number 80.
    let t = json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80.0}]}]}});
    assert_encodes(
        &t,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"name":"a","ports":[{"containerPort":80}],"resources":{}}]}}"#,
    );
}

#[test]
fn collision_count_changes_the_hash() {
    let t = seed_template("ikubernetes/myapp:v1");
    let bytes = go_json(&t);
    let plain = pod_template_hash(&t, None);
    let mut seen = vec![plain.clone()];
    for count in [0, 1, 2, -1, i32::MAX] {
        let h = pod_template_hash(&t, Some(count));
        assert_eq!(h, reference_hash(bytes.as_bytes(), Some(count)), "count {count}");
        assert!(!seen.contains(&h), "count {count} collides with an earlier hash");
        seen.push(h);
    }
    // Some(0) still appends eight zero bytes, so it differs from None.
    assert_ne!(pod_template_hash(&t, Some(0)), plain);
}

#[test]
fn any_change_in_the_template_changes_the_hash() {
    let a = seed_template("ikubernetes/myapp:v1");
    let mut b = a.clone();
    b["metadata"]["labels"]["canary"] = json!("true");
    assert_ne!(pod_template_hash(&a, None), pod_template_hash(&b, None));
    // A key Go ignores does not change it.
    let mut c = a.clone();
    c["spec"]["containers"][0]["unknownField"] = json!("x");
    assert_eq!(pod_template_hash(&a, None), pod_template_hash(&c, None));
}
