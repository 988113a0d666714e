//! Reading vendor JSON field by field, so every error names the field's full path
//! (`Transcript.Results[0].StartTime`) and vendors' loose typing (seconds as strings, booleans
//! as strings) is accepted in one place.

use serde_json::{Map, Value};

use super::{AdapterError, Format};

/// A JSON object at `path` of a `format` message.
#[derive(Debug, Clone)]
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
    format: Format,
}

impl<'a> Obj<'a> {
    /// The message itself, which must be an object.
    pub fn root(v: &'a Value, format: Format) -> Result<Obj<'a>, AdapterError> {
        Obj::root_at(v, format, "")
    }

    /// A message nested at `path` of the body (a batch item, a decoded `data` field).
    pub fn root_at(v: &'a Value, format: Format, path: &str) -> Result<Obj<'a>, AdapterError> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_string(),
                format,
            }),
            _ if path.is_empty() => Err(AdapterError::body(
                format,
                "the message must be a JSON object",
            )),
            _ => Err(AdapterError::invalid(format, path, "must be an object")),
        }
    }

    /// Full path of key `k`.
    pub fn path(&self, k: &str) -> String {
        if self.path.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", self.path)
        }
    }

    pub fn missing(&self, k: &str, detail: &str) -> AdapterError {
        AdapterError::missing(self.format, &self.path(k), detail)
    }

    pub fn invalid(&self, k: &str, detail: &str) -> AdapterError {
        AdapterError::invalid(self.format, &self.path(k), detail)
    }

    /// The value of `k`; JSON `null` counts as absent.
    pub fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    pub fn has(&self, k: &str) -> bool {
        self.get(k).is_some()
    }

    pub fn opt_str(&self, k: &str) -> Result<Option<&'a str>, AdapterError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.invalid(k, "must be a string")),
        }
    }

    /// An id: a string, or a number as text; an empty string counts as absent (producers send
    /// `""` for "unknown", which must not beat a query parameter or fail validation later).
    pub fn opt_id(&self, k: &str) -> Result<Option<String>, AdapterError> {
        Ok(self.opt_text(k)?.filter(|s| !s.trim().is_empty()))
    }

    /// A required id ([`Self::opt_id`]).
    pub fn id(&self, k: &str) -> Result<String, AdapterError> {
        self.opt_id(k)?.ok_or_else(|| self.missing(k, "required"))
    }

    pub fn str(&self, k: &str) -> Result<&'a str, AdapterError> {
        self.opt_str(k)?.ok_or_else(|| self.missing(k, "required"))
    }

    /// A string or a number, as text (ids some producers send as numbers).
    pub fn opt_text(&self, k: &str) -> Result<Option<String>, AdapterError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(self.invalid(k, "must be a string or a number")),
        }
    }

    /// `true`/`false`, also as the strings `"true"`/`"false"`.
    pub fn opt_bool(&self, k: &str) -> Result<Option<bool>, AdapterError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(self.invalid(k, "must be true or false")),
        }
    }

    /// A non-negative number, also given as a numeric string.
    pub fn opt_number(&self, k: &str) -> Result<Option<f64>, AdapterError> {
        let n = match self.get(k) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        match n {
            Some(f) if (0.0..1e15).contains(&f) => Ok(Some(f)),
            _ => Err(self.invalid(k, "must be a non-negative number")),
        }
    }

    /// Seconds (number or string) as integer ms.
    pub fn opt_seconds_ms(&self, k: &str) -> Result<Option<u64>, AdapterError> {
        Ok(self.opt_number(k)?.map(|s| (s * 1000.0).round() as u64))
    }

    /// Milliseconds (number or string) as integer ms.
    pub fn opt_ms(&self, k: &str) -> Result<Option<u64>, AdapterError> {
        Ok(self.opt_number(k)?.map(|ms| ms.round() as u64))
    }

    /// A protobuf JSON `Duration` (`"14.020s"`) as ms.
    pub fn opt_duration_ms(&self, k: &str) -> Result<Option<u64>, AdapterError> {
        let Some(s) = self.opt_str(k)? else {
            return Ok(None);
        };
        s.strip_suffix('s')
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e12)
            .map(|f| Some((f * 1000.0).round() as u64))
            .ok_or_else(|| self.invalid(k, "must be a duration such as \"14.020s\""))
    }

    /// An RFC 3339 timestamp as Unix ms.
    pub fn opt_timestamp_ms(&self, k: &str) -> Result<Option<i64>, AdapterError> {
        let Some(s) = self.opt_str(k)? else {
            return Ok(None);
        };
        timestamp_ms(s)
            .map(Some)
            .ok_or_else(|| self.invalid(k, "must be an RFC 3339 timestamp"))
    }

    pub fn opt_obj(&self, k: &str) -> Result<Option<Obj<'a>>, AdapterError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.path(k),
                format: self.format,
            })),
            Some(_) => Err(self.invalid(k, "must be an object")),
        }
    }

    pub fn obj(&self, k: &str) -> Result<Obj<'a>, AdapterError> {
        self.opt_obj(k)?.ok_or_else(|| self.missing(k, "required"))
    }

    /// The objects of array `k` (absent: none).
    pub fn objs(&self, k: &str) -> Result<Vec<Obj<'a>>, AdapterError> {
        let items = match self.get(k) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(self.invalid(k, "must be an array")),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(map) => Ok(Obj {
                    map,
                    path: format!("{}[{i}]", self.path(k)),
                    format: self.format,
                }),
                _ => Err(AdapterError::invalid(
                    self.format,
                    &format!("{}[{i}]", self.path(k)),
                    "must be an object",
                )),
            })
            .collect()
    }

    /// The first object of array `k`, if any.
    pub fn first(&self, k: &str) -> Result<Option<Obj<'a>>, AdapterError> {
        Ok(self.objs(k)?.into_iter().next())
    }
}

/// A JSON value nested in a string or in base64 (Twilio `TranscriptionData`, Pub/Sub and
/// Kinesis `data`), decoded and parsed.
pub(crate) fn embedded_json(
    format: Format,
    field: &str,
    text: &str,
    base64: bool,
) -> Result<Value, AdapterError> {
    use base64::Engine as _;
    let bytes = if base64 {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| AdapterError::invalid(format, field, &format!("not valid base64: {e}")))?
    } else {
        text.as_bytes().to_vec()
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| AdapterError::invalid(format, field, &format!("not valid JSON: {e}")))
}

/// An RFC 3339 timestamp (`2026-11-23T10:00:14.100Z`) as Unix ms.
pub(crate) fn timestamp_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}
