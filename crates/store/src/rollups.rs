//! The rollups: one table of [`Sums`] keyed by (shop, dimension, grain, bucket, value), and
//! how raw rows are folded into it.
//!
//! The rollups hold every event up to a watermark: the highest raw row id folded in
//! (`rollup_progress`). [`fold`] reads the raw rows past it in id order, sums them per
//! 15-minute key in [`Deltas`], spreads those sums over every grain, upserts each touched row
//! once, in key order, and moves the watermark, all in the caller's transaction. The writer
//! folds inside an insert's transaction once enough rows are waiting (or a second has passed),
//! so a crash either keeps both the rows and their sums or neither, and a replayed batch
//! (which inserts nothing) adds nothing: the rollups never drift from the events. Folding
//! thousands of rows at once writes each rollup row once for all of them, where folding each
//! batch of a backlog wrote it once per batch. Readers add the few rows past the watermark
//! (the tail) themselves (see [`read`](super::read)).
//!
//! Every event is summed for its shop and for all shops ([`ALL_SHOPS`]), under every
//! [`Dimension`] that files it, at every [`Grain`].
//!
//! The attributed dimensions file an event under its session's attribution as it is when the
//! event is folded (the fold joins `sessions`). When an earlier event takes a session over, the
//! writer moves the session's folded events from the old values to the new ones
//! ([`Deltas::move_credit`]) in the transaction that stores it, so the rollups always hold
//! what a raw pass over the events joined with their sessions' current attribution would sum.

use std::collections::HashMap;

use rusqlite::Connection;

use super::StoreError;
use super::grain::{ALL_SHOPS, Grain, bucket_of};
use domain::attribution::{Attribute, Attributed};
use domain::dimension::{Dimension, Facts};
use domain::people::FastHash;
use domain::sums::{Combine, Sums};

/// The rollups' key columns, in primary-key order: the rows of one shop, dimension and grain
/// are contiguous and ordered by bucket, so a range of buckets is one index range.
pub const KEY_COLUMNS: [&str; 5] = ["shop_id", "dimension", "grain", "bucket", "value"];

/// A rollup row's key: shop, dimension, grain, bucket start, value.
pub type RollupKey<'a> = (&'a str, Dimension, Grain, i64, &'a str);

/// A 15-minute key: shop, dimension, bucket start (`None` for undated rows), value.
type QuarterKey<'a> = (&'a str, Dimension, Option<i64>, &'a str);

/// What a batch adds to the rollups, summed per 15-minute key before it touches SQLite.
#[derive(Debug, Default)]
pub struct Deltas<'a> {
    quarters: HashMap<QuarterKey<'a>, Sums, FastHash>,
}

impl<'a> Deltas<'a> {
    /// Adds one stored event (its time `None` when undated), to its shop's rows and to the
    /// all-shops rows, under each dimension that files it.
    pub fn add(&mut self, shop: &'a str, ts_micros: Option<i64>, facts: &Facts<'a>) {
        self.add_under(&Dimension::ALL, shop, ts_micros, facts);
    }

    /// Adds one stored event as [`add`](Deltas::add) does, under `dimensions` only (a
    /// migration that adds dimensions sums the stored events under those alone).
    pub fn add_under(
        &mut self,
        dimensions: &[Dimension],
        shop: &'a str,
        ts_micros: Option<i64>,
        facts: &Facts<'a>,
    ) {
        let sums = Sums::of(facts.event_type, facts.purchase_amount());
        let counts = counts_of(&sums);
        let quarter = ts_micros.map(bucket_of);
        for shop in [shop, ALL_SHOPS] {
            for &dimension in dimensions {
                if let Some(value) = dimension.value(facts) {
                    let added = if dimension.keeps_extremes() {
                        &sums
                    } else {
                        &counts
                    };
                    self.quarters
                        .entry((shop, dimension, quarter, value))
                        .or_default()
                        .add(added);
                }
            }
        }
    }

