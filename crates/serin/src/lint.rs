//! `serin lint`: every problem in a set of manifests, located, not only the first. Objects of
//! kinds serin neither manages nor reads (an nginx Ingress beside a Rollout, a ConfigMap) are
//! listed as not checked and do not fail the run.

use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let (mut documents, mut problems, mut unmodelled) = (0, Vec::new(), Vec::new());
    for path in paths {
        let loaded = serin_model::load_path(path);
        documents += loaded.documents.len();
        problems.extend(loaded.diagnostics);
        unmodelled.extend(loaded.unmodelled);
    }
    for object in &unmodelled {
        let (file, line, version, kind, name) =
            (&object.file, object.at.line, &object.api_version, &object.kind, &object.name);
        println!("{file}:{line}: {kind} {name} ({version}): not checked, serin does not model this kind");
    }
    for problem in &problems {
        println!("{problem}");
    }
    let not_checked = match unmodelled.len() {
        0 => String::new(),
        n => format!(", {n} not checked"),
    };
    if problems.is_empty() {
        println!("{documents} objects checked{not_checked}, no problems found");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem{} found", problems.len(), if problems.len() == 1 { "" } else { "s" });
        Ok(ExitCode::FAILURE)
    }
}
