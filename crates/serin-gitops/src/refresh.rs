//! When each Application's source is read from git again, and what the last read found: on
//! request (a webhook, `app sync`, an operation), when its source or destination namespace
//! changed, and otherwise on a poll whose period is jittered so Applications do not all read
//! git at once. The reading itself is the platform's (it blocks on git); this keeps the books.

use crate::source::{Target, same_revision};
use crate::sync::destination_namespace;
use serin_model::application::{Application, ApplicationSource};
use serin_model::{ObjectKey, Time};
use std::collections::{HashMap, HashSet};

/// What one read of an Application's source found.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub source: ApplicationSource,
    /// The destination namespace the manifests were read for (it fills in theirs).
    pub namespace: String,
    pub target: Target,
    pub at: Time,
    pub next_poll: Time,
}

/// The reads of every Application's source.
#[derive(Debug, Default)]
pub struct Refreshes {
    fetched: HashMap<ObjectKey, Fetched>,
    requested: HashSet<ObjectKey>,
}

/// A read to make: the source, the namespace its manifests go to, and the commit last synced
/// from the same repository and revision (to tell a force-push).
#[derive(Clone, Debug)]
pub struct Read {
    pub source: ApplicationSource,
    pub namespace: String,
    pub last_synced: Option<String>,
}

impl Refreshes {
    /// Asks for the Application's source to be read again at once.
    pub fn request(&mut self, app: ObjectKey) {
        self.requested.insert(app);
    }

    /// Forgets the Applications that no longer exist.
    pub fn retain(&mut self, exists: impl Fn(&ObjectKey) -> bool) {
        self.fetched.retain(|key, _| exists(key));
        self.requested.retain(|key| exists(key));
    }

    /// The read `app` needs now, if it needs one (the request, if any, is taken).
    pub fn due(&mut self, key: &ObjectKey, app: &Application, now: Time) -> Option<Read> {
        let source = app.spec.source.as_ref()?;
        let namespace = destination_namespace(app);
        let requested = self.requested.remove(key) || app.operation.is_some();
        let stale = self.fetched.get(key).is_none_or(|fetched| {
            fetched.source != *source || fetched.namespace != namespace || now >= fetched.next_poll
        });
        if !requested && !stale {
            return None;
        }
        let last_synced = app
            .status
            .as_ref()
            .and_then(|s| s.history.last())
            .filter(|h| h.source.as_ref().is_none_or(|s| same_revision(s, source)))
            .map(|h| h.revision.clone());
        Some(Read { source: source.clone(), namespace, last_synced })
    }

    /// Keeps what a read found, and when to poll next: between two thirds of `resync_ms` and
    /// all of it from `at`.
    pub fn record(&mut self, key: ObjectKey, read: Read, target: Target, at: Time, resync_ms: i64) {
        let next_poll = at.plus_millis(jittered(resync_ms.max(1)));
        self.fetched.insert(key, Fetched { source: read.source, namespace: read.namespace, target, at, next_poll });
    }

    /// What the last read of `key` found, and when.
    pub fn target(&self, key: &ObjectKey) -> Option<(Target, Time)> {
        self.fetched.get(key).map(|f| (f.target.clone(), f.at))
    }

    /// Milliseconds from `now` until the next poll of any Application.
    pub fn next_poll(&self, now: Time) -> Option<i64> {
        self.fetched.values().map(|f| f.next_poll.since(now).max(0)).min()
    }
}

/// A wait of between two thirds of `max` and `max`.
fn jittered(max: i64) -> i64 {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let floor = max * 2 / 3;
    floor + (random % (max - floor + 1) as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(repo: &str) -> Application {
        let mut app = Application::default();
        app.spec.source = Some(ApplicationSource { repo_url: repo.into(), ..Default::default() });
        app
    }

    #[test]
    fn a_source_is_read_when_new_changed_requested_or_due() {
        let key = ObjectKey::new("argoproj.io/v1alpha1", "Application", "argocd", "a");
        let mut refreshes = Refreshes::default();
        let read = refreshes.due(&key, &app("r1"), Time(0)).expect("never read");
        refreshes.record(key.clone(), read, Target::Failed { commit: None, message: "x".into() }, Time(0), 3000);
        assert!(refreshes.due(&key, &app("r1"), Time(1000)).is_none(), "read a moment ago");
        assert!(refreshes.due(&key, &app("r2"), Time(1000)).is_some(), "the source changed");
        refreshes.request(key.clone());
        assert!(refreshes.due(&key, &app("r1"), Time(1000)).is_some(), "asked for");
        assert!(refreshes.due(&key, &app("r1"), Time(1000)).is_none(), "a request is taken once");
        let next = refreshes.next_poll(Time(0)).unwrap();
        assert!((2000..=3000).contains(&next), "{next}");
        assert!(refreshes.due(&key, &app("r1"), Time(3000)).is_some(), "due");
        refreshes.retain(|_| false);
        assert!(refreshes.target(&key).is_none());
    }
}
