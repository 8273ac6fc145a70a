//! Redis, the hand-off between ingestion and the consumer.
//!
//! Ingestion appends each event to a stream (durable, read through a consumer group) and
//! publishes the same JSON on a pub/sub channel (for live listeners), both in one round trip.
//! The consumer reads the stream through its group and acknowledges entries only after they
//! are committed to the store, so a crash between read and commit loses nothing.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Value};
use tokio::sync::OnceCell;

/// The one field of a stream entry, holding the event's JSON.
pub const EVENT_FIELD: &str = "event";

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected reply from Redis: {0}")]
    Protocol(String),
}

/// Publishes events for ingestion. Connects lazily and reconnects by itself, so ingestion
/// starts and keeps answering (503) while Redis is away.
pub struct Publisher {
    client: Client,
    connection: OnceCell<ConnectionManager>,
    stream: String,
    channel: String,
    timeout: Duration,
}

impl Publisher {
    pub fn new(
        redis_url: &str,
        stream: &str,
        channel: &str,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        Ok(Publisher {
            client: Client::open(redis_url)?,
            connection: OnceCell::new(),
            stream: stream.to_owned(),
            channel: channel.to_owned(),
            timeout,
        })
    }

    /// Appends each payload to the stream and publishes it on the channel, all in one round
    /// trip. `Ok` means Redis holds every one of them.
    pub async fn publish(&self, payloads: &[String]) -> Result<(), TransportError> {
        let mut pipe = redis::pipe();
        for payload in payloads {
            pipe.cmd("XADD")
                .arg(&self.stream)
                .arg("*")
                .arg(EVENT_FIELD)
                .arg(payload)
                .ignore();
            pipe.cmd("PUBLISH").arg(&self.channel).arg(payload).ignore();
        }
        self.within_timeout(async {
            let mut connection = self.connection().await?;
            pipe.query_async::<()>(&mut connection).await?;
            Ok(())
        })
        .await
    }

    /// Whether Redis answers a PING in time.
    pub async fn ping(&self) -> Result<(), TransportError> {
        self.within_timeout(async {
            let mut connection = self.connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await?;
            Ok(())
        })
        .await
    }

    async fn connection(&self) -> Result<ConnectionManager, TransportError> {
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(self.timeout);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(connection.clone())
    }

    async fn within_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, TransportError>>,
    ) -> Result<T, TransportError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| TransportError::Timeout(self.timeout))?
    }
}

/// One entry read from the stream. `payload` is `None` when the entry has no readable
/// `event` field (written by something else, or trimmed away while pending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: String,
    pub payload: Option<String>,
}

/// Where a group read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom<'a> {
    /// This consumer's own pending entries (delivered before, never acknowledged), after an id.
    Pending { after: &'a str },
    /// Entries never delivered to any consumer of the group.
    New,
}

/// Reads the stream through a consumer group, for the consumer.
pub struct GroupReader {
    connection: MultiplexedConnection,
    stream: String,
    group: String,
    consumer: String,
    timeout: Duration,
}

impl GroupReader {
    /// Connects and makes sure the group exists (created at id `0`, so nothing appended
    /// before it existed is skipped).
    pub async fn connect(
        redis_url: &str,
        stream: &str,
        group: &str,
        consumer: &str,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let client = Client::open(redis_url)?;
        // Blocking reads outlast any fixed response timeout, so each call sets its own.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None);
        let connection = tokio::time::timeout(
            timeout,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| TransportError::Timeout(timeout))??;
        let mut reader = GroupReader {
            connection,
            stream: stream.to_owned(),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            timeout,
        };
        reader.ensure_group().await?;
        Ok(reader)
    }

    async fn ensure_group(&mut self) -> Result<(), TransportError> {
        let mut create = redis::cmd("XGROUP");
        create
            .arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM");
        match self.run::<()>(&create, Duration::ZERO).await {
            Err(TransportError::Redis(e)) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// Reads up to `count` entries, waiting up to `block` for new ones to arrive.
    pub async fn read(
        &mut self,
        from: ReadFrom<'_>,
        count: usize,
        block: Duration,
    ) -> Result<Vec<StreamEntry>, TransportError> {
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(count.max(1));
        let start = match from {
            ReadFrom::Pending { after } => after,
            ReadFrom::New => {
                // BLOCK 0 would wait forever; keep at least a millisecond.
                read.arg("BLOCK").arg(block.as_millis().max(1) as u64);
                ">"
            }
        };
        read.arg("STREAMS").arg(&self.stream).arg(start);
        let reply: Value = self.run(&read, block).await?;
        parse_read_reply(reply)
    }

    /// Acknowledges entries once their events are committed.
    pub async fn ack(&mut self, ids: &[String]) -> Result<(), TransportError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut ack = redis::cmd("XACK");
        ack.arg(&self.stream).arg(&self.group).arg(ids);
        self.run::<i64>(&ack, Duration::ZERO).await.map(|_| ())
    }

    /// Moves an entry that cannot be stored to the dead-letter stream, with the reason, and
    /// acknowledges it so that it no longer blocks the entries behind it. Both happen in one
    /// MULTI, so the entry is never in neither place.
    pub async fn dead_letter(
        &mut self,
        dead_letter_stream: &str,
        entry: &StreamEntry,
        reason: &str,
    ) -> Result<(), TransportError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(dead_letter_stream)
            .arg("*")
            .arg(EVENT_FIELD)
            .arg(entry.payload.as_deref().unwrap_or(""))
            .arg("reason")
            .arg(reason)
            .arg("source_id")
            .arg(&entry.id)
            .ignore()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&entry.id)
            .ignore();
        let timeout = self.timeout;
        tokio::time::timeout(timeout, pipe.query_async::<()>(&mut self.connection))
            .await
            .map_err(|_| TransportError::Timeout(timeout))??;
        Ok(())
    }

    async fn run<T: redis::FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
        block: Duration,
    ) -> Result<T, TransportError> {
        let limit = self.timeout + block;
        let reply = tokio::time::timeout(limit, cmd.query_async::<T>(&mut self.connection))
            .await
            .map_err(|_| TransportError::Timeout(limit))??;
        Ok(reply)
    }
}

/// Subscribes to the channel, for `consumer --source pubsub` (at-most-once, as the original).
pub async fn subscribe(
    redis_url: &str,
    channel: &str,
) -> Result<redis::aio::PubSub, TransportError> {
    let client = Client::open(redis_url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

/// Parses an XREADGROUP reply: `nil`, or `[[stream, [[id, [field, value, …] | nil], …]]]`.
fn parse_read_reply(reply: Value) -> Result<Vec<StreamEntry>, TransportError> {
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
        let Value::Array(stream_entries) = stream_entries else {
            continue;
        };
        for entry in stream_entries {
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
    }
    Ok(entries)
}

fn event_field(fields: Value) -> Option<String> {
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
        (text(k).as_deref() == Some(EVENT_FIELD))
            .then(|| text(v))
            .flatten()
    })
}

fn text(value: Value) -> Option<String> {
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