    /// Moves one folded event of a session that was taken over from what it was credited to
    /// (`facts.attributed`) to what it is credited to now (`to`), under each attributed
    /// dimension whose value changed: its counts are taken off the old rows and added to the
    /// new ones.
    pub fn move_credit(
        &mut self,
        shop: &'a str,
        ts_micros: Option<i64>,
        facts: &Facts<'a>,
        to: &Attributed<'a>,
    ) {
        let counts = counts_of(&Sums::of(facts.event_type, facts.purchase_amount()));
        let mut taken_off = Sums::default();
        taken_off.subtract_counts(&counts);
        let now = Facts {
            attributed: *to,
            ..*facts
        };
        let quarter = ts_micros.map(bucket_of);
        for attribute in Attribute::ALL {
            let dimension = Dimension::Attributed(attribute);
            let (Some(old), Some(new)) = (dimension.value(facts), dimension.value(&now)) else {
                continue;
            };
            if old == new {
                continue;
            }
            for shop in [shop, ALL_SHOPS] {
                for (value, delta) in [(old, &taken_off), (new, &counts)] {
                    self.quarters
                        .entry((shop, dimension, quarter, value))
                        .or_default()
                        .add(delta);
                }
            }
        }
    }

    /// Adds the deltas to the rollups, inside the caller's transaction: each
    /// touched row once, in key order (so that concurrent writers of a server database take
    /// their row locks in the same order and cannot deadlock).
    pub fn apply(&self, transaction: &Connection) -> Result<(), StoreError> {
        let (names, rows) = self.spread();
        let mut upsert = transaction.prepare_cached(&upsert_sql())?;
        for ((shop, dimension, grain, bucket, value), sums) in rows {
            upsert.raw_bind_parameter(1, names[shop])?;
            upsert.raw_bind_parameter(2, dimension.name())?;
            upsert.raw_bind_parameter(3, grain.code())?;
            upsert.raw_bind_parameter(4, bucket)?;
            upsert.raw_bind_parameter(5, names[value])?;
            for (i, measure) in sums.values().into_iter().enumerate() {
                upsert.raw_bind_parameter(KEY_COLUMNS.len() + 1 + i, measure)?;
            }
            upsert.raw_execute()?;
        }
        Ok(())
    }

    /// Deletes the rows of attributed dimensions the deltas touch that moves took down to
    /// nothing, inside the caller's transaction (after [`Deltas::apply`]): the rollups then
    /// hold exactly the rows a fold from scratch would.
    pub fn delete_emptied(&self, transaction: &Connection) -> Result<(), StoreError> {
        let mut delete = transaction.prepare_cached(&format!(
            "DELETE FROM rollups WHERE {} AND {}",
            KEY_COLUMNS.map(|c| format!("{c} = ?")).join(" AND "),
            emptied_condition()
        ))?;
        for (shop, dimension, grain, bucket, value) in self.moved_keys() {
            delete.execute(rusqlite::params![
                shop,
                dimension.name(),
                grain.code(),
                bucket,
                value
            ])?;
        }
        Ok(())
    }

    /// The keys of the rows of attributed dimensions the deltas touch, in key order: the only
    /// rows a move can take down to nothing.
    pub fn moved_keys(&self) -> Vec<RollupKey<'a>> {
        self.sorted_rows()
            .into_iter()
            .map(|(key, _)| key)
            .filter(|(_, dimension, ..)| !dimension.keeps_extremes())
            .collect()
    }

    /// Every rollup row the deltas touch with what they add to it, in key order (shops and
    /// values in byte order): what another backend upserts.
    pub fn sorted_rows(&self) -> Vec<(RollupKey<'a>, Sums)> {
        let (names, rows) = self.spread();
        rows.into_iter()
            .map(|((shop, dimension, grain, bucket, value), sums)| {
                ((names[shop], dimension, grain, bucket, names[value]), sums)
            })
            .collect()
    }

    /// The deltas spread over every grain, one entry per rollup row in key order, shops and
    /// values as indexes into the returned names.
    #[allow(clippy::type_complexity)]
    fn spread(
        &self,
    ) -> (
        Vec<&'a str>,
        Vec<((usize, Dimension, Grain, i64, usize), Sums)>,
    ) {
        // Shops and values as numbers in their byte order, so that spreading and sorting
        // compare integers, not strings, and the order stays the strings' order.
        let mut names: Vec<&'a str> = self
            .quarters
            .keys()
            .flat_map(|&(shop, _, _, value)| [shop, value])
            .collect();
        names.sort_unstable();
        names.dedup();
        let numbers: HashMap<&str, usize, FastHash> = names
            .iter()
            .enumerate()
            .map(|(i, name)| (*name, i))
            .collect();
        let mut rows: HashMap<(usize, Dimension, Grain, i64, usize), Sums, FastHash> =
            HashMap::default();
        for (&(shop, dimension, quarter, value), sums) in &self.quarters {
            let (shop, value) = (numbers[shop], numbers[value]);
            for grain in Grain::ALL {
                if let Some(bucket) = grain.bucket_of(quarter) {
                    rows.entry((shop, dimension, grain, bucket, value))
                        .or_default()
                        .add(sums);
                }
            }
        }
        let mut rows: Vec<_> = rows.into_iter().collect();
        rows.sort_unstable_by_key(|(key, _)| *key);
        (names, rows)
    }
}

