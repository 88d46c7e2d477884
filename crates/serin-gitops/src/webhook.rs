//! Git push webhooks: which Applications a GitHub-, GitLab- or Gitea-style push payload
//! concerns, so they are read from git at once instead of at their next poll.
//!
//! A repository is named many ways (https, ssh, scp-like `git@host:path`, with or without
//! `.git`); URLs are compared after dropping the scheme, user, `.git` and trailing slashes.
//!
//! As Argo CD's webhook, a push is taken from anyone unless a secret is set for its forge; then
//! it must carry the forge's proof (GitHub's and Gitea's HMAC-SHA256 signature of the body,
//! GitLab's token), checked in constant time.

use serde_json::Value as Json;
use serin_model::application::ApplicationSource;

/// The secrets pushes must prove they know, per forge (Argo CD's `webhook.github.secret`,
/// `webhook.gitlab.secret`, `webhook.gogs.secret`, the last for Gitea and Gogs).
#[derive(Clone, Debug, Default)]
pub struct WebhookSecrets {
    pub github: Option<String>,
    pub gitlab: Option<String>,
    pub gitea: Option<String>,
}

/// Which forge sent a request, by its event header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Forge {
    GitHub,
    GitLab,
    Gitea,
}

impl WebhookSecrets {
    fn any(&self) -> bool {
        self.github.is_some() || self.gitlab.is_some() || self.gitea.is_some()
    }

    /// Whether a request (its headers, as `(lower-case name, value)`, and body) may trigger a
    /// refresh; the error says why not. With no secret set, every request may, as in Argo CD.
    pub fn verify<'a>(&self, header: impl Fn(&str) -> Option<&'a str>, body: &[u8]) -> Result<(), String> {
        let forge = if header("x-github-event").is_some() {
            Some(Forge::GitHub)
        } else if header("x-gitlab-event").is_some() {
            Some(Forge::GitLab)
        } else if header("x-gitea-event").or(header("x-gogs-event")).is_some() {
            Some(Forge::Gitea)
        } else {
            None
        };
        let secret = match forge {
            Some(Forge::GitHub) => &self.github,
            Some(Forge::GitLab) => &self.gitlab,
            Some(Forge::Gitea) => &self.gitea,
            // Unsigned and unnamed: it cannot prove anything, so only an open webhook takes it.
            None if self.any() => {
                return Err("webhook secrets are set: the request must name its forge (X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event) and carry its proof".into());
            }
            None => return Ok(()),
        };
        let Some(secret) = secret else { return Ok(()) };
        let signed = |header_name: &str, prefix: &str| -> Result<(), String> {
            let given = header(header_name).ok_or_else(|| format!("{header_name} is missing"))?;
            let hex =
                given.strip_prefix(prefix).ok_or_else(|| format!("{header_name} does not start with {prefix:?}"))?;
            let signature = decode_hex(hex).ok_or_else(|| format!("{header_name} is not hexadecimal"))?;
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
            ring::hmac::verify(&key, body, &signature).map_err(|_| format!("{header_name} does not match the body"))
        };
        match forge {
            Some(Forge::GitHub) => signed("x-hub-signature-256", "sha256="),
            Some(Forge::Gitea) => {
                signed(if header("x-gitea-signature").is_some() { "x-gitea-signature" } else { "x-gogs-signature" }, "")
            }
            _ => {
                let given = header("x-gitlab-token").ok_or("x-gitlab-token is missing")?;
                // Equal lengths first, then every byte compared, as the API token is.
                let same = given.len() == secret.len()
                    && given.bytes().zip(secret.bytes()).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0;
                if same { Ok(()) } else { Err("x-gitlab-token does not match".into()) }
            }
        }
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// What a webhook request turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A push: refresh the Applications it concerns.
    Push(Push),
    /// Another event (a ping, an issue), answered and otherwise ignored.
    Ignored(String),
}

/// Why a webhook request is refused: an HTTP status and what to tell the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

