//! An Application's source read from a git snapshot: the files its `path` and `directory`
//! settings select (`recurse`, `include`, `exclude` globs), loaded and validated as `serin
//! apply` loads them, in the order a sync applies them.

use crate::apply::Manifest;
use serin_model::application::ApplicationSource;

/// The files of a directory of a repository at one commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub commit: String,
    /// Paths relative to the source's directory, with their bytes.
    pub files: Vec<(String, Vec<u8>)>,
}

/// What git says an Application should run, as of its last refresh.
#[derive(Clone, Debug)]
pub enum Target {
    Loaded {
        commit: String,
        manifests: Vec<Manifest>,
        /// Whether the commit descends from the last one synced from the same source (false
        /// after a force-push rewrote the branch).
        fast_forward: bool,
    },
    Failed {
        commit: Option<String>,
        message: String,
    },
}

pub fn same_revision(a: &ApplicationSource, b: &ApplicationSource) -> bool {
    a.repo_url == b.repo_url && a.target_revision == b.target_revision
}

pub fn target_commit(target: &Target) -> Option<String> {
    match target {
        Target::Loaded { commit, .. } => Some(commit.clone()),
        Target::Failed { commit, .. } => commit.clone(),
    }
}

pub fn target_error(target: &Target) -> String {
    match target {
        Target::Loaded { .. } => String::new(),
        Target::Failed { message, .. } => message.clone(),
    }
}

/// Which kinds a platform applies from git.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kinds {
    /// Only those serin models (the local platform runs what it applies).
    Modelled,
    /// Any: a cluster's API server validates the kinds serin does not model.
    Any,
}

/// The manifests of a snapshot that the source's directory settings select, validated as
/// `serin apply` validates them; any problem in any file means none is used.
pub fn manifests(
    source: &ApplicationSource,
    snapshot: &Snapshot,
    namespace: &str,
    kinds: Kinds,
) -> Result<Vec<Manifest>, String> {
    let directory = source.directory.clone().unwrap_or_default();
    let recurse = directory.recurse == Some(true);
    let include = directory.include.as_deref().filter(|p| !p.is_empty()).map(glob);
    let exclude = directory.exclude.as_deref().filter(|p| !p.is_empty()).map(glob);
    let dir = source.path.as_deref().unwrap_or(".").trim_matches('/');
    let in_repo =
        |relative: &str| if dir.is_empty() || dir == "." { relative.to_string() } else { format!("{dir}/{relative}") };
    let mut files = Vec::new();
    for (relative, bytes) in &snapshot.files {
        let extension = relative.rsplit_once('.').map(|(_, e)| e);
        let selected = matches!(extension, Some("yaml" | "yml" | "json"))
            && (recurse || !relative.contains('/'))
            && include.as_ref().is_none_or(|g| g.is_match(relative))
            && !exclude.as_ref().is_some_and(|g| g.is_match(relative));
        if !selected {
            continue;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => files.push((in_repo(relative), text)),
            Err(_) => return Err(format!("{}: not UTF-8 text", in_repo(relative))),
        }
    }
    let short = &snapshot.commit[..snapshot.commit.len().min(7)];
    let mut loaded = serin_model::Loaded::default();
    for (name, text) in &files {
        loaded.extend(serin_model::load_str(name, text));
    }
    let problems = match kinds {
        Kinds::Modelled => loaded.problems(),
        Kinds::Any => loaded.diagnostics.clone(),
    };
    if !problems.is_empty() {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!(
            "invalid manifests at {short}; nothing is applied from this commit: {}",
            problems.join("; ")
        ));
    }
    let modelled = loaded.documents.iter().map(|d| (d.file.clone(), Manifest::from_document(d, namespace)));
    let unmodelled = loaded.unmodelled.iter().map(|u| (u.file.clone(), Manifest::from_unmodelled(u, namespace)));
    let mut manifests: Vec<(String, Manifest)> = Vec::new();
    for (file, manifest) in modelled.chain(unmodelled) {
        if let Some((first, _)) = manifests.iter().find(|(_, m)| m.key == manifest.key) {
            return Err(format!("{} is defined twice, in {first} and in {file}", manifest.key));
        }
        manifests.push((file, manifest));
    }
    let mut manifests: Vec<Manifest> = manifests.into_iter().map(|(_, m)| m).collect();
    manifests.sort_by_key(|m| apply_order(&m.key.kind));
    Ok(manifests)
}

