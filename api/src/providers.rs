//! Payment providers: how a provider's notification is authenticated and how
//! money is paid back through it. The ledger side (order checks, crediting
//! once) is shared in `routes::payments`, so a new provider is one more
//! `Provider` here and nothing else.
//!
//! None is built in: a fresh server has no provider, so nothing can credit
//! a wallet. The sandbox, which pays any order on request, exists only when
//! `[payments] sandbox = true`.

use std::fmt;
use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use domain::payment::{self, Notification, NotifyError, Sandbox, SIGNATURE_HEADER};
use rust_decimal::Decimal;
use serde::Deserialize;

/// A payment provider, as the platform sees it.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Its name in URLs, orders and ledger accounts.
    fn name(&self) -> &str;
    /// The notification a request carries, if the provider really sent it.
    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<Notification, NotifyError>;
    /// Whether `refund` can pay money back at all.
    fn refunds(&self) -> bool {
        true
    }
    /// Pays `amount` back to the driver; the provider's reference for it.
    async fn refund(&self, key: &str, amount: Decimal) -> Result<String, String>;
}

fn signature(headers: &HeaderMap) -> &str {
    headers.get(SIGNATURE_HEADER).and_then(|h| h.to_str().ok()).unwrap_or("")
}

#[async_trait::async_trait]
impl Provider for Sandbox {
    fn name(&self) -> &str {
        "sandbox"
    }

    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<Notification, NotifyError> {
        self.read(body, signature(headers))
    }

    async fn refund(&self, key: &str, _amount: Decimal) -> Result<String, String> {
        Ok(format!("sbx-refund-{key}"))
    }
}

/// A provider that notifies with `X-Chargeplane-Signature`, the hex
/// HMAC-SHA256 of the body under a secret shared with it.
pub struct Signed {
    name: String,
    secret: Vec<u8>,
}

#[async_trait::async_trait]
impl Provider for Signed {
    fn name(&self) -> &str {
        &self.name
    }

    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<Notification, NotifyError> {
        payment::read(&self.secret, body, signature(headers))
    }

    /// Such a provider has no refund call the platform knows.
    fn refunds(&self) -> bool {
        false
    }

    async fn refund(&self, _key: &str, _amount: Decimal) -> Result<String, String> {
        Err(format!("{} takes no refunds through the platform; refund in its console", self.name))
    }
}

/// `[payments]` in the configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Turns on the sandbox provider, which pays any order on request
    /// (demos, tests). Never in production.
    pub sandbox: bool,
    /// Signed-webhook providers (`[[payments.signed]]`).
    pub signed: Vec<SignedConfig>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedConfig {
    /// Its name: notifications come to `/api/v1/payments/{name}/notify`.
    pub name: String,
    /// The shared secret notifications are signed with.
    pub secret: String,
}

impl fmt::Debug for SignedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedConfig").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A shared secret shorter than this is guessable.
const MIN_SECRET: usize = 16;

impl PaymentsConfig {
    /// Refuses providers that cannot be told apart or are easy to forge.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for p in &self.signed {
            let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            if p.name.is_empty() || !p.name.chars().all(valid) || p.name == "sandbox" {
                return Err(format!(
                    "payments.signed name {:?}: letters, digits, - and _, not sandbox",
                    p.name
                ));
            }
            if !seen.insert(&p.name) {
                return Err(format!("payments.signed name {:?} is given twice", p.name));
            }
            if p.secret.len() < MIN_SECRET {
                return Err(format!(
                    "payments.signed {:?}: the secret needs {MIN_SECRET} bytes or more",
                    p.name
                ));
            }
        }
        Ok(())
    }

    /// The configured providers, signed ones first: the first is where top-ups
    /// go unless the driver names another.
    /// `sandbox` is the sandbox, when `self.sandbox` turns it on.
    pub fn providers(&self, sandbox: Option<Sandbox>) -> Vec<Arc<dyn Provider>> {
        let mut out: Vec<Arc<dyn Provider>> = self
            .signed
            .iter()
            .map(|p| Arc::new(Signed { name: p.name.clone(), secret: p.secret.clone().into_bytes() }) as _)
            .collect();
        if let Some(s) = sandbox.filter(|_| self.sandbox) {
            out.push(Arc::new(s));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(name: &str, secret: &str) -> SignedConfig {
        SignedConfig { name: name.into(), secret: secret.into() }
    }

    #[test]
    fn nothing_is_configured_by_default() {
        let cfg = PaymentsConfig::default();
        assert!(cfg.check().is_ok());
        assert!(cfg.providers(Some(Sandbox::new("s"))).is_empty());
    }

    #[test]
    fn the_file_turns_providers_on() {
        let text = "[payments]\nsandbox = true\n[[payments.signed]]\nname = \"acme\"\nsecret = \"0123456789abcdef\"\n";
        let cfg: crate::ServeConfig = toml::from_str(text).unwrap();
        assert!(cfg.payments.sandbox && cfg.payments.signed[0].name == "acme");
        assert!(cfg.check().is_ok());
        assert!(!crate::ServeConfig::default().payments.sandbox, "the sandbox is off by default");
        assert!(toml::from_str::<crate::ServeConfig>("[payments]\nsandbx = true").is_err());
    }

    #[test]
    fn names_must_be_distinct_and_secrets_long() {
        let good = "0123456789abcdef";
        let ok = PaymentsConfig { signed: vec![signed("acme", good)], sandbox: true };
        assert!(ok.check().is_ok());
        let names: Vec<String> =
            ok.providers(Some(Sandbox::new("s"))).iter().map(|p| p.name().to_owned()).collect();
        assert_eq!(names, ["acme", "sandbox"]);
        for bad in [
            vec![signed("acme", good), signed("acme", good)],
            vec![signed("sandbox", good)],
            vec![signed("a/b", good)],
            vec![signed("", good)],
            vec![signed("acme", "short")],
        ] {
            assert!(PaymentsConfig { signed: bad, ..Default::default() }.check().is_err());
        }
        assert!(!format!("{:?}", signed("acme", good)).contains(good), "Debug must not print the secret");
    }
}
