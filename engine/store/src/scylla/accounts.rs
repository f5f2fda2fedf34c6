//! Drivers and their cards, users and login tokens on CQL. A phone number,
//! a card number and a token are each claimed once with a lightweight
//! transaction.

use super::codec::sorted;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;

use super::codec::{from_snake, json, micros, name, snake, time, to_json};
use super::cql::IN_KEYS;
use super::{now, Db, ScyllaStore, Seq};
use crate::{Accounts, Result, StoreError};
use domain::accounts::{Card, Driver, NewUser, Role, Status, Token, User};
use vocab::{DriverId, DEFAULT_OPERATOR};

/// In `statements::DRIVER_COLUMNS` order.
type DriverRow = (i64, String, Option<String>, Option<String>, String, i64, i64);

/// In `statements::CARD_COLUMNS` order.
type CardRow = (String, i64, String, String, i64);

fn driver_row(r: DriverRow) -> Result<Driver> {
    let (id, phone, password_hash, class, status, created_at, last_active_at) = r;
    Ok(Driver {
        id,
        phone,
        password_hash,
        class,
        status: name("status", &status, Status::parse)?,
        created_at: time("created_at", created_at)?,
        last_active_at: time("last_active_at", last_active_at)?,
    })
}

fn card_row((number, driver_id, kind, status, created_at): CardRow) -> Result<Card> {
    Ok(Card {
        number,
        driver_id,
        kind: from_snake("kind", &kind)?,
        status: name("status", &status, Status::parse)?,
        created_at: time("created_at", created_at)?,
    })
}

/// A token's row outlives its expiry by this much (seconds), then expires.
const TOKEN_KEPT_AFTER_EXPIRY: i64 = 30 * 86_400;

/// The longest TTL CQL takes (20 years), seconds.
const MAX_TTL: i64 = 630_720_000;

/// In `statements::USER_COLUMNS` order.
pub(super) type UserRow = (i64, String, String, String, Option<i64>, i64, Option<i64>);

pub(super) fn user_row(r: UserRow) -> Result<User> {
    let (id, username, password_hash, role, merchant_id, created_at, operator_id) = r;
    let role = Role::parse(&role)
        .ok_or_else(|| StoreError::Backend(format!("column role: {role:?} is not a role")))?;
    // Users from before tenants: everyone but admins worked for operator 1.
    let operator_id = operator_id.or((role != Role::Admin).then_some(DEFAULT_OPERATOR));
    let user = NewUser { username, password_hash, role, operator_id, merchant_id };
    Ok(User { id, user, created_at: time("created_at", created_at)? })
}

