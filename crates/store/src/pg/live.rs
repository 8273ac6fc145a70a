//! Noticing newly committed events on PostgreSQL, for the live stream: the all-time totals
//! rollup row of each shop counts every stored event of it, and each batch updates it in the
//! batch's transaction, so the growth of those counts between two polls is what was committed
//! (a seek per shop on the rollups' key, no scan of the events).

use std::collections::BTreeMap;

use postgres::Client;

use super::OffRuntime;
use super::reads::PgReads;
use crate::StoreError;
use crate::backend::{ReadBackend, RollupRows};
use crate::grain::Grain;
use crate::live::Stored;
use domain::dimension::Dimension;

/// A read connection that remembers each shop's count at the last poll.
pub struct PgCommitWatcher {
    url: String,
    client: OffRuntime<Client>,
    counts: BTreeMap<String, i64>,
}

impl PgCommitWatcher {
    /// Starts watching from the events stored now: only later ones are reported.
    pub fn open(url: &str) -> Result<PgCommitWatcher, StoreError> {
        let mut client = super::connect(url)?;
        let counts = counts(&mut client)?;
        Ok(PgCommitWatcher {
            url: url.to_owned(),
            client: OffRuntime::new(client),
            counts,
        })
    }

    /// What was committed since the last call, or `None` when nothing was.
    pub fn poll(&mut self) -> Result<Option<Stored>, StoreError> {
        if self.client.is_closed() {
            self.client = OffRuntime::new(super::connect(&self.url)?);
        }
        let counts = counts(&mut self.client)?;
        let per_shop: Vec<(String, u64)> = counts
            .iter()
            .filter_map(|(shop, &count)| {
                let before = self.counts.get(shop).copied().unwrap_or(0);
                (count > before).then(|| (shop.clone(), (count - before) as u64))
            })
            .collect();
        self.counts = counts;
        Ok((!per_shop.is_empty()).then_some(Stored { per_shop }))
    }
}

fn counts(client: &mut Client) -> Result<BTreeMap<String, i64>, StoreError> {
    let reads = PgReads::new(client);
    let mut counts = BTreeMap::new();
    for shop in reads.rollup_shop_ids()? {
        let mut count = 0;
        reads.rollup_rows(
            RollupRows {
                shop: &shop,
                dimension: Dimension::Total,
                grain: Grain::All,
                from: None,
                to: None,
                only: None,
            },
            &mut |_, _, sums| count += sums.events(),
        )?;
        counts.insert(shop, count);
    }
    Ok(counts)
}
