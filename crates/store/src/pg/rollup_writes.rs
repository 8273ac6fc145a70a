//! The statements that add to the rollups and drop stale day rows of people, shared by a
//! batch ([`writer`](super::writer)) and by `analytics forget` ([`upkeep`](super::upkeep)),
//! each taking its row locks in key order.

use postgres::GenericClient;

use crate::StoreError;
use crate::rollups::Deltas;
use domain::sums::{Combine, Sums};

/// Adds the deltas to the rollups in one statement whose rows come in key order, so that
/// concurrent consumers lock shared rows (the all-shops totals) in the same order.
pub(super) fn upsert_rollups(
    client: &mut impl GenericClient,
    deltas: &Deltas<'_>,
) -> Result<(), StoreError> {
    let rows = deltas.sorted_rows();
    if rows.is_empty() {
        return Ok(());
    }
    let shops: Vec<&str> = rows.iter().map(|((s, ..), _)| *s).collect();
    let dimensions: Vec<&str> = rows.iter().map(|((_, d, ..), _)| d.name()).collect();
    let grains: Vec<i64> = rows.iter().map(|((_, _, g, ..), _)| g.code()).collect();
    let buckets: Vec<i64> = rows.iter().map(|((_, _, _, b, _), _)| *b).collect();
    let values: Vec<&str> = rows.iter().map(|((.., v), _)| *v).collect();
    let measures: Vec<Vec<Option<i64>>> = (0..Sums::MEASURES.len())
        .map(|i| rows.iter().map(|(_, sums)| sums.values()[i]).collect())
        .collect();
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
        vec![&shops, &dimensions, &grains, &buckets, &values];
    for measure in &measures {
        params.push(measure);
    }
    client.execute(&upsert_sql(), &params)?;
    Ok(())
}

fn upsert_sql() -> String {
    let columns: Vec<&str> = crate::rollups::KEY_COLUMNS
        .iter()
        .copied()
        .chain(Sums::MEASURES.iter().map(|m| m.column))
        .collect();
    let types: Vec<String> = ["text", "text", "int8", "int8", "text"]
        .iter()
        .copied()
        .chain(Sums::MEASURES.iter().map(|_| "int8"))
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1))
        .collect();
    let names: Vec<String> = (1..=columns.len()).map(|i| format!("c{i}")).collect();
    let updates: Vec<String> = Sums::MEASURES
        .iter()
        .map(|m| {
            let c = m.column;
            // GREATEST and LEAST skip NULLs, as SQLite's COALESCE(MAX(…)) does.
            match m.combine {
                Combine::Sum => format!("{c} = rollups.{c} + excluded.{c}"),
                Combine::Max => format!("{c} = GREATEST(rollups.{c}, excluded.{c})"),
                Combine::Min => format!("{c} = LEAST(rollups.{c}, excluded.{c})"),
            }
        })
        .collect();
    format!(
        "INSERT INTO rollups ({columns}) SELECT {names} FROM unnest({types}) WITH ORDINALITY AS u({names}, n)
         ORDER BY n
         ON CONFLICT ({keys}) DO UPDATE SET {updates}",
        columns = columns.join(", "),
        names = names.join(", "),
        types = types.join(", "),
        keys = crate::rollups::KEY_COLUMNS.join(", "),
        updates = updates.join(", ")
    )
}

/// Deletes the day rows of people of sorted `(shop, day)` keys: those days gained events.
pub(super) fn forget_days(
    client: &mut impl GenericClient,
    shop_days: &[(&str, i64)],
) -> Result<(), StoreError> {
    if shop_days.is_empty() {
        return Ok(());
    }
    let shops: Vec<&str> = shop_days.iter().map(|k| k.0).collect();
    let days: Vec<i64> = shop_days.iter().map(|k| k.1).collect();
    client.execute(
        "DELETE FROM people_days WHERE (shop_id, day) IN
            (SELECT * FROM unnest($1::text[], $2::int8[]))",
        &[&shops, &days],
    )?;
    let mut days = days;
    days.sort_unstable();
    days.dedup();
    forget_value_days(client, &days)
}

/// Deletes the marks of the day rows per attributed value of `days` (SQLite's
/// [`forget_value_days`](crate::days::forget_value_days)): the next roll-up builds them again.
/// The caller holds each day's shared advisory lock, so a roll-up of one of them in progress
/// commits first and its mark is the one deleted.
pub(super) fn forget_value_days(
    client: &mut impl GenericClient,
    days: &[i64],
) -> Result<(), StoreError> {
    if !days.is_empty() {
        client.execute(
            "DELETE FROM people_value_marks WHERE day = ANY($1)",
            &[&days],
        )?;
    }
    Ok(())
}

/// Deletes the rows of attributed dimensions the deltas touch that moves took down to
/// nothing (SQLite's [`Deltas::delete_emptied`]); their rows are locked by the upsert already.
pub(super) fn delete_emptied(
    client: &mut impl GenericClient,
    deltas: &Deltas<'_>,
) -> Result<(), StoreError> {
    let keys = deltas.moved_keys();
    if keys.is_empty() {
        return Ok(());
    }
    let shops: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let dimensions: Vec<&str> = keys.iter().map(|k| k.1.name()).collect();
    let grains: Vec<i64> = keys.iter().map(|k| k.2.code()).collect();
    let buckets: Vec<i64> = keys.iter().map(|k| k.3).collect();
    let values: Vec<&str> = keys.iter().map(|k| k.4).collect();
    client.execute(
        &format!(
            "DELETE FROM rollups WHERE ({keys}) IN
                (SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[]))
                AND {emptied}",
            keys = crate::rollups::KEY_COLUMNS.join(", "),
            emptied = crate::rollups::emptied_condition()
        ),
        &[&shops, &dimensions, &grains, &buckets, &values],
    )?;
    Ok(())
}