impl Db {
    /// The driver's row is written first, then its phone number claimed
    /// (`IF NOT EXISTS`), so a claimed number always leads to a driver. A
    /// lost claim deletes the row (no one has its id).
    pub(super) async fn create_driver(
        &self,
        phone: &str,
        password_hash: Option<&str>,
        class: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Driver> {
        let m = &self.st.money;
        let id = self.next_id(Seq::Drivers).await?;
        let driver = Driver {
            id,
            phone: phone.to_owned(),
            password_hash: password_hash.map(str::to_owned),
            class: class.map(str::to_owned),
            status: Status::Active,
            created_at: at,
            last_active_at: at,
        };
        let row = (id, phone, password_hash, class, driver.status.as_str(), micros(at), micros(at));
        self.cql.write("inserting a driver", &m.driver_insert, row).await?;
        if !self.cql.lwt("claiming a phone number", &m.phone_claim, (phone, id)).await?.applied {
            self.cql.write("deleting an unregistered driver", &m.driver_delete, (id,)).await?;
            return Err(StoreError::Conflict(format!("phone {phone}")));
        }
        Ok(driver)
    }

    pub(super) async fn driver(&self, id: DriverId) -> Result<Option<Driver>> {
        let row = self.cql.row::<DriverRow, _>("reading a driver", &self.st.money.driver_get, (id,));
        row.await?.map(driver_row).transpose()
    }

    pub(super) async fn inactive_drivers(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Driver>> {
        let rows = self.cql.rows::<DriverRow, _>("listing drivers", &self.st.money.driver_scan, &()).await?;
        let mut idle: Vec<Driver> = rows
            .into_iter()
            .map(driver_row)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|d| d.last_active_at < before)
            .collect();
        idle.sort_by_key(|d| (d.last_active_at, d.id));
        idle.truncate(limit);
        Ok(idle)
    }

    pub(super) async fn driver_by_phone(&self, phone: &str) -> Result<Option<Driver>> {
        let claim = self.cql.row::<(i64,), _>("reading a phone number", &self.st.money.phone_get, (phone,));
        match claim.await? {
            Some((id,)) => self.driver(id).await,
            None => Ok(None),
        }
    }

    /// A plain overwrite of the columns a driver may change, after checking
    /// the driver exists (an UPDATE would create the row; drivers are never
    /// deleted once registered).
    pub(super) async fn update_driver(&self, d: &Driver) -> Result<()> {
        let m = &self.st.money;
        if !self.exists_id("reading a driver", &m.driver_exists, d.id).await? {
            return Err(StoreError::NotFound(format!("driver {}", d.id)));
        }
        let values = (&d.password_hash, &d.class, d.status.as_str(), micros(d.last_active_at), d.id);
        self.cql.write("updating a driver", &m.driver_update, values).await
    }

    /// Lists the number under the driver, then claims it (`IF NOT EXISTS`).
    /// A listed number whose card belongs to someone else, or to no one
    /// (a lost claim, a crash), is skipped by `cards`.
    pub(super) async fn create_card(&self, c: &Card) -> Result<()> {
        let m = &self.st.money;
        if !self.exists_id("reading a driver", &m.driver_exists, c.driver_id).await? {
            return Err(StoreError::NotFound(format!("driver {}", c.driver_id)));
        }
        self.cql.write("listing a card", &m.card_list_insert, (c.driver_id, &c.number)).await?;
        let values = (&c.number, c.driver_id, snake(&c.kind)?, c.status.as_str(), micros(c.created_at));
        if !self.cql.lwt("claiming a card number", &m.card_claim, values).await?.applied {
            return Err(StoreError::Conflict(format!("card {}", c.number)));
        }
        Ok(())
    }

    pub(super) async fn card(&self, number: &str) -> Result<Option<Card>> {
        let row = self.cql.row::<CardRow, _>("reading a card", &self.st.money.card_get, (number,));
        row.await?.map(card_row).transpose()
    }

    pub(super) async fn cards(&self, driver: DriverId) -> Result<Vec<Card>> {
        let m = &self.st.money;
        let numbers: Vec<(String,)> =
            self.cql.rows("listing a driver's cards", &m.cards_of_driver, &(driver,)).await?;
        let numbers: Vec<String> = numbers.into_iter().map(|(n,)| n).collect();
        let chunks = numbers.chunks(IN_KEYS).map(|chunk| {
            let chunk = chunk.to_vec();
            async move { self.cql.rows::<CardRow, _>("reading cards", &m.cards_get, &(chunk,)).await }
        });
        let mut cards = try_join_all(chunks)
            .await?
            .into_iter()
            .flatten()
            .map(card_row)
            .filter(|c| c.as_ref().map_or(true, |c| c.driver_id == driver))
            .collect::<Result<Vec<_>>>()?;
        cards.sort_by(|a, b| a.number.cmp(&b.number));
        Ok(cards)
    }

    /// `UPDATE ... IF EXISTS`: every write of a card row is a Paxos write
    /// (it was claimed by one), and an unknown number is not created.
    pub(super) async fn set_card_status(&self, number: &str, status: Status) -> Result<Option<Card>> {
        let lwt =
            self.cql.lwt("setting a card's status", &self.st.money.card_status, (status.as_str(), number));
        if !lwt.await?.applied {
            return Ok(None);
        }
        self.card(number).await
    }

    /// Claimed with `IF NOT EXISTS`; the row expires 30 days after the token
    /// does (an expired token is refused by its `expires_at` before that).
    pub(super) async fn create_token(&self, hash: &str, t: &Token, now: DateTime<Utc>) -> Result<()> {
        let left = (t.expires_at - now).num_seconds().max(0);
        let ttl = (left.saturating_add(TOKEN_KEPT_AFTER_EXPIRY)).min(MAX_TTL) as i32;
        let values = (hash, to_json(t)?, micros(t.expires_at), ttl);
        if !self.cql.lwt("storing a token", &self.st.money.token_claim, values).await?.applied {
            return Err(StoreError::Conflict("token".to_owned()));
        }
        Ok(())
    }

    pub(super) async fn token(&self, hash: &str) -> Result<Option<Token>> {
        let read = self.cql.row::<(String,), _>("reading a token", &self.st.money.token_get, (hash,));
        read.await?.map(|(t,)| json("token", &t)).transpose()
    }

    /// The row first, then the username claim, as for drivers' phones: a
    /// lost claim deletes the row, so a taken name never leaves a user.
    pub(super) async fn create_user(
        &self,
        u: &domain::accounts::NewUser,
        at: DateTime<Utc>,
    ) -> Result<domain::accounts::User> {
        let m = &self.st.money;
        let id = self.next_id(Seq::Users).await?;
        let row =
            (id, &u.username, &u.password_hash, u.role.as_str(), u.merchant_id, micros(at), u.operator_id);
        self.cql.write("inserting a user", &m.user_insert, row).await?;
        if !self.cql.lwt("claiming a username", &m.username_claim, (&u.username, id)).await?.applied {
            self.cql.write("deleting an unregistered user", &m.user_delete, (id,)).await?;
            return Err(StoreError::Conflict(format!("username {}", u.username)));
        }
        Ok(domain::accounts::User { id, user: u.clone(), created_at: at })
    }

    pub(super) async fn user(&self, id: i64) -> Result<Option<domain::accounts::User>> {
        let row = self.cql.row::<UserRow, _>("reading a user", &self.st.money.user_get, (id,));
        row.await?.map(user_row).transpose()
    }

    pub(super) async fn user_by_name(&self, username: &str) -> Result<Option<domain::accounts::User>> {
        let claim = self.cql.row::<(i64,), _>("reading a username", &self.st.money.username_get, (username,));
        match claim.await? {
            Some((id,)) => self.user(id).await,
            None => Ok(None),
        }
    }

    pub(super) async fn users(&self) -> Result<Vec<User>> {
        let rows = self.cql.rows::<UserRow, _>("listing users", &self.st.money.user_scan, &()).await?;
        Ok(sorted(rows.into_iter().map(user_row).collect::<Result<_>>()?, |u| u.id))
    }
}

#[async_trait]
impl Accounts for ScyllaStore {
    async fn create_driver(
        &self,
        phone: &str,
        password_hash: Option<&str>,
        class: Option<&str>,
    ) -> Result<Driver> {
        let db = &self.db;
        db.cql.count(db.create_driver(phone, password_hash, class, now()).await)
    }

