//! Git for the GitOps controllers of both platforms: fetch a repository into a cache
//! directory, resolve a branch, tag or commit, and read the files under one directory of that
//! commit.
//!
//! A controller sees only the [`GitSource`] trait, so its logic is tested without a network;
//! [`GitCache`] implements it with libgit2 (no git binary needed, so the controller's image
//! carries none). Its calls block: run them on a blocking thread.

use git2::{ErrorClass, ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use std::path::{Path, PathBuf};

use serin_gitops::refresh::Read;
pub use serin_gitops::source::Snapshot;
use serin_gitops::source::{Kinds, Target, manifests};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    #[error("repository {url} is unreachable: {message}")]
    Unreachable { url: String, message: String },
    #[error("revision {revision:?} not found in {url}: no branch, tag or commit of that name")]
    RevisionNotFound { url: String, revision: String },
    #[error("path {path:?} not found in {url} at {commit}")]
    PathNotFound { url: String, path: String, commit: String },
    #[error("reading {url} failed: {message}")]
    Failed { url: String, message: String },
}

pub trait GitSource: Send + Sync {
    /// Fetches `url` and reads every file under `dir` (recursively; `""` or `.` is the root)
    /// at `revision`: a branch, a tag, a commit id, or `HEAD`/empty for the default branch.
    fn snapshot(&self, url: &str, revision: &str, dir: &str) -> Result<Snapshot, GitError>;

    /// Whether `ancestor` is `commit` or in its history, as last fetched from `url`.
    fn descends_from(&self, url: &str, commit: &str, ancestor: &str) -> Result<bool, GitError>;
}

/// Reads an Application's source at its target revision into the manifests (of `kinds`) it
/// selects, noting whether the commit descends from the one last synced.
pub fn load_target(git: &dyn GitSource, read: &Read, kinds: Kinds) -> Target {
    let source = &read.source;
    let dir = source.path.as_deref().unwrap_or(".");
    let revision = source.target_revision.as_deref().unwrap_or("HEAD");
    let snapshot = match git.snapshot(&source.repo_url, revision, dir) {
        Ok(snapshot) => snapshot,
        Err(error) => {
            let commit = match &error {
                GitError::PathNotFound { commit, .. } => Some(commit.clone()),
                _ => None,
            };
            return Target::Failed { commit, message: error.to_string() };
        }
    };
    let fast_forward = match &read.last_synced {
        Some(previous) => git.descends_from(&source.repo_url, &snapshot.commit, previous).unwrap_or(true),
        None => true,
    };
    match manifests(source, &snapshot, &read.namespace, kinds) {
        Ok(manifests) => Target::Loaded { commit: snapshot.commit, manifests, fast_forward },
        Err(message) => Target::Failed { commit: Some(snapshot.commit), message },
    }
}

/// Bare clones under one directory, one per repository URL.
pub struct GitCache {
    root: PathBuf,
}

impl GitCache {
    pub fn new(root: PathBuf) -> GitCache {
        GitCache { root }
    }

    /// The clone's directory: the URL made file-name safe, plus a hash so that two URLs
    /// never share one.
    fn dir_for(&self, url: &str) -> PathBuf {
        let readable: String =
            url.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
        let tail = &readable[readable.len().saturating_sub(60)..];
        let hash = url.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        self.root.join(format!("{tail}-{hash:016x}"))
    }

    /// Opens the clone, or makes a new one when it is missing or unreadable. Lock files left
    /// by a killed server are removed first: only this process uses the cache.
    fn open(&self, url: &str) -> Result<Repository, GitError> {
        let dir = self.dir_for(url);
        let failed = |e: git2::Error| GitError::Failed { url: url.to_string(), message: e.message().to_string() };
        remove_stale_locks(&dir);
        match Repository::open_bare(&dir) {
            Ok(repo) => Ok(repo),
            Err(_) => {
                let _ = std::fs::remove_dir_all(&dir);
                Repository::init_bare(&dir).map_err(failed)
            }
        }
    }
}

fn remove_stale_locks(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            remove_stale_locks(&path);
        } else if path.extension().is_some_and(|e| e == "lock") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Fetches every branch and tag (forced, so a force-push is followed) and returns what the
/// remote advertised: (ref name, id), `HEAD` among them.
fn fetch(repo: &Repository, url: &str) -> Result<Vec<(String, Oid)>, GitError> {
    let unreachable = |e: git2::Error| match e.class() {
        ErrorClass::Net
        | ErrorClass::Http
        | ErrorClass::Ssl
        | ErrorClass::Os
        | ErrorClass::Ssh
        | ErrorClass::Repository => GitError::Unreachable { url: url.to_string(), message: e.message().to_string() },
        _ => GitError::Failed { url: url.to_string(), message: e.message().to_string() },
    };
    let mut remote = repo.remote_anonymous(url).map_err(unreachable)?;
    let mut options = git2::FetchOptions::new();
    options.prune(git2::FetchPrune::On).download_tags(git2::AutotagOption::None);
    remote
        .fetch(&["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"], Some(&mut options), None)
        .map_err(unreachable)?;
    let heads = remote.list().map_err(unreachable)?;
    Ok(heads.iter().map(|head| (head.name().to_string(), head.oid())).collect())
}

