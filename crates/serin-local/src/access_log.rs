//! The router's access log (`serin server --access-log FILE`): one JSON object per request the
//! router answers, with the field names of Traefik's JSON access log (`RouterName`,
//! `ServiceName`, `DownstreamStatus`, ...) and its router and service names, so that whatever
//! reads Traefik's access logs reads serin's.
//!
//! A request only formats its line and hands it to a writer thread, which writes lines as they
//! come and flushes whenever it has caught up. A writer that falls more than [`BACKLOG`] lines
//! behind (a full or slow disk) loses lines, counted, rather than slowing requests down.

use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime};

/// Lines waiting for the writer at most.
const BACKLOG: usize = 65_536;

pub struct AccessLog {
    lines: SyncSender<String>,
    /// Lines lost because the writer was too far behind.
    dropped: AtomicU64,
}

/// One answered request, as Traefik's JSON access log records it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry<'a> {
    #[serde(rename = "StartUTC", serialize_with = "rfc3339")]
    pub start: SystemTime,
    /// Nanoseconds, as Traefik writes a Go duration.
    #[serde(serialize_with = "nanoseconds")]
    pub duration: Duration,
    pub client_addr: SocketAddr,
    pub client_host: String,
    pub client_port: String,
    pub request_method: &'a str,
    /// The request target as the client sent it.
    pub request_path: &'a str,
    pub request_protocol: &'static str,
    /// The host the request is for, without its port.
    pub request_host: &'a str,
    /// The host and port as the client sent them.
    pub request_addr: &'a str,
    /// Spelt as Traefik spells it, unlike its other fields.
    #[serde(rename = "entryPointName")]
    pub entry_point_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_name: Option<&'a str>,
    /// The Service whose pod answered (the leaf of a weighted split), else the route's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<&'a str>,
    /// The status the router answered with.
    pub downstream_status: u16,
}

/// `2026-12-07T22:41:59.123456789Z`, as Traefik writes times.
fn rfc3339<S: serde::Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let seconds = serin_model::Time::from_millis(since.as_secs() as i64 * 1000).to_string();
    serializer.serialize_str(&format!("{}.{:09}Z", seconds.trim_end_matches('Z'), since.subsec_nanos()))
}

fn nanoseconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
}

impl AccessLog {
    /// Opens (appending to) or creates the file, readable by its owner only: it names clients.
    pub fn open(path: &Path) -> anyhow::Result<AccessLog> {
        use anyhow::Context;
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot open the access log {}", path.display()))?;
        let (lines, pending) = sync_channel(BACKLOG);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(BufWriter::new(file), &pending))
            .context("cannot start the access log's writer")?;
        Ok(AccessLog { lines, dropped: AtomicU64::new(0) })
    }

    pub fn record(&self, entry: &Entry<'_>) {
        let Ok(mut line) = serde_json::to_string(entry) else { return };
        line.push('\n');
        if let Err(TrySendError::Full(_)) = self.lines.try_send(line)
            && self.dropped.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!("the access log's writer is {BACKLOG} lines behind: lines are being dropped");
        }
    }
}

/// Writes lines until the log is dropped, flushing whenever no line is waiting.
fn write_lines(mut out: BufWriter<File>, pending: &Receiver<String>) {
    while let Ok(line) = pending.recv() {
        let mut written = out.write_all(line.as_bytes());
        while let (Ok(()), Ok(line)) = (&written, pending.try_recv()) {
            written = out.write_all(line.as_bytes());
        }
        if let Err(error) = written.and_then(|()| out.flush()) {
            tracing::warn!(%error, "cannot write the access log");
        }
    }
}
