//! Quotas: calls per process and per tenant, platform connections per tenant, agent and
//! supervisor sockets per principal, so that one greedy tenant or token cannot take what the
//! others need. Each reservation is a guard that gives its unit back when dropped; a refusal is
//! a typed error whose `quota` field names the quota that was hit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::protocol::{ErrorCode, ProtocolError};

/// The configured quotas (see `Options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Calls the process carries at once, parked calls included.
    pub calls_per_process: usize,
    /// Calls one tenant carries at once, parked calls included.
    pub calls_per_tenant: usize,
    /// Platform connections (`/v1/stream`) one tenant holds at once.
    pub connections_per_tenant: usize,
    /// Agent-panel and supervisor sockets one token holder (tenant, role, subject) holds at once.
    pub sockets_per_principal: usize,
}

#[derive(Debug, Default)]
struct TenantUse {
    calls: usize,
    connections: usize,
}

/// A principal: its tenant, then role and subject.
type PrincipalKey = (Arc<str>, String);

#[derive(Debug, Default)]
struct Usage {
    calls: usize,
    tenants: HashMap<Arc<str>, TenantUse>,
    principals: HashMap<PrincipalKey, usize>,
}

impl Usage {
    fn release_tenant(&mut self, tenant: &str, f: impl FnOnce(&mut TenantUse)) {
        if let Some(u) = self.tenants.get_mut(tenant) {
            f(u);
            if u.calls == 0 && u.connections == 0 {
                self.tenants.remove(tenant);
            }
        }
    }
}

/// What every tenant and principal holds now.
#[derive(Debug)]
pub struct Quotas {
    limits: QuotaLimits,
    usage: Arc<Mutex<Usage>>,
}

/// One call of a tenant; held by whatever carries the call (its connection, or the parking).
#[derive(Debug)]
pub struct CallSlot {
    usage: Arc<Mutex<Usage>>,
    tenant: Arc<str>,
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        let mut u = lock(&self.usage);
        u.calls = u.calls.saturating_sub(1);
        u.release_tenant(&self.tenant, |t| t.calls = t.calls.saturating_sub(1));
    }
}

/// One platform connection of a tenant.
#[derive(Debug)]
pub struct ConnectionSlot {
    usage: Arc<Mutex<Usage>>,
    tenant: Arc<str>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        lock(&self.usage).release_tenant(&self.tenant, |t| {
            t.connections = t.connections.saturating_sub(1)
        });
    }
}

/// One agent or supervisor socket of a principal (`None` in dev mode: no principals there).
#[derive(Debug)]
pub struct PrincipalSlot {
    held: Option<(Arc<Mutex<Usage>>, PrincipalKey)>,
}

impl Drop for PrincipalSlot {
    fn drop(&mut self) {
        if let Some((usage, key)) = self.held.take() {
            let mut u = lock(&usage);
            if let Some(n) = u.principals.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    u.principals.remove(&key);
                }
            }
        }
    }
}

fn refused(code: ErrorCode, quota: &str, message: String) -> ProtocolError {
    ProtocolError::new(code, message).with_quota(quota)
}

impl Quotas {
    pub fn new(limits: QuotaLimits) -> Quotas {
        Quotas {
            limits: QuotaLimits {
                calls_per_process: limits.calls_per_process.max(1),
                calls_per_tenant: limits.calls_per_tenant.max(1),
                connections_per_tenant: limits.connections_per_tenant.max(1),
                sockets_per_principal: limits.sockets_per_principal.max(1),
            },
            usage: Arc::new(Mutex::new(Usage::default())),
        }
    }

    pub fn limits(&self) -> QuotaLimits {
        self.limits
    }

    /// A call for `tenant`, or `too_many_calls` naming `calls_per_process` or `calls_per_tenant`.
    pub fn reserve_call(&self, tenant: &Arc<str>) -> Result<CallSlot, ProtocolError> {
        let mut u = lock(&self.usage);
        let max = self.limits.calls_per_process;
        // (A refusal below leaves no empty tenant entry: an entry at its quota holds calls.)
        if u.calls >= max {
            return Err(refused(
                ErrorCode::TooManyCalls,
                "calls_per_process",
                format!("the server carries {max} calls (its limit); retry later or elsewhere"),
            ));
        }
        let max = self.limits.calls_per_tenant;
        let of_tenant = u.tenants.entry(tenant.clone()).or_default();
        if of_tenant.calls >= max {
            return Err(refused(
                ErrorCode::TooManyCalls,
                "calls_per_tenant",
                format!("tenant `{tenant}` carries {max} calls, its quota (calls_per_tenant); end calls or retry later"),
            ));
        }
        of_tenant.calls += 1;
        u.calls += 1;
        Ok(CallSlot {
            usage: self.usage.clone(),
            tenant: tenant.clone(),
        })
    }

