//! serin's state: every object (desired and observed), its events and a change feed, in one
//! SQLite file.
//!
//! WAL with `synchronous=FULL`: a write that returned is on disk, so a killed server loses
//! nothing. Every write takes the next revision from the `changes` table in the same
//! transaction, which makes the table a resumable change feed (like Kubernetes'
//! resourceVersion); in-process watchers get the latest revision through a `watch` channel.
//!
//! Reads come from a decoded copy of every object kept in memory and updated as each write
//! commits: a controller lists everything each time it runs, and decoding thousands of JSON
//! bodies from SQLite each time made a pass with 500 rollouts take most of a second.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value as Json;
use serin_model::ObjectKey;
use serin_model::Time;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state database failed: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{0} was changed by someone else (revision {1}, expected {2}); read it again")]
    Conflict(ObjectKey, i64, i64),
    #[error("stored object {0} is not valid JSON: {1}")]
    Corrupt(ObjectKey, serde_json::Error),
    #[error("the state database's file: {0}")]
    File(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// An object as stored, with the revision of its last write.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub key: ObjectKey,
    pub rev: i64,
    /// Shared with the store's in-memory copy: clone it (`Json::clone(&stored.body)`) to edit.
    pub body: Arc<Json>,
}

/// An event about an object, as `describe` shows them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventRecord {
    pub time: Time,
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
    pub message: String,
}

