//! Google Agent Assist (CCAI) conversation events, as a Pub/Sub push subscription delivers
//! them: `{"message":{"data":<base64 ConversationEvent>,"attributes",...},"subscription"}`.
//!
//! `CONVERSATION_STARTED` starts the call (its `publishTime` is media time 0),
//! `CONVERSATION_FINISHED` ends it. `NEW_MESSAGE` (the new-message topic) is the final of an
//! utterance, timed by `sendTime` (start) and `createTime`; `NEW_RECOGNITION_RESULT` (the
//! intermediate-transcript topic) revises the speaker's open utterance, timed by the Pub/Sub
//! `publishTime`. All times are wall clock: the recognition offsets count from the start of
//! the audio stream, which is not the conversation's start, and mixing both clocks in one
//! utterance would misplace it. Pub/Sub delivers at least once: a repeated `messageId` (per
//! subscription) or `NEW_MESSAGE` `name` is dropped. The recognition payload names no participant: its role is
//! read from the message attribute `participant_role` (unverified), and results without one are
//! skipped. `END_USER` is the customer, `HUMAN_AGENT` the agent; `AUTOMATED_AGENT` is kept out.
//! The call id is the last segment of the conversation name.

use serde_json::Value;

use super::fields::embedded_json;
use super::{AdapterError, Format, Note, Obj, Once, Rev, Role, Settings, Speech, Step, What, When};

const FORMAT: Format = Format::GoogleCcai;

pub fn decode(v: &Value, s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let root = Obj::root(v, FORMAT)?;
    let message = root.obj("message")?;
    let field = message.path("data");
    let event = embedded_json(FORMAT, &field, message.str("data")?, true)?;
    let ev = Obj::root_at(&event, FORMAT, &field)?;
    let conversation = ev.str("conversation")?;
    let last = conversation
        .rsplit('/')
        .next()
        .filter(|c| !c.trim().is_empty());
    let call_id = s.call_id(FORMAT, last, &ev.path("conversation"))?;
    let published = message.opt_timestamp_ms("publishTime")?.map(When::Wall);
    let mut once = Vec::new();
    if let Some(id) = message.opt_id("messageId")? {
        let sub = root.opt_str("subscription")?.unwrap_or_default();
        once.push(Once::Id(format!("pubsub:{sub}:{id}")));
    }
    let note = |language: Option<&str>, what| {
        Note::new(&call_id, what)
            .language(language)
            .once(once.clone())
    };
    let notes = match ev.str("type")? {
        "CONVERSATION_STARTED" => vec![note(
            None,
            What::Start {
                agent_id: None,
                at: published,
            },
        )],
        "CONVERSATION_FINISHED" => vec![note(None, What::End)],
        "NEW_MESSAGE" => {
            let p = ev.obj("newMessagePayload")?;
            let who = p.str("participantRole")?;
            let start = p.opt_timestamp_ms("sendTime")?;
            let end = p.opt_timestamp_ms("createTime")?.or(start);
            let mut n = note(
                p.opt_str("languageCode")?,
                What::Speech(Speech {
                    role: role(who),
                    channel: who.to_string(),
                    text: p.str("content")?.to_string(),
                    rev: Rev::Open(Step::Final),
                    start: start.map(When::Wall),
                    end: end.map(When::Wall),
                }),
            );
            if let Some(name) = p.opt_id("name")? {
                n.once.push(Once::Id(format!("message:{name}")));
            }
            vec![n]
        }
        "NEW_RECOGNITION_RESULT" => {
            let p = ev.obj("newRecognitionResultPayload")?;
            let kind = p.opt_str("messageType")?.unwrap_or("TRANSCRIPT");
            let attrs = message.opt_obj("attributes")?;
            let who = match &attrs {
                Some(a) => match a.opt_str("participant_role")? {
                    Some(r) => Some(r),
                    None => a.opt_str("participantRole")?,
                },
                None => None,
            };
            let (Some(who), "TRANSCRIPT") = (who, kind) else {
                return Ok(Vec::new());
            };
            // Checked, though not used for time (see the module comment).
            p.opt_duration_ms("speechEndOffset")?;
            // Finals come as NEW_MESSAGE: a recognition result only revises the utterance.
            vec![note(
                p.opt_str("languageCode")?,
                What::Speech(Speech {
                    role: role(who),
                    channel: who.to_string(),
                    text: p.str("transcript")?.to_string(),
                    rev: Rev::Open(Step::Interim),
                    start: published,
                    end: published,
                }),
            )]
        }
        _ => Vec::new(),
    };
    Ok(notes)
}

fn role(r: &str) -> Role {
    match r {
        "END_USER" => Role::Customer,
        "HUMAN_AGENT" => Role::Agent,
        _ => Role::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    fn push(event: Value, attrs: Value) -> Value {
        let data = base64::engine::general_purpose::STANDARD.encode(event.to_string());
        json!({"message":{"data":data,"messageId":"1","publishTime":"2026-11-23T10:00:00Z",
            "attributes":attrs},"subscription":"projects/p/subscriptions/calma"})
    }

    #[test]
    fn new_message_is_a_final_of_its_role() {
        let ev = json!({"conversation":"projects/p/locations/global/conversations/c1","type":"NEW_MESSAGE",
            "newMessagePayload":{"name":"projects/p/locations/global/conversations/c1/messages/m7",
            "content":"llevo una hora esperando","languageCode":"es-ES","participantRole":"END_USER",
            "createTime":"2026-11-23T10:00:14.300Z","sendTime":"2026-11-23T10:00:12.340Z"}});
        let n = decode(&push(ev, json!({})), &Settings::default()).unwrap();
        assert_eq!(n[0].call_id, "c1");
        let What::Speech(sp) = &n[0].what else {
            panic!()
        };
        assert_eq!(
            (sp.role, &sp.rev),
            (Role::Customer, &Rev::Open(Step::Final))
        );
    }

    #[test]
    fn recognition_results_need_a_role_attribute() {
        let ev = json!({"conversation":"projects/p/conversations/c1","type":"NEW_RECOGNITION_RESULT",
            "newRecognitionResultPayload":{"messageType":"TRANSCRIPT","transcript":"llevo","isFinal":false,
            "speechEndOffset":"12.900s","speechWordInfo":[{"word":"llevo","startOffset":"12.340s","endOffset":"12.900s"}]}});
        assert!(decode(&push(ev.clone(), json!({})), &Settings::default())
            .unwrap()
            .is_empty());
        let n = decode(
            &push(ev, json!({"participant_role":"HUMAN_AGENT"})),
            &Settings::default(),
        )
        .unwrap();
        let What::Speech(sp) = &n[0].what else {
            panic!()
        };
        // Wall clock (the push's publishTime), like the finals: not the audio offsets.
        let at = Some(When::Wall(1_795_428_000_000));
        assert_eq!((sp.role, sp.start, sp.end), (Role::Agent, at, at));
        assert_eq!(
            n[0].once,
            vec![Once::Id("pubsub:projects/p/subscriptions/calma:1".into())]
        );
    }

    #[test]
    fn bad_base64_names_the_data_field() {
        let v = json!({"message":{"data":"%%%"}});
        assert_eq!(
            decode(&v, &Settings::default()).unwrap_err().field,
            "message.data"
        );
    }
}
