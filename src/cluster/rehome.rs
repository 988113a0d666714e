//! Rebuild a call from its event log (sans-IO): the engine is deterministic on media time, so
//! feeding the logged inputs to a fresh [`Call`] gives back its state and every output it sent,
//! with the same `seq`s. The node that re-homes the call then delivers only the outputs nobody
//! has had (receivers drop `seq`s they already hold).

use std::sync::Arc;

use super::wire::CallEvent;
use crate::engine::{Call, Resources, Session};
use crate::protocol::{CallEnd, Feedback, Inbound, Outbound, Tick};

/// A call brought back from its log.
#[derive(Debug)]
pub struct Rebuilt {
    /// The running call, or `None` when the log ends with the call's end.
    pub call: Option<Call>,
    pub agent_id: String,
    /// Every output the logged inputs give, in order (`seq` 1, 2, ...).
    pub outputs: Vec<Outbound>,
    /// Events replayed (from the call's last `start`).
    pub events: usize,
}

/// Replay `events` (a call's log, oldest first) from its last `start`. `None` when the log holds
/// no start for `call_id` (never started here, or the start fell out of the bounded log).
pub fn rebuild(res: Arc<Resources>, call_id: &str, events: &[CallEvent]) -> Option<Rebuilt> {
    let from = events
        .iter()
        .rposition(|e| matches!(e, CallEvent::Start(s) if s.call_id == call_id))?;
    let mut session = Session::new(res, 1);
    let mut outputs = Vec::new();
    let mut agent_id = String::new();
    for ev in &events[from..] {
        let msg = match ev.clone() {
            CallEvent::Start(s) => {
                agent_id = s.agent_id.clone();
                Inbound::CallStart(s)
            }
            CallEvent::Segment(mut s) => {
                s.call_id = call_id.to_string();
                Inbound::Segment(s)
            }
            CallEvent::Tick { at_ms } => Inbound::Tick(Tick {
                call_id: call_id.to_string(),
                at_ms,
            }),
            CallEvent::Feedback { nudge_id, useful } => Inbound::Feedback(Feedback {
                call_id: call_id.to_string(),
                nudge_id,
                useful,
            }),
            CallEvent::End => Inbound::CallEnd(CallEnd {
                call_id: call_id.to_string(),
            }),
        };
        // Inputs the owner's engine refused are refused again, with no effect, as there.
        if let Ok(outs) = session.handle(msg) {
            outputs.extend(outs);
        }
    }
    Some(Rebuilt {
        call: session.take(call_id),
        agent_id,
        outputs,
        events: events.len() - from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{parse_inbound, ParseLimits};

    fn angry_call() -> Vec<Inbound> {
        let lines = [
            r#"{"type":"call.start","call_id":"c1","agent_id":"a1"}"#,
            r#"{"type":"segment","call_id":"c1","segment_id":"s1","speaker":"customer","text":"llevo tres semanas esperando y nadie me soluciona nada","start_ms":0,"end_ms":4000}"#,
            r#"{"type":"segment","call_id":"c1","segment_id":"s2","speaker":"agent","text":"tiene que esperar","start_ms":4500,"end_ms":6000}"#,
            r#"{"type":"segment","call_id":"c1","segment_id":"s3","speaker":"customer","text":"es una vergüenza ya se lo he dicho tres veces estoy harto","start_ms":6500,"end_ms":11000}"#,
            r#"{"type":"tick","call_id":"c1","at_ms":30000}"#,
            r#"{"type":"segment","call_id":"c1","segment_id":"s4","speaker":"agent","text":"entiendo su frustración lo reviso ahora mismo","start_ms":31000,"end_ms":34000}"#,
        ];
        lines
            .iter()
            .map(|l| parse_inbound(l, &ParseLimits::default()).unwrap())
            .collect()
    }

    fn logged(msgs: &[Inbound]) -> Vec<CallEvent> {
        msgs.iter()
            .map(|m| match m {
                Inbound::CallStart(s) => CallEvent::Start(s.clone()),
                Inbound::Segment(s) => CallEvent::Segment(s.clone()),
                Inbound::Tick(t) => CallEvent::Tick { at_ms: t.at_ms },
                Inbound::CallEnd(_) => CallEvent::End,
                other => panic!("not in the test call: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_rebuilt_call_gives_the_same_outputs_and_goes_on_the_same() {
        let res = Resources::embedded();
        let msgs = angry_call();
        let mut direct = Session::new(res.clone(), 1);
        let mut want = Vec::new();
        for m in &msgs {
            want.extend(direct.handle(m.clone()).unwrap());
        }
        assert!(want.iter().any(|o| matches!(o, Outbound::Nudge(_))));
        // Through JSON, as on the bus; an earlier call with the same id is ignored.
        let mut log = vec![CallEvent::Start(match &msgs[0] {
            Inbound::CallStart(s) => s.clone(),
            _ => unreachable!(),
        })];
        log.push(CallEvent::End);
        log.extend(logged(&msgs));
        let log: Vec<CallEvent> = log
            .iter()
            .map(|e| serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap())
            .collect();
        let r = rebuild(res.clone(), "c1", &log).unwrap();
        assert_eq!(r.outputs, want);
        assert_eq!((r.agent_id.as_str(), r.events), ("a1", msgs.len()));
        // Both copies end the same way.
        let mut call = r.call.unwrap();
        let mut original = direct.take("c1").unwrap();
        assert_eq!(
            call.on_event(crate::engine::Event::End),
            original.on_event(crate::engine::Event::End)
        );
        assert!(rebuild(res, "c2", &log).is_none());
    }
}
