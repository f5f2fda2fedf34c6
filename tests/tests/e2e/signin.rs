//! Drivers' sign-in is throttled: codes cannot be brute-forced, resending
//! does not buy more guesses, one address cannot spray many phones, the
//! pending codes are bounded, and operators' logins are throttled alike and
//! do not tell unknown users from wrong passwords.

use std::sync::mpsc;

use serde_json::{json, Value};

use crate::common::{self, Server, WAIT};

/// POSTs anonymously, optionally with an `X-Forwarded-For`; status, body
/// and `Retry-After`.
async fn post(server: &Server, path: &str, body: Value, xff: Option<&str>) -> (u16, Value, Option<String>) {
    let mut req = server.http.post(format!("{}{path}", server.base)).json(&body);
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").map(|h| h.to_str().unwrap().to_owned());
    (status, res.json().await.unwrap_or(Value::Null), retry)
}

async fn code(server: &Server, codes: &mpsc::Receiver<Value>, phone: &str) -> String {
    let (s, body, _) = post(server, "/api/v1/drivers/codes", json!({ "phone": phone }), None).await;
    assert_eq!(s, 202, "{body}");
    let sms = codes.recv_timeout(WAIT).expect("a login code on the webhook");
    sms["code"].as_str().unwrap().to_owned()
}

/// Any six digits other than `code`.
fn wrong(code: &str) -> String {
    if code == "000000" {
        "000001".into()
    } else {
        "000000".into()
    }
}

