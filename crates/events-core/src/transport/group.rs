//! The consumer's side of Redis: reading the stream through a consumer group, acknowledging
//! after commit, claiming entries a dead consumer left pending, trimming what the group has
//! acknowledged, and moving poison entries to the dead-letter stream.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Value};

use super::reply::{parse_entries, parse_read_reply, text};
use super::{EVENT_FIELD, StreamEntry, TransportError};

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

    /// Takes over entries that have been pending on any consumer of the group for at least
    /// `min_idle` (their consumer died), scanning the pending list from `cursor`. Returns the
    /// cursor to continue from (`0-0` once the whole list was scanned) and the entries, now
    /// pending on this consumer.
    pub async fn claim_idle(
        &mut self,
        min_idle: Duration,
        cursor: &str,
        count: usize,
    ) -> Result<(String, Vec<StreamEntry>), TransportError> {
        let mut claim = redis::cmd("XAUTOCLAIM");
        claim
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(cursor)
            .arg("COUNT")
            .arg(count.max(1));
        let reply: Value = self.run(&claim, Duration::ZERO).await?;
        // [next-cursor, [entries…], [deleted ids…]]; deleted ids leave the pending list by
        // themselves.
        let Value::Array(mut parts) = reply else {
            return Err(TransportError::Protocol(format!(
                "XAUTOCLAIM answered {reply:?}"
            )));
        };
        if parts.len() < 2 {
            return Err(TransportError::Protocol(
                "XAUTOCLAIM answered too little".into(),
            ));
        }
        let entries = parse_entries(parts.swap_remove(1))?;
        let next = text(parts.swap_remove(0))
            .ok_or_else(|| TransportError::Protocol("XAUTOCLAIM without a cursor".into()))?;
        Ok((next, entries))
    }

    /// How many times each of this consumer's pending entries between `first` and `last` has
    /// been delivered.
    pub async fn delivery_counts(
        &mut self,
        first: &str,
        last: &str,
        count: usize,
    ) -> Result<HashMap<String, u64>, TransportError> {
        let mut pending = redis::cmd("XPENDING");
        pending
            .arg(&self.stream)
            .arg(&self.group)
            .arg(first)
            .arg(last)
            .arg(count.max(1))
            .arg(&self.consumer);
        let rows: Vec<(String, String, u64, u64)> = self.run(&pending, Duration::ZERO).await?;
        Ok(rows
            .into_iter()
            .map(|(id, _, _, deliveries)| (id, deliveries))
            .collect())
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

    /// Removes entries that every consumer of the group has acknowledged: everything before
    /// the oldest pending entry, or, with nothing pending, up to the last delivered one. Never
    /// an entry that is unread or unacknowledged. Returns how many entries went.
    pub async fn trim_acknowledged(&mut self) -> Result<u64, TransportError> {
        let mut summary = redis::cmd("XPENDING");
        summary.arg(&self.stream).arg(&self.group);
        let summary: Value = self.run(&summary, Duration::ZERO).await?;
        let oldest_pending = match summary {
            Value::Array(parts) => parts.into_iter().nth(1).and_then(text),
            _ => None,
        };
        let keep_from = match oldest_pending {
            Some(id) => id,
            None => match self.last_delivered_id().await? {
                Some(id) => id,
                None => return Ok(0),
            },
        };
        // Exact, not `~`: the stream's length is what ingestion compares with MAX_BACKLOG, so
        // it should count unacknowledged events only. Trimming once a second keeps it cheap.
        let mut trim = redis::cmd("XTRIM");
        trim.arg(&self.stream).arg("MINID").arg(&keep_from);
        let removed: u64 = self.run(&trim, Duration::ZERO).await?;
        Ok(removed)
    }

    /// The stream's length and how many of its entries are delivered but unacknowledged.
    pub async fn backlog_and_pending(&mut self) -> Result<(u64, u64), TransportError> {
        let mut length = redis::cmd("XLEN");
        length.arg(&self.stream);
        let length: u64 = self.run(&length, Duration::ZERO).await?;
        let mut summary = redis::cmd("XPENDING");
        summary.arg(&self.stream).arg(&self.group);
        let pending = match self.run::<Value>(&summary, Duration::ZERO).await? {
            Value::Array(parts) => match parts.first() {
                Some(Value::Int(count)) => *count as u64,
                _ => 0,
            },
            _ => 0,
        };
        Ok((length, pending))
    }

    async fn last_delivered_id(&mut self) -> Result<Option<String>, TransportError> {
        let mut info = redis::cmd("XINFO");
        info.arg("GROUPS").arg(&self.stream);
        let groups: Vec<HashMap<String, Value>> = self.run(&info, Duration::ZERO).await?;
        Ok(groups
            .into_iter()
            .find(|g| g.get("name").cloned().and_then(text).as_deref() == Some(&self.group))
            .and_then(|g| g.get("last-delivered-id").cloned().and_then(text))
            .filter(|id| id != "0-0"))
    }

    /// Moves an entry that cannot be stored to the dead-letter stream with the reason and how
    /// often it was delivered, and acknowledges it so that it no longer blocks the entries
    /// behind it. Both happen in one MULTI, so the entry is never in neither place.
    pub async fn dead_letter(
        &mut self,
        dead_letter_stream: &str,
        entry: &StreamEntry,
        reason: &str,
        deliveries: u64,
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
            .arg("deliveries")
            .arg(deliveries)
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
