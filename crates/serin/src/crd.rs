//! `serin crd`: the CustomResourceDefinitions serin's controller needs on a cluster, as one
//! multi-document YAML stream for `kubectl apply -f -`.

use crate::yaml_out::to_yaml;
use std::io::Write;
use std::process::ExitCode;

/// Heads the stream, so that a copy kept in a file (deploy/crds/crds.yaml) says what it is.
const HEADER: &str = "\
# The CustomResourceDefinitions of Argo Rollouts' resources and Argo CD's Application
# (argoproj.io/v1alpha1) that serin's controller reads and writes, as printed by `serin crd`.
";

/// The CRDs, each document starting with `---`.
fn stream() -> String {
    let documents: String =
        serin_model::crd::definitions().iter().map(|crd| format!("---\n{}", to_yaml(crd))).collect();
    format!("{HEADER}{documents}")
}

pub fn run() -> anyhow::Result<ExitCode> {
    // Written, not printed, so that a closed pipe (`serin crd | head`) is an error, not a panic.
    std::io::stdout().lock().write_all(stream().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubectl's client-side apply keeps the whole object, as JSON, in an annotation, and the
    /// API server refuses annotations over 256 KiB in total.
    const LIMIT: usize = 256 * 1024;

    #[test]
    fn each_crd_is_small_enough_for_a_client_side_apply() {
        let definitions = serin_model::crd::definitions();
        let documents = serin_model::yaml::parse_documents(&stream()).unwrap();
        assert_eq!(documents.len(), definitions.len());
        for (document, crd) in documents.iter().zip(&definitions) {
            assert_eq!(&document.root.to_json(), crd, "the YAML reads back as the CRD");
            let (yaml, json) = (to_yaml(crd).len(), serde_json::to_string(crd).unwrap().len());
            eprintln!("{}: {yaml} bytes of YAML, {json} of JSON", crd["metadata"]["name"]);
            assert!(yaml < LIMIT && json < LIMIT, "{}: {yaml} bytes of YAML, {json} of JSON", crd["metadata"]["name"]);
        }
    }
}
