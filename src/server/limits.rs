//! Resource limits that protect the process from one greedy or broken client: connections
//! (WebSocket slots) and segment rate per call. Each is refused with a typed error and counted in
//! `calma_errors_total{code}`; none closes a healthy connection. Calls per process and per
//! tenant, and the per-tenant and per-principal socket quotas, are counted in the hub
//! (`hub::quotas`), where the calls are.
//!
//! | limit | default | beyond it |
//! |---|---|---|
//! | WebSocket connections (platform + agent + supervisor) | 10,000 | upgrade refused: HTTP 503, `too_many_connections` |
//! | calls per connection | 1,000 | `call.start` refused: `too_many_calls` |
//! | segments per call | 20/s, bursts up to 5 s worth (100) | the excess segment is dropped: `rate_limited`; the call goes on |
//! | idle call (no platform event) | 10 min | the call is ended, summary sent, `calma_calls_ended_total{reason="idle"}` |

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Process-wide counters and slots, one per server.
#[derive(Debug)]
pub struct Limits {
    sockets: Arc<Semaphore>,
    max_sockets: usize,
}

/// A WebSocket slot, held by the socket's task; released when dropped (also if the upgrade never
/// completes, because the upgrade callback that owns it is dropped).
#[derive(Debug)]
pub struct SocketSlot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Limits {
    pub fn new(max_sockets: usize) -> Limits {
        let max_sockets = max_sockets.clamp(1, Semaphore::MAX_PERMITS);
        Limits {
            sockets: Arc::new(Semaphore::new(max_sockets)),
            max_sockets,
        }
    }

    /// Take a WebSocket slot, or `None` when every slot is in use.
    pub fn socket_slot(&self) -> Option<SocketSlot> {
        self.sockets
            .clone()
            .try_acquire_owned()
            .ok()
            .map(SocketSlot)
    }

    pub fn max_sockets(&self) -> usize {
        self.max_sockets
    }
}

/// Token bucket for the segments of one call: `rate` per second, at most `rate × window` saved up
/// (a platform catching up after a hiccup may burst that much). `rate = 0` disables the limit.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32, window: Duration, now: Instant) -> RateLimiter {
        let rate = f64::from(rate_per_sec);
        let capacity = (rate * window.as_secs_f64()).max(1.0);
        RateLimiter {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Whether one more message may pass at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(20, Duration::from_secs(5), t0);
        let burst = (0..150).filter(|_| r.allow(t0)).count();
        assert_eq!(burst, 100);
        // One second later: 20 more.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..50).filter(|_| r.allow(t1)).count(), 20);
        // A long pause refills to the window, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..500).filter(|_| r.allow(t2)).count(), 100);
        // Disabled.
        let mut off = RateLimiter::new(0, Duration::from_secs(5), t0);
        assert!((0..10_000).all(|_| off.allow(t0)));
    }

    #[test]
    fn socket_slots_are_returned_when_dropped() {
        let l = Limits::new(2);
        let a = l.socket_slot().unwrap();
        let _b = l.socket_slot().unwrap();
        assert!(l.socket_slot().is_none());
        drop(a);
        assert!(l.socket_slot().is_some());
    }
}
