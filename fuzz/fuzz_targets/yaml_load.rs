//! Fuzzes the manifest loader (serin_model::load_str: the YAML parser, the decoder into
//! Rollouts, Services, IngressRoutes, ... and validation) with arbitrary text. Checks that every
//! problem is located inside the text, and that each object it loads reads back the same from
//! the JSON of its YAML tree (JSON being YAML): what a manifest means does not depend on whether
//! it was written as block YAML or as JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serin_model::load_str;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let loaded = load_str("fuzz.yaml", text);
    // Lines as YAML counts them: a CR alone ends one too.
    let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count();
    for diagnostic in &loaded.diagnostics {
        assert!(diagnostic.at.line <= lines + 1, "{diagnostic} is past the {lines} lines of {text:?}");
        assert!(!diagnostic.message.is_empty(), "{diagnostic:?}");
    }
    for document in &loaded.documents {
        let json = document.root.to_json();
        let json_text = serde_json::to_string(&json).unwrap();
        let again = load_str("fuzz.json", &json_text);
        assert!(
            again.diagnostics.is_empty() && again.documents.len() == 1,
            "{text:?} loads, its JSON {json_text} does not: {:?}",
            again.diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        assert_eq!(again.documents[0].object, document.object, "{text:?} and its JSON {json_text}");
    }
});