/// The counted measures of `sums`, without their maximum and minimum.
fn counts_of(sums: &Sums) -> Sums {
    Sums {
        max_amount: None,
        min_amount: None,
        ..*sums
    }
}

/// The SQL condition of a rollup row that holds no event: every counted measure zero.
pub fn emptied_condition() -> String {
    Sums::MEASURES
        .iter()
        .filter(|m| m.combine == Combine::Sum)
        .map(|m| format!("{} = 0", m.column))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `INSERT … ON CONFLICT DO UPDATE` adding a row's measures to the stored ones, each as its
/// [`Combine`] says.
fn upsert_sql() -> String {
    let measures: Vec<&str> = Sums::MEASURES.iter().map(|m| m.column).collect();
    let columns = [&KEY_COLUMNS[..], &measures[..]].concat();
    let placeholders = vec!["?"; columns.len()].join(", ");
    let updates: Vec<String> = Sums::MEASURES
        .iter()
        .map(|m| {
            let c = m.column;
            match m.combine {
                Combine::Sum => format!("{c} = {c} + excluded.{c}"),
                // SQLite's MAX and MIN of several arguments are NULL when one is.
                Combine::Max => {
                    format!("{c} = COALESCE(MAX({c}, excluded.{c}), {c}, excluded.{c})")
                }
                Combine::Min => {
                    format!("{c} = COALESCE(MIN({c}, excluded.{c}), {c}, excluded.{c})")
                }
            }
        })
        .collect();
    format!(
        "INSERT INTO rollups ({}) VALUES ({placeholders}) ON CONFLICT ({}) DO UPDATE SET {}",
        columns.join(", "),
        KEY_COLUMNS.join(", "),
        updates.join(", ")
    )
}

/// How many raw rows [`fold`] sums at a time, at most.
const FOLD_CHUNK: i64 = 100_000;

/// The highest raw row id the rollups hold.
pub fn watermark(connection: &Connection) -> Result<i64, StoreError> {
    Ok(
        connection.query_row("SELECT last_event_id FROM rollup_progress", [], |row| {
            row.get(0)
        })?,
    )
}

/// Folds every raw row past the watermark into the rollups and moves the watermark, inside
/// the caller's transaction. Returns how many rows it folded.
pub fn fold(connection: &Connection) -> Result<usize, StoreError> {
    let after = watermark(connection)?;
    fold_rows(connection, after, i64::MAX, &Dimension::ALL, true)
}

/// Sums the raw rows with ids in `(after, until]` into the rollups under `dimensions`, chunk
/// by chunk; `advance`: moves the watermark past each chunk (a fold), or leaves it (a
/// migration summing rows already folded under other dimensions).
fn fold_rows(
    connection: &Connection,
    mut after: i64,
    until: i64,
    dimensions: &[Dimension],
    advance: bool,
) -> Result<usize, StoreError> {
    // Each event with what it is credited to now (the raw pass's own SQL).
    let attributes: Vec<String> = Attribute::ALL
        .iter()
        .map(|a| super::sqlite_segment::attribute_sql(*a))
        .collect();
    let mut read = connection.prepare_cached(&format!(
        "SELECT e.id, e.shop_id, e.ts_micros, e.event_type, e.amount_micros, e.product_id,
            e.currency, e.is_bot, {}
         FROM events e LEFT JOIN sessions s
            ON s.shop_id = e.shop_id AND s.session_id = e.session_id
         WHERE e.id > ?1 AND e.id <= ?3 ORDER BY e.id LIMIT ?2",
        attributes.join(", ")
    ))?;
    let mut folded = 0;
    loop {
        let chunk: Vec<RawRow> = read
            .query_map((after, FOLD_CHUNK, until), |row| {
                let mut attributed: [Option<String>; 10] = Default::default();
                for (i, value) in attributed.iter_mut().enumerate() {
                    *value = row.get(8 + i)?;
                }
                Ok(RawRow {
                    id: row.get(0)?,
                    shop_id: row.get(1)?,
                    ts_micros: row.get(2)?,
                    // Parsed where it is read: no string is allocated for it.
                    event_type: domain::event::EventType::parse(row.get_ref(3)?.as_str()?),
                    amount_micros: row.get(4)?,
                    product_id: row.get(5)?,
                    currency: row.get(6)?,
                    is_bot: row.get(7)?,
                    attributed,
                })
            })?
            .collect::<Result<_, _>>()?;
        let Some(last) = chunk.last() else {
            return Ok(folded);
        };
        after = last.id;
        folded += chunk.len();
        let mut deltas = Deltas::default();
        for row in &chunk {
            // Rows of an unknown type (impossible through ingestion) count nowhere, as in
            // every raw read.
            let Some(event_type) = row.event_type else {
                continue;
            };
            // Bots are stored but summed nowhere (docs/API.md, "Where buyers come from").
            if row.is_bot {
                continue;
            }
            let facts = Facts {
                event_type,
                amount_micros: row.amount_micros,
                product_id: row.product_id.as_deref(),
                currency: row.currency.as_deref(),
                attributed: Attributed {
                    values: row.attributed.each_ref().map(Option::as_deref),
                },
            };
            deltas.add_under(dimensions, &row.shop_id, row.ts_micros, &facts);
        }
        deltas.apply(connection)?;
        if advance {
            connection.execute("UPDATE rollup_progress SET last_event_id = ?1", [after])?;
        }
    }
}

/// Sums the stored events under the attributed dimensions again, up to the watermark (the
/// rows past it are folded under every dimension by the next fold), inside the caller's
/// transaction, and leaves every other dimension's rows as they are: they may hold the sums of
/// events that retention has deleted since, which a rebuild from the raw events would lose.
pub fn rebuild_attributed(connection: &Connection) -> Result<(), StoreError> {
    let attributed = attributed_dimensions();
    let mut delete = connection.prepare("DELETE FROM rollups WHERE dimension = ?1")?;
    for dimension in &attributed {
        delete.execute([dimension.name()])?;
    }
    let until = watermark(connection)?;
    fold_rows(connection, i64::MIN, until, &attributed, false)?;
    Ok(())
}

/// The dimensions whose value is a session's credit.
pub fn attributed_dimensions() -> Vec<Dimension> {
    Dimension::ALL
        .into_iter()
        .filter(|dimension| matches!(dimension, Dimension::Attributed(_)))
        .collect()
}

/// Empties the rollups and folds every stored event into them again, inside the caller's
/// transaction: for corrections that cannot be subtracted (`forget`), and migrations that
/// change what every row holds.
pub fn rebuild(connection: &Connection) -> Result<(), StoreError> {
    connection.execute("DELETE FROM rollups", [])?;
    connection.execute("UPDATE rollup_progress SET last_event_id = ?1", [i64::MIN])?;
    fold(connection)?;
    Ok(())
}

struct RawRow {
    id: i64,
    shop_id: String,
    ts_micros: Option<i64>,
    /// `None` for a type this build does not know.
    event_type: Option<domain::event::EventType>,
    amount_micros: Option<i64>,
    product_id: Option<String>,
    currency: Option<String>,
    is_bot: bool,
    /// What it is credited to, in [`Attribute`] order.
    attributed: [Option<String>; 10],
}