/// Argo CD's include/exclude globs: `*` and `?` match any characters (`/` too), `{a,b}`
/// either alternative, `[...]` a class.
fn glob(pattern: &str) -> regex::Regex {
    let mut out = String::from("^");
    let mut in_class = false;
    for c in pattern.chars() {
        match c {
            '[' if !in_class => (in_class, out) = (true, out + "["),
            ']' if in_class => (in_class, out) = (false, out + "]"),
            _ if in_class => out.push(c),
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '{' => out.push_str("(?:"),
            '}' => out.push(')'),
            ',' => out.push('|'),
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    regex::Regex::new(&out)
        .unwrap_or_else(|_| regex::Regex::new(&format!("^{}$", regex::escape(pattern))).expect("escaped"))
}

/// Objects others refer to go first: namespaces and definitions, then what pods read
/// (accounts, RBAC, configuration, claims) and templates, then Services (and the
/// ServersTransports they are reached with, and the TLS options and stores), then the
/// TraefikServices over them, then the IngressRoutes and Rollouts that use those, then
/// everything else.
pub fn apply_order(kind: &str) -> u8 {
    match kind {
        "Namespace" | "CustomResourceDefinition" => 0,
        "ServiceAccount"
        | "Secret"
        | "ConfigMap"
        | "PersistentVolumeClaim"
        | "ClusterRole"
        | "ClusterRoleBinding"
        | "Role"
        | "RoleBinding"
        | "AnalysisTemplate"
        | "ClusterAnalysisTemplate" => 1,
        "Service" | "ServersTransport" | "TLSOption" | "TLSStore" => 2,
        "TraefikService" => 3,
        "IngressRoute" => 4,
        "Rollout" => 5,
        _ => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serin_model::application::DirectorySource;

    fn source(directory: DirectorySource) -> ApplicationSource {
        ApplicationSource {
            repo_url: "r".into(),
            path: Some("app".into()),
            directory: Some(directory),
            ..Default::default()
        }
    }

    const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: NAME\nspec:\n  ports:\n  - port: 80\n";

    fn snapshot(files: &[&str]) -> Snapshot {
        let files =
            files.iter().map(|f| (f.to_string(), SERVICE.replace("NAME", &f.replace(['/', '.'], "-")).into_bytes()));
        Snapshot { commit: "0123456789abcdef".into(), files: files.collect() }
    }

    fn names(result: std::result::Result<Vec<Manifest>, String>) -> Vec<String> {
        result.unwrap().into_iter().map(|m| m.key.name).collect()
    }

    #[test]
    fn directory_settings_select_files_as_argo_cd_does() {
        let files = snapshot(&["a.yaml", "b.json", "notes.txt", "sub/c.yml"]);
        assert_eq!(names(manifests(&source(Default::default()), &files, "ns", Kinds::Modelled)), ["a-yaml", "b-json"]);
        let recurse = DirectorySource { recurse: Some(true), ..Default::default() };
        assert_eq!(
            names(manifests(&source(recurse.clone()), &files, "ns", Kinds::Modelled)),
            ["a-yaml", "b-json", "sub-c-yml"]
        );
        let include = DirectorySource { include: Some("{*.yml,a.*}".into()), ..recurse.clone() };
        assert_eq!(names(manifests(&source(include), &files, "ns", Kinds::Modelled)), ["a-yaml", "sub-c-yml"]);
        let exclude = DirectorySource { exclude: Some("sub/*".into()), ..recurse };
        assert_eq!(names(manifests(&source(exclude), &files, "ns", Kinds::Modelled)), ["a-yaml", "b-json"]);
        let manifest = manifests(&source(Default::default()), &files, "ns", Kinds::Modelled).unwrap().remove(0);
        assert_eq!(manifest.key.namespace, "ns");
    }

    #[test]
    fn a_bad_file_names_its_path_in_the_repository() {
        let mut files = snapshot(&["a.yaml"]);
        files.files.push((
            "b.yaml".into(),
            b"apiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  port: 1\n".to_vec(),
        ));
        let error = manifests(&source(Default::default()), &files, "ns", Kinds::Modelled).unwrap_err();
        assert!(error.starts_with("invalid manifests at 0123456; nothing is applied"), "{error}");
        assert!(error.contains("app/b.yaml:6:3: spec.port: unknown field \"port\""), "{error}");
    }
}
