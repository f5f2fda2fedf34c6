//! Editing what operators set up, on CQL: renaming and repricing stations,
//! tariffs, plans and merchants, taking things out of service and back, and
//! piles' offline card lists (`statements::EditStatements`). The
//! `Resources` trait's methods for these call here from `resources`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::codec::{dec, micros, time, to_json};
use super::Db;
use crate::{Item, ItemKind, Result, Station, StoreError};
use domain::accounts::Merchant;
use domain::pricing::PricePlan;
use domain::tariff::Tariff;
use vocab::PileId;

impl Db {
    pub(super) async fn update_station(&self, s: &Station) -> Result<bool> {
        if !self.exists_id("reading a station", &self.st.resources.station_exists, s.id).await? {
            return Ok(false);
        }
        if let Some(m) = s.merchant_id {
            if !self.exists_id("reading a merchant", &self.st.money.merchant_exists, m).await? {
                return Err(StoreError::NotFound(format!("merchant {m}")));
            }
        }
        let values =
            (&s.name, s.utc_offset_minutes, dec(s.service_fee), dec(s.minimum_charge), s.merchant_id, s.id);
        self.cql.write("updating a station", &self.st.edits.station_update, values).await?;
        Ok(true)
    }

    pub(super) async fn update_tariff(&self, t: &Tariff) -> Result<bool> {
        if !self.exists_id("reading a tariff", &self.st.resources.tariff_exists, t.id).await? {
            return Ok(false);
        }
        let values = (&t.name, to_json(&t.tou)?, t.id);
        self.cql.write("updating a tariff", &self.st.edits.tariff_update, values).await?;
        Ok(true)
    }

    pub(super) async fn update_plan(&self, p: &PricePlan) -> Result<bool> {
        if !self.exists_id("reading a plan", &self.st.resources.plan_exists, p.id).await? {
            return Ok(false);
        }
        let values = (&p.name, to_json(&p.pricing)?, p.id);
        self.cql.write("updating a plan", &self.st.edits.plan_update, values).await?;
        Ok(true)
    }

    pub(super) async fn update_merchant(&self, m: &Merchant) -> Result<bool> {
        if !self.exists_id("reading a merchant", &self.st.money.merchant_exists, m.id).await? {
            return Ok(false);
        }
        let values = (&m.name, dec(m.commission_percent), m.id);
        self.cql.write("updating a merchant", &self.st.edits.merchant_update, values).await?;
        Ok(true)
    }

    /// Taking out what is out already keeps the first time: read, then write.
    /// Two operators racing both write about now; either time is true enough.
    pub(super) async fn set_out_of_service(&self, item: &Item, since: Option<DateTime<Utc>>) -> Result<()> {
        let st = &self.st.edits;
        let key = (item.kind.as_str(), item.key.as_str());
        match since {
            Some(_) if self.out_of_service(item).await?.is_some() => Ok(()),
            Some(at) => {
                self.cql.write("taking out of service", &st.out_insert, (key.0, key.1, micros(at))).await
            }
            None => self.cql.write("putting back in service", &st.out_delete, key).await,
        }
    }

    pub(super) async fn out_of_service(&self, item: &Item) -> Result<Option<DateTime<Utc>>> {
        let key = (item.kind.as_str(), item.key.as_str());
        let row = self.cql.row::<(i64,), _>("reading out of service", &self.st.edits.out_get, key).await?;
        row.map(|(since,)| time("since", since)).transpose()
    }

    pub(super) async fn out_of_service_all(&self, kind: ItemKind) -> Result<HashMap<String, DateTime<Utc>>> {
        let kind = (kind.as_str(),);
        let rows =
            self.cql.rows::<(String, i64), _>("listing out of service", &self.st.edits.out_kind, &kind);
        rows.await?.into_iter().map(|(key, since)| Ok((key, time("since", since)?))).collect()
    }

    pub(super) async fn set_offline_cards(
        &self,
        pile: &PileId,
        cards: &[String],
        listed: bool,
    ) -> Result<()> {
        let st = &self.st.edits;
        let (what, stmt) = if listed {
            ("listing an offline card", &st.offline_insert)
        } else {
            ("unlisting an offline card", &st.offline_delete)
        };
        for card in cards {
            self.cql.write(what, stmt, (&pile.0, card)).await?;
        }
        Ok(())
    }

    /// Clustered by card, so the partition reads in card order.
    pub(super) async fn offline_cards(&self, pile: &PileId) -> Result<Vec<String>> {
        let key = (&pile.0,);
        let rows =
            self.cql.rows::<(String,), _>("reading an offline list", &self.st.edits.offline_list, &key);
        Ok(rows.await?.into_iter().map(|(card,)| card).collect())
    }
}
