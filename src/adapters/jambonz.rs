//! jambonz `transcribe` verb `transcriptionHook` bodies: an HTTP POST, or over the jambonz
//! WebSocket API a `verb:hook` message with the body in `data`. The call id is `call_sid`.
//!
//! No id: `speech.is_final` closes the open utterance of `speech.channel_tag`. jambonz gives no
//! offsets of its own; when the raw vendor event (`speech.vendor.evt`) has Deepgram's `start`
//! and `duration` they time the utterance, otherwise arrival time does. Channel tag 1 (the
//! A-leg: the caller of an inbound call) is the customer and 2 (the dialled B-leg) the agent,
//! unless `customer_channel` says otherwise. A call-status body with `call_status`
//! `completed` (or `failed`, `busy`, `no-answer`) ends the call. jambonz retries a hook that
//! failed; without an id, a repeated final is recognised by its vendor time (a final no later
//! than the channel's last one is a repeat) and a late hypothesis after its final is dropped.
//! The customer id is `from` (the caller) on inbound calls and `to` on outbound ones.

use serde_json::Value;

use super::{AdapterError, Format, Note, Obj, Rev, Settings, Speech, Step, What, When};

const FORMAT: Format = Format::Jambonz;

pub fn decode(v: &Value, s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let root = Obj::root(v, FORMAT)?;
    let body = match root.opt_str("type")? {
        Some("verb:hook") | Some("call:status") => root.obj("data")?,
        _ => root.clone(),
    };
    let sid = match body.opt_id("call_sid")? {
        Some(sid) => Some(sid),
        None => root.opt_id("call_sid")?,
    };
    let call_id = s.call_id(FORMAT, sid.as_deref(), &body.path("call_sid"))?;
    let customer = match body.opt_str("direction")? {
        Some("outbound") => body.opt_id("to")?,
        _ => body.opt_id("from")?,
    };
    let Some(speech) = body.opt_obj("speech")? else {
        let ended = matches!(
            body.opt_str("call_status")?,
            Some("completed" | "failed" | "busy" | "no-answer")
        );
        let what = if ended {
            What::End
        } else if body.has("speechEvent") {
            return Ok(Vec::new());
        } else {
            What::Start {
                agent_id: None,
                at: None,
            }
        };
        return Ok(vec![Note::new(&call_id, what).customer(customer.as_deref())]);
    };
    let channel = speech
        .opt_text("channel_tag")?
        .unwrap_or_else(|| "1".to_string());
    let text = match speech.first("alternatives")? {
        Some(a) => a.opt_str("transcript")?.unwrap_or_default(),
        None => "",
    };
    let (start, end) = vendor_times(&speech)?;
    let step = if speech.opt_bool("is_final")?.unwrap_or(false) {
        Step::Final
    } else {
        Step::Interim
    };
    Ok(vec![Note::new(
        &call_id,
        What::Speech(Speech {
            role: s.pair_role(&channel, "1", "2"),
            channel,
            text: text.to_string(),
            rev: Rev::Open(step),
            start,
            end,
        }),
    )
    .language(speech.opt_str("language_code")?)
    .customer(customer.as_deref())])
}

/// Deepgram's `start`/`duration` (seconds) from the raw vendor event, when it has them.
fn vendor_times(speech: &Obj<'_>) -> Result<(Option<When>, Option<When>), AdapterError> {
    let Some(evt) = speech
        .opt_obj("vendor")?
        .map(|v| v.opt_obj("evt"))
        .transpose()?
        .flatten()
    else {
        return Ok((None, None));
    };
    let Some(start) = evt.opt_seconds_ms("start")? else {
        return Ok((None, None));
    };
    let end = start + evt.opt_seconds_ms("duration")?.unwrap_or(0);
    Ok((Some(When::Media(start)), Some(When::Media(end))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::Role;
    use serde_json::json;

    #[test]
    fn hook_bodies_and_ws_messages_read_alike() {
        let body = json!({"call_sid":"aad0","direction":"inbound","call_status":"in-progress",
            "speech":{"language_code":"es-ES","channel_tag":2,"is_final":false,
            "alternatives":[{"confidence":0.91,"transcript":"un momento"}],
            "vendor":{"name":"deepgram","evt":{"type":"Results","start":12.34,"duration":0.5}}}});
        let ws = json!({"type":"verb:hook","msgid":"m1","hook":"/transcript","call_sid":"aad0","data":body.clone()});
        let a = decode(&body, &Settings::default()).unwrap();
        assert_eq!(a, decode(&ws, &Settings::default()).unwrap());
        let What::Speech(sp) = &a[0].what else {
            panic!()
        };
        assert_eq!(
            (sp.role, sp.start, sp.end),
            (
                Role::Agent,
                Some(When::Media(12340)),
                Some(When::Media(12840))
            )
        );
    }

    #[test]
    fn completed_status_ends_the_call() {
        let n = decode(
            &json!({"call_sid":"x","call_status":"completed"}),
            &Settings::default(),
        )
        .unwrap();
        assert_eq!(n[0].what, What::End);
        let e = decode(&json!({"speech":{"is_final":true}}), &Settings::default()).unwrap_err();
        assert_eq!(e.field, "call_sid");
    }
}
