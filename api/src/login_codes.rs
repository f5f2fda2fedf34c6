//! Drivers' one-time login codes: six digits sent to a phone (through the
//! notification webhook, or the log), good for `code_ttl` and a few wrong
//! guesses, with the pending map bounded. The rate limits around them are
//! `signin`'s.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use prometheus::{IntCounterVec, Opts, Registry};

use crate::error::ApiResult;
use crate::signin::Signin;

/// Wrong guesses a code survives.
const CODE_TRIES: u8 = 5;

pub struct LoginCodes {
    /// Login codes by phone: the code, when it expires, and tries left.
    /// An entry outlives its spent tries until it expires, so a resend
    /// cannot refill them; at most `cap` are held.
    codes: DashMap<String, (String, Instant, u8)>,
    /// Sends since the last sweep of expired codes and limiter state.
    sends: std::sync::atomic::AtomicU32,
    ttl: Duration,
    cap: usize,
    webhook: Option<String>,
    http: reqwest::Client,
    sent: IntCounterVec,
}

impl LoginCodes {
    /// Codes live `ttl`; at most `cap` are pending; they are POSTed to
    /// `webhook` (or logged where there is none).
    pub fn new(ttl: Duration, cap: usize, webhook: Option<String>, registry: &Registry) -> Self {
        let sent = IntCounterVec::new(
            Opts::new("chargeplane_login_codes_total", "Login codes sent to drivers, by delivery result"),
            &["result"],
        )
        .expect("metric");
        let _ = registry.register(Box::new(sent.clone()));
        LoginCodes {
            codes: DashMap::new(),
            sends: Default::default(),
            ttl,
            cap,
            webhook,
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
            sent,
        }
    }

    /// Makes a six-digit code for a phone and sends it through the
    /// notification webhook (or the log, where none is configured). A
    /// resend replaces the code but keeps the tries left; a phone whose
    /// tries are spent gets no new code until the old one expires.
    pub async fn send(&self, phone: &str, signin: &Signin) -> ApiResult<()> {
        let code = format!("{:06}", u32::from_le_bytes(crate::tokens::random::<4>()) % 1_000_000);
        let now = Instant::now();
        self.make_room(phone, now, signin)?;
        let mut entry = self.codes.entry(phone.to_owned()).or_insert((String::new(), now, CODE_TRIES));
        let (held, expires, tries) = entry.value_mut();
        if *expires <= now {
            *tries = CODE_TRIES;
        } else if *tries == 0 {
            let wait = *expires - now;
            drop(entry);
            return Err(signin.refuse("code_tries", wait));
        }
        *held = code.clone();
        *expires = now + self.ttl;
        drop(entry);
        self.deliver(phone, &code).await;
        Ok(())
    }

    /// Keeps the pending codes under their cap: expired ones are swept
    /// every so often and whenever the map is full; still full, a new phone
    /// is refused rather than the map grown.
    fn make_room(&self, phone: &str, now: Instant, signin: &Signin) -> ApiResult<()> {
        use std::sync::atomic::Ordering;
        let cap = self.cap;
        let due = self.sends.fetch_add(1, Ordering::Relaxed) >= 1024;
        if due || (self.codes.len() >= cap && !self.codes.contains_key(phone)) {
            self.sends.store(0, Ordering::Relaxed);
            self.codes.retain(|_, (_, expires, _)| *expires > now);
            signin.sweep();
        }
        if self.codes.len() >= cap && !self.codes.contains_key(phone) {
            return Err(signin.refuse("full", self.ttl.min(Duration::from_secs(60))));
        }
        Ok(())
    }

    async fn deliver(&self, phone: &str, code: &str) {
        let Some(url) = &self.webhook else {
            tracing::info!(phone, code, "login code (no notify_webhook configured)");
            return self.sent.with_label_values(&["logged"]).inc();
        };
        let body = serde_json::json!({ "kind": "login_code", "phone": phone, "code": code });
        let result = match self.http.post(url).json(&body).send().await.and_then(|r| r.error_for_status()) {
            Ok(_) => "sent",
            Err(e) => {
                tracing::error!(phone, error = %e, "login code webhook failed");
                "failed"
            }
        };
        self.sent.with_label_values(&[result]).inc();
    }

    /// True once per code sent: a used or expired code is gone, and a too
    /// often guessed one stays refused until it expires.
    pub fn take(&self, phone: &str, code: &str) -> bool {
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
}
