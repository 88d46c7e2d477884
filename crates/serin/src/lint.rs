//! `serin lint`: every problem in a set of manifests, located, not only the first.

use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut documents = 0;
    let mut problems = Vec::new();
    for path in paths {
        let loaded = serin_model::load_path(path);
        documents += loaded.documents.len();
        problems.extend(loaded.diagnostics);
    }
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        println!("{documents} objects checked, no problems found");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem{} found", problems.len(), if problems.len() == 1 { "" } else { "s" });
        Ok(ExitCode::FAILURE)
    }
}
