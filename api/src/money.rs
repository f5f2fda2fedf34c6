//! What the money routes share: the configured payment providers, drivers'
//! one-time login codes, bearer tokens, and their metrics.
//!
//! Tokens are opaque random strings kept in the store by their SHA-256, not
//! signed JWTs: a frozen driver's tokens stop working at once without a
//! revocation list, there is no signing key to rotate, and the one store
//! lookup per request is a primary-key read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use domain::accounts::{Driver, Principal, Status, Token};
use domain::ledger::Account;
use prometheus::{IntCounterVec, Opts, Registry};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use store::EntryFilter;

use crate::error::{ApiError, ApiResult};
use crate::providers::Provider;
use crate::routes::State;

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
    /// Login codes by phone: the code, when it expires, and tries left.
    /// An entry outlives its spent tries until it expires, so a resend
    /// cannot refill them; at most `max_pending_codes` are held.
    codes: DashMap<String, (String, Instant, u8)>,
    /// Sends since the last sweep of expired codes and limiter state.
    sends: std::sync::atomic::AtomicU32,
    pub signin: crate::signin::Signin,
    http: reqwest::Client,
    pub notifications: IntCounterVec,
    pub codes_sent: IntCounterVec,
}

pub type MoneyData = web::Data<Money>;

/// Wrong guesses a code survives.
const CODE_TRIES: u8 = 5;

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
        let codes_sent = IntCounterVec::new(
            Opts::new("chargeplane_login_codes_total", "Login codes sent to drivers, by delivery result"),
            &["result"],
        )
        .expect("metric");
        // Registered once per server; a second registration is a bug in the boot.
        let _ = registry.register(Box::new(notifications.clone()));
        let _ = registry.register(Box::new(codes_sent.clone()));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        match config.providers.iter().map(|p| p.name()).collect::<Vec<_>>() {
            names if names.is_empty() => tracing::info!("no payment provider configured: top-ups are off"),
            names => tracing::info!(?names, "payment providers"),
        }
        if config.sandbox.is_some() {
            tracing::warn!(
                "payments.sandbox is on: anyone can pay top-ups without money; never in production"
            );
        }
        Money {
            signin: crate::signin::Signin::new(config.signin.clone(), registry),
            sends: Default::default(),
            config,
            codes: DashMap::new(),
            http,
            notifications,
            codes_sent,
        }
    }

    /// Makes a six-digit code for a phone and sends it through the
    /// notification webhook (or the log, where none is configured). A
    /// resend replaces the code but keeps the tries left; a phone whose
    /// tries are spent gets no new code until the old one expires.
    pub async fn send_code(&self, phone: &str) -> ApiResult<()> {
        let code = format!("{:06}", u32::from_le_bytes(random::<4>()) % 1_000_000);
        let now = Instant::now();
        self.make_room(phone, now)?;
        let mut entry = self.codes.entry(phone.to_owned()).or_insert((String::new(), now, CODE_TRIES));
        let (held, expires, tries) = entry.value_mut();
        if *expires <= now {
            *tries = CODE_TRIES;
        } else if *tries == 0 {
            let wait = *expires - now;
            drop(entry);
            return Err(self.signin.refuse("code_tries", wait));
        }
        *held = code.clone();
        *expires = now + self.config.code_ttl;
        drop(entry);
        self.deliver(phone, &code).await;
        Ok(())
    }

    /// Keeps the pending codes under their cap: expired ones are swept
    /// every so often and whenever the map is full; still full, a new phone
    /// is refused rather than the map grown.
    fn make_room(&self, phone: &str, now: Instant) -> ApiResult<()> {
        use std::sync::atomic::Ordering;
        let cap = self.config.signin.max_pending_codes;
        let due = self.sends.fetch_add(1, Ordering::Relaxed) >= 1024;
        if due || (self.codes.len() >= cap && !self.codes.contains_key(phone)) {
            self.sends.store(0, Ordering::Relaxed);
            self.codes.retain(|_, (_, expires, _)| *expires > now);
            self.signin.sweep();
        }
        if self.codes.len() >= cap && !self.codes.contains_key(phone) {
            return Err(self.signin.refuse("full", self.config.code_ttl.min(Duration::from_secs(60))));
        }
        Ok(())
    }

    async fn deliver(&self, phone: &str, code: &str) {
        let Some(url) = &self.config.notify_webhook else {
            tracing::info!(phone, code, "login code (no notify_webhook configured)");
            return self.codes_sent.with_label_values(&["logged"]).inc();
        };
        let body = serde_json::json!({ "kind": "login_code", "phone": phone, "code": code });
        let result = match self.http.post(url).json(&body).send().await.and_then(|r| r.error_for_status()) {
            Ok(_) => "sent",
            Err(e) => {
                tracing::error!(phone, error = %e, "login code webhook failed");
                "failed"
            }
        };
        self.codes_sent.with_label_values(&[result]).inc();
    }

    /// True once per code sent: a used or expired code is gone, and a too
    /// often guessed one stays refused until it expires.
    pub fn take_code(&self, phone: &str, code: &str) -> bool {
        let Some(mut entry) = self.codes.get_mut(phone) else { return false };
        let (expected, expires, tries) = entry.value_mut();
        if Instant::now() > *expires {
            drop(entry);
            self.codes.remove(phone);
            return false;
        }
        if *tries == 0 {
            return false;
        }
        if expected.as_str() != code {
            *tries -= 1;
            return false;
        }
        drop(entry);
        self.codes.remove(phone);
        true
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
        state: &State,
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

    /// A new bearer token for a principal.
    pub async fn issue(&self, state: &State, principal: Principal) -> ApiResult<String> {
        let secret = hex::encode(random::<32>());
        let expires_at = state.now() + chrono::Duration::from_std(self.config.token_ttl).unwrap_or_default();
        state.store.create_token(&digest(&secret), &Token { principal, expires_at }).await?;
        Ok(secret)
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

/// Bytes from the OS's random source.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS random source");
    b
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn hash_password(password: &str) -> ApiResult<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(&random::<16>()).map_err(|e| ApiError::unavailable(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::unavailable(e.to_string()))
}

pub fn password_matches(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

pub fn unauthorized(message: &str) -> ApiError {
    ApiError::new(actix_web::http::StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Who a request's bearer token speaks for, if it is live.
pub async fn principal(state: &State, req: &HttpRequest) -> ApiResult<Principal> {
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let secret = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("send Authorization: Bearer <token>"))?;
    let token =
        state.store.token(&digest(secret.trim())).await?.ok_or_else(|| unauthorized("unknown token"))?;
    let now: DateTime<Utc> = state.now();
    if token.expires_at <= now {
        return Err(unauthorized("the token has expired; log in again"));
    }
    // For the request's log line: who, never the token.
    req.extensions_mut().insert(token.principal.clone());
    Ok(token.principal)
}

/// The active driver a request's bearer token speaks for.
pub async fn driver(state: &State, req: &HttpRequest) -> ApiResult<Driver> {
    let Principal::Driver { driver_id } = principal(state, req).await? else {
        return Err(unauthorized("a driver's token is needed"));
    };
    let driver = state.store.driver(driver_id).await?.ok_or_else(|| unauthorized("unknown driver"))?;
    match driver.status {
        Status::Active => Ok(driver),
        Status::Frozen => {
            Err(ApiError::new(actix_web::http::StatusCode::FORBIDDEN, "frozen", "the account is frozen"))
        }
        Status::Cancelled => Err(unauthorized("the account is cancelled")),
    }
}
