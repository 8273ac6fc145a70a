//! The consumer's side of PostgreSQL: one transaction per batch, idempotent, safe with several
//! consumers writing at once.
//!
//! A batch, in one transaction:
//! 1. shared advisory locks on the UTC days it adds to (in day order), so a day is never
//!    rolled up ([`roll_up_next_day`](PgWriter::roll_up_next_day), which takes the lock
//!    exclusively) while events are being added to it;
//! 2. claims its `(shop_id, event_id)` keys in `event_ids`, then its purchases'
//!    `(shop_id, order_id)` keys in `order_ids`, sorted, `ON CONFLICT DO NOTHING`: what was
//!    claimed before (by an earlier delivery, or by another consumer right now) is a duplicate;
//! 3. inserts the rest into `events` in one multi-row statement (arrays, `unnest`);
//! 4. upserts the rollup rows of what it inserted, in key order;
//! 5. deletes the day rows of people of the days it added to (and the marks of their rows
//!    per attributed value), and the marks of the other days of the sessions it took over
//!    whose attributed values changed, each under the day's shared advisory lock;
//! 6. records its sessions' days in `session_spans`, and deletes the day rows of the days
//!    that folded one of them as contained and are stale now;
//! 7. between 3 and 4, upserts its sessions' attribution and its visitors' first times
//!    (`sessions`, `visitors`; [`attribution`](crate::attribution)'s rules), bots left out of
//!    those and of the rollups; its events are summed under their sessions' attribution, and
//!    the earlier events of the sessions it takes over move to the new one, in the same
//!    upsert.
//!
//! Every step takes its row locks in one global order (by table, then by key), so concurrent
//! consumers wait for one another but never deadlock. The month partitions the batch needs are
//! created before, each in its own short transaction.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use postgres::{Client, Transaction};

use super::day_locks::{DAY_LOCKS, day_number};
use super::reads::{PgReads, people_since};
use super::rollup_writes::{delete_emptied, forget_days, forget_value_days, upsert_rollups};
use super::{OffRuntime, month_of, sessions};
use crate::attribution::own_credit;
use crate::backend::ReadBackend;
use crate::grain::{ALL_SHOPS, DAY_MICROS, Grain, day_of};
use crate::retention::Retained;
use crate::rollups::Deltas;
use crate::write_backend::WriteBackend;
use crate::{InsertOutcome, StoreError, days::SETTLE_MICROS, people_days};
use domain::attribution::Attributed;
use domain::dimension::{Dimension, Facts};
use domain::event::{Event, EventType, format_utc};
use domain::people::fingerprint;

/// The writing connection of one consumer.
pub struct PgWriter {
    url: String,
    client: OffRuntime<Client>,
    /// Month partitions known to exist (by their first microsecond).
    partitions: HashSet<i64>,
    /// When this writer last stored events into each UTC day (see `roll_up_next_day`).
    written_days: HashMap<i64, Instant>,
}

impl PgWriter {
    /// Connects and applies pending migrations.
    pub fn open(url: &str) -> Result<PgWriter, StoreError> {
        Ok(PgWriter {
            url: url.to_owned(),
            client: OffRuntime::new(super::open_and_migrate(url)?),
            partitions: HashSet::new(),
            written_days: HashMap::new(),
        })
    }

    /// The connection, for tests and the store's own upkeep.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Connects again when the connection was lost (the server restarted, a failover): the
    /// failed batch was rolled back and is retried by the consumer on the new connection.
    fn reconnect_if_lost(&mut self) -> Result<(), StoreError> {
        if self.client.is_closed() {
            self.client = OffRuntime::new(super::connect(&self.url)?);
            self.partitions.clear();
            tracing::info!("connected to PostgreSQL again");
        }
        Ok(())
    }

    /// Creates the month partitions of `months` that do not exist yet.
    fn ensure_partitions(&mut self, months: &BTreeSet<i64>) -> Result<(), StoreError> {
        for &month in months {
            if self.partitions.contains(&month) {
                continue;
            }
            super::create_partition(&mut self.client, month)?;
            self.partitions.insert(month);
        }
        Ok(())
    }
}

impl WriteBackend for PgWriter {
    /// A month partition this writer believed in may have been dropped by retention (run by
    /// another consumer) since: the row then lands on the undated partition's check. The
    /// writer forgets what it knew of partitions and tries once more.
    fn insert_batch(&mut self, events: &[Event]) -> Result<InsertOutcome, StoreError> {
        self.reconnect_if_lost()?;
        super::retry::on_conflict("batch", || match self.try_insert_batch(events) {
            Err(StoreError::Postgres(error))
                if error.code() == Some(&postgres::error::SqlState::CHECK_VIOLATION) =>
            {
                self.partitions.clear();
                self.try_insert_batch(events)
            }
            other => other,
        })
    }

