//! The people of a day's row (see [`days`](super::days)), in two blobs, built from the day's
//! raw rows in time order (a row per shop, and a row per attributed value of the events
//! credited to it, the same two blobs):
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
//! contained sessions' session metrics (varints: converted, bounced, duration in
//! microseconds), the varint count of page views of events with a session, the buyers (a
//! varint count, then 8-byte fingerprints ascending), and the number of spanning sessions and
//! per session its run, ascending. Of the buckets, per entry: the bucket's index in the day
//! (0–95, in time order), the visitors (a varint count, then 8-byte fingerprints ascending),
//! the buyers likewise, the varint count of page views of events with a session, and the
//! number of sessions and per session its run, ascending.
//!
//! A run is the session's fingerprint (8 bytes), the run's two bytes
//! ([`SessionRun::to_bytes`]) and, when it has a dated event, its first event time as a varint
//! offset from the start of its bucket (whole day: of the day), and its last as a varint offset
//! from the first: 2 to 5 bytes each, where absolute times would take 16.

use std::collections::{HashMap, HashSet};

use super::StoreError;
use super::backend::{DayPart, ReadBackend};
use super::filter::EventFilter;
use super::grain::{ALL_SHOPS, BUCKET_MICROS, DAY_MICROS, bucket_of};
use super::{session_spans, varint};
use domain::attribution::{Attribute, Filters};
use domain::dimension::{Dimension, NO_VALUE};
use domain::distinct::Distinct;
use domain::event::EventType;
use domain::people::{
    BucketPeople, DayPeople, FastHash, PersonEvent, SessionRun, SessionState, SessionSums,
    fingerprint,
};

/// A day row's two blobs.
pub(super) struct DayBlobs {
    pub whole: Vec<u8>,
    pub buckets: Vec<u8>,
}

impl DayBlobs {
    /// The blobs of a shop whose events that day name no visitor and no session.
    pub(super) fn empty() -> DayBlobs {
        let mut whole = Vec::new();
        encode_day(&DayPeople::default(), 0, &mut whole);
        DayBlobs {
            whole,
            buckets: Vec::new(),
        }
    }
}

/// What a day's roll-up writes: the blobs of every shop with people that day (and of all
/// shops under [`ALL_SHOPS`]), and, when asked for, those of every attributed value.
pub(super) struct DayRows {
    pub shops: HashMap<String, DayBlobs>,
    /// Per attributed dimension, shop (all shops: [`ALL_SHOPS`]) and value: the blobs of the
    /// day's events credited to that value.
    pub values: Vec<(Dimension, String, String, DayBlobs)>,
}

