//! Parsing Redis's stream replies by hand, so that entries whose fields are gone (trimmed
//! while pending) come back as entries without a payload instead of failing the whole read.

use redis::Value;

use super::{EVENT_FIELD, StreamEntry, TransportError};

/// Parses an XREADGROUP reply: `nil`, or `[[stream, [[id, [field, value, …] | nil], …]]]`.
pub fn parse_read_reply(reply: Value) -> Result<Vec<StreamEntry>, TransportError> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
                _ => None,
            })
            .collect::<Vec<_>>(),
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        other => {
            return Err(TransportError::Protocol(format!(
                "XREADGROUP answered {other:?}"
            )));
        }
    };
    let mut entries = Vec::new();
    for stream_entries in streams {
        entries.extend(parse_entries(stream_entries)?);
    }
    Ok(entries)
}

/// Parses a list of entries, `[[id, [field, value, …] | nil], …]`, as XREADGROUP, XRANGE and
/// XAUTOCLAIM give them.
pub fn parse_entries(list: Value) -> Result<Vec<StreamEntry>, TransportError> {
    let Value::Array(list) = list else {
        return Ok(Vec::new());
    };
    let mut entries = Vec::with_capacity(list.len());
    for entry in list {
        let Value::Array(mut parts) = entry else {
            continue;
        };
        if parts.is_empty() {
            continue;
        }
        let fields = if parts.len() > 1 { parts.pop() } else { None };
        let id = text(parts.swap_remove(0))
            .ok_or_else(|| TransportError::Protocol("stream entry without an id".into()))?;
        entries.push(StreamEntry {
            id,
            payload: fields.and_then(event_field),
        });
    }
    Ok(entries)
}

/// The `event` field of an entry's field list.
pub fn event_field(fields: Value) -> Option<String> {
    field(fields, EVENT_FIELD)
}

/// One named field of an entry's field list (flat `[k, v, …]` or a map).
pub fn field(fields: Value, name: &str) -> Option<String> {
    let pairs: Vec<(Value, Value)> = match fields {
        Value::Array(flat) => {
            let mut pairs = Vec::new();
            let mut iter = flat.into_iter();
            while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        Value::Map(pairs) => pairs,
        _ => return None,
    };
    pairs.into_iter().find_map(|(k, v)| {
        (text(k).as_deref() == Some(name))
            .then(|| text(v))
            .flatten()
    })
}

/// A bulk or simple string as text.
pub fn text(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn an_empty_read_is_nil() {
        assert_eq!(parse_read_reply(Value::Nil).expect("parses"), vec![]);
    }

    #[test]
    fn entries_keep_their_order_and_missing_fields_show() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![bulk("event"), bulk("{}")]),
                ]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
                Value::Array(vec![
                    bulk("3-0"),
                    Value::Array(vec![bulk("other"), bulk("x")]),
                ]),
            ]),
        ])]);
        let entries = parse_read_reply(reply).expect("parses");
        assert_eq!(
            entries,
            vec![
                StreamEntry {
                    id: "1-0".into(),
                    payload: Some("{}".into())
                },
                StreamEntry {
                    id: "2-0".into(),
                    payload: None
                },
                StreamEntry {
                    id: "3-0".into(),
                    payload: None
                },
            ]
        );
    }
}
