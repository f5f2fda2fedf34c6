//! What the money routes share: the configured payment providers, refunds
//! through them, the payment-notification metric, and (for the drivers'
//! routes) their sign-in: login codes and rate limits. Tokens are in
//! `tokens`, password hashing in `passwords`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use actors::Platform;
use domain::ledger::Account;
use prometheus::{IntCounterVec, Opts, Registry};
use rust_decimal::Decimal;
use store::EntryFilter;

use crate::error::{ApiError, ApiResult};
use crate::providers::Provider;

pub struct MoneyConfig {
    /// The configured payment providers; the first takes top-ups by default.
    pub providers: Vec<Arc<dyn Provider>>,
    /// The sandbox, when the configuration turns it on (also in `providers`).
    pub sandbox: Option<domain::payment::Sandbox>,
    /// Driver notifications (login codes) are POSTed here as JSON.
    pub notify_webhook: Option<String>,
    pub code_ttl: Duration,
    pub token_ttl: Duration,
    /// Settlement days are local days at this offset.
    pub settlement_utc_offset_minutes: i32,
    /// Where the drivers' app lives; ports' QR codes point under it.
    pub public_url: String,
    pub signin: crate::signin::SigninConfig,
}

pub struct Money {
    pub config: MoneyConfig,
    pub signin: crate::signin::Signin,
    pub codes: crate::login_codes::LoginCodes,
    pub notifications: IntCounterVec,
}

pub type MoneyData = web::Data<Money>;

impl Money {
    pub fn new(config: MoneyConfig, registry: &Registry) -> Self {
        let notifications = IntCounterVec::new(
            Opts::new(
                "chargeplane_payment_notifications_total",
                "Payment notifications received, by result (credited, replay, bad_signature, ...)",
            ),
            &["result"],
        )
        .expect("metric");
        // Registered once per server; a second registration is a bug in the boot.
        let _ = registry.register(Box::new(notifications.clone()));
        match config.providers.iter().map(|p| p.name()).collect::<Vec<_>>() {
            names if names.is_empty() => tracing::info!("no payment provider configured: top-ups are off"),
            names => tracing::info!(?names, "payment providers"),
        }
        if config.sandbox.is_some() {
            tracing::warn!(
                "payments.sandbox is on: anyone can pay top-ups without money; never in production"
            );
        }
        let codes = crate::login_codes::LoginCodes::new(
            config.code_ttl,
            config.signin.max_pending_codes,
            config.notify_webhook.clone(),
            registry,
        );
        Money {
            signin: crate::signin::Signin::new(config.signin.clone(), registry),
            codes,
            config,
            notifications,
        }
    }

    /// The provider called `name`, if it is configured.
    pub fn provider(&self, name: &str) -> Option<&dyn Provider> {
        self.config.providers.iter().find(|p| p.name() == name).map(|p| p.as_ref())
    }

    /// Where top-ups go when the driver names no provider: a 409 with none
    /// configured, rather than an order nobody can pay.
    pub fn default_provider(&self) -> ApiResult<&dyn Provider> {
        self.config.providers.first().map(|p| p.as_ref()).ok_or_else(|| {
            ApiError::conflict("no_payment_provider", "no payment provider is configured; top-ups are off")
        })
    }

    /// Pays `amount` of a driver's wallet back through the providers it came
    /// in by that take refunds, no more through each than it brought in
    /// (most first). Each part
    /// is booked, then paid by its provider; a part the provider refuses is
    /// reversed, and the parts before it stand. Nothing is booked unless the
    /// whole amount can go back through providers that take refunds.
    pub async fn refund(
        &self,
        state: &Platform,
        driver: i64,
        key: &str,
        amount: Decimal,
    ) -> ApiResult<Vec<Refunded>> {
        let filter = EntryFilter { account: Some(Account::Wallet(driver)), ..Default::default() };
        let paid_in = domain::ledger::refundable(driver, &state.store.entries(&filter).await?);
        let (mut plan, mut others, mut left) = (Vec::new(), Vec::new(), amount);
        for (name, most) in &paid_in {
            match self.provider(name).filter(|p| p.refunds()) {
                Some(provider) if !left.is_zero() => {
                    let part = left.min(*most);
                    plan.push((provider, part));
                    left -= part;
                }
                Some(_) => {}
                None => others.push(name),
            }
        }
        if !left.is_zero() {
            let here = amount - left;
            if let Some(name) = others.first() {
                let why = format!("{here} can be refunded here; money paid in through {name} is refunded in its own console");
                return Err(ApiError::conflict("refunds_unsupported", why));
            }
            let why = format!("at most {here} can be paid back through the providers it came in by");
            return Err(ApiError::conflict("refund_exceeds_payments", why));
        }
        let mut done = Vec::new();
        for (provider, part) in plan {
            let key = if done.is_empty() { key.to_owned() } else { format!("{key}-{}", provider.name()) };
            let entry = domain::ledger::Entry::refund(&key, driver, provider.name(), part, state.now());
            state.store.post_entry(&entry).await?;
            match provider.refund(&key, part).await {
                Ok(reference) => {
                    done.push(Refunded { provider: provider.name().to_owned(), amount: part, reference })
                }
                Err(why) => {
                    state.store.post_entry(&entry.reversal(state.now())).await?;
                    tracing::error!(driver, key, error = %why, "provider refused a refund; booking reversed");
                    let paid: Decimal = done.iter().map(|d| d.amount).sum();
                    let why = format!("{}: {why} ({paid} was refunded before it)", provider.name());
                    return Err(ApiError::new(
                        actix_web::http::StatusCode::BAD_GATEWAY,
                        "provider_failed",
                        why,
                    ));
                }
            }
        }
        Ok(done)
    }
}

/// One provider's part of a refund.
#[derive(Debug, serde::Serialize)]
pub struct Refunded {
    pub provider: String,
    pub amount: Decimal,
    /// The provider's own reference for the payout.
    pub reference: String,
}
