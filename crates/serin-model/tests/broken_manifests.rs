//! One broken manifest per validation rule, each with the exact located messages it must
//! produce (snapshot in `snapshots/`), plus the promise that the seed's manifests are clean.

use std::path::Path;

fn lint(path: &Path) -> Vec<String> {
    let loaded = serin_model::load_path(path);
    let prefix = format!("{}/", path.parent().unwrap_or(path).display());
    loaded.problems().iter().map(|d| d.to_string().replace(&prefix, "")).collect()
}

#[test]
fn every_broken_manifest_gets_its_located_messages() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus should cover at least 30 rules, has {}", files.len());
    let mut report = String::new();
    for file in &files {
        let messages = lint(file);
        assert!(!messages.is_empty(), "{} produced no error", file.display());
        for message in messages {
            report.push_str(&message);
            report.push('\n');
        }
    }
    insta::assert_snapshot!(report);
}

#[test]
fn the_examples_are_clean() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let loaded = serin_model::load_path(&examples);
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    assert_eq!(loaded.documents.len(), 11);
    let kinds: Vec<String> = loaded.documents.iter().map(|d| d.object.key().to_string()).collect();
    assert_eq!(
        kinds,
        [
            "traefikservice.traefik.containo.us/canary-service",
            "traefikservice.traefik.io/canary-service",
            "ingressroute.traefik.io/myapp-canary",
            "rollout.argoproj.io/canary-rollout",
            "service/canary-active",
            "service/canary-preview",
            "ingressroute.traefik.io/bluegreen",
            "rollout.argoproj.io/bluegreen",
            "service/bluegreen-active",
            "service/bluegreen-preview",
            "application.argoproj.io/canary",
        ]
    );
}

/// Manifests Argo Rollouts and Kubernetes accept, each for a rule serin once got wrong.
#[test]
fn what_argo_accepts_loads_without_problems() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/accepted");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for file in &files {
        assert_eq!(lint(file), Vec::<String>::new(), "{}", file.display());
        assert!(!serin_model::load_path(file).documents.is_empty(), "{}", file.display());
    }
}
