//! Git push webhooks: which Applications a GitHub-, GitLab- or Gitea-style push payload
//! concerns, so they are read from git at once instead of at their next poll.
//!
//! A repository is named many ways (https, ssh, scp-like `git@host:path`, with or without
//! `.git`); URLs are compared after dropping the scheme, user, `.git` and trailing slashes.

use serde_json::Value as Json;
use serin_model::application::ApplicationSource;

/// Where the three forges put the pushed repository's URLs.
const URL_FIELDS: [&str; 13] = [
    "/repository/html_url",
    "/repository/clone_url",
    "/repository/ssh_url",
    "/repository/git_url",
    "/repository/url",
    "/repository/homepage",
    "/repository/git_http_url",
    "/repository/git_ssh_url",
    "/project/web_url",
    "/project/git_http_url",
    "/project/git_ssh_url",
    "/project/http_url",
    "/project/ssh_url",
];

/// A push: the repository's URLs (normalized) and the ref pushed, if given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    pub repositories: Vec<String>,
    pub git_ref: Option<String>,
}

/// Reads a push payload; `None` when it names no repository.
pub fn parse_push(payload: &Json) -> Option<Push> {
    let mut repositories: Vec<String> = URL_FIELDS
        .iter()
        .filter_map(|field| payload.pointer(field).and_then(Json::as_str))
        .filter(|url| !url.is_empty())
        .map(normalize_repo_url)
        .collect();
    repositories.sort();
    repositories.dedup();
    let git_ref = payload.get("ref").and_then(Json::as_str).map(str::to_string);
    (!repositories.is_empty()).then_some(Push { repositories, git_ref })
}

/// `https://user@Host/Org/Repo.git/` -> `host/org/repo`; `git@host:org/repo` -> `host/org/repo`;
/// `file:///srv/repo.git` -> `/srv/repo`.
pub fn normalize_repo_url(url: &str) -> String {
    let url = url.trim().to_lowercase();
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_string(),
        None => match url.split_once(':') {
            // scp-like syntax: [user@]host:path
            Some((host, path)) if !host.contains('/') && !host.is_empty() => format!("{host}/{path}"),
            _ => url.clone(),
        },
    };
    let rest = match rest.split_once('/') {
        Some((authority, path)) => {
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{host}/{path}")
        }
        None => rest.rsplit_once('@').map_or(rest.clone(), |(_, host)| host.to_string()),
    };
    let rest = rest.trim_end_matches('/');
    rest.strip_suffix(".git").unwrap_or(rest).trim_end_matches('/').to_string()
}

/// Whether a push can change what `source` reads: same repository, and its target is the
/// default branch or the pushed branch or tag (a commit id never moves).
pub fn concerns(push: &Push, source: &ApplicationSource) -> bool {
    if !push.repositories.contains(&normalize_repo_url(&source.repo_url)) {
        return false;
    }
    let target = source.target_revision.as_deref().unwrap_or("HEAD");
    let pushed = push
        .git_ref
        .as_deref()
        .map(|r| r.strip_prefix("refs/heads/").or_else(|| r.strip_prefix("refs/tags/")).unwrap_or(r).to_string());
    target.is_empty() || target == "HEAD" || pushed.is_none_or(|p| p == target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(url: &str, target: &str) -> ApplicationSource {
        ApplicationSource { repo_url: url.into(), target_revision: Some(target.into()), ..Default::default() }
    }

    #[test]
    fn the_same_repository_under_its_many_names() {
        let names = [
            "http://gitlab.local.com/devops/argo-demo.git",
            "https://GitLab.local.com/devops/argo-demo",
            "ssh://git@gitlab.local.com/devops/argo-demo.git/",
            "git@gitlab.local.com:devops/argo-demo.git",
            "https://oauth2:secret@gitlab.local.com/devops/argo-demo.git",
        ];
        for name in names {
            assert_eq!(normalize_repo_url(name), "gitlab.local.com/devops/argo-demo", "{name}");
        }
        assert_eq!(normalize_repo_url("file:///srv/git/demo.git"), "/srv/git/demo");
        assert_eq!(normalize_repo_url("/srv/git/demo.git"), "/srv/git/demo");
    }

    #[test]
    fn github_gitlab_and_gitea_pushes() {
        let github = json!({"ref": "refs/heads/main", "repository": {"html_url": "https://github.com/o/r", "clone_url": "https://github.com/o/r.git"}});
        let gitlab = json!({"ref": "refs/heads/main", "project": {"web_url": "http://gitlab.local.com/devops/argo-demo", "git_http_url": "http://gitlab.local.com/devops/argo-demo.git"}});
        let gitea = json!({"ref": "refs/heads/dev", "repository": {"clone_url": "http://gitea.local/o/r.git", "ssh_url": "git@gitea.local:o/r.git"}});
        let github = parse_push(&github).unwrap();
        assert!(concerns(&github, &source("https://github.com/o/r.git", "main")));
        assert!(concerns(&github, &source("git@github.com:o/r.git", "HEAD")));
        assert!(!concerns(&github, &source("https://github.com/o/other.git", "main")));
        assert!(!concerns(&github, &source("https://github.com/o/r.git", "release")));
        assert!(concerns(
            &parse_push(&gitlab).unwrap(),
            &source("http://gitlab.local.com/devops/argo-demo.git", "main")
        ));
        let gitea = parse_push(&gitea).unwrap();
        assert!(concerns(&gitea, &source("http://gitea.local/o/r", "dev")));
        assert!(!concerns(&gitea, &source("http://gitea.local/o/r", "main")));
        assert_eq!(parse_push(&json!({"zen": "ping"})), None);
    }
}
