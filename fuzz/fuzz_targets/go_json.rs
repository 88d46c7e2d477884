//! Fuzzes the Go `encoding/json` encoder of pod templates and the pod-template-hash
//! (crates/serin-podtemplate) with arbitrary JSON templates. Checks that the encoding is JSON,
//! HTML-safe as Go's is (no raw `<`, `>`, `&`), a fixed point (encoding what it decodes to gives
//! it back: fields dropped and quantities made canonical stay so), and that the hash is
//! Argo's form (digits mapped to its alphabet), the same for the template and its encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use serin_podtemplate::{check, go_json, pod_template_hash};

fuzz_target!(|data: &[u8]| {
    let Ok(template) = serde_json::from_slice::<Value>(data) else { return };
    let _ = check(&template);
    let encoded = go_json(&template);
    let decoded: Value =
        serde_json::from_str(&encoded).unwrap_or_else(|error| panic!("{template} encodes to {encoded:?}: {error}"));
    assert!(!encoded.contains(['<', '>', '&']), "{template} encodes to {encoded}");
    let again = go_json(&decoded);
    assert_eq!(again, encoded, "{template} encodes to {encoded}, which encodes to {again}");
    let hash = pod_template_hash(&template, None);
    assert!(!hash.is_empty() && hash.len() <= 10, "{hash:?}");
    assert!(hash.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{hash:?}");
    assert_eq!(pod_template_hash(&decoded, None), hash, "{template}");
    assert_ne!(pod_template_hash(&template, Some(1)), pod_template_hash(&template, Some(2)), "{template}");
});
