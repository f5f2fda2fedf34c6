//! The API driven with random amounts, quantities and path spellings, as a
//! careless or hostile client would: no answer is a 5xx, and no money comes
//! from nothing. Whatever was asked, each wallet ends holding exactly what
//! its settled top-ups brought in less what was refunded, counting what the
//! charges it started hold (none of them ends, so nothing is captured).

use crate::common;

use common::{dec, Server};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*): a failure replays with
/// the seed it prints.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An amount or quantity as a client might send it: sensible, at the
    /// edges, out of range, malformed or of the wrong type.
    fn amount(&mut self) -> Value {
        const ODD: [&str; 16] = [
            "0",
            "-1",
            "-0.01",
            "0.001",
            "0.005",
            "1e30",
            "NaN",
            "",
            " 5",
            "5.5.5",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "99999999999999",
            "0.0000000000000000000000000001",
            "18446744073709551616",
            "10000000",
        ];
        match self.below(7) {
            0 | 6 => json!(self.pick(&ODD)),
            1 => json!(format!("{}.{:02}", self.below(200), self.below(100))),
            2 => json!(self.below(1000)),
            3 => json!(-(self.below(1000) as i64)),
            4 => json!(1e300),
            _ => [Value::Null, json!(true), json!([]), json!({})][self.below(4)].clone(),
        }
    }

    /// `path` as sent: as is, with a letter percent-encoded, or mangled.
    fn spell(&mut self, path: &str) -> String {
        match self.below(8) {
            0 => {
                let at = path.rfind('/').unwrap() + 1;
                match path.as_bytes().get(at) {
                    Some(b) if b.is_ascii_alphabetic() => {
                        format!("{}%{:02X}{}", &path[..at], b, &path[at + 1..])
                    }
                    _ => path.to_owned(),
                }
            }
            1 => format!("{path}/"),
            2 => path.replacen("/api/v1/", "/api/v1//", 1),
            3 => format!("{path}?limit={}", self.pick(&["-1", "1e9", "x", "18446744073709551616"])),
            _ => path.to_owned(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_amounts_and_paths_find_no_5xx_and_create_no_money() {
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_C0DE_u64);
    println!("FUZZ_SEED={seed}");
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.start_timeout_ms = 200;
    });
    let pile = "70000000000001";
    server.station_with_pile(pile, 2).await;
    // Plan 1: priced by the hour, so prepaid hours are multiplied out.
    let plan = json!({"name": "t", "pricing": {"kind": "time", "per_hour": "3.00", "unit_minutes": 15}});
    assert_eq!(server.post("/api/v1/plans", plan).await.0, 201);
    let _pile = server.ykc_pile(pile, 2).await;
    let (_, token) = server.driver(&codes, "13900000077", "20.00").await;
    let mut credited = dec!(20.00);
    let mut refunded = Decimal::ZERO;

    for step in 0..600 {
        let amount = rng.amount();
        let (method, path, body) = match rng.below(6) {
            0 => ("POST", "/api/v1/me/orders".to_owned(), json!({ "amount": amount })),
            1 => ("POST", "/api/v1/me/refunds".to_owned(), json!({ "amount": amount })),
            2 => (
                "POST",
                "/api/v1/me/charges".to_owned(),
                json!({"pile_id": pile, "port": 1, "prepaid": amount}),
            ),
            3 => (
                "POST",
                "/api/v1/me/charges".to_owned(),
                json!({"pile_id": pile, "port": rng.below(3), "prepaid_hours": amount, "plan_id": rng.below(3)}),
            ),
            4 => ("GET", "/api/v1/me/wallet".to_owned(), Value::Null),
            _ => ("GET", format!("/api/v1/me/charges?limit={}", amount.as_str().unwrap_or("5")), Value::Null),
        };
        let url = rng.spell(&path);
        let (s, v) = server.call(Some(&token), method, &url, body.clone()).await;
        let what = format!("step {step} (seed {seed}): {method} {url} {body} -> {s} {v}");
        assert!(s < 500, "{what}");
        if s >= 400 {
            assert!(v["error"].is_string(), "an error without its JSON body: {what}");
        }
        match (path.as_str(), s) {
            ("/api/v1/me/orders", 201) => {
                let (ps, paid) = server.post(v["pay_url"].as_str().unwrap(), json!({})).await;
                assert_eq!(ps, 200, "{what}: paid {paid}");
                if paid["credited"] == true {
                    credited += dec(&v["order"]["amount"]);
                }
            }
            ("/api/v1/me/refunds", 201) => refunded += dec(&v["amount"]),
            _ => {}
        }
    }

    // What came in less what went out, to the cent, spendable or held.
    let (_, wallet) = server.get_as(&token, "/api/v1/me/wallet").await;
    let (balance, held) = (dec(&wallet["balance"]), dec(&wallet["held"]));
    assert_eq!(balance + held, credited - refunded, "{wallet}");
    assert!(balance >= Decimal::ZERO && held >= Decimal::ZERO, "{wallet}");
}