    fn apply_retention(&mut self, now_micros: i64, days: u32) -> Result<Retained, StoreError> {
        self.reconnect_if_lost()?;
        let retained = super::upkeep::apply_retention(&mut self.client, now_micros, days)?;
        // Months it dropped are created again if an old event still arrives.
        self.partitions.clear();
        Ok(retained)
    }

    fn roll_up_next_day(
        &mut self,
        now_micros: i64,
        quiet: Duration,
    ) -> Result<Option<i64>, StoreError> {
        self.reconnect_if_lost()?;
        self.written_days
            .retain(|_, written| written.elapsed() < quiet);
        let busy: BTreeSet<i64> = self.written_days.keys().copied().collect();
        super::retry::on_conflict("day roll-up", || {
            roll_up_next_day(&mut self.client, now_micros, &busy)
        })
    }
}

impl PgWriter {
    fn try_insert_batch(&mut self, events: &[Event]) -> Result<InsertOutcome, StoreError> {
        // Within the batch, as SQLite's row-by-row insert decides: the first event of an id
        // or of a purchase's order wins.
        let mut ids: HashSet<(&str, &str)> = HashSet::new();
        let mut orders: HashSet<(&str, &str)> = HashSet::new();
        let mut candidates: Vec<&Event> = Vec::with_capacity(events.len());
        for event in events {
            if ids.contains(&(event.shop_id.as_str(), event.event_id.as_str())) {
                continue;
            }
            if let Some(order) = purchase_order(event)
                && !orders.insert((event.shop_id.as_str(), order))
            {
                continue;
            }
            ids.insert((event.shop_id.as_str(), event.event_id.as_str()));
            candidates.push(event);
        }
        let months: BTreeSet<i64> = candidates
            .iter()
            .map(|e| month_of(e.timestamp.timestamp_micros()).0)
            .collect();
        self.ensure_partitions(&months)?;
        let days: BTreeSet<i64> = candidates
            .iter()
            .map(|e| day_of(e.timestamp.timestamp_micros()))
            .collect();

        let mut transaction = self.client.transaction()?;
        for day in &days {
            transaction.execute(
                "SELECT pg_advisory_xact_lock_shared($1, $2)",
                &[&DAY_LOCKS, &day_number(*day)],
            )?;
        }
        let stored = claim(&mut transaction, &candidates)?;
        let with_ids = insert_events(&mut transaction, &stored)?;
        let credits = sessions::record_attribution(&mut transaction, &with_ids)?;
        let mut deltas = Deltas::default();
        // Bots are stored but counted nowhere.
        for event in stored.iter().filter(|e| !e.traffic.is_bot) {
            let session_credit = event
                .session_id
                .as_deref()
                .and_then(|session| credits.sessions.get(&(event.shop_id.as_str(), session)));
            let attributed = match session_credit {
                Some(credit) => credit.attributed(),
                None => own_credit(event),
            };
            deltas.add(
                &event.shop_id,
                Some(event.timestamp.timestamp_micros()),
                &Facts {
                    attributed,
                    ..facts(event)
                },
            );
        }
        let batch_ids: Vec<i64> = with_ids.iter().map(|(_, id)| *id).collect();
        let recredited = sessions::move_taken_over(
            &mut transaction,
            &credits.taken_over,
            &batch_ids,
            &mut deltas,
        )?;
        upsert_rollups(&mut transaction, &deltas)?;
        if !credits.taken_over.is_empty() {
            delete_emptied(&mut transaction, &deltas)?;
        }
        let mut touched: Vec<(&str, i64)> = stored
            .iter()
            .flat_map(|e| {
                let day = day_of(e.timestamp.timestamp_micros());
                [(e.shop_id.as_str(), day), (ALL_SHOPS, day)]
            })
            .collect();
        touched.sort_unstable();
        touched.dedup();
        forget_days(&mut transaction, &touched)?;
        // The other days of the sessions taken over: their rows per attributed value filed
        // them under the old attribution (this batch's own days went just above). Each under
        // its shared advisory lock, as the batch's days (a roll-up in progress commits first).
        for day in &recredited {
            transaction.execute(
                "SELECT pg_advisory_xact_lock_shared($1, $2)",
                &[&DAY_LOCKS, &day_number(*day)],
            )?;
        }
        forget_value_days(&mut transaction, &recredited)?;
        let sessions: Vec<(u64, i64)> = stored
            .iter()
            .filter_map(|e| {
                let session = e.session_id.as_deref()?;
                Some((fingerprint(session), day_of(e.timestamp.timestamp_micros())))
            })
            .collect();
        sessions::record_spans(&mut transaction, &sessions)?;
        transaction.commit()?;
        let now = Instant::now();
        for (_, day) in touched.iter().filter(|(shop, _)| *shop == ALL_SHOPS) {
            self.written_days.insert(*day, now);
        }
        Ok(InsertOutcome {
            inserted: stored.len(),
            duplicates: events.len() - stored.len(),
        })
    }
}

