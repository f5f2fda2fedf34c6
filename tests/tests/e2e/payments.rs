//! Payment providers over real HTTP (#15): a server with the default
//! configuration has none, so no request can credit a wallet; the sandbox
//! pays only when turned on; a signed-webhook provider credits a correctly
//! signed notification once and refuses forged, wrong, unknown and
//! repeated ones without crediting anything.

use crate::common;

use api::providers::SignedConfig;
use common::{dec, Server};
use domain::payment::sign;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

const SECRET: &str = "acme-shared-secret-0123456789";

async fn balance(server: &Server, token: &str) -> rust_decimal::Decimal {
    let (s, wallet) = server.get_as(token, "/api/v1/me/wallet").await;
    assert_eq!(s, 200, "{wallet}");
    dec(&wallet["balance"])
}

/// POSTs a notification to `provider`, signed with `secret`, as anyone.
async fn notify(server: &Server, provider: &str, secret: &str, body: &Value) -> (u16, Value) {
    let text = body.to_string();
    let res = server
        .http
        .post(format!("{}/api/v1/payments/{provider}/notify", server.base))
        .header("X-Chargeplane-Signature", sign(secret.as_bytes(), text.as_bytes()))
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn paid(order: &str, txn: &str, amount: &str) -> Value {
    json!({"order_id": order, "provider_txn": txn, "amount": amount, "status": "paid",
           "paid_at": "2026-03-01T15:21:00Z"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_there_is_no_provider_and_nothing_credits_a_wallet() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.payments = Default::default();
        c.notify_webhook = Some(hook);
    });
    let (s, _) = server.post("/api/v1/drivers/codes", json!({ "phone": "13800000001" })).await;
    assert_eq!(s, 202);
    let sms = codes.recv_timeout(common::WAIT).unwrap();
    let (_, reg) =
        server.post("/api/v1/drivers", json!({ "phone": "13800000001", "code": sms["code"] })).await;
    let token = reg["token"].as_str().unwrap();

    let (s, err) = server.post_as(token, "/api/v1/me/orders", json!({"amount": "50.00"})).await;
    assert_eq!((s, err["error"].as_str()), (409, Some("no_payment_provider")), "{err}");
    let (s, err) =
        server.post_as(token, "/api/v1/me/orders", json!({"amount": "50.00", "provider": "sandbox"})).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("provider")), "{err}");

    // The sandbox's routes answer a JSON 404, to anyone.
    for token in [None, Some(server.admin.as_str()), Some(token)] {
        let (s, err) =
            server.call(token, "POST", "/api/v1/payments/sandbox/orders/top-anything/pay", json!({})).await;
        assert_eq!((s, err["error"].as_str()), (404, Some("unknown_provider")), "{err}");
    }
    let (s, err) = notify(&server, "sandbox", "", &paid("top-x", "t-1", "50.00")).await;
    assert_eq!((s, err["error"].as_str()), (404, Some("unknown_provider")), "{err}");
    assert_eq!(balance(&server, token).await, dec!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_pays_when_turned_on() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let (_, token) = server.driver(&codes, "13800000002", "50.00").await;
    assert_eq!(balance(&server, &token).await, dec!(50.00));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_provider_credits_a_correct_notification_once_and_refuses_the_rest() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| {
        c.notify_webhook = Some(hook);
        c.payments.signed = vec![SignedConfig { name: "acme".into(), secret: SECRET.into() }];
    });
    let (s, _) = server.post("/api/v1/drivers/codes", json!({ "phone": "13800000003" })).await;
    assert_eq!(s, 202);
    let sms = codes.recv_timeout(common::WAIT).unwrap();
    let (_, reg) =
        server.post("/api/v1/drivers", json!({ "phone": "13800000003", "code": sms["code"] })).await;
    let token = reg["token"].as_str().unwrap();

    // The signed provider comes first, so it takes top-ups by default.
    let (s, order) = server.post_as(token, "/api/v1/me/orders", json!({"amount": "50.00"})).await;
    assert_eq!((s, order["order"]["provider"].as_str()), (201, Some("acme")), "{order}");
    assert_eq!(order["pay_url"], Value::Null, "only the sandbox pays by URL");
    let id = order["order"]["id"].as_str().unwrap();

    // Refused, crediting nothing: a bad signature, the wrong amount, an
    // unknown order, another provider's name, and the sandbox paying acme's order.
    let refused = [
        (
            notify(&server, "acme", "not-the-secret-at-all", &paid(id, "a-1", "50.00")).await,
            401,
            "bad_signature",
        ),
        (notify(&server, "acme", SECRET, &paid(id, "a-1", "5000.00")).await, 422, "amount_mismatch"),
        (notify(&server, "acme", SECRET, &paid("top-nope", "a-1", "50.00")).await, 404, "unknown_order"),
        (notify(&server, "other", SECRET, &paid(id, "a-1", "50.00")).await, 404, "unknown_provider"),
        (
            server.post(&format!("/api/v1/payments/sandbox/orders/{id}/pay"), json!({})).await,
            404,
            "unknown_order",
        ),
    ];
    for ((s, err), status, code) in refused {
        assert_eq!((s, err["error"].as_str()), (status, Some(code)), "{err}");
    }
    assert_eq!(balance(&server, token).await, dec!(0));

    // Correctly signed: credited once.
    let (s, ok) = notify(&server, "acme", SECRET, &paid(id, "a-1", "50.00")).await;
    assert_eq!((s, &ok["credited"]), (200, &json!(true)), "{ok}");
    assert_eq!(balance(&server, token).await, dec!(50.00));
    // The same notification again is acknowledged and credits nothing;
    // another transaction for the settled order is refused.
    let (s, again) = notify(&server, "acme", SECRET, &paid(id, "a-1", "50.00")).await;
    assert_eq!((s, &again["credited"]), (200, &json!(false)), "{again}");
    let (s, err) = notify(&server, "acme", SECRET, &paid(id, "a-2", "50.00")).await;
    assert_eq!((s, err["error"].as_str()), (409, Some("already_paid")), "{err}");
    // A settled transaction cannot pay a second order either.
    let (_, second) = server.post_as(token, "/api/v1/me/orders", json!({"amount": "50.00"})).await;
    let second = second["order"]["id"].as_str().unwrap();
    let (s, err) = notify(&server, "acme", SECRET, &paid(second, "a-1", "50.00")).await;
    assert_eq!(s, 409, "{err}");
    assert_eq!(balance(&server, token).await, dec!(50.00));
    // It takes no refunds: refused before anything is booked.
    let (s, err) = server.post_as(token, "/api/v1/me/refunds", json!({"amount": "10.00"})).await;
    assert_eq!((s, err["error"].as_str()), (409, Some("refunds_unsupported")), "{err}");
    assert_eq!(balance(&server, token).await, dec!(50.00));
    let credited = server.metric("chargeplane_payment_notifications_total{result=\"credited\"}").await;
    assert_eq!(credited, 1.0);
    // 10.00 more through the sandbox, which does: a refund goes back the
    // way the money came, never more than came that way.
    let (_, order) =
        server.post_as(token, "/api/v1/me/orders", json!({"amount": "10.00", "provider": "sandbox"})).await;
    let pay = format!("/api/v1/payments/sandbox/orders/{}/pay", order["order"]["id"].as_str().unwrap());
    assert_eq!(server.post_as(token, &pay, json!({})).await.0, 200);
    let (s, err) = server.post_as(token, "/api/v1/me/refunds", json!({"amount": "10.01"})).await;
    assert_eq!((s, err["error"].as_str()), (409, Some("refunds_unsupported")), "{err}");
    let (s, r) = server.post_as(token, "/api/v1/me/refunds", json!({"amount": "10.00"})).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(
        (r["refunds"][0]["provider"].as_str(), r["refunds"].as_array().unwrap().len()),
        (Some("sandbox"), 1)
    );
    assert_eq!(balance(&server, token).await, dec!(50.00));
}