    /// A platform connection for `tenant`, or `too_many_connections` naming
    /// `connections_per_tenant`.
    pub fn reserve_connection(&self, tenant: &Arc<str>) -> Result<ConnectionSlot, ProtocolError> {
        let mut u = lock(&self.usage);
        let max = self.limits.connections_per_tenant;
        let of_tenant = u.tenants.entry(tenant.clone()).or_default();
        if of_tenant.connections >= max {
            return Err(refused(
                ErrorCode::TooManyConnections,
                "connections_per_tenant",
                format!("tenant `{tenant}` holds {max} platform connections, its quota (connections_per_tenant)"),
            ));
        }
        of_tenant.connections += 1;
        Ok(ConnectionSlot {
            usage: self.usage.clone(),
            tenant: tenant.clone(),
        })
    }

    /// A socket for the principal `who` (tenant, then role and subject), or
    /// `too_many_connections` naming `sockets_per_principal`. `None` (dev mode) is not counted.
    pub fn reserve_socket(
        &self,
        who: Option<(&Arc<str>, &str)>,
    ) -> Result<PrincipalSlot, ProtocolError> {
        let Some((tenant, principal)) = who else {
            return Ok(PrincipalSlot { held: None });
        };
        let key = (tenant.clone(), principal.to_string());
        let mut u = lock(&self.usage);
        let max = self.limits.sockets_per_principal;
        let n = u.principals.entry(key.clone()).or_default();
        if *n >= max {
            return Err(refused(
                ErrorCode::TooManyConnections,
                "sockets_per_principal",
                format!("`{principal}` holds {max} sockets, its quota (sockets_per_principal); close one first"),
            ));
        }
        *n += 1;
        Ok(PrincipalSlot {
            held: Some((self.usage.clone(), key)),
        })
    }

    /// Calls carried now (parked calls included).
    pub fn active_calls(&self) -> usize {
        lock(&self.usage).calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas() -> Quotas {
        Quotas::new(QuotaLimits {
            calls_per_process: 3,
            calls_per_tenant: 2,
            connections_per_tenant: 1,
            sockets_per_principal: 1,
        })
    }

    #[test]
    fn a_tenant_at_its_quota_leaves_room_for_others_until_the_process_is_full() {
        let q = quotas();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("acme"), Arc::from("globex"));
        let a1 = q.reserve_call(&a).unwrap();
        let _a2 = q.reserve_call(&a).unwrap();
        let e = q.reserve_call(&a).unwrap_err();
        assert_eq!(
            (e.code, e.quota.as_deref()),
            (ErrorCode::TooManyCalls, Some("calls_per_tenant"))
        );
        let _b1 = q.reserve_call(&b).unwrap();
        let e = q.reserve_call(&b).unwrap_err();
        assert_eq!(e.quota.as_deref(), Some("calls_per_process"));
        drop(a1);
        assert_eq!(q.active_calls(), 2);
        assert!(q.reserve_call(&b).is_ok());
    }

    #[test]
    fn connections_and_sockets_are_given_back() {
        let q = quotas();
        let a: Arc<str> = Arc::from("acme");
        let c = q.reserve_connection(&a).unwrap();
        assert_eq!(
            q.reserve_connection(&a).unwrap_err().quota.as_deref(),
            Some("connections_per_tenant")
        );
        assert!(q.reserve_connection(&Arc::from("globex")).is_ok());
        drop(c);
        assert!(q.reserve_connection(&a).is_ok());

        let s = q.reserve_socket(Some((&a, "agent:a-1"))).unwrap();
        let e = q.reserve_socket(Some((&a, "agent:a-1"))).unwrap_err();
        assert_eq!(e.quota.as_deref(), Some("sockets_per_principal"));
        assert!(q.reserve_socket(Some((&a, "agent:a-2"))).is_ok());
        assert!(q.reserve_socket(None).is_ok() && q.reserve_socket(None).is_ok());
        drop(s);
        assert!(q.reserve_socket(Some((&a, "agent:a-1"))).is_ok());
    }
}
