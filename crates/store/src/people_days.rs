//! The people of a day's row (see [`days`](super::days)), in two blobs, built from the day's
//! raw rows in time order:
//!
//! - **whole day** ([`DayPeople`]): the day's distinct visitors ([`Distinct`]: exact
//!   fingerprints, or a sketch when many), the sessions contained in the day (no event on any
//!   other day, per [`session_spans`](super::session_spans)) counted by the state the day leaves
//!   them in, and every other session's fingerprint and run. A range holding the whole day reads
//!   only this, a few kilobytes plus the spanning sessions.
//! - **buckets** ([`BucketPeople`]): per 15-minute bucket with people, its exact visitors and
//!   each session's run, for a range that cuts the day (a zone's midnight, a short range).
//!
//! Layout of the whole day: the [`Distinct`] encoding, 16 varint counts by session state, the
//! number of spanning sessions and per session its fingerprint (8 bytes) and run (2 bytes),
//! ascending. Of the buckets, per entry: the bucket's index in the day (0–95, in time order),
//! the number of visitors and their fingerprints (8 bytes each, ascending), the number of
//! sessions and per session its fingerprint and run, ascending.

use std::collections::{HashMap, HashSet};

use super::StoreError;
use super::backend::{DayPart, ReadBackend};
use super::filter::EventFilter;
use super::grain::{ALL_SHOPS, BUCKET_MICROS, DAY_MICROS, bucket_of};
use super::{session_spans, varint};
use domain::distinct::Distinct;
use domain::people::{BucketPeople, DayPeople, FastHash, PersonEvent, SessionRun, SessionState};

/// A day row's two blobs.
pub(super) struct DayBlobs {
    pub whole: Vec<u8>,
    pub buckets: Vec<u8>,
}

impl DayBlobs {
    /// The blobs of a shop whose events that day name no visitor and no session.
    pub(super) fn empty() -> DayBlobs {
        let mut whole = Vec::new();
        Distinct::default().encode(&mut whole);
        [0u64; SessionState::COUNT + 1]
            .iter()
            .for_each(|&zero| varint::put_u64(&mut whole, zero));
        DayBlobs {
            whole,
            buckets: Vec::new(),
        }
    }
}

/// The people blobs of every shop with such events in the day starting at `day`, and of all
/// shops under [`ALL_SHOPS`].
pub(super) fn build(
    connection: &dyn ReadBackend,
    day: i64,
) -> Result<HashMap<String, DayBlobs>, StoreError> {
    let mut all_shops = Builder::new(day);
    let mut per_shop: Vec<Builder> = Vec::new();
    let whole_day = EventFilter {
        shop_id: None,
        from_micros: Some(day),
        to_micros: Some(day + DAY_MICROS),
    };
    let shops = connection.person_events(&whole_day, None, &mut |event| {
        all_shops.add(event);
        while per_shop.len() <= event.shop {
            per_shop.push(Builder::new(day));
        }
        per_shop[event.shop].add(event);
    })?;
    // Every session of a shop is one of all shops': their spans are read in one go.
    let mut sessions: Vec<u64> = all_shops.sessions.keys().copied().collect();
    sessions.sort_unstable();
    let contained = session_spans::contained_in(connection, day, &sessions)?;
    let mut blobs = HashMap::new();
    for (shop, builder) in shops.into_iter().zip(per_shop) {
        blobs.insert(shop, builder.finish(&contained));
    }
    blobs.insert(ALL_SHOPS.to_owned(), all_shops.finish(&contained));
    Ok(blobs)
}

/// Distinct visitors and each session's run over one bucket of one shop's events.
#[derive(Default)]
struct People {
    visitors: HashSet<u64, FastHash>,
    sessions: HashMap<u64, SessionRun, FastHash>,
}

impl People {
    fn add(&mut self, event: &PersonEvent) {
        if let Some(visitor) = event.visitor {
            self.visitors.insert(visitor);
        }
        if let Some(session) = event.session {
            let run = self.sessions.entry(session).or_insert(SessionRun::EMPTY);
            *run = run.then(SessionRun::of(event.event_type));
        }
    }