/// A purchase's order id (only purchases' orders are unique).
fn purchase_order(event: &Event) -> Option<&str> {
    (event.event_type == EventType::Purchase)
        .then_some(event.order_id.as_deref())
        .flatten()
}

pub(super) fn facts(event: &Event) -> Facts<'_> {
    Facts {
        event_type: event.event_type,
        amount_micros: event.amount_micros(),
        product_id: event.product_id.as_deref(),
        currency: event.currency.as_deref(),
        attributed: Attributed::default(),
    }
}

/// Claims the events' ids, then their purchases' orders, in key order; returns the events
/// that hold both claims, in batch order. The id claim of an event refused for its order is
/// given back, as SQLite never stores the id of a row it ignored.
fn claim<'e>(
    transaction: &mut Transaction<'_>,
    candidates: &[&'e Event],
) -> Result<Vec<&'e Event>, StoreError> {
    let mut keys: Vec<(&str, &str, i64)> = candidates
        .iter()
        .map(|e| {
            (
                e.shop_id.as_str(),
                e.event_id.as_str(),
                e.timestamp.timestamp_micros(),
            )
        })
        .collect();
    keys.sort_unstable();
    let claimed_ids = claim_keys(transaction, "event_ids", "event_id", &keys)?;
    let mut orders: Vec<(&str, &str, i64)> = candidates
        .iter()
        .filter(|e| claimed_ids.contains(&(e.shop_id.clone(), e.event_id.clone())))
        .filter_map(|e| {
            purchase_order(e).map(|o| (e.shop_id.as_str(), o, e.timestamp.timestamp_micros()))
        })
        .collect();
    orders.sort_unstable();
    let claimed_orders = claim_keys(transaction, "order_ids", "order_id", &orders)?;
    let mut stored = Vec::with_capacity(candidates.len());
    let mut given_back: (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for event in candidates {
        if !claimed_ids.contains(&(event.shop_id.clone(), event.event_id.clone())) {
            continue;
        }
        if let Some(order) = purchase_order(event)
            && !claimed_orders.contains(&(event.shop_id.clone(), order.to_owned()))
        {
            given_back.0.push(&event.shop_id);
            given_back.1.push(&event.event_id);
            continue;
        }
        stored.push(*event);
    }
    if !given_back.0.is_empty() {
        transaction.execute(
            "DELETE FROM event_ids WHERE (shop_id, event_id) IN
                (SELECT * FROM unnest($1::text[], $2::text[]))",
            &[&given_back.0, &given_back.1],
        )?;
    }
    Ok(stored)
}

/// Inserts sorted `(shop, key, time)` rows into `table`, skipping those already there;
/// returns the keys it inserted.
fn claim_keys(
    transaction: &mut Transaction<'_>,
    table: &str,
    column: &str,
    keys: &[(&str, &str, i64)],
) -> Result<HashSet<(String, String)>, StoreError> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let shops: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let times: Vec<i64> = keys.iter().map(|k| k.2).collect();
    let rows = transaction.query(
        &format!(
            "INSERT INTO {table} (shop_id, {column}, ts_micros)
             SELECT s, k, t FROM unnest($1::text[], $2::text[], $3::int8[]) WITH ORDINALITY AS u(s, k, t, n)
             ORDER BY n
             ON CONFLICT DO NOTHING RETURNING shop_id, {column}"
        ),
        &[&shops, &ids, &times],
    )?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// The columns of `events` the writer fills, in the order of [`insert_events`]' arrays.
const EVENT_COLUMNS: &str = "event_id, event_type, timestamp, ts_micros, product_id, order_amount, \
     amount_micros, shop_id, session_id, visitor_id, path, referrer, currency, quantity, order_id, \
     sent_at, received_at, referrer_domain, source, medium, campaign, channel, device, browser, \
     os, country, is_bot";

