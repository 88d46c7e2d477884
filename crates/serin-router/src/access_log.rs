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
    /// The status the pod answered with, when a pod answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_status: Option<u16>,
    /// The pod that answered, as a URL (`http://127.0.0.1:40123`, `h2c://...` for an h2c pod)
    /// and as an address.
    #[serde(rename = "ServiceURL", skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_addr: Option<SocketAddr>,
    /// Bytes of body sent to the client, when known as the line is written (an HTTP/2 answer
    /// still streaming is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downstream_content_size: Option<u64>,
    /// `http` or `https`.
    pub request_scheme: &'static str,
    /// Over TLS, the version (`1.3`) and the cipher suite in Go's name.
    #[serde(rename = "TLSVersion", skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<&'static str>,
    #[serde(rename = "TLSCipher", skip_serializing_if = "Option::is_none")]
    pub tls_cipher: Option<&'static str>,
}

/// RFC 3339 in UTC with as many fractional digits as needed (`2026-12-07T22:41:59.96872038Z`),
/// as Traefik writes its times (Go's `time.RFC3339Nano`).
fn rfc3339<S: serde::Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    let stamp = jiff::Timestamp::try_from(*time).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    serializer.collect_str(&stamp)
}

fn nanoseconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
}

impl AccessLog {
    /// Opens (appending to) or creates the file, readable by its owner only: it names clients.
    pub fn open(path: &Path) -> std::io::Result<AccessLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot open the access log {}: {e}", path.display()))
        })?;
        let (lines, pending) = sync_channel(BACKLOG);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(BufWriter::new(file), &pending))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(start: SystemTime) -> Entry<'static> {
        Entry {
            start,
            duration: Duration::from_micros(1500),
            client_addr: "127.0.0.1:40000".parse().unwrap(),
            client_host: "127.0.0.1".into(),
            client_port: "40000".into(),
            request_method: "GET",
            request_path: "/api?x=1",
            request_protocol: "HTTP/1.1",
            request_host: "canary.myapp.com",
            request_addr: "canary.myapp.com:80",
            entry_point_name: "web",
            router_name: Some("default-myapp-canary-314e264ecce1db156d4b@kubernetescrd"),
            service_name: None,
            downstream_status: 200,
            origin_status: Some(200),
            service_url: Some("http://127.0.0.1:40123".into()),
            service_addr: Some("127.0.0.1:40123".parse().unwrap()),
            downstream_content_size: Some(31),
            request_scheme: "https",
            tls_version: Some("1.3"),
            tls_cipher: Some("TLS_AES_128_GCM_SHA256"),
        }
    }

    /// Field names, shapes and times as Traefik writes them (Go's RFC3339Nano drops trailing
    /// zeros of the fraction, and the fraction when it is zero).
    #[test]
    fn entries_are_traefiks_json() {
        let at = |nanos: u64| SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos);
        let line = serde_json::to_value(entry(at(1_796_683_319_968_720_380))).unwrap();
        assert_eq!(line["StartUTC"], "2026-12-07T22:41:59.96872038Z");
        assert_eq!(line["Duration"], 1_500_000);
        assert_eq!(line["entryPointName"], "web");
        assert_eq!(line["ClientPort"], "40000");
        assert_eq!(line["DownstreamStatus"], 200);
        assert!(line.get("ServiceName").is_none(), "{line}");
        assert_eq!(line["TLSVersion"], "1.3");
        assert_eq!(line["TLSCipher"], "TLS_AES_128_GCM_SHA256");
        assert_eq!(line["RequestScheme"], "https");
        assert_eq!(
            (line["ServiceURL"].as_str(), line["ServiceAddr"].as_str()),
            (Some("http://127.0.0.1:40123"), Some("127.0.0.1:40123"))
        );
        assert_eq!((line["OriginStatus"].as_u64(), line["DownstreamContentSize"].as_u64()), (Some(200), Some(31)));
        assert_eq!(serde_json::to_value(entry(at(1_500_000_000))).unwrap()["StartUTC"], "1970-01-01T00:00:01.5Z");
        assert_eq!(serde_json::to_value(entry(at(2_000_000_000))).unwrap()["StartUTC"], "1970-01-01T00:00:02Z");
    }

    #[test]
    fn lines_reach_the_file_in_order_without_waiting_for_a_flush() {
        let dir = std::env::temp_dir().join(format!("serin-access-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let log = AccessLog::open(&path).unwrap();
        for status in [200, 404, 503] {
            log.record(&Entry { downstream_status: status, ..entry(SystemTime::now()) });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let statuses = loop {
            let text = std::fs::read_to_string(&path).unwrap();
            let statuses: Vec<u64> = text
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["DownstreamStatus"].as_u64().unwrap())
                .collect();
            if statuses.len() == 3 || std::time::Instant::now() > deadline {
                break statuses;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(statuses, [200, 404, 503]);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
