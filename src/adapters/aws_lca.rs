//! AWS Live Call Analytics Kinesis records: `START`, `ADD_TRANSCRIPT_SEGMENT`, `END`.
//!
//! A body is one record, an array of records, or a Lambda Kinesis event (`Records[].kinesis.data`
//! in base64). A segment record has flat fields (`SegmentId`, `Channel` or `IsCaller`, `StartTime`
//! / `EndTime` in seconds as number or string, or `BeginOffsetMillis` / `EndOffsetMillis`,
//! `Transcript`, `IsPartial`) or embeds a Transcribe `TranscriptEvent` or `UtteranceEvent`.
//! Replace-by-id on `SegmentId` (`<Channel>-<start>` when absent). `Channel` `CALLER` is the
//! customer and `AGENT` the agent; `AGENT_ASSISTANT`, `CATEGORY_MATCH` and the voice-tone
//! channels are not speech of either party.

use serde_json::Value;

use super::fields::embedded_json;
use super::{aws_transcribe, AdapterError, Format, Note, Obj, Rev, Settings, Speech, What, When};

const FORMAT: Format = Format::AwsLca;

pub fn decode(v: &Value, s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let mut notes = Vec::new();
    match v {
        Value::Array(records) => {
            for (i, r) in records.iter().enumerate() {
                notes.extend(record(&Obj::root_at(r, FORMAT, &format!("[{i}]"))?, s)?);
            }
        }
        _ => {
            let root = Obj::root(v, FORMAT)?;
            if root.has("Records") {
                for r in root.objs("Records")? {
                    let k = r.obj("kinesis")?;
                    let field = k.path("data");
                    let inner = embedded_json(FORMAT, &field, k.str("data")?, true)?;
                    notes.extend(record(&Obj::root_at(&inner, FORMAT, &field)?, s)?);
                }
            } else {
                notes.extend(record(&root, s)?);
            }
        }
    }
    Ok(notes)
}

fn record(r: &Obj<'_>, s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let event = r.str("EventType")?;
    let call_id = s.call_id(FORMAT, r.opt_id("CallId")?.as_deref(), &r.path("CallId"))?;
    let customer = r.opt_id("CustomerPhoneNumber")?;
    let note = |what| Note::new(&call_id, what).customer(customer.as_deref());
    Ok(match event {
        "START" => vec![note(What::Start {
            agent_id: r.opt_id("AgentId")?,
            at: None,
        })],
        "END" => vec![note(What::End)],
        "ADD_TRANSCRIPT_SEGMENT" => {
            let notes: Vec<Note> = if let Some(te) = r.opt_obj("TranscriptEvent")? {
                // The embedded event names Transcribe's channels: `CALLER` is `ch_0`.
                let mut ts = s.clone();
                ts.customer_channel = s.customer_channel.as_deref().map(|c| {
                    if c.eq_ignore_ascii_case("AGENT") {
                        "ch_1"
                    } else {
                        "ch_0"
                    }
                    .to_string()
                });
                aws_transcribe::transcript_event(&te, &call_id, &ts)?
            } else if let Some(ue) = r.opt_obj("UtteranceEvent")? {
                aws_transcribe::utterance_event(&ue, &call_id)?
                    .into_iter()
                    .collect()
            } else {
                flat_segment(r, &call_id, s)?.into_iter().collect()
            };
            notes
                .into_iter()
                .map(|n| n.customer(customer.as_deref()))
                .collect()
        }
        // UPDATE_AGENT, ADD_S3_RECORDING_URL, ADD_CALL_CATEGORY: nothing to analyse.
        _ => Vec::new(),
    })
}

fn flat_segment(r: &Obj<'_>, call_id: &str, s: &Settings) -> Result<Option<Note>, AdapterError> {
    let channel = match (r.opt_str("Channel")?, r.opt_bool("IsCaller")?) {
        (Some(c), _) => c.to_string(),
        (None, Some(true)) => "CALLER".to_string(),
        (None, Some(false)) => "AGENT".to_string(),
        (None, None) => return Err(r.missing("Channel", "required (or `IsCaller`)")),
    };
    let start = match r.opt_seconds_ms("StartTime")? {
        Some(ms) => ms,
        None => r
            .opt_ms("BeginOffsetMillis")?
            .ok_or_else(|| r.missing("StartTime", "required (or `BeginOffsetMillis`)"))?,
    };
    let end = match r.opt_seconds_ms("EndTime")? {
        Some(ms) => ms,
        None => r.opt_ms("EndOffsetMillis")?.unwrap_or(start),
    };
    let text = r.str("Transcript")?;
    let is_final = !r.opt_bool("IsPartial")?.unwrap_or(false);
    if text.trim().is_empty() && !is_final {
        return Ok(None);
    }
    let id = match r.opt_id("SegmentId")? {
        Some(id) => id,
        None => format!("{channel}-{start}"),
    };
    Ok(Some(Note::new(
        call_id,
        What::Speech(Speech {
            role: s.pair_role(&channel, "CALLER", "AGENT"),
            channel,
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
    use crate::adapters::Role;
    use serde_json::json;

    #[test]
    fn string_seconds_and_batches_are_read() {
        let v = json!([
            {"EventType":"START","CallId":"c-9","AgentId":"a-1"},
            {"EventType":"ADD_TRANSCRIPT_SEGMENT","CallId":"c-9","Channel":"CALLER","SegmentId":"ch_0-27.42",
             "StartTime":"27.42","EndTime":"29.1","Transcript":"no funciona","IsPartial":false},
            {"EventType":"ADD_TRANSCRIPT_SEGMENT","CallId":"c-9","Channel":"AGENT_ASSISTANT",
             "StartTime":30,"EndTime":31,"Transcript":"sugerencia"},
            {"EventType":"END","CallId":"c-9"}]);
        let n = decode(&v, &Settings::default()).unwrap();
        assert_eq!(n.len(), 4);
        let What::Speech(sp) = &n[1].what else {
            panic!()
        };
        assert_eq!(
            (sp.start, sp.end, sp.role),
            (
                Some(When::Media(27420)),
                Some(When::Media(29100)),
                Role::Customer
            )
        );
        let What::Speech(bot) = &n[2].what else {
            panic!()
        };
        assert_eq!(bot.role, Role::Other);
        assert_eq!(n[3].what, What::End);
    }

    #[test]
    fn kinesis_lambda_events_are_unwrapped() {
        use base64::Engine as _;
        let rec = json!({"EventType":"ADD_TRANSCRIPT_SEGMENT","CallId":"c-2","IsCaller":false,
            "BeginOffsetMillis":1000,"EndOffsetMillis":2000,"Transcript":"buenas tardes"});
        let data = base64::engine::general_purpose::STANDARD.encode(rec.to_string());
        let v = json!({"Records":[{"kinesis":{"partitionKey":"c-2","data":data}}]});
        let n = decode(&v, &Settings::default()).unwrap();
        let What::Speech(sp) = &n[0].what else {
            panic!()
        };
        assert_eq!((n[0].call_id.as_str(), sp.role), ("c-2", Role::Agent));
    }

    #[test]
    fn a_record_without_a_transcript_names_it() {
        let v = json!([{"EventType":"ADD_TRANSCRIPT_SEGMENT","CallId":"c","Channel":"CALLER","StartTime":1}]);
        let e = decode(&v, &Settings::default()).unwrap_err();
        assert_eq!(e.field, "[0].Transcript");
    }
}
