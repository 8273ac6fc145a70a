//! The people blob of a day row (see [`days`](super::days)): per 15-minute bucket of the day
//! that has events with people, the distinct visitors and what each session did in it (its
//! [`SessionRun`]), built from the day's raw rows in time order.
//!
//! Layout, per bucket in time order: the bucket's index in the day (0–95), the number of
//! visitors and their fingerprints (8 bytes each, ascending), the number of sessions and per
//! session its fingerprint (8 bytes) and its run (2 bytes), sessions ascending.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::days::DAY_MICROS;
use super::people::{FastHash, PersonEvent, SessionRun, read_in_order};
use super::queries::EventFilter;
use super::rollup::{ALL_SHOPS, BUCKET_MICROS, bucket_of};
use super::varint;

/// One bucket's people.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BucketPeople {
    pub start: i64,
    /// Distinct visitor fingerprints, ascending.
    pub visitors: Vec<u64>,
    /// Each session's fingerprint and run, ascending.
    pub sessions: Vec<(u64, SessionRun)>,
}

/// The people blobs of every shop with such events in the day starting at `day`, and of all
/// shops under [`ALL_SHOPS`].
pub(super) fn build(
    connection: &Connection,
    day: i64,
) -> Result<HashMap<String, Vec<u8>>, StoreError> {
    let mut all_shops = Builder::new(day);
    let mut per_shop: Vec<Builder> = Vec::new();
    let whole_day = EventFilter {
        shop_id: None,
        from_micros: Some(day),
        to_micros: Some(day + DAY_MICROS),
    };
    let shops = read_in_order(connection, &whole_day, None, |event| {
        all_shops.add(event);
        while per_shop.len() <= event.shop {
            per_shop.push(Builder::new(day));
        }
        per_shop[event.shop].add(event);
    })?;
    let mut blobs: HashMap<String, Vec<u8>> = shops
        .into_iter()
        .zip(per_shop)
        .map(|(shop, builder)| (shop, builder.finish()))
        .collect();
    blobs.insert(ALL_SHOPS.to_owned(), all_shops.finish());
    Ok(blobs)
}

/// Builds one shop's blob from its events in time order, one bucket at a time.
struct Builder {
    day: i64,
    blob: Vec<u8>,
    bucket: Option<i64>,
    visitors: HashSet<u64, FastHash>,
    sessions: HashMap<u64, SessionRun, FastHash>,
}

impl Builder {
    fn new(day: i64) -> Builder {
        Builder {
            day,
            blob: Vec::new(),
            bucket: None,
            visitors: HashSet::default(),
            sessions: HashMap::default(),
        }
    }

    fn add(&mut self, event: &PersonEvent) {
        let bucket = bucket_of(event.ts_micros);
        if self.bucket != Some(bucket) {
            self.close_bucket();
            self.bucket = Some(bucket);
        }
        if let Some(visitor) = event.visitor {
            self.visitors.insert(visitor);
        }
        if let Some(session) = event.session {
            let run = self.sessions.entry(session).or_insert(SessionRun::EMPTY);
            *run = run.then(SessionRun::of(event.event_type));
        }
    }

    fn close_bucket(&mut self) {
        let Some(bucket) = self.bucket.take() else {
            return;
        };
        let mut visitors: Vec<u64> = self.visitors.drain().collect();
        let mut sessions: Vec<(u64, SessionRun)> = self.sessions.drain().collect();
        visitors.sort_unstable();
        sessions.sort_unstable_by_key(|(session, _)| *session);
        let blob = &mut self.blob;
        varint::put_u64(blob, ((bucket - self.day) / BUCKET_MICROS) as u64);
        varint::put_u64(blob, visitors.len() as u64);
        for visitor in visitors {
            blob.extend_from_slice(&visitor.to_le_bytes());
        }
        varint::put_u64(blob, sessions.len() as u64);
        for (session, run) in sessions {
            blob.extend_from_slice(&session.to_le_bytes());
            blob.extend_from_slice(&run.to_bytes());
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.close_bucket();
        self.blob
    }
}

/// Hands `visit` the buckets starting in `[from, to)` of the day row of `shop` (all shops when
/// `None`) for the rolled-up day starting at `day`, in time order. A shop without a row had
/// no events that day.
pub fn read(
    connection: &Connection,
    shop: Option<&str>,
    day: i64,
    (from, to): (i64, i64),
    mut visit: impl FnMut(&BucketPeople),
) -> Result<(), StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT people FROM rollup_days WHERE shop_id = ?1 AND day = ?2")?;
    let blob: Option<Vec<u8>> = statement
        .query_row(params![shop.unwrap_or(ALL_SHOPS), day], |row| row.get(0))
        .optional()?;
    let Some(blob) = blob else {
        return Ok(());
    };
    decode(&blob, day, |bucket| {
        if (from..to).contains(&bucket.start) {
            visit(bucket);
        }
    })
    .map_err(|reason| StoreError::Corrupt(format!("people of day {day}: {reason}")))
}

fn decode(
    mut blob: &[u8],
    day: i64,
    mut visit: impl FnMut(&BucketPeople),
) -> Result<(), &'static str> {
    let mut bucket = BucketPeople::default();
    let fingerprint = |blob: &mut &[u8]| -> Result<u64, &'static str> {
        let bytes = varint::take_bytes(blob, 8)?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| "short")?))
    };
    while !blob.is_empty() {
        let index = varint::take_u64(&mut blob)?;
        if index >= (DAY_MICROS / BUCKET_MICROS) as u64 {
            return Err("bucket outside the day");
        }
        bucket.start = day + index as i64 * BUCKET_MICROS;
        bucket.visitors.clear();
        for _ in 0..varint::take_u64(&mut blob)? {
            bucket.visitors.push(fingerprint(&mut blob)?);
        }
        bucket.sessions.clear();
        for _ in 0..varint::take_u64(&mut blob)? {
            let session = fingerprint(&mut blob)?;
            let run = varint::take_bytes(&mut blob, 2)?;
            let run = SessionRun::from_bytes([run[0], run[1]])?;
            bucket.sessions.push((session, run));
        }
        visit(&bucket);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventType;

    #[test]
    fn buckets_survive_the_blob_and_damage_is_an_error() {
        let day = 3 * DAY_MICROS;
        let mut builder = Builder::new(day);
        let event = |minute: i64, event_type, session, visitor| PersonEvent {
            ts_micros: day + minute * 60_000_000,
            shop: 0,
            event_type,
            session,
            visitor,
        };
        builder.add(&event(1, EventType::PageView, Some(7), Some(70)));
        builder.add(&event(2, EventType::AddToCart, Some(7), Some(70)));
        builder.add(&event(3, EventType::PageView, None, Some(71)));
        builder.add(&event(100, EventType::Purchase, Some(7), None));
        let blob = builder.finish();
        let mut buckets = Vec::new();
        decode(&blob, day, |bucket| {
            buckets.push((
                bucket.start,
                bucket.visitors.clone(),
                bucket.sessions.clone(),
            ));
        })
        .expect("decodes");
        let view_then_cart =
            SessionRun::of(EventType::PageView).then(SessionRun::of(EventType::AddToCart));
        assert_eq!(
            buckets,
            vec![
                (day, vec![70, 71], vec![(7, view_then_cart)]),
                (
                    day + 6 * BUCKET_MICROS,
                    vec![],
                    vec![(7, SessionRun::of(EventType::Purchase))]
                ),
            ]
        );
        assert!(decode(&blob[..blob.len() - 1], day, |_| {}).is_err());
        assert!(decode(&[96, 0, 0], day, |_| {}).is_err());
    }
}