/// One multi-row insert of the events, in batch order (so ids follow arrival order); returns
/// each event with the row id it was given.
fn insert_events<'e>(
    transaction: &mut Transaction<'_>,
    events: &[&'e Event],
) -> Result<Vec<(&'e Event, i64)>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let text = |f: &dyn Fn(&Event) -> Option<String>| -> Vec<Option<String>> {
        events.iter().map(|e| f(e)).collect()
    };
    let event_id = text(&|e| Some(e.event_id.clone()));
    let event_type = text(&|e| Some(e.event_type.as_str().to_owned()));
    let timestamp = text(&|e| Some(format_utc(&e.timestamp)));
    let ts_micros: Vec<i64> = events
        .iter()
        .map(|e| e.timestamp.timestamp_micros())
        .collect();
    let product_id = text(&|e| e.product_id.clone());
    let order_amount: Vec<Option<f64>> = events.iter().map(|e| e.order_amount).collect();
    let amount_micros: Vec<Option<i64>> = events.iter().map(|e| e.amount_micros()).collect();
    let shop_id = text(&|e| Some(e.shop_id.clone()));
    let session_id = text(&|e| e.session_id.clone());
    let visitor_id = text(&|e| e.visitor_id.clone());
    let path = text(&|e| e.path.clone());
    let referrer = text(&|e| e.referrer.clone());
    let currency = text(&|e| e.currency.clone());
    let quantity: Vec<Option<i64>> = events.iter().map(|e| e.quantity.map(i64::from)).collect();
    let order_id = text(&|e| e.order_id.clone());
    let sent_at = text(&|e| e.sent_at.as_ref().map(format_utc));
    let received_at = text(&|e| Some(format_utc(&e.received_at)));
    let referrer_domain = text(&|e| e.traffic.referrer_domain.clone());
    let source = text(&|e| e.traffic.source.clone());
    let medium = text(&|e| e.traffic.medium.clone());
    let campaign = text(&|e| e.traffic.campaign.clone());
    let channel = text(&|e| e.traffic.channel.clone());
    let device = text(&|e| e.traffic.device.clone());
    let browser = text(&|e| e.traffic.browser.clone());
    let os = text(&|e| e.traffic.os.clone());
    let country = text(&|e| e.traffic.country.clone());
    let is_bot: Vec<bool> = events.iter().map(|e| e.traffic.is_bot).collect();
    let rows = transaction.query(
        &format!(
            "INSERT INTO events ({EVENT_COLUMNS})
             SELECT c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17,
                 c18, c19, c20, c21, c22, c23, c24, c25, c26, c27
             FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[],
                 $6::float8[], $7::int8[], $8::text[], $9::text[], $10::text[], $11::text[],
                 $12::text[], $13::text[], $14::int8[], $15::text[], $16::text[], $17::text[],
                 $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[],
                 $24::text[], $25::text[], $26::text[], $27::bool[])
                 WITH ORDINALITY AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13,
                     c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27, n)
             ORDER BY n
             RETURNING id, shop_id, event_id"
        ),
        &[
            &event_id,
            &event_type,
            &timestamp,
            &ts_micros,
            &product_id,
            &order_amount,
            &amount_micros,
            &shop_id,
            &session_id,
            &visitor_id,
            &path,
            &referrer,
            &currency,
            &quantity,
            &order_id,
            &sent_at,
            &received_at,
            &referrer_domain,
            &source,
            &medium,
            &campaign,
            &channel,
            &device,
            &browser,
            &os,
            &country,
            &is_bot,
        ],
    )?;
    // A stored batch holds each (shop, event id) once.
    let ids: HashMap<(&str, &str), i64> = rows
        .iter()
        .map(|row| Ok(((row.try_get(1)?, row.try_get(2)?), row.try_get(0)?)))
        .collect::<Result<_, postgres::Error>>()?;
    events
        .iter()
        .map(|event| {
            ids.get(&(event.shop_id.as_str(), event.event_id.as_str()))
                .map(|id| (*event, *id))
                .ok_or_else(|| StoreError::Corrupt(format!("event {} got no row", event.event_id)))
        })
        .collect()
}

