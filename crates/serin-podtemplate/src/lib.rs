//! Pod templates as Argo Rollouts sees them. A ReplicaSet created for a Rollout is named
//! `<rollout>-<pod-template-hash>`, and the hash is taken over the template exactly as Go's
//! `encoding/json` encodes a `corev1.PodTemplateSpec`. Reproducing that hash means
//! reproducing Go's encoding byte for byte: struct fields in declaration order, `omitempty`
//! and pointer semantics, sorted map keys, HTML-safe string escapes and canonical resource
//! quantities. This crate does that from a static table of the Kubernetes types
//! (the `schema` module), and uses the same table to report template mistakes that Go would silently
//! drop or reject.
//!
//! Input is the Rollout's `spec.template` as a [`serde_json::Value`] built from YAML (YAML
//! integers as JSON integers, floats as floats, quoted scalars as strings).

mod check;
mod encode;
mod gojson;
mod openapi;
mod quantity;
mod schema;
mod time;

use serde_json::Value;

/// A problem found in a pod template: `path` is relative to the template root, in the form
/// `spec.containers[0].readinessProbe.httpGet.port` (dot-separated keys, `[i]` indexes; map
/// keys that contain dots or other punctuation are written `["app.kubernetes.io/name"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaIssue {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for SchemaIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Every problem in `template`: unknown fields (`unknown field "foo", expected one of
/// "fooBar"` when a known name is close, else `unknown field "foo"`), values of the wrong type
/// (`expected an integer, found a string`, `expected a list, found a mapping`, ...), integers
/// out of range, invalid quantities (`invalid quantity "12xyz"`) and malformed timestamps.
/// `null` is accepted anywhere, as Go treats it as the zero value.
pub fn check(template: &Value) -> Vec<SchemaIssue> {
    let mut issues = Vec::new();
    check::check_root(&schema::POD_TEMPLATE_SPEC, template, &mut issues);
    issues
}

/// The template encoded exactly as Go's `encoding/json` encodes a `k8s.io/api` core/v1
/// `PodTemplateSpec`.
///
/// Fields unknown to the schema are dropped, as Go drops them while decoding. Values that
/// [`check`] reports as mistyped or invalid are treated as absent (Go would refuse the whole
/// template instead), so the output is only meaningful for templates that pass [`check`].
pub fn go_json(template: &Value) -> String {
    encode::encode_root(&schema::POD_TEMPLATE_SPEC, template)
}

/// The OpenAPI v3 schema of a `PodTemplateSpec` for a CustomResourceDefinition: structural,
/// without descriptions, with every field of the table [`check`] and [`go_json`] use.
pub fn openapi_schema() -> Value {
    openapi::template_schema()
}

/// Argo Rollouts' pod-template-hash (`utils/hash/hash.go`): FNV-1a 32-bit over
/// [`go_json`]`(template)`, then, when `collision_count` is set, over 8 more bytes (the count
/// as a little-endian `u32` followed by four zero bytes); the sum is printed in decimal and
/// each digit mapped through `rand.SafeEncodeString`'s alphabet.
pub fn pod_template_hash(template: &Value, collision_count: Option<i32>) -> String {
    let mut hasher = Fnv1a32::new();
    hasher.write(go_json(template).as_bytes());
    if let Some(count) = collision_count {
        let mut bytes = [0_u8; 8];
        bytes[..4].copy_from_slice(&count.cast_unsigned().to_le_bytes());
        hasher.write(&bytes);
    }
    safe_encode(&hasher.sum().to_string())
}

/// FNV-1a with a 32-bit state, as Go's `hash/fnv.New32a`.
struct Fnv1a32(u32);

impl Fnv1a32 {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;

    fn new() -> Self {
        Fnv1a32(Self::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u32::from(b)).wrapping_mul(Self::PRIME);
        }
    }

    fn sum(&self) -> u32 {
        self.0
    }
}

/// `k8s.io/apimachinery/pkg/util/rand.SafeEncodeString`: maps each character onto an
/// alphabet without vowels (and without `0`, `1`, `3`) so that hashes never spell words.
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";
    s.chars().map(|c| char::from(ALPHANUMS[(c as usize) % ALPHANUMS.len()])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_encode_maps_digits() {
        // '0' is 48 and 48 % 27 = 21, the '4' of the alphabet.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn fnv_reference_vectors() {
        // Published FNV-1a 32-bit test vectors.
        let sum = |s: &str| {
            let mut h = Fnv1a32::new();
            h.write(s.as_bytes());
            h.sum()
        };
        assert_eq!(sum(""), 0x811c_9dc5);
        assert_eq!(sum("a"), 0xe40c_292c);
        assert_eq!(sum("foobar"), 0xbf9c_f968);
    }
}
