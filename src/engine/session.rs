//! A session: the calls multiplexed on one platform connection (or one replay file, or one batch
//! request). Routes protocol messages to their [`Call`] by `call_id` and refuses what does not fit
//! with typed errors; still sans-IO.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Call, Event, Resources};
use crate::protocol::{ErrorCode, Inbound, Outbound, ProtocolError};

/// Calls carried by one connection.
#[derive(Debug)]
pub struct Session {
    res: Arc<Resources>,
    calls: BTreeMap<String, Call>,
    max_calls: usize,
}

impl Session {
    pub fn new(res: Arc<Resources>, max_calls: usize) -> Session {
        Session {
            res,
            calls: BTreeMap::new(),
            max_calls,
        }
    }

    /// Resources for calls started from now on (running calls keep theirs).
    pub fn set_resources(&mut self, res: Arc<Resources>) {
        self.res = res;
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.calls.values()
    }

    pub fn call(&self, call_id: &str) -> Option<&Call> {
        self.calls.get(call_id)
    }

    /// Handle one inbound message. Errors concern only that message; the session goes on.
    pub fn handle(&mut self, msg: Inbound) -> Result<Vec<Outbound>, ProtocolError> {
        match msg {
            Inbound::CallStart(start) => {
                if self.calls.contains_key(&start.call_id) {
                    return Err(ProtocolError::new(
                        ErrorCode::DuplicateCall,
                        format!(
                            "call {} is already running on this connection",
                            start.call_id
                        ),
                    )
                    .for_call(&start.call_id));
                }
                if self.calls.len() >= self.max_calls {
                    return Err(ProtocolError::new(
                        ErrorCode::TooManyCalls,
                        format!(
                            "this connection already carries {} calls (the limit)",
                            self.max_calls
                        ),
                    )
                    .for_call(&start.call_id));
                }
                let call = Call::new(&start, self.res.clone());
                self.calls.insert(start.call_id.clone(), call);
                Ok(Vec::new())
            }
            Inbound::Segment(seg) => {
                let call = self.get(&seg.call_id)?;
                // A revision of a segment is the same utterance: another speaker is a mistake,
                // not a correction.
                if let Some(was) = call.speaker_of(&seg.segment_id) {
                    if was != seg.speaker {
                        return Err(ProtocolError::new(
                            ErrorCode::InvalidField,
                            format!(
                                "segment {} was spoken by the {}; a revision cannot change `speaker`",
                                seg.segment_id,
                                was.as_str()
                            ),
                        )
                        .for_call(&seg.call_id));
                    }
                }
                Ok(call.on_event(Event::Segment(seg)))
            }
            Inbound::Tick(t) => {
                let call = self.get(&t.call_id)?;
                Ok(call.on_event(Event::Tick { at_ms: t.at_ms }))
            }
            Inbound::Feedback(f) => {
                let call = self.get(&f.call_id)?;
                call.feedback(f.nudge_id, f.useful)
            }
            Inbound::CallEnd(e) => {
                let mut call = self
                    .calls
                    .remove(&e.call_id)
                    .ok_or_else(|| unknown(&e.call_id))?;
                Ok(call.on_event(Event::End))
            }
            Inbound::CallResume(r) | Inbound::Resume(r) => Err(ProtocolError::new(
                ErrorCode::NotAllowedHere,
                "resuming is handled by the live server, not by a session",
            )
            .for_call(r.call_id)),
        }
    }

    /// Take a running call out of the session (it goes on elsewhere: parked for a resume, or
    /// handed to another connection). No output: the call is not ended.
    pub fn take(&mut self, call_id: &str) -> Option<Call> {
        self.calls.remove(call_id)
    }

    /// Whether a running call `call_id` from another session may join this one (not already
    /// here, under the call limit).
    pub fn can_adopt(&self, call_id: &str) -> Result<(), ProtocolError> {
        if self.calls.contains_key(call_id) {
            return Err(ProtocolError::new(
                ErrorCode::DuplicateCall,
                format!("call {call_id} is already running on this connection"),
            )
            .for_call(call_id));
        }
        if self.calls.len() >= self.max_calls {
            return Err(ProtocolError::new(
                ErrorCode::TooManyCalls,
                format!(
                    "this connection already carries {} calls (the limit)",
                    self.max_calls
                ),
            )
            .for_call(call_id));
        }
        Ok(())
    }

    /// Adopt a running call taken from another session (check [`Session::can_adopt`] first).
    pub fn adopt(&mut self, call: Call) {
        self.calls.insert(call.call_id().to_string(), call);
    }

    /// Feed an event straight to a call (the server's wall-clock ticks).
    pub fn event(&mut self, call_id: &str, ev: Event) -> Result<Vec<Outbound>, ProtocolError> {
        let ending = matches!(ev, Event::End);
        let out = self.get(call_id)?.on_event(ev);
        if ending {
            self.calls.remove(call_id);
        }
        Ok(out)
    }

    /// End every call still open (end of file, shutdown, connection lost), in call-id order.
    pub fn end_all(&mut self) -> Vec<Outbound> {
        let calls = std::mem::take(&mut self.calls);
        calls
            .into_values()
            .flat_map(|mut c| c.on_event(Event::End))
            .collect()
    }

    fn get(&mut self, call_id: &str) -> Result<&mut Call, ProtocolError> {
        self.calls.get_mut(call_id).ok_or_else(|| unknown(call_id))
    }
}

fn unknown(call_id: &str) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::UnknownCall,
        format!("no call `{call_id}` on this connection: send call.start first"),
    )
    .for_call(call_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{parse_inbound, ParseLimits};

    fn msg(json: serde_json::Value) -> Inbound {
        parse_inbound(&json.to_string(), &ParseLimits::default()).unwrap()
    }

    fn seg(id: &str, speaker: &str, text: &str, is_final: bool) -> Inbound {
        msg(
            serde_json::json!({"type":"segment","call_id":"c1","segment_id":id,
            "speaker":speaker,"text":text,"start_ms":0,"end_ms":2000,"final":is_final}),
        )
    }

    fn session() -> Session {
        let mut s = Session::new(Resources::embedded(), 4);
        s.handle(msg(
            serde_json::json!({"type":"call.start","call_id":"c1","agent_id":"a1"}),
        ))
        .unwrap();
        s
    }

    #[test]
    fn a_revision_cannot_change_its_speaker() {
        let mut s = session();
        s.handle(seg("s1", "customer", "llevo tres", false))
            .unwrap();
        // The final of the same segment, same speaker: a revision.
        s.handle(seg("s1", "customer", "llevo tres semanas", true))
            .unwrap();
        for is_final in [false, true] {
            let e = s
                .handle(seg("s1", "agent", "llevo tres semanas", is_final))
                .unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidField);
            assert_eq!(e.call_id.as_deref(), Some("c1"));
            assert!(e.message.contains("speaker"), "{}", e.message);
        }
        // Another id with the other speaker is fine.
        s.handle(seg("s2", "agent", "lo siento mucho", true))
            .unwrap();
    }

    #[test]
    fn feedback_needs_a_nudge_the_call_sent() {
        let mut s = session();
        let e = s
            .handle(msg(serde_json::json!({"type":"feedback","call_id":"c1",
                "nudge_id":"n-invented","useful":true})))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownNudge);
        let summary = s.end_all();
        let Some(Outbound::Summary(sum)) = summary.last() else {
            panic!("{summary:?}")
        };
        assert_eq!(sum.feedback.useful, 0);
    }
}
