//! Drivers and their cards, users and login tokens in SQLite; a phone
//! number, card number, username or token hash is taken once.

use super::write::taken;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::codec::{json, micros, parsed, status, text, time, to_json};
use super::{now, SqliteStore};
use crate::{Accounts, Result, StoreError};
use domain::accounts::{Card, Driver, NewUser, Role, Status, Token, User};
use vocab::DriverId;
const DRIVER: &str =
    "SELECT id, phone, password_hash, class, status, created_at, last_active_at FROM drivers";

fn driver_row(r: &Row) -> rusqlite::Result<Driver> {
    Ok(Driver {
        id: r.get(0)?,
        phone: r.get(1)?,
        password_hash: r.get(2)?,
        class: r.get(3)?,
        status: status(r, 4)?,
        created_at: time(r, 5)?,
        last_active_at: time(r, 6)?,
    })
}

pub(super) fn create_driver(
    c: &Connection,
    phone: String,
    password_hash: Option<String>,
    class: Option<String>,
    at: DateTime<Utc>,
) -> Result<Driver> {
    c.prepare_cached(
        "INSERT INTO drivers (phone, password_hash, class, status, created_at, last_active_at)
         VALUES (?1, ?2, ?3, 'active', ?4, ?4)",
    )?
    .execute(params![phone, password_hash, class, micros(at)])
    .map_err(|e| taken(e, || format!("phone {phone}")))?;
    let id = c.last_insert_rowid();
    Ok(Driver { id, phone, password_hash, class, status: Status::Active, created_at: at, last_active_at: at })
}

pub(super) fn driver(c: &Connection, id: DriverId) -> rusqlite::Result<Option<Driver>> {
    c.prepare_cached(&format!("{DRIVER} WHERE id = ?1"))?.query_row([id], driver_row).optional()
}

pub(super) fn driver_by_phone(c: &Connection, phone: &str) -> rusqlite::Result<Option<Driver>> {
    c.prepare_cached(&format!("{DRIVER} WHERE phone = ?1"))?.query_row([phone], driver_row).optional()
}

pub(super) fn inactive_drivers(
    c: &Connection,
    before: DateTime<Utc>,
    limit: usize,
) -> rusqlite::Result<Vec<Driver>> {
    c.prepare_cached(&format!("{DRIVER} WHERE last_active_at < ?1 ORDER BY last_active_at, id LIMIT ?2"))?
        .query_map(params![micros(before), limit as i64], driver_row)?
        .collect()
}

pub(super) fn update_driver(c: &Connection, d: &Driver) -> Result<()> {
    let n = c
        .prepare_cached(
            "UPDATE drivers SET password_hash = ?2, class = ?3, status = ?4, last_active_at = ?5 WHERE id = ?1",
        )?
        .execute(params![d.id, d.password_hash, d.class, d.status.as_str(), micros(d.last_active_at)])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("driver {}", d.id)));
    }
    Ok(())
}

const CARD: &str = "SELECT number, driver_id, kind, status, created_at FROM cards";

fn card_row(r: &Row) -> rusqlite::Result<Card> {
    Ok(Card {
        number: r.get(0)?,
        driver_id: r.get(1)?,
        kind: parsed(r, 2)?,
        status: status(r, 3)?,
        created_at: time(r, 4)?,
    })
}

pub(super) fn create_card(c: &Connection, card: &Card) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO cards (number, driver_id, kind, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        card.number,
        card.driver_id,
        text(&card.kind)?,
        card.status.as_str(),
        micros(card.created_at)
    ])
    .map_err(|e| match taken(e, String::new) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("card {}", card.number)),
        StoreError::NotFound(_) => StoreError::NotFound(format!("driver {}", card.driver_id)),
        e => e,
    })?;
    Ok(())
}

pub(super) fn card(c: &Connection, number: &str) -> rusqlite::Result<Option<Card>> {
    c.prepare_cached(&format!("{CARD} WHERE number = ?1"))?.query_row([number], card_row).optional()
}

pub(super) fn cards(c: &Connection, driver: DriverId) -> rusqlite::Result<Vec<Card>> {
    c.prepare_cached(&format!("{CARD} WHERE driver_id = ?1 ORDER BY number"))?
        .query_map([driver], card_row)?
        .collect()
}

pub(super) fn set_card_status(c: &Connection, number: &str, s: Status) -> Result<Option<Card>> {
    c.prepare_cached("UPDATE cards SET status = ?2 WHERE number = ?1")?
        .execute(params![number, s.as_str()])?;
    Ok(card(c, number)?)
}

const USER: &str =
    "SELECT id, username, password_hash, role, merchant_id, created_at, operator_id FROM users";

fn user_row(r: &Row) -> rusqlite::Result<User> {
    let role: String = r.get(3)?;
    let role = Role::parse(&role).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("role {role:?}").into(),
        )
    })?;
    let user = NewUser {
        username: r.get(1)?,
        password_hash: r.get(2)?,
        role,
        operator_id: r.get(6)?,
        merchant_id: r.get(4)?,
    };
    Ok(User { id: r.get(0)?, user, created_at: time(r, 5)? })
}

