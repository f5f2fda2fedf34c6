//! Who signs in and who pays: drivers and their cards, operators' users
//! and login tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use domain::accounts::{Card, Driver, NewUser, Status, Token, User};
use vocab::DriverId;

/// Drivers, their cards, users and their login tokens.
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// Fails with `Conflict` if the phone number is registered.
    async fn create_driver(
        &self,
        phone: &str,
        password_hash: Option<&str>,
        class: Option<&str>,
    ) -> Result<Driver>;

    async fn driver(&self, id: DriverId) -> Result<Option<Driver>>;

    async fn driver_by_phone(&self, phone: &str) -> Result<Option<Driver>>;

    /// Drivers not active since `before`, longest idle first, at most `limit`.
    async fn inactive_drivers(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Driver>>;

    /// Stores a driver's password, class, status and last activity;
    /// `NotFound` for an unknown driver.
    async fn update_driver(&self, driver: &Driver) -> Result<()>;

    /// Fails with `Conflict` if the number is taken, `NotFound` if the driver is.
    async fn create_card(&self, card: &Card) -> Result<()>;

    async fn card(&self, number: &str) -> Result<Option<Card>>;

    /// A driver's cards, by number.
    async fn cards(&self, driver: DriverId) -> Result<Vec<Card>>;

    async fn set_card_status(&self, number: &str, status: Status) -> Result<Option<Card>>;

    /// Fails with `Conflict` if the username is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User>;

    async fn user(&self, id: i64) -> Result<Option<User>>;

    async fn user_by_name(&self, username: &str) -> Result<Option<User>>;

    /// Every user, by id.
    async fn users(&self) -> Result<Vec<User>>;

    /// Keeps a login token under the hash of its secret.
    async fn create_token(&self, hash: &str, token: &Token) -> Result<()>;

    async fn token(&self, hash: &str) -> Result<Option<Token>>;
    /// Forgets a login token, so it no longer signs anyone in.
    async fn revoke_token(&self, hash: &str) -> Result<()>;
}