    async fn driver(&self, id: DriverId) -> Result<Option<Driver>> {
        self.db.driver(id).await
    }

    async fn driver_by_phone(&self, phone: &str) -> Result<Option<Driver>> {
        self.db.driver_by_phone(phone).await
    }

    async fn inactive_drivers(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Driver>> {
        self.db.inactive_drivers(before, limit).await
    }

    async fn update_driver(&self, driver: &Driver) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.update_driver(driver).await)
    }

    async fn create_card(&self, card: &Card) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.create_card(card).await)
    }

    async fn card(&self, number: &str) -> Result<Option<Card>> {
        self.db.card(number).await
    }

    async fn cards(&self, driver: DriverId) -> Result<Vec<Card>> {
        self.db.cards(driver).await
    }

    async fn set_card_status(&self, number: &str, status: Status) -> Result<Option<Card>> {
        let db = &self.db;
        db.cql.count(db.set_card_status(number, status).await)
    }

    async fn create_user(&self, user: &domain::accounts::NewUser) -> Result<domain::accounts::User> {
        let db = &self.db;
        db.cql.count(db.create_user(user, now()).await)
    }

    async fn user(&self, id: i64) -> Result<Option<domain::accounts::User>> {
        self.db.user(id).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<domain::accounts::User>> {
        self.db.user_by_name(username).await
    }

    async fn users(&self) -> Result<Vec<domain::accounts::User>> {
        self.db.users().await
    }

    async fn create_token(&self, hash: &str, token: &Token) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.create_token(hash, token, now()).await)
    }

    async fn token(&self, hash: &str) -> Result<Option<Token>> {
        self.db.token(hash).await
    }

    async fn revoke_token(&self, hash: &str) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.revoke_token(hash).await)
    }
}