/// A branch, tag or HEAD by what the remote advertised; a commit id (full or abbreviated)
/// from the clone.
fn resolve(repo: &Repository, heads: &[(String, Oid)], revision: &str) -> Option<Oid> {
    let revision = revision.trim();
    let wanted: Vec<String> = if revision.is_empty() || revision == "HEAD" {
        vec!["HEAD".to_string()]
    } else {
        vec![revision.to_string(), format!("refs/heads/{revision}"), format!("refs/tags/{revision}")]
    };
    let advertised = wanted.iter().find_map(|name| heads.iter().find(|(n, _)| n == name).map(|(_, oid)| *oid));
    let object = match advertised {
        Some(oid) => repo.find_object(oid, None).ok()?,
        None if (4..=40).contains(&revision.len()) && revision.bytes().all(|b| b.is_ascii_hexdigit()) => {
            repo.revparse_single(revision).ok()?
        }
        None => return None,
    };
    object.peel_to_commit().ok().map(|c| c.id())
}

impl GitSource for GitCache {
    fn snapshot(&self, url: &str, revision: &str, dir: &str) -> Result<Snapshot, GitError> {
        let repo = self.open(url)?;
        let heads = fetch(&repo, url)?;
        let failed = |e: git2::Error| GitError::Failed { url: url.to_string(), message: e.message().to_string() };
        let oid = resolve(&repo, &heads, revision)
            .ok_or_else(|| GitError::RevisionNotFound { url: url.to_string(), revision: revision.to_string() })?;
        let commit = repo.find_commit(oid).map_err(failed)?;
        let root = commit.tree().map_err(failed)?;
        let dir = dir.trim_matches('/');
        let tree = if dir.is_empty() || dir == "." {
            root
        } else {
            let not_found =
                || GitError::PathNotFound { url: url.to_string(), path: dir.to_string(), commit: oid.to_string() };
            let entry = root.get_path(Path::new(dir)).map_err(|_| not_found())?;
            entry.to_object(&repo).and_then(|o| o.peel_to_tree()).map_err(|_| not_found())?
        };
        let mut files = Vec::new();
        let mut broken = None;
        tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
            if entry.kind() == Some(ObjectType::Blob) {
                match repo.find_blob(entry.id()) {
                    Ok(blob) => {
                        files.push((format!("{parent}{}", entry.name().unwrap_or_default()), blob.content().to_vec()))
                    }
                    Err(e) => broken = Some(e),
                }
            }
            TreeWalkResult::Ok
        })
        .map_err(failed)?;
        if let Some(e) = broken {
            return Err(failed(e));
        }
        files.sort();
        Ok(Snapshot { commit: oid.to_string(), files })
    }

    fn descends_from(&self, url: &str, commit: &str, ancestor: &str) -> Result<bool, GitError> {
        if commit == ancestor {
            return Ok(true);
        }
        let repo = self.open(url)?;
        let failed = |e: git2::Error| GitError::Failed { url: url.to_string(), message: e.message().to_string() };
        let (Ok(commit), Ok(ancestor)) = (Oid::from_str(commit), Oid::from_str(ancestor)) else {
            return Ok(false);
        };
        if repo.find_commit(ancestor).is_err() {
            return Ok(false);
        }
        repo.graph_descendant_of(commit, ancestor).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn reads_branches_tags_commits_and_follows_force_pushes() {
        let work = tempfile::tempdir().unwrap();
        let repo = work.path();
        git(repo, &["init", "-q"]);
        std::fs::create_dir_all(repo.join("app/sub")).unwrap();
        std::fs::write(repo.join("app/a.yaml"), "a: 1\n").unwrap();
        std::fs::write(repo.join("app/sub/b.yaml"), "b: 1\n").unwrap();
        git(repo, &["add", "."]);
        git(repo, &["commit", "-qm", "one"]);
        let first = git(repo, &["rev-parse", "HEAD"]);
        git(repo, &["tag", "-a", "v1", "-m", "v1"]);
        std::fs::write(repo.join("app/a.yaml"), "a: 2\n").unwrap();
        git(repo, &["commit", "-qam", "two"]);
        let second = git(repo, &["rev-parse", "HEAD"]);

        let cache_dir = tempfile::tempdir().unwrap();
        let cache = GitCache::new(cache_dir.path().to_path_buf());
        let url = format!("file://{}", repo.display());
        let head = cache.snapshot(&url, "HEAD", "app").unwrap();
        assert_eq!(head.commit, second);
        assert_eq!(
            head.files,
            [("a.yaml".to_string(), b"a: 2\n".to_vec()), ("sub/b.yaml".to_string(), b"b: 1\n".to_vec())]
        );
        assert_eq!(cache.snapshot(&url, "main", "app").unwrap().commit, second);
        assert_eq!(cache.snapshot(&url, "v1", "app/").unwrap().commit, first);
        assert_eq!(cache.snapshot(&url, &first[..8], "").unwrap().files.len(), 2);
        assert!(cache.descends_from(&url, &second, &first).unwrap());
        assert!(matches!(cache.snapshot(&url, "nope", "app"), Err(GitError::RevisionNotFound { .. })));
        assert!(matches!(cache.snapshot(&url, "main", "missing"), Err(GitError::PathNotFound { .. })));

        git(repo, &["reset", "-q", "--hard", &first]);
        std::fs::write(repo.join("app/a.yaml"), "a: 3\n").unwrap();
        git(repo, &["commit", "-qam", "rewritten"]);
        let rewritten = cache.snapshot(repo.to_str().unwrap(), "main", "app").unwrap();
        let forced = cache.snapshot(&url, "main", "app").unwrap();
        assert_eq!(rewritten.commit, forced.commit);
        assert!(!cache.descends_from(&url, &forced.commit, &second).unwrap());

        let gone = format!("file://{}/nowhere", repo.display());
        let error = cache.snapshot(&gone, "HEAD", "").unwrap_err();
        assert!(matches!(error, GitError::Unreachable { .. }), "{error}");
    }
}
