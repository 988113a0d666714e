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
    let topic_id = root
        .opt_str("topicName")?
        .and_then(|t| t.strip_prefix("v2.conversations."))
        .and_then(|t| t.strip_suffix(".transcription"));
    let body = root.opt_obj("eventBody")?.unwrap_or(root);
    let payload_id = body.opt_str("conversationId")?.or(topic_id);
    let call_id = s.call_id(FORMAT, payload_id, &body.path("conversationId"))?;
    let ended = match body.opt_obj("status")? {
        Some(st) => st.opt_str("status")? == Some("SESSION_ENDED"),
        None => false,
    };
    let transcripts = body.objs("transcripts")?;
    let mut notes = Vec::new();
    if transcripts.is_empty() && !ended {
        notes.push(Note {
            call_id: call_id.clone(),
            language: None,
            what: What::Start {
                agent_id: None,
                at: None,
            },
        });
    }
    for t in transcripts {
        let id = t.str("utteranceId")?;
        let channel = t.str("channel")?;
        let Some(alt) = t.first("alternatives")? else {
            continue;
        };
        let start = alt
            .opt_ms("offsetMs")?
            .ok_or_else(|| alt.missing("offsetMs", "required"))?;
        let end = start + alt.opt_ms("durationMs")?.unwrap_or(0);
        notes.push(Note {
            call_id: call_id.clone(),
            language: t.opt_str("dialect")?.map(str::to_string),
            what: What::Speech(Speech {
                role: s.pair_role(channel, "EXTERNAL", "INTERNAL"),
                channel: channel.to_string(),
                text: alt.str("transcript")?.to_string(),
                rev: Rev::Replace {
                    id: id.to_string(),
                    is_final: t.opt_bool("isFinal")?.unwrap_or(true),
                },
                start: Some(When::Media(start)),
                end: Some(When::Media(end)),
            }),
        });
    }
    if ended {
        notes.push(Note {
            call_id,
            language: None,
            what: What::End,
        });
    }
    Ok(notes)
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
}