/// The people blobs of every shop with such events in the day starting at `day`, and of all
/// shops under [`ALL_SHOPS`]; with `keyed`, also per attributed value: the day is then read
/// through [`ReadBackend::attributed_events`] (each event with the attribution it is credited
/// to, its session's), and every event feeds one [`Builder`] per attributed dimension and
/// shop (and all shops) beside the unkeyed ones. A session's events share its attribution, so
/// its run lands under one value per dimension, contained in the day or not for every value
/// alike.
pub(super) fn build(
    connection: &dyn ReadBackend,
    day: i64,
    keyed: bool,
) -> Result<DayRows, StoreError> {
    let mut all_shops = Builder::new(day);
    let mut per_shop: Vec<Builder> = Vec::new();
    let whole_day = EventFilter {
        shop_id: None,
        from_micros: Some(day),
        to_micros: Some(day + DAY_MICROS),
    };
    // The builders of each value, per attribute (in `Attribute::ALL` order): per shop, by the
    // shop's index, and for all shops.
    let mut by_value: Vec<Vec<HashMap<String, Builder>>> = Vec::new();
    let mut all_by_value: Vec<HashMap<String, Builder>> =
        Attribute::ALL.iter().map(|_| HashMap::new()).collect();
    let shops = if keyed {
        let mut shops: Vec<String> = Vec::new();
        let mut shop_index: HashMap<String, usize, FastHash> = HashMap::default();
        connection.attributed_events(&whole_day, &Filters::default(), &mut |event| {
            if event.session.is_none() && event.visitor.is_none() {
                return;
            }
            let shop = match shop_index.get(event.shop_id) {
                Some(&index) => index,
                None => {
                    shops.push(event.shop_id.to_owned());
                    shop_index.insert(event.shop_id.to_owned(), shops.len() - 1);
                    shops.len() - 1
                }
            };
            let person = PersonEvent {
                ts_micros: event.ts_micros.unwrap_or(PersonEvent::UNDATED),
                shop,
                event_type: event.facts.event_type,
                session: event.session.map(fingerprint),
                visitor: event.visitor.map(fingerprint),
            };
            all_shops.add(&person);
            while per_shop.len() <= shop {
                per_shop.push(Builder::new(day));
                by_value.push(Attribute::ALL.iter().map(|_| HashMap::new()).collect());
            }
            per_shop[shop].add(&person);
            for (index, attribute) in Attribute::ALL.iter().enumerate() {
                let value = Dimension::Attributed(*attribute)
                    .value(&event.facts)
                    .unwrap_or(NO_VALUE);
                for builders in [&mut by_value[shop][index], &mut all_by_value[index]] {
                    match builders.get_mut(value) {
                        Some(builder) => builder.add(&person),
                        None => builders
                            .entry(value.to_owned())
                            .or_insert_with(|| Builder::new(day))
                            .add(&person),
                    }
                }
            }
        })?;
        shops
    } else {
        connection.person_events(&whole_day, None, &Filters::default(), &mut |event| {
            all_shops.add(event);
            while per_shop.len() <= event.shop {
                per_shop.push(Builder::new(day));
            }
            per_shop[event.shop].add(event);
        })?
    };
    // Every session of a shop is one of all shops': their spans are read in one go.
    let mut sessions: Vec<u64> = all_shops.sessions.keys().copied().collect();
    sessions.sort_unstable();
    let contained = session_spans::contained_in(connection, day, &sessions)?;
    let mut values = Vec::new();
    let keyed_shops = by_value
        .into_iter()
        .zip(shops.iter().map(String::as_str))
        .chain([(all_by_value, ALL_SHOPS)]);
    for (attributes, shop) in keyed_shops {
        for (builders, attribute) in attributes.into_iter().zip(Attribute::ALL) {
            for (value, builder) in builders {
                values.push((
                    Dimension::Attributed(attribute),
                    shop.to_owned(),
                    value,
                    builder.finish(&contained),
                ));
            }
        }
    }
    let mut blobs = HashMap::new();
    for (shop, builder) in shops.into_iter().zip(per_shop) {
        blobs.insert(shop, builder.finish(&contained));
    }
    blobs.insert(ALL_SHOPS.to_owned(), all_shops.finish(&contained));
    Ok(DayRows {
        shops: blobs,
        values,
    })
}

/// Distinct visitors and buyers, page views with a session and each session's run over one
/// bucket of one shop's events.
#[derive(Default)]
struct People {
    visitors: HashSet<u64, FastHash>,
    buyers: HashSet<u64, FastHash>,
    session_page_views: u64,
    sessions: HashMap<u64, SessionRun, FastHash>,
}

impl People {
    fn add(&mut self, event: &PersonEvent) {
        if let Some(visitor) = event.visitor {
            self.visitors.insert(visitor);
            if event.event_type == EventType::Purchase {
                self.buyers.insert(visitor);
            }
        }
        if let Some(session) = event.session {
            self.session_page_views += u64::from(event.event_type == EventType::PageView);
            let run = self.sessions.entry(session).or_insert(SessionRun::EMPTY);
            *run = run.then(event.run());
        }
    }

    /// Appends the entry `index` of the bucket starting at `start` and empties the sets.
    fn write(&mut self, index: u64, start: i64, blob: &mut Vec<u8>) {
        varint::put_u64(blob, index);
        put_fingerprints(blob, self.visitors.drain().collect());
        put_fingerprints(blob, self.buyers.drain().collect());
        varint::put_u64(blob, std::mem::take(&mut self.session_page_views));
        put_runs(blob, self.sessions.drain().collect(), start);
    }
}

/// The number of fingerprints, then each (8 bytes), ascending.
fn put_fingerprints(blob: &mut Vec<u8>, mut fingerprints: Vec<u64>) {
    fingerprints.sort_unstable();
    varint::put_u64(blob, fingerprints.len() as u64);
    for fingerprint in fingerprints {
        blob.extend_from_slice(&fingerprint.to_le_bytes());
    }
}

/// The number of runs, then each session's run (see the module's layout), ascending; times
/// are offsets from `base`.
fn put_runs(blob: &mut Vec<u8>, mut sessions: Vec<(u64, SessionRun)>, base: i64) {
    sessions.sort_unstable_by_key(|(session, _)| *session);
    varint::put_u64(blob, sessions.len() as u64);
    for (session, run) in sessions {
        blob.extend_from_slice(&session.to_le_bytes());
        blob.extend_from_slice(&run.to_bytes());
        if let Some((first, last)) = run.times() {
            // Wrapping both ways, so that any time round-trips (a bucket's own are never
            // before its start, and their offsets are small).
            varint::put_u64(blob, first.wrapping_sub(base) as u64);
            varint::put_u64(blob, last.wrapping_sub(first) as u64);
        }
    }
}

