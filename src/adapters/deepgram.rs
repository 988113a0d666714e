//! Deepgram live streaming `Results` (and `UtteranceEnd`), relayed one call per connection:
//! the `call_id` query parameter names the call.
//!
//! No id: the open utterance of a channel is keyed by `channel_index[0]`; interim hypotheses
//! (`is_final:false`) revise it, `is_final:true` chunks are appended to it, and `speech_final`
//! (or `UtteranceEnd`) closes it. Times are seconds (`start`, `duration`). Channel 0 is the
//! customer and 1 the agent unless `customer_channel` says otherwise.

use serde_json::Value;

use super::{AdapterError, Format, Note, Obj, Rev, Role, Settings, Speech, Step, What, When};

const FORMAT: Format = Format::Deepgram;

pub fn decode(v: &Value, s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let root = Obj::root(v, FORMAT)?;
    let kind = root.str("type")?;
    if kind != "Results" && kind != "UtteranceEnd" {
        // Metadata, SpeechStarted: nothing to analyse.
        return Ok(Vec::new());
    }
    let call_id = s.call_id(FORMAT, None, "call_id")?;
    if kind == "UtteranceEnd" {
        let channel = channel(&root, "channel")?;
        // Diarized: every speaker's open utterance on the channel ends.
        let keys: Vec<String> = match s.customer_speaker {
            None => vec![channel.clone()],
            Some(_) => (0..MAX_SPEAKERS)
                .map(|n| format!("{channel}/{n}"))
                .collect(),
        };
        return Ok(keys
            .into_iter()
            .map(|key| {
                Note::new(
                    &call_id,
                    What::Speech(Speech {
                        role: s.pair_role(&channel, "0", "1"),
                        channel: key,
                        text: String::new(),
                        rev: Rev::Close,
                        start: None,
                        end: None,
                    }),
                )
            })
            .collect());
    }
    let channel = channel(&root, "channel_index")?;
    let alt = root
        .obj("channel")?
        .first("alternatives")?
        .ok_or_else(|| root.missing("channel.alternatives", "at least one alternative"))?;
    let text = alt.str("transcript")?;
    let language = match alt.get("languages").and_then(Value::as_array) {
        Some(l) => l.first().and_then(Value::as_str).map(str::to_string),
        None => None,
    };
    let start = root
        .opt_seconds_ms("start")?
        .ok_or_else(|| root.missing("start", "required"))?;
    let end = start + root.opt_seconds_ms("duration")?.unwrap_or(0);
    let step = if root.opt_bool("speech_final")?.unwrap_or(false) {
        Step::Final
    } else if root.opt_bool("is_final")?.unwrap_or(false) {
        Step::Commit
    } else {
        Step::Interim
    };
    let (role, key) = match s.customer_speaker {
        None => (s.pair_role(&channel, "0", "1"), channel),
        Some(customer) => {
            // Diarized mono: who spoke is the speaker most of the words carry; each speaker
            // has their own open utterance.
            let n = speaker(&alt)?;
            let role = match n {
                Some(n) if n == customer => Role::Customer,
                Some(_) => Role::Agent,
                None => Role::Other,
            };
            (role, format!("{channel}/{}", n.unwrap_or(u32::MAX)))
        }
    };
    Ok(vec![Note::new(
        &call_id,
        What::Speech(Speech {
            role,
            channel: key,
            text: text.to_string(),
            rev: Rev::Open(step),
            start: Some(When::Media(start)),
            end: Some(When::Media(end)),
        }),
    )
    .language(language.as_deref())])
}

/// Speakers of one diarized channel that get an open utterance of their own.
const MAX_SPEAKERS: u32 = 8;

/// The `speaker` most words of an alternative carry (`None`: no word has one).
fn speaker(alt: &Obj<'_>) -> Result<Option<u32>, AdapterError> {
    let mut counts = [0usize; MAX_SPEAKERS as usize];
    for w in alt.objs("words")? {
        if let Some(n) = w.opt_number("speaker")? {
            let n = n as usize;
            if n < counts.len() {
                counts[n] += 1;
            }
        }
    }
    let best = (0..counts.len()).max_by_key(|&i| (counts[i], std::cmp::Reverse(i)));
    Ok(best.filter(|&i| counts[i] > 0).map(|i| i as u32))
}

