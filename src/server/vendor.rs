//! The `/v1/stream/{format}` hook: a platform socket whose frames are a vendor's messages,
//! translated to protocol v1 before the usual handling in `stream`. A module of its own so that
//! `stream` (which reads through it) and `ingest` (which opens such sockets) need not import each
//! other.

use std::time::Instant;

use crate::adapters::{Adapter, AdapterError};
use crate::protocol::Inbound;

/// Vendor frames in, protocol v1 messages out.
#[derive(Debug)]
pub(super) struct VendorFeed {
    adapter: Adapter,
    epoch: Instant,
}

impl VendorFeed {
    pub fn new(adapter: Adapter) -> VendorFeed {
        VendorFeed {
            adapter,
            epoch: Instant::now(),
        }
    }

    /// Protocol v1 messages for one frame (not yet validated: see [`crate::protocol::validate`]).
    pub fn translate(&mut self, frame: &[u8]) -> Result<Vec<Inbound>, AdapterError> {
        // Vendors that give no times get the arrival time on a monotonic clock.
        let arrival_ms = self.epoch.elapsed().as_millis() as u64;
        self.adapter.translate(frame, arrival_ms)
    }

    /// The call ended (or never started): the vendor's next message about it starts it afresh.
    pub fn forget(&mut self, call_id: &str) {
        self.adapter.forget(call_id);
    }
}