    /// Appends the entry `index` and empties the sets.
    fn write(&mut self, index: u64, blob: &mut Vec<u8>) {
        let mut visitors: Vec<u64> = self.visitors.drain().collect();
        visitors.sort_unstable();
        varint::put_u64(blob, index);
        varint::put_u64(blob, visitors.len() as u64);
        for visitor in visitors {
            blob.extend_from_slice(&visitor.to_le_bytes());
        }
        put_runs(blob, self.sessions.drain().collect());
    }
}

/// The number of runs, then each session's fingerprint and run, ascending.
fn put_runs(blob: &mut Vec<u8>, mut sessions: Vec<(u64, SessionRun)>) {
    sessions.sort_unstable_by_key(|(session, _)| *session);
    varint::put_u64(blob, sessions.len() as u64);
    for (session, run) in sessions {
        blob.extend_from_slice(&session.to_le_bytes());
        blob.extend_from_slice(&run.to_bytes());
    }
}

/// Builds one shop's blobs from its events in time order: the whole day's people, and each
/// bucket's.
struct Builder {
    day: i64,
    visitors: Distinct,
    sessions: HashMap<u64, SessionRun, FastHash>,
    buckets: Vec<u8>,
    bucket: Option<i64>,
    in_bucket: People,
}

impl Builder {
    fn new(day: i64) -> Builder {
        Builder {
            day,
            visitors: Distinct::default(),
            sessions: HashMap::default(),
            buckets: Vec::new(),
            bucket: None,
            in_bucket: People::default(),
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
        self.in_bucket.add(event);
    }

    fn close_bucket(&mut self) {
        if let Some(bucket) = self.bucket.take() {
            let index = ((bucket - self.day) / BUCKET_MICROS) as u64;
            self.in_bucket.write(index, &mut self.buckets);
        }
    }

    /// The two blobs; `contained` holds the sessions with events on this day only.
    fn finish(mut self, contained: &HashSet<u64, FastHash>) -> DayBlobs {
        self.close_bucket();
        let mut by_state = [0u64; SessionState::COUNT];
        let mut spanning = Vec::new();
        for (session, run) in self.sessions {
            if contained.contains(&session) {
                by_state[SessionState::after(run).index()] += 1;
            } else {
                spanning.push((session, run));
            }
        }
        let mut whole = Vec::new();
        self.visitors.encode(&mut whole);
        by_state
            .iter()
            .for_each(|&count| varint::put_u64(&mut whole, count));
        put_runs(&mut whole, spanning);
        DayBlobs {
            whole,
            buckets: self.buckets,
        }
    }
}

/// The whole day's people of the day row of `shop` (all shops when `None`) for the rolled-up
/// day starting at `day`; `None` when the shop has no row (it had no events that day).
pub fn read_day(
    store: &dyn ReadBackend,
    shop: Option<&str>,
    day: i64,
) -> Result<Option<DayPeople>, StoreError> {
    let mut people = None;
    store.people_day(
        shop.unwrap_or(ALL_SHOPS),
        day,
        DayPart::Whole,
        &mut |blob| {
            people =
                Some(decode_day(blob).map_err(|reason| {
                    StoreError::Corrupt(format!("people of day {day}: {reason}"))
                })?);
            Ok(())
        },
    )?;
    Ok(people)
}

fn decode_day(mut blob: &[u8]) -> Result<DayPeople, &'static str> {
    let visitors = Distinct::decode(&mut blob)?;
    let mut contained = [0u64; SessionState::COUNT];
    for count in &mut contained {
        *count = varint::take_u64(&mut blob)?;
    }
    let spanning = take_runs(&mut blob)?;
    if !blob.is_empty() {
        return Err("bytes after the whole day");
    }
    Ok(DayPeople {
        visitors,
        contained,
        spanning,
    })
}

/// Reads what [`put_runs`] wrote.
fn take_runs(blob: &mut &[u8]) -> Result<Vec<(u64, SessionRun)>, &'static str> {
    let n = usize::try_from(varint::take_u64(blob)?).map_err(|_| "count too large")?;
    let bytes = n
        .checked_mul(10)
        .filter(|bytes| *bytes <= blob.len())
        .ok_or("truncated entry")?;
    let entries = varint::take_bytes(blob, bytes)?;
    entries
        .chunks_exact(10)
        .map(|entry| {
            Ok((
                fingerprint_at(entry),
                SessionRun::from_bytes([entry[8], entry[9]])?,
            ))
        })
        .collect()
}

