//! A web metric for analysis tests on a cluster: an HTTP endpoint on loopback whose JSON
//! answer a test flips between passing and failing, which AnalysisTemplates' `web` provider
//! measures from `serin controller`.

use serde_json::{Value as Json, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A web endpoint on 127.0.0.1 answering `{"data":{"ok":<ok>}}` to every request, for as
/// long as the test process lives; the answer changes when the returned flag does.
pub fn endpoint(ok: bool) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/check", listener.local_addr().unwrap());
    let flag = Arc::new(AtomicBool::new(ok));
    let answer = flag.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let body = format!("{{\"data\":{{\"ok\":{}}}}}", answer.load(Ordering::SeqCst));
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, flag)
}

/// The AnalysisTemplate `data-ok`: one `web` metric that passes while `url` answers
/// `{"data":{"ok":true}}` and fails at its first `false`.
pub fn data_ok_template(url: &str) -> Json {
    json!({"apiVersion": super::seed::ROLLOUTS, "kind": "AnalysisTemplate", "metadata": {"name": "data-ok"},
        "spec": {"metrics": [{"name": "data-ok", "successCondition": "result == true", "failureLimit": 0,
            "provider": {"web": {"url": url, "jsonPath": "{$.data.ok}"}}}]}})
}
