//! The web dashboard at `/ui/` on the API address: the rollouts, the routes and the GitOps
//! Applications in a browser, live, with the rollout commands for whoever has the API token.
//!
//! The page is plain HTML, CSS and JavaScript embedded in the binary (nothing fetched at run
//! time). Each page's data is one JSON view ([`views`]) sent as server-sent events whenever
//! the store's change feed moves, and once a second for the traffic charts ([`traffic`]).
//! Commands go to the JSON API with the bearer token, so without a token the dashboard can
//! only look. Every response carries a Content-Security-Policy that allows nothing but the
//! dashboard's own files; on a loopback address, requests to the dashboard or the API naming
//! another host are refused (DNS rebinding).

mod traffic;
mod views;

pub use traffic::TrafficSampler;

use crate::api::{ApiError, ApiState, authorize};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

pub struct Dashboard {
    api: Arc<ApiState>,
    traffic: Arc<TrafficSampler>,
    /// Entry point name -> address the router listens on.
    entrypoints: BTreeMap<String, String>,
    /// The API listens on loopback: only loopback names and addresses may be asked for.
    loopback: bool,
    /// Views by page, with the store revision and traffic reading they were drawn at: every
    /// browser showing a page shares one computation while nothing changed.
    views: parking_lot::Mutex<HashMap<String, (Stamp, Arc<Value>)>>,
}

/// When a view was drawn: the store's revision and the traffic sampler's reading.
type Stamp = (i64, u64);

/// What a browser may load and run: the dashboard's own files and connections, nothing inline,
/// no frames.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The shortest time between two updates of one page (changes in between are coalesced).
const MIN_UPDATE_INTERVAL: Duration = Duration::from_millis(50);

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { path: "app.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../ui/app.js") },
    Asset { path: "style.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../../ui/style.css") },
    Asset { path: "icon.svg", content_type: "image/svg+xml", body: include_bytes!("../../ui/icon.svg") },
];

/// The page, its asset links carrying a hash of each asset's content (`app.js?v=...`), so
/// browsers may keep the assets for good and still never run an old one.
static INDEX: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    ASSETS.iter().fold(include_str!("../../ui/index.html").to_string(), |page, asset| {
        page.replace(&format!("{{{{{}}}}}", asset.path), &asset.version())
    })
});

impl Asset {
    /// FNV-1a of the content, in hex.
    fn version(&self) -> String {
        let hash =
            self.body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
        format!("{hash:016x}")
    }
}

/// The API's routes with the dashboard's added, and the security headers on every response.
pub fn with_dashboard(api: Router, dashboard: Arc<Dashboard>) -> Router {
    let ui = Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/api/session", get(session))
        .route("/ui/api/view", get(view))
        .route("/ui/api/stream", get(stream))
        .with_state(dashboard.clone());
    api.merge(ui)
        .layer(middleware::from_fn_with_state(dashboard, same_host))
        .layer(middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Paths any Host may ask for: health and metrics hold nothing secret, and a forge's webhook
/// reaches a loopback API through a reverse proxy that names its own host.
const ANY_HOST: &[&str] = &["/healthz", "/metrics", "/api/webhook"];

/// On a loopback address, the Host header must name loopback too, for the API as for the
/// dashboard: a web page whose name was rebound to 127.0.0.1 can read and send nothing.
async fn same_host(State(dashboard): State<Arc<Dashboard>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if dashboard.loopback && !loopback_host(host) && !ANY_HOST.contains(&request.uri().path()) {
        return (
            StatusCode::FORBIDDEN,
            "serin on a loopback address answers only to localhost and loopback addresses\n",
        )
            .into_response();
    }
    next.run(request).await
}

fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX.as_str())
        .into_response()
}

#[derive(Deserialize)]
struct AssetQuery {
    v: Option<String>,
}

/// An asset; asked for by its current version, it may be cached for good.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>, Query(query): Query<AssetQuery>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == file) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let cache = if query.v == Some(asset.version()) { "public, max-age=31536000, immutable" } else { "no-cache" };
    ([(header::CONTENT_TYPE, asset.content_type), (header::CACHE_CONTROL, cache)], asset.body).into_response()
}

