//! `card sync`: the account's cards as WeChat has them — `/card/batchget` paged to the end, then
//! `/card/get` for each — so cards created in the console appear in the catalogue. A card whose
//! type, title, status and stock did not change is not written.

use serde::Serialize;

use super::catalogue::Catalogue;
use super::DistributionError;
use crate::store::cards;

/// A bound on the pages of one sync: 10,000 pages of 50 is more cards than any account holds.
const MAX_PAGES: usize = 10_000;

/// What a sync found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Cards WeChat listed.
    pub cards: usize,
    /// Of them, new to the catalogue.
    pub added: usize,
    /// Changed since the catalogue last had them (type, title, status or stock).
    pub changed: usize,
    pub unchanged: usize,
    /// `/card/batchget` calls made.
    pub pages: usize,
}

impl Catalogue<'_> {
    /// Sync the catalogue with the account's cards of `statuses` (every card when empty).
    pub async fn sync(
        &self,
        appid: Option<&str>,
        statuses: &[String],
    ) -> Result<SyncReport, DistributionError> {
        let appid = self.op.appid(appid)?;
        let api = self.op.tokens.api();
        let mut report = SyncReport::default();
        let mut card_ids = Vec::new();
        loop {
            let offset = card_ids.len() as u64;
            let page = self
                .op
                .tokens
                .with_token(&appid, self.op.now(), |token| async move {
                    api.card_ids(&token, offset, statuses).await
                })
                .await?;
            report.pages += 1;
            // A page may hold fewer than asked; an empty one (or the total reached) is the end.
            let empty = page.card_id_list.is_empty();
            card_ids.extend(page.card_id_list);
            if empty || card_ids.len() as u64 >= page.total_num || report.pages >= MAX_PAGES {
                break;
            }
        }
        card_ids.dedup();
        for card_id in &card_ids {
            let (facts, status) = self.fetch(&appid, card_id).await?;
            let stored = cards::get(&self.op.db, &appid, card_id).await?;
            let same = stored.as_ref().is_some_and(|row| {
                row.card_type == facts.card_type
                    && row.title == facts.title
                    && row.status == status
                    && row.quantity == facts.quantity
            });
            match (stored.is_some(), same) {
                (_, true) => report.unchanged += 1,
                (true, false) => report.changed += 1,
                (false, _) => report.added += 1,
            }
            if !same {
                let card = (appid.as_str(), card_id.as_str());
                cards::refreshed(&self.op.db, card, &facts, &status, self.op.now()).await?;
            }
        }
        report.cards = card_ids.len();
        Ok(report)
    }
}