pub(super) fn create_user(c: &Connection, u: NewUser, at: DateTime<Utc>) -> Result<User> {
    c.prepare_cached(
        "INSERT INTO users (username, password_hash, role, merchant_id, created_at, operator_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![u.username, u.password_hash, u.role.as_str(), u.merchant_id, micros(at), u.operator_id])
    .map_err(|e| match taken(e, String::new) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("username {}", u.username)),
        StoreError::NotFound(_) => StoreError::NotFound(format!("merchant {:?}", u.merchant_id)),
        e => e,
    })?;
    Ok(User { id: c.last_insert_rowid(), user: u, created_at: at })
}

pub(super) fn user(c: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    c.prepare_cached(&format!("{USER} WHERE id = ?1"))?.query_row([id], user_row).optional()
}

pub(super) fn users(c: &Connection) -> rusqlite::Result<Vec<User>> {
    c.prepare_cached(&format!("{USER} ORDER BY id"))?.query_map([], user_row)?.collect()
}

pub(super) fn user_by_name(c: &Connection, name: &str) -> rusqlite::Result<Option<User>> {
    c.prepare_cached(&format!("{USER} WHERE username = ?1"))?.query_row([name], user_row).optional()
}

pub(super) fn create_token(c: &Connection, hash: &str, t: &Token) -> Result<()> {
    c.prepare_cached("INSERT INTO tokens (hash, token, expires_at) VALUES (?1, ?2, ?3)")?
        .execute(params![hash, to_json(t)?, micros(t.expires_at)])
        .map_err(|e| taken(e, || "token".to_owned()))?;
    Ok(())
}

pub(super) fn token(c: &Connection, hash: &str) -> rusqlite::Result<Option<Token>> {
    c.prepare_cached("SELECT token FROM tokens WHERE hash = ?1")?.query_row([hash], |r| json(r, 0)).optional()
}

#[async_trait]
impl Accounts for SqliteStore {
    async fn create_driver(&self, phone: &str, hash: Option<&str>, class: Option<&str>) -> Result<Driver> {
        let (phone, hash, class, at) =
            (phone.to_owned(), hash.map(str::to_owned), class.map(str::to_owned), now());
        self.writer.submit(move |c| create_driver(c, phone, hash, class, at)).await
    }

    async fn driver(&self, id: DriverId) -> Result<Option<Driver>> {
        self.readers.read(move |c| driver(c, id)).await
    }

    async fn driver_by_phone(&self, phone: &str) -> Result<Option<Driver>> {
        let phone = phone.to_owned();
        self.readers.read(move |c| driver_by_phone(c, &phone)).await
    }

    async fn inactive_drivers(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Driver>> {
        self.readers.read(move |c| inactive_drivers(c, before, limit)).await
    }

    async fn update_driver(&self, driver: &Driver) -> Result<()> {
        let driver = driver.clone();
        self.writer.submit(move |c| update_driver(c, &driver)).await
    }

    async fn create_card(&self, card: &Card) -> Result<()> {
        let card = card.clone();
        self.writer.submit(move |c| create_card(c, &card)).await
    }

    async fn card(&self, number: &str) -> Result<Option<Card>> {
        let number = number.to_owned();
        self.readers.read(move |c| card(c, &number)).await
    }

    async fn cards(&self, driver: DriverId) -> Result<Vec<Card>> {
        self.readers.read(move |c| cards(c, driver)).await
    }

    async fn set_card_status(&self, number: &str, status: Status) -> Result<Option<Card>> {
        let number = number.to_owned();
        self.writer.submit(move |c| set_card_status(c, &number, status)).await
    }

    async fn create_user(&self, user: &NewUser) -> Result<User> {
        let (user, at) = (user.clone(), now());
        self.writer.submit(move |c| create_user(c, user, at)).await
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        self.readers.read(move |c| user(c, id)).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let name = username.to_owned();
        self.readers.read(move |c| user_by_name(c, &name)).await
    }

    async fn users(&self) -> Result<Vec<User>> {
        self.readers.read(users).await
    }

    async fn create_token(&self, hash: &str, token: &Token) -> Result<()> {
        let (hash, token) = (hash.to_owned(), token.clone());
        self.writer.submit(move |c| create_token(c, &hash, &token)).await
    }

    async fn token(&self, hash: &str) -> Result<Option<Token>> {
        let hash = hash.to_owned();
        self.readers.read(move |c| token(c, &hash)).await
    }

    async fn revoke_token(&self, hash: &str) -> Result<()> {
        let hash = hash.to_owned();
        self.writer
            .submit(move |c| {
                c.prepare_cached("DELETE FROM tokens WHERE hash = ?1")?.execute([hash])?;
                Ok(())
            })
            .await
    }
}