/// Builds one shop's blobs from its events in time order: the whole day's people, and each
/// bucket's.
struct Builder {
    day: i64,
    visitors: Distinct,
    buyers: HashSet<u64, FastHash>,
    session_page_views: u64,
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
            buyers: HashSet::default(),
            session_page_views: 0,
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
            if event.event_type == EventType::Purchase {
                self.buyers.insert(visitor);
            }
        }
        if let Some(session) = event.session {
            self.session_page_views += u64::from(event.event_type == EventType::PageView);
            let run = self.sessions.entry(session).or_insert(SessionRun::EMPTY);
            *run = run.then(event.run());
        }
        self.in_bucket.add(event);
    }

    fn close_bucket(&mut self) {
        if let Some(bucket) = self.bucket.take() {
            let index = ((bucket - self.day) / BUCKET_MICROS) as u64;
            self.in_bucket.write(index, bucket, &mut self.buckets);
        }
    }

    /// The two blobs; `contained` holds the sessions with events on this day only.
    fn finish(mut self, contained: &HashSet<u64, FastHash>) -> DayBlobs {
        self.close_bucket();
        let mut people = DayPeople {
            visitors: self.visitors,
            session_page_views: self.session_page_views,
            buyers: self.buyers.into_iter().collect(),
            ..DayPeople::default()
        };
        for (session, run) in self.sessions {
            if contained.contains(&session) {
                let state = SessionState::after(run);
                people.contained[state.index()] += 1;
                people.contained_sums.add(&state);
            } else {
                people.spanning.push((session, run));
            }
        }
        let mut whole = Vec::new();
        encode_day(&people, self.day, &mut whole);
        DayBlobs {
            whole,
            buckets: self.buckets,
        }
    }
}

/// The whole-day blob of `people`, of the day starting at `day`.
fn encode_day(people: &DayPeople, day: i64, whole: &mut Vec<u8>) {
    people.visitors.encode(whole);
    people
        .contained
        .iter()
        .for_each(|&count| varint::put_u64(whole, count));
    let sums = &people.contained_sums;
    for value in [
        sums.converted,
        sums.bounced,
        sums.duration_micros,
        people.session_page_views,
    ] {
        varint::put_u64(whole, value);
    }
    put_fingerprints(whole, people.buyers.clone());
    put_runs(whole, people.spanning.clone(), day);
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
            people = Some(whole_of(blob, day)?);
            Ok(())
        },
    )?;
    Ok(people)
}

/// The whole day's people of a whole-day blob (of the day starting at `day`).
pub(crate) fn whole_of(blob: &[u8], day: i64) -> Result<DayPeople, StoreError> {
    decode_day(blob, day)
        .map_err(|reason| StoreError::Corrupt(format!("people of day {day}: {reason}")))
}

/// Hands `visit` the people of the buckets starting in `[from, to)` of a buckets blob (of the
/// day starting at `day`), in time order.
pub(crate) fn buckets_of(
    blob: &[u8],
    day: i64,
    (from, to): (i64, i64),
    mut visit: impl FnMut(&BucketPeople),
) -> Result<(), StoreError> {
    decode_buckets(blob, day, |bucket| {
        if (from..to).contains(&bucket.start) {
            visit(bucket);
        }
    })
    .map_err(|reason| StoreError::Corrupt(format!("people of day {day}: {reason}")))
}

fn decode_day(mut blob: &[u8], day: i64) -> Result<DayPeople, &'static str> {
    let visitors = Distinct::decode(&mut blob)?;
    let mut contained = [0u64; SessionState::COUNT];
    for count in &mut contained {
        *count = varint::take_u64(&mut blob)?;
    }
    let contained_sums = SessionSums {
        converted: varint::take_u64(&mut blob)?,
        bounced: varint::take_u64(&mut blob)?,
        duration_micros: varint::take_u64(&mut blob)?,
    };
    let session_page_views = varint::take_u64(&mut blob)?;
    let buyers = take_fingerprints(&mut blob)?;
    let spanning = take_runs(&mut blob, day)?;
    if !blob.is_empty() {
        return Err("bytes after the whole day");
    }
    Ok(DayPeople {
        visitors,
        contained,
        contained_sums,
        session_page_views,
        buyers,
        spanning,
    })
}