/// Whether the token the page holds is the server's: the page shows the commands only then.
async fn session(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Json<Value> {
    let authorized = headers.contains_key(header::AUTHORIZATION) && authorize(&dashboard.api, &headers).is_ok();
    Json(json!({"authorized": authorized, "timeScale": dashboard.api.clock.scale()}))
}

/// Which page: `rollouts`, `rollout` (with namespace and name), `routes` or `applications`.
#[derive(Deserialize, Clone)]
struct PageQuery {
    page: String,
    namespace: Option<String>,
    name: Option<String>,
}

impl Dashboard {
    pub fn new(
        api: Arc<ApiState>,
        traffic: Arc<TrafficSampler>,
        entrypoints: BTreeMap<String, String>,
        loopback: bool,
    ) -> Dashboard {
        Dashboard { api, traffic, entrypoints, loopback, views: Default::default() }
    }

    /// The page's view, drawn again only if the store or the traffic moved since.
    fn page(&self, query: &PageQuery) -> Result<Arc<Value>, ApiError> {
        let key = format!("{}/{:?}/{:?}", query.page, query.namespace, query.name);
        // Only a rollout's page shows traffic (and events, which are recorded just after the
        // write they follow): it is drawn again at each traffic reading too.
        let readings = if query.page == "rollout" { self.traffic.readings() } else { 0 };
        let stamp = (self.api.store.revision(), readings);
        if let Some((_, view)) = self.views.lock().get(&key).filter(|(drawn, _)| *drawn == stamp) {
            return Ok(view.clone());
        }
        let view = Arc::new(self.draw(query)?);
        let mut views = self.views.lock();
        views.retain(|_, (drawn, _)| *drawn == stamp);
        views.insert(key, (stamp, view.clone()));
        Ok(view)
    }

    /// The page's view, or an error a person can read.
    fn draw(&self, query: &PageQuery) -> Result<Value, ApiError> {
        let store = &self.api.store;
        let view = match (query.page.as_str(), query.namespace.as_deref(), query.name.as_deref()) {
            ("rollouts", ..) => views::rollouts(store)?,
            ("rollout", Some(namespace), Some(name)) => {
                views::rollout(store, &self.traffic, namespace, name)?.unwrap_or_else(|| json!({"missing": true}))
            }
            ("routes", ..) => views::routes(store, &self.entrypoints)?,
            ("applications", ..) => views::applications(store)?,
            _ => {
                return Err(crate::api::error(
                    StatusCode::BAD_REQUEST,
                    "page must be rollouts, rollout (with namespace and name), routes or applications",
                ));
            }
        };
        Ok(view)
    }

    /// A page with the server's clock, so the browser can count pauses and ages down itself.
    fn envelope(&self, view: &Value) -> Value {
        json!({"now": self.api.clock.now().millis(), "timeScale": self.api.clock.scale(), "view": view})
    }
}

async fn view(
    State(dashboard): State<Arc<Dashboard>>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let view = dashboard.page(&query)?;
    Ok(Json(dashboard.envelope(&view)))
}

/// Server-sent events: the page's view at once, then again whenever it changed (looked at on
/// every store change, at most every [`MIN_UPDATE_INTERVAL`], and every second for traffic).
async fn stream(
    State(dashboard): State<Arc<Dashboard>>,
    Query(query): Query<PageQuery>,
) -> Result<Sse<impl futures_util::stream::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let first = dashboard.page(&query)?;
    let changes = dashboard.api.store.subscribe();
    let state = (dashboard, query, changes, None::<Arc<Value>>, Some(first));
    let events = futures_util::stream::unfold(state, |(dashboard, query, mut changes, last, first)| async move {
        let mut pending = first;
        loop {
            let view = match pending.take() {
                Some(view) => view,
                None => {
                    tokio::select! {
                        changed = changes.changed() => {
                            if changed.is_err() {
                                return None;
                            }
                        }
                        _ = tokio::time::sleep(traffic::PERIOD) => {}
                    }
                    tokio::time::sleep(MIN_UPDATE_INTERVAL).await;
                    changes.mark_unchanged();
                    match dashboard.page(&query) {
                        Ok(view) => view,
                        Err(_) => continue,
                    }
                }
            };
            if last.as_ref() != Some(&view) {
                let event = Event::default().event("view").data(dashboard.envelope(&view).to_string());
                return Some((Ok(event), (dashboard, query, changes, Some(view), None)));
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_pass_on_a_loopback_address() {
        for host in ["127.0.0.1:3100", "localhost:3100", "LOCALHOST", "[::1]:3100", "app.localhost:80", "127.0.0.2"] {
            assert!(loopback_host(host), "{host}");
        }
        for host in ["evil.example:3100", "10.0.0.1:3100", "", "[fe80::1]:3100", "localhost.evil.example"] {
            assert!(!loopback_host(host), "{host}");
        }
    }
}