pub struct Store {
    conn: parking_lot::Mutex<Connection>,
    /// Every object as committed, by kind, then (namespace, name, group): SQL's order.
    /// Locked after `conn` when both are needed.
    cache: parking_lot::RwLock<Cache>,
    /// The revision of the last write to each kind, so that a controller can tell whether
    /// anything it reads changed since its last pass.
    kind_written: parking_lot::RwLock<HashMap<String, i64>>,
    latest: watch::Sender<i64>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    grp TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rev INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (grp, kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS changes (
    rev INTEGER PRIMARY KEY AUTOINCREMENT,
    grp TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    op TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    grp TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    time INTEGER NOT NULL, type TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_object ON events (grp, kind, namespace, name);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// Changes kept for resuming watchers; older ones are pruned.
const CHANGES_KEPT: i64 = 100_000;
/// Events kept (of all objects; an object's own go with it); older ones are pruned.
const EVENTS_KEPT: i64 = 100_000;

impl Store {
    /// A store in a new temporary directory, for tests (the directory lives as long as the
    /// returned guard).
    #[cfg(test)]
    pub(crate) fn scratch() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("serin.db")).unwrap();
        (dir, store)
    }

    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)?;
        // The objects hold every secret applied (env values, repository credentials): the
        // database is its owner's only; SQLite gives its WAL and shared-memory files the same mode.
        if path.exists() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        conn.execute_batch(SCHEMA)?;
        let latest: i64 = conn.query_row("SELECT COALESCE(MAX(rev), 0) FROM changes", [], |r| r.get(0))?;
        let mut cache: HashMap<String, BTreeMap<_, _>> = HashMap::new();
        {
            let mut statement = conn.prepare("SELECT grp, kind, namespace, name, rev, body FROM objects")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let key =
                    ObjectKey { group: row.get(0)?, kind: row.get(1)?, namespace: row.get(2)?, name: row.get(3)? };
                let stored = decode(key, row.get(4)?, &row.get::<_, String>(5)?)?;
                let ObjectKey { group, kind, namespace, name } = stored.key;
                cache.entry(kind).or_default().insert((namespace, name, group), (stored.rev, stored.body));
            }
        }
        Ok(Store {
            conn: parking_lot::Mutex::new(conn),
            cache: parking_lot::RwLock::new(cache),
            kind_written: Default::default(),
            latest: watch::channel(latest).0,
        })
    }

    /// The revision of the last committed write.
    pub fn revision(&self) -> i64 {
        *self.latest.borrow()
    }

    /// The latest revision, updated after every committed write.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.latest.subscribe()
    }

    pub fn get(&self, key: &ObjectKey) -> Result<Option<Stored>> {
        Ok(cached(&self.cache.read(), key))
    }

    /// Whether an object of any of these kinds was written (or deleted) after revision `rev`,
    /// since this store was opened.
    pub fn written_since(&self, rev: i64, kinds: &[&str]) -> bool {
        let written = self.kind_written.read();
        kinds.iter().any(|kind| written.get(*kind).is_some_and(|at| *at > rev))
    }

    /// Objects of a kind (any group when `group` is None), in one namespace or all, ordered by
    /// namespace, name and group.
    pub fn list(&self, group: Option<&str>, kind: &str, namespace: Option<&str>) -> Result<Vec<Stored>> {
        let cache = self.cache.read();
        let objects = cache.get(kind).into_iter().flatten();
        Ok(objects
            .filter(|((ns, _, grp), _)| namespace.is_none_or(|n| n == ns) && group.is_none_or(|g| g == grp))
            .map(|((ns, name, grp), (rev, body))| Stored {
                key: ObjectKey {
                    group: grp.clone(),
                    kind: kind.to_string(),
                    namespace: ns.clone(),
                    name: name.clone(),
                },
                rev: *rev,
                body: body.clone(),
            })
            .collect())
    }

    /// Runs several writes as one transaction: all or nothing.
    pub fn write<T>(&self, f: impl FnOnce(&mut Writer<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let mut writer = Writer { tx: &tx, cache: &self.cache, last_rev: None, written: Vec::new() };
        let value = f(&mut writer)?;
        let (last_rev, written) = (writer.last_rev, writer.written);
        tx.commit()?;
        let mut cache = self.cache.write();
        let mut kind_written = self.kind_written.write();
        for (key, object) in written {
            let ObjectKey { group, kind, namespace, name } = key;
            if let Some(rev) = last_rev {
                kind_written.insert(kind.clone(), rev);
            }
            let objects = cache.entry(kind).or_default();
            match object {
                Some(object) => objects.insert((namespace, name, group), object),
                None => objects.remove(&(namespace, name, group)),
            };
        }
        drop((cache, kind_written));
        drop(conn);
        if let Some(rev) = last_rev {
            self.latest.send_replace(rev);
        }
        Ok(value)
    }

    /// Writes one object; with `expected_rev`, only if nobody wrote it since.
    pub fn put(&self, key: &ObjectKey, body: &Json, expected_rev: Option<i64>) -> Result<i64> {
        self.write(|w| w.put(key, body, expected_rev))
    }

    pub fn delete(&self, key: &ObjectKey) -> Result<bool> {
        self.write(|w| w.delete(key))
    }

    pub fn record_event(&self, key: &ObjectKey, event: &EventRecord) -> Result<()> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO events (grp, kind, namespace, name, time, type, reason, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![key.group, key.kind, key.namespace, key.name, event.time.millis(), event.kind, event.reason, event.message],
        )?;
        let id = conn.last_insert_rowid();
        if id % 1000 == 0 {
            conn.execute("DELETE FROM events WHERE id <= ?1", [id - EVENTS_KEPT])?;
        }
        Ok(())
    }

    pub fn events(&self, key: &ObjectKey) -> Result<Vec<EventRecord>> {
        let conn = self.conn.lock();
        let mut statement = conn.prepare_cached(
            "SELECT time, type, reason, message FROM events WHERE grp=?1 AND kind=?2 AND namespace=?3 AND name=?4 ORDER BY id",
        )?;
        let rows = statement.query_map(params![key.group, key.kind, key.namespace, key.name], |r| {
            Ok(EventRecord {
                time: Time::from_millis(r.get(0)?),
                kind: r.get(1)?,
                reason: r.get(2)?,
                message: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.lock().query_row("SELECT value FROM meta WHERE key=?1", [key], |r| r.get(0)).optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.lock().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

/// An object's revision and body.
type Revision = (i64, Arc<Json>);
/// Every object by kind, then (namespace, name, group).
type Cache = HashMap<String, BTreeMap<(String, String, String), Revision>>;

fn cached(cache: &Cache, key: &ObjectKey) -> Option<Stored> {
    let found = cache
        .get(&key.kind)
        .and_then(|objects| objects.get(&(key.namespace.clone(), key.name.clone(), key.group.clone())));
    found.map(|(rev, body)| Stored { key: key.clone(), rev: *rev, body: body.clone() })
}

fn decode(key: ObjectKey, rev: i64, body: &str) -> Result<Stored> {
    match serde_json::from_str(body) {
        Ok(body) => Ok(Stored { key, rev, body: Arc::new(body) }),
        Err(e) => Err(StoreError::Corrupt(key, e)),
    }
}

/// Writes inside one transaction.
pub struct Writer<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    /// Committed state: no other write commits while this transaction holds the connection.
    cache: &'a parking_lot::RwLock<Cache>,
    last_rev: Option<i64>,
    /// What the cache takes on commit, in order: (revision, body), or None for a delete.
    written: Vec<(ObjectKey, Option<Revision>)>,
}

impl Writer<'_> {
    fn next_rev(&mut self, key: &ObjectKey, op: &str) -> Result<i64> {
        self.tx
            .prepare_cached("INSERT INTO changes (grp, kind, namespace, name, op) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![key.group, key.kind, key.namespace, key.name, op])?;
        let rev = self.tx.last_insert_rowid();
        if rev % 1000 == 0 {
            self.tx.execute("DELETE FROM changes WHERE rev < ?1", [rev - CHANGES_KEPT])?;
        }
        self.last_rev = Some(rev);
        Ok(rev)
    }

    fn current_rev(&self, key: &ObjectKey) -> Result<Option<i64>> {
        Ok(self
            .tx
            .prepare_cached("SELECT rev FROM objects WHERE grp=?1 AND kind=?2 AND namespace=?3 AND name=?4")?
            .query_row(params![key.group, key.kind, key.namespace, key.name], |r| r.get(0))
            .optional()?)
    }

    /// Reads an object as this transaction sees it: its own writes over the committed state.
    pub fn get(&self, key: &ObjectKey) -> Result<Option<Stored>> {
        if let Some((_, object)) = self.written.iter().rev().find(|(k, _)| k == key) {
            return Ok(object.as_ref().map(|(rev, body)| Stored { key: key.clone(), rev: *rev, body: body.clone() }));
        }
        Ok(cached(&self.cache.read(), key))
    }

    pub fn put(&mut self, key: &ObjectKey, body: &Json, expected_rev: Option<i64>) -> Result<i64> {
        let current = self.current_rev(key)?;
        if let Some(expected) = expected_rev.filter(|e| current != Some(*e)) {
            return Err(StoreError::Conflict(key.clone(), current.unwrap_or(0), expected));
        }
        let rev = self.next_rev(key, if current.is_some() { "update" } else { "create" })?;
        let mut body = body.clone();
        if let Some(meta) = body.get_mut("metadata").and_then(Json::as_object_mut) {
            meta.insert("resourceVersion".into(), rev.to_string().into());
        }
        self.tx
            .prepare_cached(
                "INSERT INTO objects (grp, kind, namespace, name, rev, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(grp, kind, namespace, name) DO UPDATE SET rev=excluded.rev, body=excluded.body",
            )?
            .execute(params![key.group, key.kind, key.namespace, key.name, rev, body.to_string()])?;
        self.written.push((key.clone(), Some((rev, Arc::new(body)))));
        Ok(rev)
    }

    pub fn delete(&mut self, key: &ObjectKey) -> Result<bool> {
        let removed = self
            .tx
            .prepare_cached("DELETE FROM objects WHERE grp=?1 AND kind=?2 AND namespace=?3 AND name=?4")?
            .execute(params![key.group, key.kind, key.namespace, key.name])?;
        if removed > 0 {
            self.next_rev(key, "delete")?;
            self.written.push((key.clone(), None));
            // Its events go with it: an object made again under the name starts with none.
            self.tx
                .prepare_cached("DELETE FROM events WHERE grp=?1 AND kind=?2 AND namespace=?3 AND name=?4")?
                .execute(params![key.group, key.kind, key.namespace, key.name])?;
        }
        Ok(removed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("traefik.io/v1alpha1", "TraefikService", "default", name)
    }

    #[test]
    fn writes_survive_reopening_and_revisions_only_grow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serin.db");
        let store = Store::open(&path).unwrap();
        let mut changes = store.subscribe();
        let r1 = store.put(&key("a"), &serde_json::json!({"metadata": {"name": "a"}}), None).unwrap();
        let r2 = store.put(&key("a"), &serde_json::json!({"metadata": {"name": "a"}, "spec": 1}), Some(r1)).unwrap();
        assert!(r2 > r1);
        use std::os::unix::fs::PermissionsExt;
        for file in [path.clone(), dir.path().join("serin.db-wal")] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} holds every secret applied", file.display());
        }
        assert!(changes.has_changed().unwrap());
        assert_eq!(*changes.borrow_and_update(), r2);
        let conflict = store.put(&key("a"), &serde_json::json!({}), Some(r1)).unwrap_err();
        assert!(matches!(conflict, StoreError::Conflict(..)), "{conflict}");
        drop(store);
        let store = Store::open(&path).unwrap();
        let stored = store.get(&key("a")).unwrap().unwrap();
        assert_eq!((stored.rev, &stored.body["spec"]), (r2, &serde_json::json!(1)));
        assert_eq!(stored.body["metadata"]["resourceVersion"], r2.to_string());
        assert_eq!(*store.subscribe().borrow(), r2);
    }

    #[test]
    fn a_failed_transaction_writes_nothing() {
        let (_dir, store) = Store::scratch();
        let result: Result<()> = store.write(|w| {
            w.put(&key("a"), &serde_json::json!({}), None)?;
            w.put(&key("b"), &serde_json::json!({}), Some(7))?;
            Ok(())
        });
        assert!(result.is_err());
        assert!(store.get(&key("a")).unwrap().is_none());
        assert_eq!(store.list(None, "TraefikService", None).unwrap().len(), 0);
    }

    #[test]
    fn objects_are_keyed_by_group_too() {
        let (_dir, store) = Store::scratch();
        let old = ObjectKey::new("traefik.containo.us/v1alpha1", "TraefikService", "default", "canary-service");
        store.put(&old, &serde_json::json!({"v": 2}), None).unwrap();
        store.put(&key("canary-service"), &serde_json::json!({"v": 3}), None).unwrap();
        assert_eq!(store.list(None, "TraefikService", Some("default")).unwrap().len(), 2);
        assert_eq!(store.list(Some("traefik.io"), "TraefikService", None).unwrap()[0].body["v"], 3);
        store
            .record_event(
                &old,
                &EventRecord { time: Time(5), kind: "Normal".into(), reason: "R".into(), message: "m".into() },
            )
            .unwrap();
        assert_eq!(store.events(&old).unwrap()[0].message, "m");
        assert!(store.events(&key("canary-service")).unwrap().is_empty());
    }

    #[test]
    fn reads_follow_commits_in_order_and_match_the_database_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serin.db");
        let store = Store::open(&path).unwrap();
        let other = ObjectKey::new("traefik.io/v1alpha1", "TraefikService", "another", "a");
        for k in [key("c"), other.clone(), key("a"), key("b")] {
            store.put(&k, &serde_json::json!({"metadata": {"name": k.name}}), None).unwrap();
        }
        store
            .write(|w| {
                w.delete(&key("b"))?;
                let rev = w.put(&key("c"), &serde_json::json!({"spec": "new"}), None)?;
                assert!(w.get(&key("b"))?.is_none(), "a transaction reads its own delete");
                assert_eq!(w.get(&key("c"))?.map(|c| (c.rev, c.body["spec"].clone())), Some((rev, "new".into())));
                assert_eq!(w.get(&key("a"))?.map(|a| a.body["metadata"]["name"].clone()), Some("a".into()));
                Ok(())
            })
            .unwrap();
        let names = |store: &Store| -> Vec<(String, String)> {
            let list = store.list(None, "TraefikService", None).unwrap();
            list.into_iter().map(|o| (o.key.namespace, o.key.name)).collect()
        };
        let expected = [("another", "a"), ("default", "a"), ("default", "c")].map(|(n, m)| (n.into(), m.into()));
        assert_eq!(names(&store), expected);
        assert_eq!(store.list(None, "TraefikService", Some("default")).unwrap().len(), 2);
        assert!(store.get(&key("b")).unwrap().is_none());
        let before = store.list(None, "TraefikService", None).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.list(None, "TraefikService", None).unwrap(), before);
        assert_eq!(store.get(&key("c")).unwrap().unwrap().body["spec"], "new");
    }

    #[test]
    fn writes_and_deletes_are_noted_per_kind() {
        let (_dir, store) = Store::scratch();
        let pod = ObjectKey::new("v1", "Pod", "default", "p");
        store.put(&pod, &serde_json::json!({}), None).unwrap();
        let before = store.revision();
        assert!(!store.written_since(before, &["Pod", "TraefikService"]));
        store.put(&key("a"), &serde_json::json!({}), None).unwrap();
        assert!(store.written_since(before, &["Pod", "TraefikService"]));
        assert!(!store.written_since(before, &["Pod"]), "a TraefikService write is not a Pod write");
        let before = store.revision();
        store.delete(&pod).unwrap();
        assert!(store.written_since(before, &["Pod"]), "a delete counts");
        assert!(!store.written_since(store.revision(), &["Pod"]));
    }

    #[test]
    fn an_objects_events_go_with_it() {
        let (_dir, store) = Store::scratch();
        let event = |reason: &str| EventRecord {
            time: Time::from_millis(0),
            kind: "Normal".into(),
            reason: reason.into(),
            message: String::new(),
        };
        store.put(&key("a"), &serde_json::json!({}), None).unwrap();
        store.put(&key("b"), &serde_json::json!({}), None).unwrap();
        store.record_event(&key("a"), &event("First")).unwrap();
        store.record_event(&key("b"), &event("Other")).unwrap();
        store.delete(&key("a")).unwrap();
        store.put(&key("a"), &serde_json::json!({}), None).unwrap();
        assert_eq!(store.events(&key("a")).unwrap(), [], "made again under the name: none of the old events");
        assert_eq!(store.events(&key("b")).unwrap(), [event("Other")]);
    }
}
