//! The accept loop: HTTP/1.1 connections with a header-read timeout, an idle keep-alive timeout
//! and a cap on plain HTTP connections, so that slow or half-open clients (slowloris) cannot
//! exhaust file descriptors or starve `/healthz` and platform upgrades.
//!
//! A connection holds one *HTTP slot* from accept until it closes or is upgraded to a WebSocket
//! (upgraded sockets are counted by [`super::limits::Limits`] instead). With every slot taken a new
//! connection gets an immediate `503 too_many_connections` and is closed; the slots come back as
//! the half-open ones hit their header timeout.
//!
//! `axum::serve` has neither knob, so this replaces it: hyper's HTTP/1 connection with
//! upgrades, one task per connection, graceful shutdown on [`AppState::shutdown`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::AppState;
use crate::protocol::{ErrorCode, ProtocolError};

/// Serve `router` on `listener` until shutdown, then wait for the open HTTP connections to
/// finish their current request (upgraded WebSockets are tracked by their own tasks).
pub(super) async fn serve(listener: TcpListener, router: Router, app: Arc<AppState>) {
    let slots = Arc::new(Semaphore::new(
        app.opts
            .max_http_connections
            .clamp(1, Semaphore::MAX_PERMITS),
    ));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.opts.header_read_timeout)
        .keep_alive(true);
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = app.shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse_connection(&app, tcp);
            continue;
        };
        // Nudges are small frames written back to back on multiplexed sockets: without
        // TCP_NODELAY they wait for the peer's delayed ACK (measured p99 23.8 ms → 0.8 ms,
        // docs/performance.md).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let conn = Connection {
            http: http.clone(),
            router: router.clone(),
            app: app.clone(),
            peer,
        };
        connections.spawn(async move {
            conn.run(tcp).await;
            drop(slot);
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Answer `503 too_many_connections` without parsing the request, then close. Everything is
/// non-blocking and done here (a fresh socket's send buffer is empty): refusing must cost no
/// task and no waiting, or the refusals themselves would pile up. What the client already sent
/// is drained first, so that closing sends FIN after the answer rather than a reset that could
/// discard it.
fn refuse_connection(app: &AppState, tcp: TcpStream) {
    app.metrics.error(ErrorCode::TooManyConnections);
    let body = ProtocolError::new(
        ErrorCode::TooManyConnections,
        format!(
            "the server holds its maximum of {} HTTP connections; retry later",
            app.opts.max_http_connections
        ),
    )
    .to_json();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.try_write(response.as_bytes());
    let mut scratch = [0u8; 4096];
    for _ in 0..16 {
        match tcp.try_read(&mut scratch) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    if let Ok(std) = tcp.into_std() {
        let _ = std.shutdown(std::net::Shutdown::Write);
    }
}

/// One accepted connection.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    router: Router,
    app: Arc<AppState>,
    peer: SocketAddr,
}

impl Connection {
    async fn run(self, tcp: TcpStream) {
        let activity = Arc::new(Activity::default());
        let service = {
            let inner = TowerToHyperService::new(self.router);
            let activity = activity.clone();
            let peer = self.peer;
            hyper::service::service_fn(move |mut req: Request<Incoming>| {
                // Handlers may ask who is on the other end (dev-mode admin: loopback only).
                req.extensions_mut().insert(ConnectInfo(peer));
                let busy = activity.begin();
                let response = hyper::service::Service::call(&inner, req);
                async move {
                    let r = response.await;
                    drop(busy);
                    r
                }
            })
        };
        let conn = self
            .http
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        tokio::pin!(conn);
        let idle = self.app.opts.http_idle_timeout;
        let mut closing = false;
        let mut check_at = Instant::now() + idle;
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %self.peer, error = %e, "HTTP connection ended");
                    }
                    return;
                }
                _ = self.app.shutdown.cancelled(), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                    check_at = Instant::now() + self.app.opts.send_timeout;
                }
                _ = tokio::time::sleep_until(check_at) => {
                    if closing {
                        // Still writing a response nobody reads: drop the connection.
                        tracing::debug!(peer = %self.peer, "HTTP response stalled; closing");
                        return;
                    }
                    match activity.idle_since() {
                        Some(since) if since + idle <= Instant::now() => {
                            // Lets a response still being written finish (within
                            // `send_timeout`), then closes; an idle connection closes now.
                            conn.as_mut().graceful_shutdown();
                            closing = true;
                            check_at = Instant::now() + self.app.opts.send_timeout;
                        }
                        Some(since) => check_at = since + idle,
                        None => check_at = Instant::now() + idle,
                    }
                }
            }
        }
    }
}

/// Requests in flight on one connection and when the last one finished: the idle keep-alive
/// clock. Before the first request the header-read timeout alone applies.
#[derive(Default)]
struct Activity(Mutex<ActivityState>);

#[derive(Default)]
struct ActivityState {
    in_flight: usize,
    last_done: Option<Instant>,
}

/// Marks one request in flight until dropped.
struct Busy(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> Busy {
        self.lock().in_flight += 1;
        Busy(self.clone())
    }

    /// When the connection became idle after a request, or `None` while a request is in
    /// flight or before the first one.
    fn idle_since(&self) -> Option<Instant> {
        let s = self.lock();
        if s.in_flight > 0 {
            None
        } else {
            s.last_done
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        s.last_done = Some(Instant::now());
    }
}
