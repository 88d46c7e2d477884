//! The HTTP providers: one client (plain HTTP, connect timeout 5 s) for Prometheus's query API
//! and any web endpoint, JSONPath into JSON answers as Argo's web provider reads them.

use crate::{Outcome, Reading};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value as Json;
use serin_analysis::MetricValue;
use serin_model::analysis::MetricProvider;
use std::time::Duration;

pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Http { client: Client::builder(TokioExecutor::new()).build(connector) }
    }
}

impl Http {
    /// The reading of a `prometheus` or `web` metric; `None` for the other providers.
    pub async fn measure(&self, provider: &MetricProvider) -> Option<Outcome> {
        if let Some(prometheus) = &provider.prometheus {
            return Some(self.prometheus(&serde_json::to_value(prometheus).unwrap_or_default()).await);
        }
        if let Some(web) = &provider.web {
            return Some(self.web(&serde_json::to_value(web).unwrap_or_default()).await);
        }
        None
    }

    /// One request; the body of any answer, or why there was none.
    async fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<String>,
        timeout: Duration,
    ) -> Result<(u16, String), String> {
        if url.starts_with("https://") {
            return Err(format!("{url}: https is not supported by serin's analysis client yet"));
        }
        let mut request = hyper::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| format!("invalid request to {url}: {e}"))?;
        let response = tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| format!("{url} did not answer within {}s", timeout.as_secs_f64()))?
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        let status = response.status().as_u16();
        let bytes = tokio::time::timeout(timeout, response.into_body().collect())
            .await
            .map_err(|_| format!("{url} did not finish its answer within {}s", timeout.as_secs_f64()))?
            .map_err(|e| format!("reading the answer of {url}: {e}"))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Prometheus: a scalar gives a number, a vector the list of its sample values.
    async fn prometheus(&self, spec: &Json) -> Outcome {
        let address = spec["address"].as_str().ok_or("prometheus.address is required")?.trim_end_matches('/');
        let query = spec["query"].as_str().ok_or("prometheus.query is required")?;
        let timeout = Duration::from_secs(spec["timeout"].as_u64().unwrap_or(30).max(1));
        let url = format!("{address}/api/v1/query?query={}", percent_encode(query));
        let headers = key_values(&spec["headers"]);
        let (status, body) = self.call("GET", &url, &headers, None, timeout).await?;
        let answer: Json = serde_json::from_str(&body).map_err(|_| {
            format!("Prometheus at {address} answered {status} with something that is not JSON: {}", snippet(&body))
        })?;
        if answer["status"] != "success" {
            return Err(format!(
                "Prometheus query failed ({status}): {}",
                answer["error"].as_str().unwrap_or(&snippet(&body))
            ));
        }
        let data = &answer["data"];
        let number = |sample: &Json| -> Result<f64, String> {
            let text = sample.get(1).and_then(Json::as_str).ok_or_else(|| format!("unexpected sample {sample}"))?;
            match text {
                "NaN" => Ok(f64::NAN),
                "+Inf" => Ok(f64::INFINITY),
                "-Inf" => Ok(f64::NEG_INFINITY),
                t => t.parse().map_err(|_| format!("unexpected sample value {t:?}")),
            }
        };
        match data["resultType"].as_str() {
            // NaN (0/0: no traffic) counts as no sample, so it is Inconclusive, not a verdict.
            Some("scalar") => {
                let x = number(&data["result"])?;
                Ok(Reading { value: MetricValue::Float(x), samples: Some(u64::from(!x.is_nan())) })
            }
            Some("vector") => {
                // An empty vector is no data: the minimum-sample guard makes it Inconclusive.
                let series = data["result"].as_array().cloned().unwrap_or_default();
                let values = series.iter().map(|s| number(&s["value"])).collect::<Result<Vec<_>, _>>()?;
                let samples = values.iter().filter(|x| !x.is_nan()).count() as u64;
                Ok(Reading { samples: Some(samples), value: MetricValue::Floats(values) })
            }
            other => Err(format!(
                "Prometheus result type {other:?} is not supported (use an instant query giving a scalar or a vector)"
            )),
        }
    }

    /// A web endpoint; with `jsonPath`, the value found there, else the whole JSON answer.
    async fn web(&self, spec: &Json) -> Outcome {
        let url = spec["url"].as_str().ok_or("web.url is required")?;
        let method = spec["method"].as_str().unwrap_or("GET");
        let timeout = Duration::from_secs(spec["timeoutSeconds"].as_u64().unwrap_or(10).max(1));
        let mut headers = key_values(&spec["headers"]);
        let body = match (&spec["body"], &spec["jsonBody"]) {
            (Json::String(body), _) => Some(body.clone()),
            (_, Json::Null) => None,
            (_, json_body) => {
                headers.push(("Content-Type".into(), "application/json".into()));
                Some(json_body.to_string())
            }
        };
        let (status, text) = self.call(method, url, &headers, body, timeout).await?;
        if !(200..300).contains(&status) {
            return Err(format!("{url} answered {status}: {}", snippet(&text)));
        }
        let answer: Json = serde_json::from_str(&text)
            .map_err(|_| format!("{url} answered with something that is not JSON: {}", snippet(&text)))?;
        let value = match spec["jsonPath"].as_str() {
            Some(path) => json_path(&answer, path)?,
            None => answer,
        };
        Ok(Reading { value: MetricValue::Json(value), samples: None })
    }
}

