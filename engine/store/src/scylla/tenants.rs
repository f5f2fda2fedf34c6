//! Operators (tenants), and the lists of what they own that operators'
//! pages show: tariffs, plans and users. Each is a scan of a table of
//! hundreds of rows, sorted here. A row from before tenants existed has no
//! operator_id and belongs to the default operator.

use chrono::{DateTime, Utc};

use super::codec::{json, micros, name, time};
use super::{Db, Seq};
use crate::{Result, StoreError};
use domain::accounts::{NewUser, Operator, Role, Status, User};
use domain::pricing::PricePlan;
use domain::tariff::Tariff;
use vocab::{OperatorId, DEFAULT_OPERATOR};

type OperatorRow = (i64, String, String, i64);
/// id, name, tou or pricing, operator_id.
pub(super) type PriceRow = (i64, String, String, Option<i64>);
/// In `cql::USER_COLUMNS` order.
pub(super) type UserRow = (i64, String, String, String, Option<i64>, i64, Option<i64>);

fn operator_row((id, name_, status, created_at): OperatorRow) -> Result<Operator> {
    Ok(Operator {
        id,
        name: name_,
        status: name("status", &status, Status::parse)?,
        created_at: time("created_at", created_at)?,
    })
}

pub(super) fn tariff_row((id, name, tou, operator): PriceRow) -> Result<Tariff> {
    Ok(Tariff { id, operator_id: operator.unwrap_or(DEFAULT_OPERATOR), name, tou: json("tou", &tou)? })
}

pub(super) fn plan_row((id, name, pricing, operator): PriceRow) -> Result<PricePlan> {
    let pricing = json("pricing", &pricing)?;
    Ok(PricePlan { id, operator_id: operator.unwrap_or(DEFAULT_OPERATOR), name, pricing })
}

pub(super) fn user_row(r: UserRow) -> Result<User> {
    let (id, username, password_hash, role, merchant_id, created_at, operator_id) = r;
    let role = Role::parse(&role)
        .ok_or_else(|| StoreError::Backend(format!("column role: {role:?} is not a role")))?;
    // Users from before tenants: everyone but admins worked for operator 1.
    let operator_id = operator_id.or((role != Role::Admin).then_some(DEFAULT_OPERATOR));
    let user = NewUser { username, password_hash, role, operator_id, merchant_id };
    Ok(User { id, user, created_at: time("created_at", created_at)? })
}

fn sorted<T>(mut all: Vec<T>, id: fn(&T) -> i64) -> Vec<T> {
    all.sort_by_key(id);
    all
}

impl Db {
    pub(super) async fn create_operator(&self, name: &str, at: DateTime<Utc>) -> Result<Operator> {
        let id = self.next_id(Seq::Operators).await?;
        let values = (id, name, Status::Active.as_str(), micros(at));
        self.cql.write("inserting an operator", &self.st.operator_insert, values).await?;
        Ok(Operator { id, name: name.to_owned(), status: Status::Active, created_at: at })
    }

    pub(super) async fn operator(&self, id: OperatorId) -> Result<Option<Operator>> {
        let row = self.cql.row::<OperatorRow, _>("reading an operator", &self.st.operator_get, (id,)).await?;
        row.map(operator_row).transpose()
    }

    pub(super) async fn operators(&self) -> Result<Vec<Operator>> {
        let rows = self.cql.rows::<OperatorRow, _>("listing operators", &self.st.operator_scan, &()).await?;
        Ok(sorted(rows.into_iter().map(operator_row).collect::<Result<_>>()?, |o| o.id))
    }

    pub(super) async fn update_operator(
        &self,
        id: OperatorId,
        name: &str,
        status: Status,
    ) -> Result<Option<Operator>> {
        let lwt = self.cql.lwt("updating an operator", &self.st.operator_update, (name, status.as_str(), id));
        if !lwt.await?.applied {
            return Ok(None);
        }
        self.operator(id).await
    }

    pub(super) async fn tariffs(&self) -> Result<Vec<Tariff>> {
        let rows = self.cql.rows::<PriceRow, _>("listing tariffs", &self.st.tariff_scan, &()).await?;
        Ok(sorted(rows.into_iter().map(tariff_row).collect::<Result<_>>()?, |t| t.id))
    }

    pub(super) async fn plans(&self) -> Result<Vec<PricePlan>> {
        let rows = self.cql.rows::<PriceRow, _>("listing plans", &self.st.plan_scan, &()).await?;
        Ok(sorted(rows.into_iter().map(plan_row).collect::<Result<_>>()?, |p| p.id))
    }

    pub(super) async fn users(&self) -> Result<Vec<User>> {
        let rows = self.cql.rows::<UserRow, _>("listing users", &self.st.money.user_scan, &()).await?;
        Ok(sorted(rows.into_iter().map(user_row).collect::<Result<_>>()?, |u| u.id))
    }
}
