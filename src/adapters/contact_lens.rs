//! Amazon Connect Contact Lens real-time contact analysis segment stream (voice), as a Kinesis
//! consumer posts it: one event, or a Lambda Kinesis event (`Records[].kinesis.data`, base64).
//!
//! Append-fragments-then-final: each `Utterance` carries a new piece (`PartialContent`) of the
//! utterance `TranscriptId`; the `Transcript` with that `Id` is its final text. Offsets are
//! integer ms from the start of the contact. `STARTED` starts the call, `COMPLETED`/`FAILED`
//! end it. `ParticipantRole` `CUSTOMER`/`AGENT`; `SUPERVISOR` (barge-in), `SYSTEM` and
//! `CUSTOM_BOT` are third parties.

use serde_json::Value;

use super::fields::embedded_json;
use super::{AdapterError, Format, Note, Obj, Rev, Role, Settings, Speech, What, When};

const FORMAT: Format = Format::ContactLens;

pub fn decode(v: &Value, s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let root = Obj::root(v, FORMAT)?;
    if !root.has("Records") {
        return event(&root, s);
    }
    let mut notes = Vec::new();
    for r in root.objs("Records")? {
        let k = r.obj("kinesis")?;
        let field = k.path("data");
        let inner = embedded_json(FORMAT, &field, k.str("data")?, true)?;
        notes.extend(event(&Obj::root_at(&inner, FORMAT, &field)?, s)?);
    }
    Ok(notes)
}

/// The customer's id from contact attributes, where a contact flow put one (the segment stream
/// documents none: `Attributes` / `ContactAttributes` keys `CustomerId`, `customer_id` or
/// `CustomerPhoneNumber` are read when present).
fn customer_id(e: &Obj<'_>) -> Result<Option<String>, AdapterError> {
    for map in ["Attributes", "ContactAttributes"] {
        let Some(a) = e.opt_obj(map)? else {
            continue;
        };
        for k in ["CustomerId", "customer_id", "CustomerPhoneNumber"] {
            if let Some(c) = a.opt_id(k)? {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

fn role(r: &str) -> Role {
    match r {
        "CUSTOMER" => Role::Customer,
        "AGENT" => Role::Agent,
        _ => Role::Other,
    }
}

fn event(e: &Obj<'_>, s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let kind = e.str("EventType")?;
    if e.opt_str("Channel")?.is_some_and(|c| c != "VOICE") {
        return Ok(Vec::new());
    }
    let call_id = s.call_id(
        FORMAT,
        e.opt_id("ContactId")?.as_deref(),
        &e.path("ContactId"),
    )?;
    let language = e.opt_str("LanguageCode")?;
    let customer = customer_id(e)?;
    let note = |what| {
        Note::new(&call_id, what)
            .language(language)
            .customer(customer.as_deref())
    };
    match kind {
        "STARTED" => {
            return Ok(vec![note(What::Start {
                agent_id: None,
                at: None,
            })])
        }
        "COMPLETED" | "FAILED" => return Ok(vec![note(What::End)]),
        "SEGMENTS" => {}
        _ => return Ok(Vec::new()),
    }
    let mut notes = Vec::new();
    for seg in e.objs("Segments")? {
        let (part, text_key, rev) = if let Some(u) = seg.opt_obj("Utterance")? {
            let id = match u.opt_id("TranscriptId")? {
                Some(id) => id,
                None => u.id("Id")?,
            };
            let rev = Rev::Fragment { id };
            (u, "PartialContent", rev)
        } else if let Some(t) = seg.opt_obj("Transcript")? {
            let rev = Rev::Replace {
                id: t.id("Id")?,
                is_final: true,
            };
            (t, "Content", rev)
        } else {
            // Categories, Issues, PostContactSummary: not transcript.
            continue;
        };
        let who = part.str("ParticipantRole")?;
        let start = part
            .opt_ms("BeginOffsetMillis")?
            .ok_or_else(|| part.missing("BeginOffsetMillis", "required"))?;
        let end = part.opt_ms("EndOffsetMillis")?.unwrap_or(start);
        notes.push(note(What::Speech(Speech {
            role: role(who),
            channel: who.to_string(),
            text: part.str(text_key)?.to_string(),
            rev,
            start: Some(When::Media(start)),
            end: Some(When::Media(end)),
        })));
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fragments_then_final_and_a_supervisor_kept_out() {
        let v = json!({"Version":"1.0.0","Channel":"VOICE","ContactId":"c-42","LanguageCode":"es-ES",
          "EventType":"SEGMENTS","Segments":[
            {"Utterance":{"Id":"u-1","TranscriptId":"t-7","ParticipantRole":"CUSTOMER",
              "PartialContent":"llevo una hora","BeginOffsetMillis":12340,"EndOffsetMillis":13100}},
            {"Transcript":{"Id":"t-7","ParticipantRole":"CUSTOMER","Content":"Llevo una hora esperando.",
              "BeginOffsetMillis":12340,"EndOffsetMillis":14020,"Sentiment":"NEGATIVE"}},
            {"Transcript":{"Id":"t-8","ParticipantRole":"SUPERVISOR","Content":"hola",
              "BeginOffsetMillis":15000,"EndOffsetMillis":15500}},
            {"Categories":{"MatchedCategories":["espera_larga"]}}]});
        let n = decode(&v, &Settings::default()).unwrap();
        assert_eq!(n.len(), 3);
        let What::Speech(a) = &n[0].what else {
            panic!()
        };
        assert_eq!(a.rev, Rev::Fragment { id: "t-7".into() });
        let What::Speech(sup) = &n[2].what else {
            panic!()
        };
        assert_eq!(sup.role, Role::Other);
        assert_eq!(n[0].language.as_deref(), Some("es-ES"));
    }

    #[test]
    fn a_fragment_without_offsets_names_the_field() {
        let v = json!({"ContactId":"c","EventType":"SEGMENTS","Segments":[
            {"Utterance":{"TranscriptId":"t","ParticipantRole":"AGENT","PartialContent":"vale"}}]});
        let e = decode(&v, &Settings::default()).unwrap_err();
        assert_eq!(e.field, "Segments[0].Utterance.BeginOffsetMillis");
    }
}