/// Rolls up the earliest ended day that has events, no day rows and is not `busy`, under the
/// day's exclusive advisory lock (inserts into that day wait, and it waits for them); returns
/// that day, or `None` when there is none. Another consumer rolling up the same day makes this
/// one move to the next.
pub fn roll_up_next_day(
    client: &mut Client,
    now_micros: i64,
    busy: &BTreeSet<i64>,
) -> Result<Option<i64>, StoreError> {
    let ended_before = day_of(now_micros.saturating_sub(SETTLE_MICROS));
    let rolled: BTreeSet<i64> = client
        .query(
            "SELECT d.day FROM people_days d JOIN people_value_marks m ON m.day = d.day
             WHERE d.shop_id = $1",
            &[&ALL_SHOPS],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut from = people_since(client)?.unwrap_or(i64::MIN);
    loop {
        // The days with events are the all-shops totals rows of the day grain.
        let Some(row) = client.query_opt(
            "SELECT bucket FROM rollups WHERE shop_id = $1 AND dimension = $2 AND grain = $3
                AND bucket >= $4 AND bucket < $5 ORDER BY bucket LIMIT 1",
            &[
                &ALL_SHOPS,
                &Dimension::Total.name(),
                &Grain::Day.code(),
                &from,
                &ended_before,
            ],
        )?
        else {
            return Ok(None);
        };
        let day: i64 = row.get(0);
        from = day + DAY_MICROS;
        if rolled.contains(&day) || busy.contains(&day) {
            continue;
        }
        let mut transaction = client.transaction()?;
        let locked: bool = transaction
            .query_one(
                "SELECT pg_try_advisory_xact_lock($1, $2)",
                &[&DAY_LOCKS, &day_number(day)],
            )?
            .get(0);
        if !locked {
            // Being written to, or rolled up by another consumer.
            continue;
        }
        // Read after the lock: every insert into the day has committed or waits.
        let done = transaction
            .query_opt(
                "SELECT 1 FROM people_days d JOIN people_value_marks m ON m.day = d.day
                 WHERE d.shop_id = $1 AND d.day = $2",
                &[&ALL_SHOPS, &day],
            )?
            .is_some();
        if done {
            continue;
        }
        let (rows, shops) = {
            let reads = PgReads::new(&mut transaction);
            let rows = people_days::build(&reads, day, true)?;
            let mut shops = vec![ALL_SHOPS.to_owned()];
            for shop in reads.rollup_shop_ids()? {
                let mut has_events = false;
                reads.rollup_rows(
                    crate::backend::RollupRows {
                        shop: &shop,
                        dimension: Dimension::Total,
                        grain: Grain::Day,
                        from: Some(day),
                        to: Some(day + 1),
                        only: None,
                    },
                    &mut |_, _, _| has_events = true,
                )?;
                if has_events {
                    shops.push(shop);
                }
            }
            (rows, shops)
        };
        let mut people = rows.shops;
        // Every shop with events gets a row, empty when its events name nobody; the
        // all-shops row marks the day as rolled up.
        let (wholes, buckets): (Vec<Vec<u8>>, Vec<Vec<u8>>) = shops
            .iter()
            .map(|shop| {
                let blobs = people
                    .remove(shop)
                    .unwrap_or_else(people_days::DayBlobs::empty);
                (blobs.whole, blobs.buckets)
            })
            .unzip();
        let days = vec![day; shops.len()];
        transaction.execute(
            "INSERT INTO people_days (shop_id, day, whole, buckets)
             SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[], $4::bytea[])
             ON CONFLICT (shop_id, day)
                DO UPDATE SET whole = excluded.whole, buckets = excluded.buckets",
            &[&shops, &days, &wholes, &buckets],
        )?;
        // The rows per attributed value (a stale build's go first), and the mark that says
        // they are current.
        transaction.execute("DELETE FROM people_value_days WHERE day = $1", &[&day])?;
        let mut dimensions: Vec<&str> = Vec::new();
        let mut value_shops: Vec<String> = Vec::new();
        let mut values: Vec<String> = Vec::new();
        let mut value_wholes: Vec<Vec<u8>> = Vec::new();
        let mut value_buckets: Vec<Vec<u8>> = Vec::new();
        for (dimension, shop, value, blobs) in rows.values {
            dimensions.push(dimension.name());
            value_shops.push(shop);
            values.push(value);
            value_wholes.push(blobs.whole);
            value_buckets.push(blobs.buckets);
        }
        let days = vec![day; dimensions.len()];
        transaction.execute(
            "INSERT INTO people_value_days (day, dimension, shop_id, value, whole, buckets)
             SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::bytea[],
                $6::bytea[])",
            &[
                &days,
                &dimensions,
                &value_shops,
                &values,
                &value_wholes,
                &value_buckets,
            ],
        )?;
        transaction.execute(
            "INSERT INTO people_value_marks (day) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&day],
        )?;
        transaction.commit()?;
        return Ok(Some(day));
    }
}
