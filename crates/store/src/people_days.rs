//! The people blob of a day's row (see [`days`](super::days)): the distinct visitors and what
//! each session did (its [`SessionRun`]) over the whole day, and per 15-minute bucket of the
//! day that has events with people, built from the day's raw rows in time order. A range
//! holding the whole day reads the first entry only; one cutting it reads buckets.
//!
//! Layout, per entry: its index (96 for the whole day, first; then the buckets' 0–95 in time
//! order), the number of visitors and their fingerprints (8 bytes each, ascending), the number
//! of sessions and per session its fingerprint (8 bytes) and its run (2 bytes), ascending.

use std::collections::{HashMap, HashSet};

use super::StoreError;
use super::backend::ReadBackend;
use super::filter::EventFilter;
use super::grain::{ALL_SHOPS, BUCKET_MICROS, DAY_MICROS, bucket_of};
use super::varint;
use domain::people::{BucketPeople, FastHash, PersonEvent, SessionRun};

/// The people blobs of every shop with such events in the day starting at `day`, and of all
/// shops under [`ALL_SHOPS`].
pub(super) fn build(
    connection: &dyn ReadBackend,
    day: i64,
) -> Result<HashMap<String, Vec<u8>>, StoreError> {
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
    let mut blobs: HashMap<String, Vec<u8>> = shops
        .into_iter()
        .zip(per_shop)
        .map(|(shop, builder)| (shop, builder.finish()))
        .collect();
    blobs.insert(ALL_SHOPS.to_owned(), all_shops.finish());
    Ok(blobs)
}

/// The index of the entry that covers the whole day, written before the buckets' entries.
const WHOLE_DAY: u64 = (DAY_MICROS / BUCKET_MICROS) as u64;

/// Distinct visitors and each session's run over some stretch of one shop's events.
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
        let mut sessions: Vec<(u64, SessionRun)> = self.sessions.drain().collect();
        visitors.sort_unstable();
        sessions.sort_unstable_by_key(|(session, _)| *session);
        varint::put_u64(blob, index);
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
}

/// Builds one shop's blob from its events in time order: the whole day's people, and each
/// bucket's.
struct Builder {
    day: i64,
    whole_day: People,
    buckets: Vec<u8>,
    bucket: Option<i64>,
    in_bucket: People,
}

impl Builder {
    fn new(day: i64) -> Builder {
        Builder {
            day,
            whole_day: People::default(),
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
        self.whole_day.add(event);
        self.in_bucket.add(event);
    }

    fn close_bucket(&mut self) {
        if let Some(bucket) = self.bucket.take() {
            let index = ((bucket - self.day) / BUCKET_MICROS) as u64;
            self.in_bucket.write(index, &mut self.buckets);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.close_bucket();
        let mut blob = Vec::with_capacity(self.buckets.len() * 2);
        self.whole_day.write(WHOLE_DAY, &mut blob);
        blob.append(&mut self.buckets);
        blob
    }
}

/// Hands `visit` the people of the buckets starting in `[from, to)` of the day row of `shop`
/// (all shops when `None`) for the rolled-up day starting at `day`, in time order; when
/// `[from, to)` is the whole day and `whole_days` allows it, the whole day's people at once
/// (as one bucket starting at `day`). A shop without a row had no events that day.
pub fn read(
    store: &dyn ReadBackend,
    shop: Option<&str>,
    day: i64,
    (from, to): (i64, i64),
    whole_days: bool,
    mut visit: impl FnMut(&BucketPeople),
) -> Result<(), StoreError> {
    let whole_day = whole_days && from == day && to == day + DAY_MICROS;
    store.people_day(shop.unwrap_or(ALL_SHOPS), day, &mut |blob| {
        decode(blob, day, whole_day, |bucket| {
            if (from..to).contains(&bucket.start) {
                visit(bucket);
            }
        })
        .map_err(|reason| StoreError::Corrupt(format!("people of day {day}: {reason}")))
    })
}

/// Decodes the whole day's entry (`whole_day`) or else every bucket's.
fn decode(
    mut blob: &[u8],
    day: i64,
    whole_day: bool,
    mut visit: impl FnMut(&BucketPeople),
) -> Result<(), &'static str> {
    let mut bucket = BucketPeople::default();
    let count = |blob: &mut &[u8], width: usize| -> Result<usize, &'static str> {
        let n = usize::try_from(varint::take_u64(blob)?).map_err(|_| "count too large")?;
        n.checked_mul(width)
            .filter(|bytes| *bytes <= blob.len())
            .ok_or("truncated entry")?;
        Ok(n)
    };
    let fingerprint = |bytes: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[..8]);
        u64::from_le_bytes(word)
    };
    while !blob.is_empty() {
        let index = varint::take_u64(&mut blob)?;
        if index > WHOLE_DAY {
            return Err("bucket outside the day");
        }
        let wanted = (index == WHOLE_DAY) == whole_day;
        let visitors = count(&mut blob, 8)?;
        let visitor_bytes = varint::take_bytes(&mut blob, visitors * 8)?;
        let sessions = count(&mut blob, 10)?;
        let session_bytes = varint::take_bytes(&mut blob, sessions * 10)?;
        if !wanted {
            continue;
        }
        bucket.start = if whole_day {
            day
        } else {
            day + index as i64 * BUCKET_MICROS
        };
        bucket.visitors.clear();
        bucket
            .visitors
            .extend(visitor_bytes.chunks_exact(8).map(fingerprint));
        bucket.sessions.clear();
        for entry in session_bytes.chunks_exact(10) {
            let run = SessionRun::from_bytes([entry[8], entry[9]])?;
            bucket.sessions.push((fingerprint(entry), run));
        }
        visit(&bucket);
        if whole_day {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::event::EventType;

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
        decode(&blob, day, false, |bucket| {
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
        let mut whole = Vec::new();
        decode(&blob, day, true, |entry| {
            whole.push((entry.start, entry.visitors.clone(), entry.sessions.clone()));
        })
        .expect("decodes");
        let all_day = view_then_cart.then(SessionRun::of(EventType::Purchase));
        assert_eq!(whole, vec![(day, vec![70, 71], vec![(7, all_day)])]);
        for cut in 1..blob.len() {
            // A cut between two entries reads as fewer buckets; any other is an error.
            let _ = decode(&blob[..cut], day, false, |_| {});
        }
        assert!(decode(&blob[..blob.len() - 1], day, false, |_| {}).is_err());
        assert!(decode(&[97, 0, 0], day, false, |_| {}).is_err());
        assert!(decode(&[0, 0xff, 0xff, 0xff, 0x0f], day, false, |_| {}).is_err());
    }
}