async fn register(server: &Server, phone: &str, code: &str) -> (u16, Value, Option<String>) {
    post(server, "/api/v1/drivers", json!({ "phone": phone, "code": code }), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_codes_is_cut_off_and_the_right_code_then_still_fails() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.signin_checks_per_phone = 3;
    });
    let phone = "13700000001";
    let right = code(&server, &codes, phone).await;
    for _ in 0..3 {
        let (s, body, _) = register(&server, phone, &wrong(&right)).await;
        assert_eq!((s, &body["field"]), (422, &json!("code")), "{body}");
    }
    let (s, body, retry) = register(&server, phone, &wrong(&right)).await;
    assert_eq!((s, &body["error"]), (429, &json!("rate_limited")), "{body}");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    // The right code is refused too: the limit is on the phone, not the guess.
    let (s, body, _) = register(&server, phone, &right).await;
    assert_eq!(s, 429, "{body}");
    assert_eq!(server.metric("chargeplane_signin_refused_total{reason=\"checks_per_phone\"}").await, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spent_tries_outlive_a_resend() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let phone = "13700000002";
    let first = code(&server, &codes, phone).await;
    for _ in 0..3 {
        assert_eq!(register(&server, phone, &wrong(&first)).await.0, 422);
    }
    // A resend brings a new code, but only the two tries that were left.
    let second = code(&server, &codes, phone).await;
    for _ in 0..2 {
        assert_eq!(register(&server, phone, &wrong(&second)).await.0, 422);
    }
    let (s, body, _) = register(&server, phone, &second).await;
    assert_eq!((s, &body["field"]), (422, &json!("code")), "the spent code still works: {body}");
    // Nor does asking again refill them before the code expires.
    let (s, body, retry) = post(&server, "/api/v1/drivers/codes", json!({ "phone": phone }), None).await;
    assert_eq!((s, &body["error"]), (429, &json!("rate_limited")), "{body}");
    assert!(retry.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_spray_codes_over_many_phones() {
    let (hook, _codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.signin_codes_per_address = 3;
    });
    let ask = |phone: &'static str, xff: Option<&'static str>| {
        post(&server, "/api/v1/drivers/codes", json!({ "phone": phone }), xff)
    };
    for phone in ["13700000010", "13700000011", "13700000012"] {
        assert_eq!(ask(phone, None).await.0, 202);
    }
    let (s, body, retry) = ask("13700000013", None).await;
    assert_eq!((s, &body["error"]), (429, &json!("rate_limited")), "{body}");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    assert_eq!(ask("13700000014", Some("203.0.113.9")).await.0, 429);
    let refused = "chargeplane_signin_refused_total{reason=\"codes_per_address\"}";
    assert_eq!(server.metric(refused).await, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_has_its_own_limit() {
    let (hook, _codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.signin_codes_per_address = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    });
    let ask = |phone: &'static str, xff: &'static str| {
        post(&server, "/api/v1/drivers/codes", json!({ "phone": phone }), Some(xff))
    };
    assert_eq!(ask("13700000020", "198.51.100.1").await.0, 202);
    assert_eq!(ask("13700000021", "198.51.100.2").await.0, 202);
    // The client forges a hop before the proxy's: the proxy's entry counts.
    assert_eq!(ask("13700000022", "10.9.9.9, 198.51.100.1").await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_codes_are_bounded() {
    let (hook, _codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.login_code_max_pending = 2;
    });
    let ask = |phone: &'static str| post(&server, "/api/v1/drivers/codes", json!({ "phone": phone }), None);
    assert_eq!(ask("13700000030").await.0, 202);
    assert_eq!(ask("13700000031").await.0, 202);
    let (s, body, retry) = ask("13700000032").await;
    assert_eq!((s, &body["error"]), (503, &json!("busy")), "{body}");
    assert!(retry.is_some());
    // A phone already waiting may still have its code resent.
    assert_eq!(ask("13700000031").await.0, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_codes_make_room() {
    let (hook, _codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.login_code_max_pending = 1;
        c.login_code_ttl_ms = 50;
    });
    let ask = |phone: &'static str| post(&server, "/api/v1/drivers/codes", json!({ "phone": phone }), None);
    assert_eq!(ask("13700000040").await.0, 202);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(ask("13700000041").await.0, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_and_wrong_password_look_the_same() {
    let server = Server::start();
    let login = |u: &'static str, p: &'static str| {
        post(&server, "/api/v1/auth/login", json!({ "username": u, "password": p }), None)
    };
    let (s1, unknown, _) = login("nobody", "whatever-password").await;
    let (s2, wrong, _) = login("admin", "whatever-password").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(unknown, wrong);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_a_users_password_is_cut_off_for_that_user_only() {
    let server = Server::start_with(|c| c.signin_checks_per_phone = 3);
    let login = |u: &'static str, p: &'static str| {
        post(&server, "/api/v1/auth/login", json!({ "username": u, "password": p }), None)
    };
    // Three tries: the test server's own sign-in at start and two guesses.
    for _ in 0..2 {
        assert_eq!(login("admin", "a-wrong-password").await.0, 401);
    }
    let (s, body, retry) = login("admin", common::ADMIN_PASSWORD).await;
    assert_eq!((s, &body["error"]), (429, &json!("rate_limited")), "even the right password: {body}");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    // Another name is unaffected.
    assert_eq!(login("someone-else", "a-wrong-password").await.0, 401);
    assert_eq!(server.metric("chargeplane_signin_refused_total{reason=\"checks_per_user\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_costs_what_a_wrong_password_costs() {
    let server = Server::start();
    let login = |u: &'static str| {
        post(&server, "/api/v1/auth/login", json!({ "username": u, "password": "not-the-password" }), None)
    };
    // Warm up: the dummy hash is made on first use.
    assert_eq!(login("nobody").await.0, 401);
    let timed = |u: &'static str| {
        let login = &login;
        async move {
            let mut ms = Vec::new();
            for _ in 0..3 {
                let t = std::time::Instant::now();
                assert_eq!(login(u).await.0, 401);
                ms.push(t.elapsed().as_secs_f64());
            }
            ms.sort_by(f64::total_cmp);
            ms[1]
        }
    };
    let (unknown, wrong) = (timed("nobody").await, timed("admin").await);
    // Before, an unknown name answered without hashing: ~100 times faster.
    assert!(unknown > wrong / 3.0, "unknown {unknown:.4}s, wrong password {wrong:.4}s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_unknown_phone_and_wrong_password_look_the_same() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let phone = "13700000050";
    let right = code(&server, &codes, phone).await;
    let body = json!({ "phone": phone, "code": right, "password": "the-password" });
    assert_eq!(post(&server, "/api/v1/drivers", body, None).await.0, 201);
    let login = |phone: &'static str| {
        post(&server, "/api/v1/drivers/login", json!({ "phone": phone, "password": "not-it-at-all" }), None)
    };
    let (s1, unknown, _) = login("13700000059").await;
    let (s2, wrong, _) = login(phone).await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(unknown, wrong);
}
