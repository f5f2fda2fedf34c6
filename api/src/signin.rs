//! Throttles sign-in: drivers' code requests and code (or password) checks,
//! and platform users' password logins, are rate-limited by phone (or
//! username) and by client address, so a six-digit code or a password cannot
//! be brute-forced and one address cannot spray codes over many phones.
//! Refusals answer 429 with `Retry-After` and are counted by reason.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use prometheus::{IntCounterVec, Opts, Registry};

use crate::error::ApiError;

#[derive(Clone, Debug)]
pub struct SigninConfig {
    /// Each limit allows this many in a burst, refilled evenly over `window`.
    pub codes_per_phone: u32,
    pub codes_per_address: u32,
    pub checks_per_phone: u32,
    pub checks_per_address: u32,
    pub window: Duration,
    /// Pending login codes held at most; past it new codes are refused.
    pub max_pending_codes: usize,
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies).
    pub trusted_proxies: Vec<IpAddr>,
}

/// One limit kept twice: by phone and by client address.
struct Pair {
    phone: DefaultKeyedRateLimiter<String>,
    address: DefaultKeyedRateLimiter<IpAddr>,
}

impl Pair {
    fn new(per_phone: u32, per_address: u32, window: Duration, clock: &DefaultClock) -> Self {
        Pair {
            phone: RateLimiter::dashmap_with_clock(quota(per_phone, window), clock.clone()),
            address: RateLimiter::dashmap_with_clock(quota(per_address, window), clock.clone()),
        }
    }
}

/// `n` at once, then one more every `window / n`.
fn quota(n: u32, window: Duration) -> Quota {
    let n = NonZeroU32::new(n.max(1)).expect("nonzero");
    let period = (window / n.get()).max(Duration::from_nanos(1));
    Quota::with_period(period).expect("nonzero period").allow_burst(n)
}

pub struct Signin {
    pub config: SigninConfig,
    codes: Pair,
    checks: Pair,
    clock: DefaultClock,
    refused: IntCounterVec,
}

impl Signin {
    pub fn new(config: SigninConfig, registry: &Registry) -> Self {
        let refused = IntCounterVec::new(
            Opts::new("chargeplane_signin_refused_total", "Driver sign-in requests refused, by reason"),
            &["reason"],
        )
        .expect("metric");
        let _ = registry.register(Box::new(refused.clone()));
        // One clock for the limiters and for reading their waits.
        let clock = DefaultClock::default();
        Signin {
            codes: Pair::new(config.codes_per_phone, config.codes_per_address, config.window, &clock),
            checks: Pair::new(config.checks_per_phone, config.checks_per_address, config.window, &clock),
            config,
            clock,
            refused,
        }
    }

    /// May `addr` ask for a code for `phone`?
    pub fn code_request(&self, phone: &str, addr: IpAddr) -> Result<(), ApiError> {
        self.check(&self.codes, phone.to_owned(), addr, "codes", "phone")
    }

    /// May `addr` try a code or password for `phone`?
    pub fn code_check(&self, phone: &str, addr: IpAddr) -> Result<(), ApiError> {
        self.check(&self.checks, phone.to_owned(), addr, "checks", "phone")
    }

    /// May `addr` try a password for the platform user `username`? Drawn
    /// from the same allowance as drivers' checks, kept apart by key.
    pub fn password_check(&self, username: &str, addr: IpAddr) -> Result<(), ApiError> {
        self.check(&self.checks, format!("user:{username}"), addr, "checks", "user")
    }

    // The address is checked first so that one address spraying phones does
    // not also use up each phone's own allowance.
    fn check(&self, pair: &Pair, key: String, addr: IpAddr, what: &str, per: &str) -> Result<(), ApiError> {
        if let Err(n) = pair.address.check_key(&addr) {
            let wait = n.wait_time_from(self.clock.now());
            return Err(self.refuse(&format!("{what}_per_address"), wait));
        }
        if let Err(n) = pair.phone.check_key(&key) {
            let wait = n.wait_time_from(self.clock.now());
            return Err(self.refuse(&format!("{what}_per_{per}"), wait));
        }
        Ok(())
    }

    /// A 429 (or 503 when the server is full) with the wait, counted.
    pub fn refuse(&self, reason: &str, wait: Duration) -> ApiError {
        self.refused.with_label_values(&[reason]).inc();
        let (status, code, message) = match reason {
            "full" => (StatusCode::SERVICE_UNAVAILABLE, "busy", "too many pending sign-ins; try again later"),
            "code_tries" => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many wrong codes for this phone; try later",
            ),
            _ => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many sign-in attempts; try again later")
            }
        };
        ApiError::new(status, code, message).retry_after(wait)
    }

    /// Forgets limiter state that has refilled, so the keyed maps stay small.
    pub fn sweep(&self) {
        for l in [&self.codes.phone, &self.checks.phone] {
            l.retain_recent();
            l.shrink_to_fit();
        }
        for l in [&self.codes.address, &self.checks.address] {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// The client's address: the peer's, or, when the peer is a trusted
    /// proxy, the nearest untrusted hop in `X-Forwarded-For` (the rightmost
    /// entries are the ones our own proxies wrote).
    pub fn client(&self, req: &HttpRequest) -> IpAddr {
        let peer = req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        client_ip(
            peer,
            req.headers().get("x-forwarded-for").and_then(|h| h.to_str().ok()),
            &self.config.trusted_proxies,
        )
    }
}

fn client_ip(peer: IpAddr, forwarded: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded.unwrap_or("").rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else { break };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxy = ip("10.0.0.1");
        let xff = Some("6.6.6.6, 1.2.3.4, 10.0.0.2");
        assert_eq!(client_ip(ip("9.9.9.9"), xff, &[proxy]), ip("9.9.9.9"));
        assert_eq!(client_ip(proxy, xff, &[proxy]), ip("10.0.0.2"));
        assert_eq!(client_ip(proxy, xff, &[proxy, ip("10.0.0.2")]), ip("1.2.3.4"));
        assert_eq!(client_ip(proxy, None, &[proxy]), proxy);
        assert_eq!(client_ip(proxy, Some("junk"), &[proxy]), proxy);
    }
}
