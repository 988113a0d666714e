//! NATS subjects of a cluster, versioned and keyed by tenant first.
//!
//! Tenant, call and agent ids are untrusted input: each becomes one subject token through
//! [`token`], which keeps `[A-Za-z0-9_-]` and writes every other byte as `~XX` (hex), so no id
//! can add a token (`.`), a wildcard (`*`, `>`) or whitespace, and two ids never share a token.
//!
//! | subject | what |
//! |---|---|
//! | `calma.v1.{tenant}.call.{call}.events` | the call's engine inputs (JetStream, bounded) |
//! | `calma.v1.{tenant}.call.{call}.ctl.release` | request: the node holding the call lets it go |
//! | `calma.v1.{tenant}.call.{call}.ctl.feedback` | request: agent feedback for the node holding the call |
//! | `calma.v1.{tenant}.out.agent.{agent}` | an output of a call of that agent |
//! | `calma.v1.{tenant}.out.board` | supervisor-board events (call started, moved, final segment, ended) |
//! | `calma.nodes.v1.{node}` | a node's heartbeat (no tenant data) |

/// Every subject starts with this (the wire version of the cluster, not of protocol v1).
pub const PREFIX: &str = "calma.v1";

/// The JetStream subjects of every call's event log.
pub const ALL_EVENTS: &str = "calma.v1.*.call.*.events";

/// What every node subscribes to: outputs and board events of every tenant.
pub const ALL_OUT: &str = "calma.v1.*.out.>";

/// Every node's heartbeat.
pub const ALL_NODES: &str = "calma.nodes.v1.*";

pub fn node_alive(node: &str) -> String {
    format!("calma.nodes.v1.{}", token(node))
}

/// One subject token for an untrusted id: injective, never empty, never a wildcard.
pub fn token(id: &str) -> String {
    if id.is_empty() {
        return "~".to_string();
    }
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push('~');
            out.push_str(&format!("{b:02X}"));
        }
    }
    out
}

/// The id a [`token`] came from; `None` for anything `token` never produces.
pub fn untoken(t: &str) -> Option<String> {
    if t == "~" {
        return Some(String::new());
    }
    let b = t.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'~' {
            let hex = t.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub fn call_events(tenant: &str, call_id: &str) -> String {
    format!("{PREFIX}.{}.call.{}.events", token(tenant), token(call_id))
}

/// A request to the node holding a call: `what` is `release` or `feedback` ([`CTL_RELEASE`],
/// [`CTL_FEEDBACK`]); `*` for the holder's subscription.
pub fn call_ctl(tenant: &str, call_id: &str, what: &str) -> String {
    format!(
        "{PREFIX}.{}.call.{}.ctl.{what}",
        token(tenant),
        token(call_id)
    )
}

pub const CTL_RELEASE: &str = "release";
pub const CTL_FEEDBACK: &str = "feedback";

pub fn agent_out(tenant: &str, agent_id: &str) -> String {
    format!("{PREFIX}.{}.out.agent.{}", token(tenant), token(agent_id))
}

pub fn board_out(tenant: &str) -> String {
    format!("{PREFIX}.{}.out.board", token(tenant))
}

/// The tenant named by a subject under [`PREFIX`] (its third token).
pub fn tenant_of(subject: &str) -> Option<String> {
    let rest = subject.strip_prefix(PREFIX)?.strip_prefix('.')?;
    untoken(rest.split('.').next()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_stay_one_token_and_come_back() {
        for id in [
            "acme", "", "a.b", "*", ">", "a b", "~", "~2E", "ñandú", "x\ty\n", "a.*.>",
        ] {
            let t = token(id);
            assert!(!t.is_empty());
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'~'),
                "{id:?} → {t}"
            );
            assert_eq!(untoken(&t).as_deref(), Some(id));
        }
        // Ids that differ only in an escaped byte never share a subject.
        assert_ne!(token("a.b"), token("a~2Eb"));
        assert_ne!(token("a b"), token("a_b"));
        assert_eq!(untoken("~Z1"), None);
        assert_eq!(untoken("~4"), None);
    }

    #[test]
    fn subjects_are_keyed_by_tenant_first() {
        let s = call_events("acme.*", "c 1");
        assert_eq!(s, "calma.v1.acme~2E~2A.call.c~201.events");
        assert_eq!(tenant_of(&s).as_deref(), Some("acme.*"));
        assert_eq!(tenant_of(&agent_out("t", "a.1")).as_deref(), Some("t"));
        assert_eq!(board_out("t"), "calma.v1.t.out.board");
        assert_eq!(tenant_of("other.v1.t.out.board"), None);
    }
}