/// `[channel, total_channels]` → the channel as text (absent: mono, channel 0).
fn channel(o: &Obj<'_>, k: &str) -> Result<String, AdapterError> {
    match o.get(k) {
        None => Ok("0".to_string()),
        Some(Value::Array(a)) => a
            .first()
            .and_then(Value::as_u64)
            .map(|c| c.to_string())
            .ok_or_else(|| o.invalid(k, "must be [channel, total_channels]")),
        Some(_) => Err(o.invalid(k, "must be [channel, total_channels]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::Role;
    use serde_json::json;

    fn s() -> Settings {
        Settings {
            call_id: Some("c".into()),
            ..Settings::default()
        }
    }

    #[test]
    fn chunks_and_endpoints_map_to_steps() {
        let r = |f: bool, sf: bool| {
            json!({"type":"Results","channel_index":[1,2],"duration":1.68,
            "start":12.34,"is_final":f,"speech_final":sf,
            "channel":{"alternatives":[{"transcript":"vale","confidence":0.9,"languages":["es"]}]}})
        };
        let step = |v| match &decode(&v, &s()).unwrap()[0].what {
            What::Speech(sp) => (sp.rev.clone(), sp.role, sp.end),
            _ => panic!(),
        };
        assert_eq!(
            step(r(false, false)),
            (
                Rev::Open(Step::Interim),
                Role::Agent,
                Some(When::Media(14020))
            )
        );
        assert_eq!(step(r(true, false)).0, Rev::Open(Step::Commit));
        assert_eq!(step(r(true, true)).0, Rev::Open(Step::Final));
        let custom = Settings {
            customer_channel: Some("1".into()),
            ..s()
        };
        let What::Speech(sp) = &decode(&r(true, true), &custom).unwrap()[0].what else {
            panic!()
        };
        assert_eq!(sp.role, Role::Customer);
    }

    #[test]
    fn needs_a_call_id_and_names_bad_fields() {
        let v = json!({"type":"Results","start":1,"channel":{"alternatives":[{"transcript":"x"}]}});
        assert_eq!(
            decode(&v, &Settings::default()).unwrap_err().field,
            "call_id"
        );
        let v =
            json!({"type":"Results","start":-1,"channel":{"alternatives":[{"transcript":"x"}]}});
        assert_eq!(decode(&v, &s()).unwrap_err().field, "start");
    }

    #[test]
    fn diarized_mono_maps_the_customer_speaker() {
        let r = |speaker: u32| {
            json!({"type":"Results","channel_index":[0,1],"duration":1.0,"start":2.0,
            "is_final":true,"speech_final":true,"channel":{"alternatives":[{"transcript":"vale ya",
            "words":[{"word":"vale","start":2.0,"end":2.4,"speaker":speaker},
                     {"word":"ya","start":2.5,"end":2.9,"speaker":speaker}]}]}})
        };
        let diarized = Settings {
            customer_speaker: Some(1),
            ..s()
        };
        let who = |v, s: &Settings| match &decode(&v, s).unwrap()[0].what {
            What::Speech(sp) => (sp.role, sp.channel.clone()),
            _ => panic!(),
        };
        assert_eq!(who(r(1), &diarized), (Role::Customer, "0/1".into()));
        assert_eq!(who(r(0), &diarized), (Role::Agent, "0/0".into()));
        // Without it, mono channel 0 is the customer whoever speaks.
        assert_eq!(who(r(0), &s()).0, Role::Customer);
        let end = json!({"type":"UtteranceEnd","channel":[0,1],"last_word_end":2.9});
        assert_eq!(
            decode(&end, &diarized).unwrap().len(),
            MAX_SPEAKERS as usize
        );
    }
}
