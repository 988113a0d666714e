//! Checks made on every request before routing, against attacks that come through a browser:
//!
//! - **Origin allow-list.** A WebSocket upgrade (agent panel, supervisor feed, platform stream)
//!   or a state-changing request (`POST /v1/analyze`, `POST /v1/admin/reload`) that carries an
//!   `Origin` header is served only if that origin is calma's own (the request's `Host`) or is
//!   listed in `CALMA_ALLOWED_ORIGINS` (softphones embedding the panel). `/v1/admin/*` accepts its
//!   own origin only. Requests without `Origin` (platform servers, curl) are unaffected: browsers
//!   always send it on WebSockets and cross-site POSTs, so its absence means "not a browser page".
//! - **Dev mode Host names** (no credentials configured): only requests addressed to `localhost`
//!   (`*.localhost`) or an IP literal are served, so a DNS-rebinding page (`evil.example`
//!   resolving to 127.0.0.1) cannot read the feeds. IP literals cannot be rebound, which keeps
//!   `--insecure-dev` on a LAN address usable.
//! - **Dev mode admin**: `/v1/admin/*` only from a loopback peer.
//!
//! Refusals are HTTP 403 with a typed `forbidden` body.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::{AppState, Options};
use crate::protocol::{ErrorCode, ProtocolError};

/// The middleware: refuse with 403, or pass the request on.
pub async fn check(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Err(e) = admit(&app.opts, &req) {
        tracing::info!(reason = %e.message, "request refused by the origin/host guard");
        return super::gate::error_response(&app, StatusCode::FORBIDDEN, e);
    }
    next.run(req).await
}

fn forbidden(message: String) -> ProtocolError {
    ProtocolError::new(ErrorCode::Forbidden, message)
}

/// Whether `req` may reach the routes (see the module doc).
fn admit(opts: &Options, req: &Request) -> Result<(), ProtocolError> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let dev = opts.auth.is_open();
    if dev && !is_local_host(host) {
        return Err(forbidden(format!(
            "dev mode (no credentials configured) answers only requests addressed to localhost \
             or an IP address, not Host `{host:.100}`"
        )));
    }
    let admin = req.uri().path().starts_with("/v1/admin/");
    if dev && admin {
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
        if !peer.is_some_and(|ConnectInfo(a)| a.ip().is_loopback()) {
            return Err(forbidden(
                "dev mode accepts /v1/admin/* only from a loopback address".into(),
            ));
        }
    }
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !(upgrade || changes_state) {
        return Ok(());
    }
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = normalize(origin.to_str().unwrap_or(""));
    let listed = !admin && opts.allowed_origins.contains(&origin);
    if same_origin(&origin, host) || listed {
        return Ok(());
    }
    Err(forbidden(format!(
        "origin `{origin:.100}` may not use {}: calma accepts {}",
        if admin {
            "/v1/admin/*"
        } else {
            "this endpoint"
        },
        if admin {
            "only its own origin here"
        } else {
            "its own origin and those in CALMA_ALLOWED_ORIGINS"
        }
    )))
}

/// `CALMA_ALLOWED_ORIGINS`: comma-separated origins, normalised for comparison.
pub fn parse_origins(list: Option<&str>) -> Vec<String> {
    list.unwrap_or("")
        .split(',')
        .map(normalize)
        .filter(|o| !o.is_empty())
        .collect()
}

/// Lowercase, without surrounding blanks or a trailing `/`.
fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// `origin` (`http(s)://authority`) names the host the request was sent to.
fn same_origin(origin: &str, host: &str) -> bool {
    match origin.split_once("://") {
        Some(("http" | "https", authority)) => {
            !host.is_empty() && authority.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

/// `localhost`, `*.localhost` or an IP literal, with or without a port.
fn is_local_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`
        return rest.split_once(']').is_some_and(|(ip, port)| {
            ip.parse::<std::net::Ipv6Addr>().is_ok()
                && (port.is_empty() || valid_port(port.strip_prefix(':').unwrap_or("x")))
        });
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if valid_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok()
}

fn valid_port(p: &str) -> bool {
    p.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts() {
        for h in [
            "localhost",
            "LOCALHOST:8080",
            "app.localhost:1",
            "127.0.0.1:9",
            "10.0.0.7",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(is_local_host(h), "{h}");
        }
        for h in [
            "",
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io:80",
            "[::1]x",
            "localhost:http",
        ] {
            assert!(!is_local_host(h), "{h}");
        }
    }

    fn request(method: &str, path: &str, host: &str, peer: Option<&str>) -> Request {
        let mut r = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host)
            .body(axum::body::Body::empty())
            .unwrap();
        if let Some(p) = peer {
            r.extensions_mut()
                .insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
        }
        r
    }

    #[test]
    fn dev_mode_admin_only_from_loopback_peers() {
        let dev = Options::default();
        let admit_from = |peer| {
            admit(
                &dev,
                &request("POST", "/v1/admin/reload", "10.0.0.7:8080", peer),
            )
        };
        assert!(admit_from(Some("127.0.0.1:50000")).is_ok());
        assert!(admit_from(Some("[::1]:50000")).is_ok());
        assert!(admit_from(Some("10.0.0.9:50000")).is_err());
        assert!(admit_from(None).is_err());
        // Other endpoints do not care about the peer; with credentials configured, nor does admin.
        assert!(admit(
            &dev,
            &request("GET", "/healthz", "10.0.0.7:8080", Some("10.0.0.9:1"))
        )
        .is_ok());
        let secured = Options {
            auth: crate::server::auth::AuthConfig::open().with_admin_key("admin-key-0123456789"),
            ..Options::default()
        };
        let r = request(
            "POST",
            "/v1/admin/reload",
            "calma.example",
            Some("10.0.0.9:1"),
        );
        assert!(admit(&secured, &r).is_ok());
    }

    #[test]
    fn origins() {
        assert!(same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_origin("https://calma.example", "CALMA.example"));
        assert!(!same_origin("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!same_origin("null", "null"));
        assert!(!same_origin("file://", ""));
        assert_eq!(
            parse_origins(Some(" https://Soft.example/ ,, http://a:1")),
            vec!["https://soft.example", "http://a:1"]
        );
    }
}
