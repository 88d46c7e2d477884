//! The real `serin` binary: lint's exit codes and located messages, and the plan table.

use assert_cmd::Command;

fn serin() -> Command {
    let mut cmd = Command::cargo_bin("serin").unwrap();
    cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    cmd
}

#[test]
fn lint_accepts_the_examples_and_locates_every_problem() {
    let ok = serin().args(["lint", "-f", "examples/"]).assert().success();
    assert_eq!(String::from_utf8_lossy(&ok.get_output().stdout), "11 objects checked, no problems found\n");

    let broken = serin()
        .args(["lint", "-f", "crates/serin-model/tests/broken/06-bad-pause-duration.yaml"])
        .args(["-f", "crates/serin-model/tests/broken/03-analysis-template-two-providers-bad-interval.yaml"])
        .assert()
        .failure();
    let out = broken.get_output();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "crates/serin-model/tests/broken/06-bad-pause-duration.yaml:17:21: spec.strategy.canary.steps[1].pause.duration: invalid duration \"5x\": unknown unit \"x\"\n\
         crates/serin-model/tests/broken/03-analysis-template-two-providers-bad-interval.yaml:8:15: spec.metrics[0].interval: invalid interval string: invalid duration \"5x\": unknown unit \"x\"\n\
         crates/serin-model/tests/broken/03-analysis-template-two-providers-bad-interval.yaml:10:5: spec.metrics[0].provider: set exactly one metric provider\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "3 problems found\n");
}

/// A directory of manifests kept beside notes, as the example came (its prose in a `.txt`
/// file): every manifest is checked, and the notes are skipped, not read as YAML.
#[test]
fn lint_skips_notes_beside_the_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let manifests =
        std::fs::read_dir(examples.join("argo-demo/argorollout-canary")).unwrap().map(|e| e.unwrap().path());
    for path in manifests.chain([examples.join("canary.yaml")]) {
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.path().join("000_notes.txt"), "Step 1: set the weight to 10%.\n  - then: pause: [5m\n").unwrap();
    let ok = serin().arg("lint").arg("-f").arg(dir.path()).assert().success();
    assert_eq!(String::from_utf8_lossy(&ok.get_output().stdout), "7 objects checked, no problems found\n");
}

#[test]
fn lint_reads_stdin_and_reports_a_missing_file() {
    serin()
        .args(["lint", "-f", "-"])
        .write_stdin("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n")
        .assert()
        .success();
    let missing = serin().args(["lint", "-f", "no/such.yaml"]).assert().failure();
    let stdout = String::from_utf8_lossy(&missing.get_output().stdout).to_string();
    assert!(stdout.starts_with("no/such.yaml: cannot read: No such file or directory"), "{stdout}");
}

#[test]
fn lint_lists_kinds_serin_does_not_model_without_failing_and_plan_refuses_them() {
    // An nginx Ingress and a ConfigMap beside the seed's Rollout: not serin's to check.
    let dir = tempfile::tempdir().unwrap();
    let rollout = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/argo-demo/argorollout-canary/rollout.yaml");
    let rollout = std::fs::read_to_string(rollout).unwrap();
    let others = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  ingressClassName: nginx\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n";
    std::fs::write(dir.path().join("rollout.yaml"), rollout).unwrap();
    std::fs::write(dir.path().join("others.yaml"), others).unwrap();
    let ok = serin().arg("lint").arg("-f").arg(dir.path()).assert().success();
    let stdout = String::from_utf8_lossy(&ok.get_output().stdout).replace(&format!("{}/", dir.path().display()), "");
    assert_eq!(
        stdout,
        "others.yaml:2: Ingress web (networking.k8s.io/v1): not checked, serin does not model this kind\n\
         others.yaml:9: ConfigMap settings (v1): not checked, serin does not model this kind\n\
         1 objects checked, 2 not checked, no problems found\n"
    );
    // A problem in a checked object still fails the run; a kind unknown in argoproj.io is a
    // problem (a typo or a feature serin lacks), not an object to skip.
    let experiment = "apiVersion: argoproj.io/v1alpha1\nkind: Experiment\nmetadata:\n  name: e\n";
    let failed = serin().args(["lint", "-f", "-"]).write_stdin(experiment).assert().failure();
    let stdout = String::from_utf8_lossy(&failed.get_output().stdout).to_string();
    assert!(
        stdout.starts_with("<stdin>:2:7: kind: serin does not handle Experiment in argoproj.io/v1alpha1"),
        "{stdout}"
    );
    // plan, like apply, acts on objects and refuses what it cannot model.
    let plan = serin().arg("plan").arg("-f").arg(dir.path().join("others.yaml")).assert().failure();
    let stderr = String::from_utf8_lossy(&plan.get_output().stderr).to_string();
    assert!(
        stderr.contains("others.yaml:2:7: kind: serin does not handle Ingress in networking.k8s.io/v1"),
        "{stderr}"
    );
}

#[test]
fn plan_prints_every_step_of_the_seed() {
    let out = serin().args(["plan", "-f", "examples/argo-demo/argorollout-canary/rollout.yaml"]).assert().success();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.get_output().stdout));
}

/// Without traffic routing the split follows the pod count, and an untimed pause waits
/// "until promoted" (its time not counted in DONE-AT).
#[test]
fn plan_of_a_basic_canary_with_an_untimed_pause() {
    let out = serin().args(["plan", "-f", "crates/serin/tests/fixtures/basic-canary-rollout.yaml"]).assert().success();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.get_output().stdout));
}

/// A blue-green update's timeline: Argo's example (preview up, a manual pause, the switch,
/// the default 30 s scale-down delay) and one with every stage (analyses before and after the
/// switch, an auto-promotion countdown, a preview of one pod that grows at the switch).
#[test]
fn plan_of_blue_green_updates_shows_their_stages() {
    for file in ["argo-example-rollout-bluegreen.yaml", "blue-green-every-field.yaml"] {
        let path = format!("crates/serin-model/tests/accepted/{file}");
        let out = serin().args(["plan", "-f", &path]).assert().success();
        insta::assert_snapshot!(file, String::from_utf8_lossy(&out.get_output().stdout));
    }
}
