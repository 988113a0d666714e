//! Amazon Transcribe streaming: `TranscriptEvent` JSON as the SDKs serialise it (bare or under
//! `TranscriptEvent`), and Transcribe Call Analytics `UtteranceEvent`. Replace-by-id partials.
//!
//! Times are seconds (Double) for `TranscriptEvent`, integer ms for `UtteranceEvent`. Roles:
//! `ChannelId` `ch_0` is the customer and `ch_1` the agent (the LCA convention; override with
//! `customer_channel`); `ParticipantRole` `CUSTOMER`/`AGENT`. Transcribe carries no call id, so
//! the `call_id` query parameter names the call.

use serde_json::Value;

use super::{AdapterError, Format, Note, Obj, Rev, Role, Settings, Speech, What, When};

const FORMAT: Format = Format::AwsTranscribe;

pub fn decode(v: &Value, s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let root = Obj::root(v, FORMAT)?;
    let call_id = s.call_id(FORMAT, None, "call_id")?;
    if let Some(u) = root.opt_obj("UtteranceEvent")? {
        return Ok(utterance_event(&u, &call_id)?.into_iter().collect());
    }
    let ev = root.opt_obj("TranscriptEvent")?.unwrap_or(root);
    transcript_event(&ev, &call_id, s)
}

/// The results of a `TranscriptEvent` (also embedded in LCA records).
pub(crate) fn transcript_event(
    ev: &Obj<'_>,
    call_id: &str,
    s: &Settings,
) -> Result<Vec<Note>, AdapterError> {
    let mut notes = Vec::new();
    for r in ev.obj("Transcript")?.objs("Results")? {
        let channel = r.opt_str("ChannelId")?.ok_or_else(|| {
            r.missing(
                "ChannelId",
                "required: turn on channel identification (customer and agent on separate channels)",
            )
        })?;
        let start = r
            .opt_seconds_ms("StartTime")?
            .ok_or_else(|| r.missing("StartTime", "required"))?;
        let end = r.opt_seconds_ms("EndTime")?.unwrap_or(start);
        let is_final = !r.opt_bool("IsPartial")?.unwrap_or(false);
        let text = match r.first("Alternatives")? {
            Some(a) => a.opt_str("Transcript")?.unwrap_or_default(),
            None => "",
        };
        if text.trim().is_empty() && !is_final {
            continue;
        }
        let id = match r.opt_id("ResultId")? {
            Some(id) => id,
            None => format!("{channel}-{start}"),
        };
        let language = r.opt_str("LanguageCode")?;
        notes.push(
            Note::new(
                call_id,
                What::Speech(Speech {
                    role: s.pair_role(channel, "ch_0", "ch_1"),
                    channel: channel.to_string(),
                    text: text.to_string(),
                    rev: Rev::Replace { id, is_final },
                    start: Some(When::Media(start)),
                    end: Some(When::Media(end)),
                }),
            )
            .language(language),
        );
    }
    Ok(notes)
}

/// A Transcribe Call Analytics `UtteranceEvent` (also embedded in LCA records).
pub(crate) fn utterance_event(u: &Obj<'_>, call_id: &str) -> Result<Option<Note>, AdapterError> {
    let id = u.id("UtteranceId")?;
    let channel = u.str("ParticipantRole")?;
    let role = match channel {
        "CUSTOMER" => Role::Customer,
        "AGENT" => Role::Agent,
        _ => Role::Other,
    };
    let start = u
        .opt_ms("BeginOffsetMillis")?
        .ok_or_else(|| u.missing("BeginOffsetMillis", "required"))?;
    let end = u.opt_ms("EndOffsetMillis")?.unwrap_or(start);
    let is_final = !u.opt_bool("IsPartial")?.unwrap_or(false);
    let text = u.opt_str("Transcript")?.unwrap_or_default();
    if text.trim().is_empty() && !is_final {
        return Ok(None);
    }
    Ok(Some(Note::new(
        call_id,
        What::Speech(Speech {
            role,
            channel: channel.to_string(),
            text: text.to_string(),
            rev: Rev::Replace { id, is_final },
            start: Some(When::Media(start)),
            end: Some(When::Media(end)),
        }),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Settings {
        Settings {
            call_id: Some("c-1".into()),
            ..Settings::default()
        }
    }

    #[test]
    fn a_partial_result_becomes_a_segment_revision_in_ms() {
        let v = json!({"Transcript":{"Results":[{"ResultId":"r-1","StartTime":12.34,"EndTime":14.02,
            "IsPartial":true,"ChannelId":"ch_0","LanguageCode":"es-ES",
            "Alternatives":[{"Transcript":"llevo una hora esperando","Items":[]}]}]}});
        let n = decode(&v, &settings()).unwrap();
        let What::Speech(sp) = &n[0].what else {
            panic!()
        };
        assert_eq!(sp.role, Role::Customer);
        assert_eq!(
            (sp.start, sp.end),
            (Some(When::Media(12340)), Some(When::Media(14020)))
        );
        assert_eq!(
            sp.rev,
            Rev::Replace {
                id: "r-1".into(),
                is_final: false
            }
        );
    }

    #[test]
    fn customer_channel_override_swaps_roles() {
        let v = json!({"TranscriptEvent":{"Transcript":{"Results":[{"ResultId":"r","StartTime":1,
            "EndTime":2,"IsPartial":false,"ChannelId":"ch_0","Alternatives":[{"Transcript":"hola"}]}]}}});
        let s = Settings {
            customer_channel: Some("ch_1".into()),
            ..settings()
        };
        let What::Speech(sp) = &decode(&v, &s).unwrap()[0].what else {
            panic!()
        };
        assert_eq!(sp.role, Role::Agent);
    }

    #[test]
    fn errors_name_the_field() {
        let v = json!({"Transcript":{"Results":[{"StartTime":"soon","ChannelId":"ch_0"}]}});
        let e = decode(&v, &settings()).unwrap_err();
        assert_eq!(e.field, "Transcript.Results[0].StartTime");
        let v = json!({"Transcript":{"Results":[{"StartTime":1.0}]}});
        assert_eq!(
            decode(&v, &settings()).unwrap_err().field,
            "Transcript.Results[0].ChannelId"
        );
        let e = decode(&json!({"Transcript":{}}), &Settings::default()).unwrap_err();
        assert_eq!(e.field, "call_id");
    }
}