fn key_values(list: &Json) -> Vec<(String, String)> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            (h["key"].as_str().unwrap_or_default().to_string(), h["value"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

fn snippet(text: &str) -> String {
    let trimmed: String = text.trim().chars().take(120).collect();
    if trimmed.is_empty() { "(empty)".into() } else { format!("{trimmed:?}") }
}

/// Percent-encodes a URL query value (RFC 3986 unreserved characters stay).
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Kubernetes' JSONPath template as Argo's web provider uses it: `{$.data.ok}`,
/// `{$.items[0].value}`, `{.status}`. Missing fields are an error, not a silent null.
pub fn json_path(value: &Json, path: &str) -> Result<Json, String> {
    let inner = path.trim().strip_prefix('{').and_then(|p| p.strip_suffix('}')).unwrap_or(path.trim());
    let inner = inner.strip_prefix('$').unwrap_or(inner);
    let mut current = value;
    let mut rest = inner;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if !key.is_empty() {
                current = current.get(key).ok_or_else(|| format!("jsonPath {path}: no field {key:?} in the answer"))?;
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| format!("jsonPath {path}: unclosed ["))?;
            let index = &after[..end];
            current = match index.trim_matches(['\'', '"']).parse::<usize>() {
                Ok(i) => current.get(i).ok_or_else(|| format!("jsonPath {path}: index {i} is out of range"))?,
                Err(_) => current
                    .get(index.trim_matches(['\'', '"']))
                    .ok_or_else(|| format!("jsonPath {path}: no field {index}"))?,
            };
            rest = &after[end + 1..];
        } else {
            return Err(format!("jsonPath {path}: unexpected {rest:?}"));
        }
    }
    Ok(current.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_paths_like_argo_uses_them() {
        let answer = json!({"data": {"ok": true, "items": [{"value": 0.98}]}});
        assert_eq!(json_path(&answer, "{$.data.ok}"), Ok(json!(true)));
        assert_eq!(json_path(&answer, "{$.data.items[0].value}"), Ok(json!(0.98)));
        assert_eq!(json_path(&answer, "{.data}").unwrap()["ok"], true);
        assert!(json_path(&answer, "{$.data.missing}").unwrap_err().contains("no field \"missing\""));
        assert!(json_path(&answer, "{$.data.items[3]}").unwrap_err().contains("out of range"));
    }
}
