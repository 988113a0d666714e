//! Genesys Cloud `v2.conversations.{id}.transcription` notifications, as a notification relay
//! forwards them: with the envelope (`topicName`, `eventBody`, `metadata`) or the bare body.
//!
//! Replace-by-id on `utteranceId` with `isFinal`; times are integer ms (`offsetMs`,
//! `durationMs` of the first alternative). `channel` `EXTERNAL` is the customer and `INTERNAL`
//! the agent (`customer_channel` overrides); `BOTH`/`UNKNOWN` are kept out. A body without
//! transcripts (the session heartbeat) starts the call; `status.status` `SESSION_ENDED` ends it.
//! Genesys batches results (about 35 s late), so nudges from this feed arrive late.

use serde_json::Value;

use super::{AdapterError, Format, Note, Obj, Rev, Settings, Speech, What, When};

const FORMAT: Format = Format::Genesys;

pub fn decode(v: &Value, s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let root = Obj::root(v, FORMAT)?;
    let topic_id = match root.opt_str("topicName")? {
        None => None,
        Some(topic) => match transcription_topic(topic) {
            Some(id) => Some(id),
            // Another topic on the same channel (`channel.metadata` heartbeats, conversation
            // events): not a transcript, and no call of its own.
            None => return Ok(Vec::new()),
        },
    };
    let body = root.opt_obj("eventBody")?.unwrap_or(root);
    let payload_id = body.opt_id("conversationId")?;
    let payload_id = payload_id.as_deref().or(topic_id);
    let call_id = s.call_id(FORMAT, payload_id, &body.path("conversationId"))?;
    let customer = customer_id(&body)?;
    let ended = match body.opt_obj("status")? {
        Some(st) => st.opt_str("status")? == Some("SESSION_ENDED"),
        None => false,
    };
    let transcripts = body.objs("transcripts")?;
    let mut notes = Vec::new();
    if transcripts.is_empty() && !ended {
        notes.push(Note::new(
            &call_id,
            What::Start {
                agent_id: None,
                at: None,
            },
        ));
    }
    for t in transcripts {
        let id = t.id("utteranceId")?;
        let channel = t.str("channel")?;
        let Some(alt) = t.first("alternatives")? else {
            continue;
        };
        let start = alt
            .opt_ms("offsetMs")?
            .ok_or_else(|| alt.missing("offsetMs", "required"))?;
        let end = start + alt.opt_ms("durationMs")?.unwrap_or(0);
        let language = t.opt_str("dialect")?;
        notes.push(
            Note::new(
                &call_id,
                What::Speech(Speech {
                    role: s.pair_role(channel, "EXTERNAL", "INTERNAL"),
                    channel: channel.to_string(),
                    text: alt.str("transcript")?.to_string(),
                    rev: Rev::Replace {
                        id,
                        is_final: t.opt_bool("isFinal")?.unwrap_or(true),
                    },
                    start: Some(When::Media(start)),
                    end: Some(When::Media(end)),
                }),
            )
            .language(language),
        );
    }
    if ended {
        notes.push(Note::new(&call_id, What::End));
    }
    Ok(notes
        .into_iter()
        .map(|n| n.customer(customer.as_deref()))
        .collect())
}

/// The conversation id of a `v2.conversations.{id}.transcription` topic; `None` for any other.
fn transcription_topic(topic: &str) -> Option<&str> {
    topic
        .strip_prefix("v2.conversations.")?
        .strip_suffix(".transcription")
        .filter(|id| !id.is_empty() && !id.contains('.'))
}

/// The caller's ANI where a relay adds it (`ani`, or `participant.ani` as in AudioHook's
/// `open`); the transcription topic itself documents none.
fn customer_id(body: &Obj<'_>) -> Result<Option<String>, AdapterError> {
    if let Some(ani) = body.opt_id("ani")? {
        return Ok(Some(ani));
    }
    match body.opt_obj("participant")? {
        Some(p) => p.opt_id("ani"),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::Role;
    use serde_json::json;

    #[test]
    fn envelope_and_bare_bodies_read_alike() {
        let body = json!({"conversationId":"conv-9","transcripts":[{"utteranceId":"utt-5","isFinal":true,
            "channel":"EXTERNAL","alternatives":[{"offsetMs":12340,"durationMs":1680,
            "transcript":"llevo una hora esperando"}],"dialect":"es-ES"}],
            "status":{"offsetMs":50000,"status":"SESSION_ONGOING"}});
        let env = json!({"topicName":"v2.conversations.conv-9.transcription","version":"2",
            "eventBody":body.clone(),"metadata":{"CorrelationId":"x"}});
        let a = decode(&body, &Settings::default()).unwrap();
        assert_eq!(a, decode(&env, &Settings::default()).unwrap());
        let What::Speech(sp) = &a[0].what else {
            panic!()
        };
        assert_eq!(
            (sp.role, sp.end),
            (Role::Customer, Some(When::Media(14020)))
        );
    }

    #[test]
    fn session_end_ends_and_both_is_kept_out() {
        let v = json!({"conversationId":"c","transcripts":[{"utteranceId":"u","channel":"BOTH",
            "alternatives":[{"offsetMs":1,"transcript":"x"}]}],"status":{"status":"SESSION_ENDED"}});
        let n = decode(&v, &Settings::default()).unwrap();
        let What::Speech(sp) = &n[0].what else {
            panic!()
        };
        assert_eq!(sp.role, Role::Other);
        assert_eq!(n[1].what, What::End);
    }

    #[test]
    fn other_topics_are_ignored_and_start_no_call() {
        let heartbeat =
            json!({"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}});
        assert_eq!(decode(&heartbeat, &Settings::default()).unwrap(), vec![]);
        let other = json!({"topicName":"v2.conversations.conv-9.participants",
            "eventBody":{"conversationId":"conv-9","participants":[]}});
        assert_eq!(decode(&other, &Settings::default()).unwrap(), vec![]);
        let ani = json!({"topicName":"v2.conversations.conv-9.transcription",
            "eventBody":{"conversationId":"conv-9","participant":{"ani":"tel:+34600111222"}}});
        let n = decode(&ani, &Settings::default()).unwrap();
        assert_eq!(n[0].customer_id.as_deref(), Some("tel:+34600111222"));
    }
}
