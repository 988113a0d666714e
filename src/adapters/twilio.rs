//! Twilio Real-Time Transcription status callbacks (`<Start><Transcription statusCallbackUrl=…
//! partialResults="true">`): form-encoded, every value a string, `TranscriptionData` a JSON
//! string. The call id is `CallSid`.
//!
//! No id: `Final=true` closes the open utterance of the `Track`. Twilio gives no media offsets,
//! only `Timestamp`: media time 0 is the `transcription-started` event, and an utterance runs
//! from its first result's timestamp to its last (so starts come late by the first result's
//! length). `inbound_track` is the customer unless `customer_track` says otherwise.
//! `transcription-stopped` ends the call. Twilio retries callbacks: a `SequenceId` not above the
//! last one seen on its `Track` is a repeat (or too late) and is dropped. The customer id is
//! `From` (when the callback carries it).

use std::collections::HashMap;

use super::fields::{embedded_json, timestamp_ms};
use super::{AdapterError, Format, Note, Once, Rev, Settings, Speech, Step, What, When};

const FORMAT: Format = Format::Twilio;

pub fn decode(body: &[u8], s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
        AdapterError::body(
            FORMAT,
            format!("not an application/x-www-form-urlencoded body: {e}"),
        )
    })?;
    let form: HashMap<&str, &str> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let get = |k: &str| form.get(k).copied().filter(|v| !v.is_empty());
    let need = |k: &str| get(k).ok_or_else(|| AdapterError::missing(FORMAT, k, "required"));
    let event = need("TranscriptionEvent")?;
    let call_id = s.call_id(FORMAT, get("CallSid"), "CallSid")?;
    let at = match get("Timestamp") {
        Some(t) => Some(When::Wall(timestamp_ms(t).ok_or_else(|| {
            AdapterError::invalid(FORMAT, "Timestamp", "must be an RFC 3339 timestamp")
        })?)),
        None => None,
    };
    let language = get("LanguageCode");
    let once = match get("SequenceId") {
        // Per transcription (a new `<Start><Transcription>` on the call numbers afresh) and
        // per track.
        Some(n) => vec![Once::Seq {
            track: format!(
                "{}/{}",
                get("TranscriptionSid").unwrap_or_default(),
                get("Track").unwrap_or_default()
            ),
            seq: n.trim().parse().map_err(|_| {
                AdapterError::invalid(FORMAT, "SequenceId", "must be a whole number")
            })?,
        }],
        None => Vec::new(),
    };
    let what = match event {
        "transcription-started" => What::Start { agent_id: None, at },
        "transcription-stopped" => What::End,
        "transcription-content" => {
            let track = need("Track")?;
            let data = embedded_json(
                FORMAT,
                "TranscriptionData",
                need("TranscriptionData")?,
                false,
            )?;
            let text = match data.get("transcript") {
                Some(serde_json::Value::String(t)) => t.clone(),
                None => String::new(),
                Some(_) => {
                    return Err(AdapterError::invalid(
                        FORMAT,
                        "TranscriptionData.transcript",
                        "must be a string",
                    ))
                }
            };
            let is_final = match get("Final") {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => {
                    return Err(AdapterError::invalid(
                        FORMAT,
                        "Final",
                        "must be \"true\" or \"false\"",
                    ))
                }
            };
            let role = super::pair_role(
                s.customer_track.as_deref(),
                track,
                "inbound_track",
                "outbound_track",
            );
            What::Speech(Speech {
                role,
                channel: track.to_string(),
                text,
                rev: Rev::Open(if is_final { Step::Final } else { Step::Interim }),
                start: at,
                end: at,
            })
        }
        // transcription-error: Twilio stops transcribing; the call ends on its stop event or
        // idle expiry.
        _ => return Ok(Vec::new()),
    };
    Ok(vec![Note::new(&call_id, what)
        .language(language)
        .customer(get("From").filter(|f| !f.trim().is_empty()))
        .once(once)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::Role;

    const CONTENT: &str = "TranscriptionEvent=transcription-content&AccountSid=AC1&CallSid=CA9\
        &TranscriptionSid=GT1&Timestamp=2026-11-23T10%3A00%3A14.100Z&SequenceId=17\
        &LanguageCode=es-ES&Track=outbound_track&Final=false&Stability=0.6\
        &TranscriptionData=%7B%22transcript%22%3A%22llevo+una+hora%22%2C%22confidence%22%3A0.91%7D";

    #[test]
    fn a_form_callback_is_read() {
        let n = decode(CONTENT.as_bytes(), &Settings::default()).unwrap();
        assert_eq!(n[0].call_id, "CA9");
        let What::Speech(sp) = &n[0].what else {
            panic!()
        };
        assert_eq!((sp.role, sp.text.as_str()), (Role::Agent, "llevo una hora"));
        let s = Settings {
            customer_track: Some("outbound_track".into()),
            ..Settings::default()
        };
        let What::Speech(sp) = &decode(CONTENT.as_bytes(), &s).unwrap()[0].what else {
            panic!()
        };
        assert_eq!(sp.role, Role::Customer);
    }

    #[test]
    fn broken_transcription_data_is_named() {
        let body = CONTENT.replace("%7B%22transcript", "%7Btranscript");
        let e = decode(body.as_bytes(), &Settings::default()).unwrap_err();
        assert_eq!(e.field, "TranscriptionData");
        let e = decode(b"CallSid=CA1", &Settings::default()).unwrap_err();
        assert_eq!(e.field, "TranscriptionEvent");
    }
}