/// Reads a webhook request, given its headers (lower-case names) and body: JSON only (a web
/// page can send text/plain or a form to any address without asking, but not
/// application/json), proven when a secret is set for its forge, a push naming a repository.
pub fn read_request<'a>(
    secrets: &WebhookSecrets,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
) -> Result<Received, Refused> {
    let refused = |status: u16, message: String| Refused { status, message };
    let content_type = header("content-type").unwrap_or_default();
    if !content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")) {
        return Err(refused(415, format!("the webhook takes Content-Type application/json, got {content_type:?}")));
    }
    secrets.verify(&header, body).map_err(|why| refused(401, format!("webhook refused: {why}")))?;
    let event = ["x-github-event", "x-gitlab-event", "x-gitea-event", "x-gogs-event"].iter().find_map(|h| header(h));
    if let Some(event) = event.filter(|e| !e.to_lowercase().starts_with("push")) {
        return Ok(Received::Ignored(format!("event {event:?} is not a push")));
    }
    let payload: Json =
        serde_json::from_slice(body).map_err(|e| refused(400, format!("the webhook payload is not JSON: {e}")))?;
    let push = parse_push(&payload).ok_or_else(|| refused(400, "the webhook payload names no repository".into()))?;
    Ok(Received::Push(push))
}

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
    fn secrets_demand_each_forges_proof() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let hmac = |secret: &str| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
            ring::hmac::sign(&key, body).as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let check = |secrets: &WebhookSecrets, headers: &[(&str, String)]| {
            secrets.verify(|name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()), body)
        };
        let open = WebhookSecrets::default();
        assert_eq!(check(&open, &[]), Ok(()), "no secret: open, as Argo CD's");
        let secrets = WebhookSecrets {
            github: Some("gh-secret".into()),
            gitlab: Some("gl-secret".into()),
            gitea: Some("gt-secret".into()),
        };
        let event = |name: &'static str| (name, "push".to_string());
        let signed = format!("sha256={}", hmac("gh-secret"));
        assert_eq!(check(&secrets, &[event("x-github-event"), ("x-hub-signature-256", signed)]), Ok(()));
        let forged = format!("sha256={}", hmac("guess"));
        assert_eq!(
            check(&secrets, &[event("x-github-event"), ("x-hub-signature-256", forged)]),
            Err("x-hub-signature-256 does not match the body".into())
        );
        assert_eq!(check(&secrets, &[event("x-github-event")]), Err("x-hub-signature-256 is missing".into()));
        assert_eq!(check(&secrets, &[event("x-gitlab-event"), ("x-gitlab-token", "gl-secret".into())]), Ok(()));
        assert_eq!(
            check(&secrets, &[event("x-gitlab-event"), ("x-gitlab-token", "gl-secreT".into())]),
            Err("x-gitlab-token does not match".into())
        );
        assert_eq!(check(&secrets, &[event("x-gitea-event"), ("x-gitea-signature", hmac("gt-secret"))]), Ok(()));
        assert_eq!(check(&secrets, &[event("x-gogs-event"), ("x-gogs-signature", hmac("gt-secret"))]), Ok(()));
        assert_eq!(
            check(&secrets, &[event("x-gitea-event"), ("x-gitea-signature", "zz".into())]),
            Err("x-gitea-signature is not hexadecimal".into())
        );
        assert!(check(&secrets, &[]).unwrap_err().starts_with("webhook secrets are set"));
        // A forge without a secret stays open while others have one.
        let github_only = WebhookSecrets { github: Some("gh-secret".into()), ..Default::default() };
        assert_eq!(check(&github_only, &[event("x-gitlab-event")]), Ok(()));
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

    #[test]
    fn a_request_is_json_proven_and_a_push() {
        let open = WebhookSecrets::default();
        let body = br#"{"ref": "refs/heads/main", "repository": {"clone_url": "https://host/org/repo.git"}}"#;
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        };
        let form = read_request(&open, headers(&[("content-type", "application/x-www-form-urlencoded")]), body);
        assert_eq!(form.unwrap_err().status, 415);
        let ping = headers(&[("content-type", "application/json"), ("x-github-event", "ping")]);
        assert_eq!(read_request(&open, ping, body), Ok(Received::Ignored("event \"ping\" is not a push".into())));
        let push = headers(&[("content-type", "application/json; charset=utf-8"), ("x-github-event", "push")]);
        let Ok(Received::Push(push)) = read_request(&open, push, body) else { panic!("a push") };
        assert_eq!(push.repositories, ["host/org/repo"]);
        let json = headers(&[("content-type", "application/json")]);
        assert_eq!(read_request(&open, json, b"{}").unwrap_err().status, 400);
        let signed = WebhookSecrets { github: Some("s".into()), ..Default::default() };
        let unsigned = headers(&[("content-type", "application/json"), ("x-github-event", "push")]);
        assert_eq!(read_request(&signed, unsigned, body).unwrap_err().status, 401);
    }
}