/// Reads what [`put_fingerprints`] wrote.
fn take_fingerprints(blob: &mut &[u8]) -> Result<Vec<u64>, &'static str> {
    let n = usize::try_from(varint::take_u64(blob)?).map_err(|_| "count too large")?;
    let bytes = n
        .checked_mul(8)
        .filter(|bytes| *bytes <= blob.len())
        .ok_or("truncated entry")?;
    let bytes = varint::take_bytes(blob, bytes)?;
    Ok(bytes.chunks_exact(8).map(fingerprint_at).collect())
}

/// Reads what [`put_runs`] wrote with the same `base`.
fn take_runs(blob: &mut &[u8], base: i64) -> Result<Vec<(u64, SessionRun)>, &'static str> {
    let n = usize::try_from(varint::take_u64(blob)?).map_err(|_| "count too large")?;
    // Each run takes at least 10 bytes: a count beyond that is damage, not an allocation.
    if n.checked_mul(10).is_none_or(|bytes| bytes > blob.len()) {
        return Err("truncated entry");
    }
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        let entry = varint::take_bytes(blob, 10)?;
        let bytes = [entry[8], entry[9]];
        let times = if SessionRun::is_dated(bytes) {
            let first = base.wrapping_add(varint::take_u64(blob)? as i64);
            let last = first.wrapping_add(varint::take_u64(blob)? as i64);
            Some((first, last))
        } else {
            None
        };
        runs.push((fingerprint_at(entry), SessionRun::from_bytes(bytes, times)?));
    }
    Ok(runs)
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
        &mut |blob| buckets_of(blob, day, (from, to), &mut visit),
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
        bucket.start = day + index as i64 * BUCKET_MICROS;
        bucket.visitors = take_fingerprints(&mut blob)?;
        bucket.buyers = take_fingerprints(&mut blob)?;
        bucket.session_page_views = varint::take_u64(&mut blob)?;
        bucket.sessions = take_runs(&mut blob, bucket.start)?;
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
        builder.add(&event(100, EventType::Purchase, Some(7), Some(72)));
        // Session 8 has events on another day too; session 7 only on this one.
        let blobs = builder.finish(&HashSet::from_iter([7]));
        let mut buckets = Vec::new();
        decode_buckets(&blobs.buckets, day, |bucket| {
            buckets.push((
                bucket.start,
                bucket.visitors.clone(),
                bucket.buyers.clone(),
                bucket.session_page_views,
                bucket.sessions.clone(),
            ));
        })
        .expect("decodes");
        let at =
            |event_type, minute: i64| SessionRun::of(event_type, Some(day + minute * 60_000_000));
        let view = at(EventType::PageView, 4);
        let view_then_cart = at(EventType::PageView, 1).then(at(EventType::AddToCart, 2));
        let purchase = at(EventType::Purchase, 100);
        assert_eq!(
            buckets,
            vec![
                (
                    day,
                    vec![70, 71],
                    vec![],
                    2,
                    vec![(7, view_then_cart), (8, view)]
                ),
                (
                    day + 6 * BUCKET_MICROS,
                    vec![72],
                    vec![72],
                    0,
                    vec![(7, purchase)]
                ),
            ]
        );
        let whole = decode_day(&blobs.whole, day).expect("decodes");
        assert_eq!(whole.visitors.count(), 3);
        assert_eq!(whole.buyers, vec![72]);
        assert_eq!(whole.session_page_views, 2);
        assert_eq!(whole.spanning, vec![(8, view)]);
        let bought = SessionState::after(view_then_cart.then(purchase));
        let mut contained = [0; SessionState::COUNT];
        contained[bought.index()] = 1;
        assert_eq!(whole.contained, contained);
        assert_eq!(
            whole.contained_sums,
            SessionSums {
                converted: 1,
                bounced: 0,
                duration_micros: 99 * 60_000_000,
            }
        );
        for blob in [&blobs.whole, &blobs.buckets] {
            for cut in 1..blob.len() {
                // A cut between two bucket entries reads as fewer buckets; any other is an error.
                let _ = decode_buckets(&blob[..cut], day, |_| {});
                let _ = decode_day(&blob[..cut], day);
            }
        }
        assert!(decode_day(&blobs.whole[..blobs.whole.len() - 1], day).is_err());
        let empty = DayBlobs::empty();
        assert_eq!(
            decode_day(&empty.whole, day).expect("decodes"),
            DayPeople::default()
        );
        assert!(decode_buckets(&blobs.buckets[..blobs.buckets.len() - 1], day, |_| {}).is_err());
        assert!(decode_buckets(&[96, 0, 0, 0, 0], day, |_| {}).is_err());
        assert!(decode_buckets(&[0, 0xff, 0xff, 0xff, 0x0f], day, |_| {}).is_err());
    }
}