fn fingerprint_at(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

/// Hands `visit` the people of the buckets starting in `[from, to)` of the day row of `shop`
/// (all shops when `None`) for the rolled-up day starting at `day`, in time order. A shop
/// without a row had no events that day.
pub fn read(
    store: &dyn ReadBackend,
    shop: Option<&str>,
    day: i64,
    (from, to): (i64, i64),
    mut visit: impl FnMut(&BucketPeople),
) -> Result<(), StoreError> {
    store.people_day(
        shop.unwrap_or(ALL_SHOPS),
        day,
        DayPart::Buckets,
        &mut |blob| {
            decode_buckets(blob, day, |bucket| {
                if (from..to).contains(&bucket.start) {
                    visit(bucket);
                }
            })
            .map_err(|reason| StoreError::Corrupt(format!("people of day {day}: {reason}")))
        },
    )
}

/// Decodes every bucket's entry.
fn decode_buckets(
    mut blob: &[u8],
    day: i64,
    mut visit: impl FnMut(&BucketPeople),
) -> Result<(), &'static str> {
    let mut bucket = BucketPeople::default();
    while !blob.is_empty() {
        let index = varint::take_u64(&mut blob)?;
        if index >= (DAY_MICROS / BUCKET_MICROS) as u64 {
            return Err("bucket outside the day");
        }
        let visitors =
            usize::try_from(varint::take_u64(&mut blob)?).map_err(|_| "count too large")?;
        let visitor_bytes = visitors
            .checked_mul(8)
            .filter(|bytes| *bytes <= blob.len())
            .ok_or("truncated entry")?;
        let visitor_bytes = varint::take_bytes(&mut blob, visitor_bytes)?;
        bucket.start = day + index as i64 * BUCKET_MICROS;
        bucket.visitors.clear();
        bucket
            .visitors
            .extend(visitor_bytes.chunks_exact(8).map(fingerprint_at));
        bucket.sessions = take_runs(&mut blob)?;
        visit(&bucket);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::event::EventType;

    #[test]
    fn days_survive_the_blobs_and_damage_is_an_error() {
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
        builder.add(&event(4, EventType::PageView, Some(8), Some(71)));
        builder.add(&event(100, EventType::Purchase, Some(7), None));
        // Session 8 has events on another day too; session 7 only on this one.
        let blobs = builder.finish(&HashSet::from_iter([7]));
        let mut buckets = Vec::new();
        decode_buckets(&blobs.buckets, day, |bucket| {
            buckets.push((
                bucket.start,
                bucket.visitors.clone(),
                bucket.sessions.clone(),
            ));
        })
        .expect("decodes");
        let view = SessionRun::of(EventType::PageView);
        let view_then_cart = view.then(SessionRun::of(EventType::AddToCart));
        assert_eq!(
            buckets,
            vec![
                (day, vec![70, 71], vec![(7, view_then_cart), (8, view)]),
                (
                    day + 6 * BUCKET_MICROS,
                    vec![],
                    vec![(7, SessionRun::of(EventType::Purchase))]
                ),
            ]
        );
        let whole = decode_day(&blobs.whole).expect("decodes");
        assert_eq!(whole.visitors.count(), 2);
        assert_eq!(whole.spanning, vec![(8, view)]);
        let bought = SessionState::after(view_then_cart.then(SessionRun::of(EventType::Purchase)));
        let mut contained = [0; SessionState::COUNT];
        contained[bought.index()] = 1;
        assert_eq!(whole.contained, contained);
        for blob in [&blobs.whole, &blobs.buckets] {
            for cut in 1..blob.len() {
                // A cut between two bucket entries reads as fewer buckets; any other is an error.
                let _ = decode_buckets(&blob[..cut], day, |_| {});
                let _ = decode_day(&blob[..cut]);
            }
        }
        assert!(decode_day(&blobs.whole[..blobs.whole.len() - 1]).is_err());
        assert!(decode_buckets(&blobs.buckets[..blobs.buckets.len() - 1], day, |_| {}).is_err());
        assert!(decode_buckets(&[96, 0, 0], day, |_| {}).is_err());
        assert!(decode_buckets(&[0, 0xff, 0xff, 0xff, 0x0f], day, |_| {}).is_err());
    }
}
