//! The drivers' side of money: register and log in with a one-time code
//! (or a password), see the wallet, top it up, charge from it, and take
//! unspent money back.
//!
//! A charge from the wallet holds its prepaid amount (or the configured
//! estimate) before the pile hears of it; the store captures the bill from
//! the hold and releases the rest in the same write as the bill.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::accounts::{self, Card, Driver, Order, OrderStatus, Principal, Status};
use domain::ledger::Account;
use domain::payer::Payer;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use store::EntryFilter;
use utoipa::{IntoParams, ToSchema};
use vocab::PortNo;

use super::piles::{live_pile, pricing, record, start_error, StartBody};
use super::State;
use crate::error::{ApiError, ApiResult};
use crate::money::MoneyData;
use crate::tokens;
use actors::{charge::Purchase, pile};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/drivers/codes", web::post().to(send_code))
        .route("/drivers", web::post().to(register))
        .route("/drivers/login", web::post().to(login))
        .route("/me", web::get().to(me))
        .route("/me/wallet", web::get().to(wallet))
        .route("/me/orders", web::post().to(top_up))
        .route("/me/charges", crate::forward::forwarded_by_body(web::post().to(charge)))
        .route("/me/charges", web::get().to(history))
        .route("/me/charges/{id}/stop", crate::forward::forwarded_by_session(web::post().to(stop)))
        .route("/me/refunds", web::post().to(refund))
        .route("/me/cards", web::post().to(add_card))
        .route("/me/cancel", web::post().to(cancel));
}

fn phone(p: &str) -> ApiResult<&str> {
    let p = p.trim();
    let digits = p.strip_prefix('+').unwrap_or(p);
    if !(6..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid("phone", "a phone number: 6 to 15 digits, optionally after +"));
    }
    Ok(p)
}

/// Yuan to the fen, above zero.
pub fn amount(field: &'static str, v: Decimal) -> ApiResult<Decimal> {
    super::bounds::yuan(field, v, super::bounds::FEN)
}

#[derive(Deserialize, ToSchema)]
#[schema(as = LoginCodeRequest)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    phone: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/drivers/codes",
    tag = "drivers",
    request_body = CodeBody,
    responses(
        (status = 202, description = "`{sent: true}`", body = Object),
        (status = 429, description = "Too many codes for this phone or address; see `Retry-After`", body = ApiError),
        (status = 503, description = "Too many codes pending", body = ApiError),
    ),
)]
async fn send_code(
    money: MoneyData,
    req: HttpRequest,
    body: crate::extract::Json<CodeBody>,
) -> ApiResult<HttpResponse> {
    let phone = phone(&body.phone)?;
    money.signin.code_request(phone, money.signin.client(&req))?;
    money.codes.send(phone, &money.signin).await?;
    Ok(HttpResponse::Accepted().json(json!({ "sent": true })))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = DriverRegistration)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    phone: String,
    code: String,
    password: Option<String>,
}

/// What a driver's registration or login answers.
#[derive(ToSchema)]
pub struct DriverToken {
    pub driver: Driver,
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/drivers",
    tag = "drivers",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The driver and a bearer token", body = DriverToken),
    ),
)]
async fn register(
    state: State,
    money: MoneyData,
    req: HttpRequest,
    body: crate::extract::Json<RegisterBody>,
) -> ApiResult<HttpResponse> {
    let phone = phone(&body.phone)?;
    money.signin.code_check(phone, money.signin.client(&req))?;
    if let Some(p) = &body.password {
        if p.chars().count() < 8 {
            return Err(ApiError::invalid("password", "at least 8 characters"));
        }
    }
    if state.store.driver_by_phone(phone).await?.is_some() {
        return Err(ApiError::conflict("registered", format!("{phone} is registered; log in")));
    }
    if !money.codes.take(phone, body.code.trim()) {
        return Err(ApiError::invalid("code", "wrong or expired code"));
    }
    let hash = match body.password.as_deref() {
        Some(p) => Some(crate::passwords::hash(p).await?),
        None => None,
    };
    let driver = state.store.create_driver(phone, hash.as_deref(), None).await?;
    let token =
        crate::tokens::issue(&state, money.config.token_ttl, Principal::Driver { driver_id: driver.id })
            .await?;
    Ok(HttpResponse::Created().json(json!({ "driver": driver, "token": token })))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = DriverLogin)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    phone: String,
    code: Option<String>,
    password: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/drivers/login",
    tag = "drivers",
    request_body = LoginBody,
    responses(
        (status = 200, description = "The driver and a bearer token", body = DriverToken),
    ),
)]
async fn login(
    state: State,
    money: MoneyData,
    req: HttpRequest,
    body: crate::extract::Json<LoginBody>,
) -> ApiResult<HttpResponse> {
    let phone = phone(&body.phone)?;
    money.signin.code_check(phone, money.signin.client(&req))?;
    let refused = || {
        ApiError::new(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong phone, code or password",
        )
    };
    let driver = state.store.driver_by_phone(phone).await?;
    let ok = match (&body.code, &body.password) {
        (Some(code), None) => driver.is_some() && money.codes.take(phone, code.trim()),
        // No driver or no password: a dummy check, so timing tells nothing.
        (None, Some(p)) => {
            crate::passwords::verify(p, driver.as_ref().and_then(|d| d.password_hash.as_deref())).await
        }
        _ => return Err(ApiError::invalid("code", "give a code or a password")),
    };
    let Some(mut driver) = driver else { return Err(refused()) };
    if !ok || driver.status == Status::Cancelled {
        return Err(refused());
    }
    driver.last_active_at = state.now();
    state.store.update_driver(&driver).await?;
    let token =
        crate::tokens::issue(&state, money.config.token_ttl, Principal::Driver { driver_id: driver.id })
            .await?;
    Ok(HttpResponse::Ok().json(json!({ "driver": driver, "token": token })))
}

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "me",
    responses(
        (status = 200, description = "`{driver, cards}`", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn me(state: State, req: HttpRequest) -> ApiResult<HttpResponse> {
    let driver = tokens::driver(&state, &req).await?;
    let cards = state.store.cards(driver.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "driver": driver, "cards": cards })))
}

#[utoipa::path(
    get,
    path = "/api/v1/me/wallet",
    tag = "me",
    responses(
        (status = 200, description = "`{balance, held, entries}`", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn wallet(state: State, req: HttpRequest) -> ApiResult<HttpResponse> {
    let driver = tokens::driver(&state, &req).await?;
    let balance = state.store.balance(&Account::Wallet(driver.id)).await?;
    let held = state.store.balance(&Account::Held(driver.id)).await?;
    let filter = EntryFilter { account: Some(Account::Wallet(driver.id)), ..Default::default() };
    let entries = state.store.entries(&filter).await?;
    Ok(HttpResponse::Ok().json(json!({ "balance": balance, "held": held, "entries": entries })))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = TopUp)]
#[serde(deny_unknown_fields)]
struct TopUpBody {
    #[schema(minimum = 0.01, maximum = 100000)]
    amount: Decimal,
    /// A configured provider's name [default: the first configured].
    provider: Option<String>,
}

/// Creates a top-up order at a configured provider (409 `no_payment_provider`
/// with none); the wallet is credited when the provider's signed
/// notification confirms it (`/payments/{provider}/notify`).
#[utoipa::path(
    post,
    path = "/api/v1/me/orders",
    tag = "me",
    request_body = TopUpBody,
    responses(
        (status = 201, description = "`{order, pay_url}`; `pay_url` only for the sandbox", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn top_up(
    state: State,
    money: MoneyData,
    req: HttpRequest,
    body: crate::extract::Json<TopUpBody>,
) -> ApiResult<HttpResponse> {
    let driver = tokens::driver(&state, &req).await?;
    let provider = match &body.provider {
        None => money.default_provider()?,
        Some(name) => money.provider(name).ok_or_else(|| {
            ApiError::invalid("provider", format!("no payment provider {name} is configured"))
        })?,
    };
    let order = Order {
        id: format!("top-{}", hex::encode(tokens::random::<12>())),
        driver_id: driver.id,
        amount: amount("amount", body.amount)?,
        provider: provider.name().to_owned(),
        status: OrderStatus::Pending,
        provider_txn: None,
        created_at: state.now(),
        paid_at: None,
    };
    state.store.create_order(&order).await?;
    let pay =
        (order.provider == "sandbox").then(|| format!("/api/v1/payments/sandbox/orders/{}/pay", order.id));
    Ok(HttpResponse::Created().json(json!({ "order": order, "pay_url": pay })))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = WalletCharge)]
#[serde(deny_unknown_fields)]
struct ChargeBody {
    pile_id: String,
    port: u8,
    plan_id: Option<i64>,
    #[schema(minimum = 0.01, maximum = 100000)]
    prepaid: Option<Decimal>,
    #[schema(minimum = 0.01, maximum = 24)]
    prepaid_hours: Option<Decimal>,
    #[serde(default)]
    queue: bool,
}

/// Starts a charge paid from the driver's wallet, at the driver's class
/// price where a rule gives one.
#[utoipa::path(
    post,
    path = "/api/v1/me/charges",
    tag = "me",
    request_body = ChargeBody,
    responses(
        (status = 202, description = "`{session_id, state, held}` or `{state: queued, position, held}`", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn charge(
    state: State,
    req: HttpRequest,
    body: crate::extract::Json<ChargeBody>,
) -> ApiResult<HttpResponse> {
    let mut driver = tokens::driver(&state, &req).await?;
    let ChargeBody { pile_id, port, plan_id, prepaid, prepaid_hours, queue } = body.into_inner();
    let start = StartBody { balance: None, plan_id, prepaid, prepaid_hours, queue };
    let record = record(&state, &pile_id).await?;
    let (plan, prepaid) = pricing(&state, &start, &record).await?;
    let pile_addr = live_pile(&state, &record, port)?;
    super::piles::in_service(&state, &record, port).await?;
    let station = record.station_id;
    let discount = match actors::card::class_discount(&state, driver.class.as_deref(), station, state.now())
        .await
    {
        Ok(d) => d,
        Err(actors::card::Refusal::NotAllowed(e)) => {
            return Err(ApiError::new(actix_web::http::StatusCode::FORBIDDEN, "not_allowed", e.to_string()))
        }
        Err(actors::card::Refusal::Store(e)) => return Err(e.into()),
    };
    let balance = state.store.balance(&Account::Wallet(driver.id)).await?;
    let held = prepaid.unwrap_or(state.config.wallet_hold.min(balance));
    if held <= Decimal::ZERO || held > balance {
        return Err(ApiError::new(
            actix_web::http::StatusCode::PAYMENT_REQUIRED,
            "insufficient_balance",
            format!("the wallet holds {balance}; top up to charge"),
        ));
    }
    let purchase = Purchase { plan, prepaid, payer: Some(Payer { driver: driver.id, held }), discount };
    let started = pile_addr
        .send(pile::StartCharge { port: PortNo(port), queue: start.queue, balance: held, purchase })
        .await
        .map_err(|_| ApiError::conflict("pile_offline", format!("pile {pile_id} is not connected")))?
        .map_err(start_error)?;
    driver.last_active_at = state.now();
    state.store.update_driver(&driver).await?;
    Ok(HttpResponse::Accepted().json(super::piles::started_json(started, Some(held))))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = Refund)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    #[schema(minimum = 0.01, maximum = 100000)]
    amount: Decimal,
}

/// Pays unspent wallet money back through the provider it came in by.
#[utoipa::path(
    post,
    path = "/api/v1/me/refunds",
    tag = "me",
    request_body = RefundBody,
    responses(
        (status = 201, description = "`{amount, provider_ref, refunds: [{provider, amount, reference}], balance}`: paid back through the providers the money came in by", body = Object),
        (status = 409, description = "`refund_exceeds_payments` or `refunds_unsupported`", body = ApiError),
    ),
    security(("bearer" = [])),
)]
async fn refund(
    state: State,
    money: MoneyData,
    req: HttpRequest,
    body: crate::extract::Json<RefundBody>,
) -> ApiResult<HttpResponse> {
    let driver = tokens::driver(&state, &req).await?;
    let amount = amount("amount", body.amount)?;
    let key = format!("{}-{}", driver.id, hex::encode(tokens::random::<12>()));
    let refunds = money.refund(&state, driver.id, &key, amount).await?;
    let balance = state.store.balance(&Account::Wallet(driver.id)).await?;
    let reference = refunds.first().map(|r| r.reference.clone());
    Ok(HttpResponse::Created()
        .json(json!({ "amount": amount, "provider_ref": reference, "refunds": refunds, "balance": balance })))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewCard)]
#[serde(deny_unknown_fields)]
pub(super) struct CardBody {
    pub number: String,
    pub kind: accounts::CardKind,
}

/// A card number as piles read it: 8 (e-bike) or 16 (YKC) hex digits.
pub(super) fn card_number(n: &str) -> ApiResult<String> {
    let n = n.trim().to_ascii_uppercase();
    if !matches!(n.len(), 8 | 16) || !n.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid("number", "a card number is 8 or 16 hex digits"));
    }
    Ok(n)
}

pub(super) async fn link_card(state: &State, driver: i64, body: CardBody) -> ApiResult<HttpResponse> {
    let card = accounts::Card {
        number: card_number(&body.number)?,
        driver_id: driver,
        kind: body.kind,
        status: Status::Active,
        created_at: state.now(),
    };
    state.store.create_card(&card).await.map_err(|e| match e {
        store::StoreError::Conflict(_) => ApiError::conflict("card_taken", "the card belongs to an account"),
        e => e.into(),
    })?;
    Ok(HttpResponse::Created().json(card))
}

#[utoipa::path(
    post,
    path = "/api/v1/me/cards",
    tag = "me",
    request_body = CardBody,
    responses(
        (status = 201, description = "The card", body = Card),
    ),
    security(("bearer" = [])),
)]
async fn add_card(
    state: State,
    req: HttpRequest,
    body: crate::extract::Json<CardBody>,
) -> ApiResult<HttpResponse> {
    let driver = tokens::driver(&state, &req).await?;
    link_card(&state, driver.id, body.into_inner()).await
}

/// Closes the account: what is left in the wallet goes back through the
/// provider, and the account and its cards stop working. Refused while a
/// charge holds money.
#[utoipa::path(
    post,
    path = "/api/v1/me/cancel",
    tag = "me",
    responses(
        (status = 200, description = "`{driver, refunded}`", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn cancel(state: State, money: MoneyData, req: HttpRequest) -> ApiResult<HttpResponse> {
    let mut driver = tokens::driver(&state, &req).await?;
    if !state.store.balance(&Account::Held(driver.id)).await?.is_zero() {
        return Err(ApiError::conflict("charging", "a charge is in progress; cancel once it has ended"));
    }
    let balance = state.store.balance(&Account::Wallet(driver.id)).await?;
    if balance > Decimal::ZERO {
        money.refund(&state, driver.id, &format!("cancel-{}", driver.id), balance).await?;
    }
    for card in state.store.cards(driver.id).await? {
        state.store.set_card_status(&card.number, Status::Cancelled).await?;
    }
    driver.status = Status::Cancelled;
    state.store.update_driver(&driver).await?;
    Ok(HttpResponse::Ok().json(json!({ "driver": driver, "refunded": balance.max(Decimal::ZERO) })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Limit {
    limit: Option<usize>,
}

/// My charges, newest first, each with its bill once billed.
#[utoipa::path(
    get,
    path = "/api/v1/me/charges",
    tag = "me",
    params(Limit),
    responses(
        (status = 200, description = "`[{session, bill}]`, newest first", body = Vec<Object>),
    ),
    security(("bearer" = [])),
)]
async fn history(state: State, req: HttpRequest, q: web::Query<Limit>) -> ApiResult<HttpResponse> {
    let driver = tokens::driver(&state, &req).await?;
    let sessions = state.store.driver_sessions(driver.id, q.limit.unwrap_or(50).clamp(1, 500)).await?;
    let mut charges = Vec::with_capacity(sessions.len());
    for s in sessions {
        let bill = state.store.bill(&s.id).await?;
        charges.push(json!({ "session": s, "bill": bill }));
    }
    Ok(HttpResponse::Ok().json(charges))
}

/// Stops one of the driver's own charges; the bill follows as usual.
#[utoipa::path(
    post,
    path = "/api/v1/me/charges/{id}/stop",
    tag = "me",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 202, description = "`{session_id, state: stopping}`", body = Object),
        (status = 404, description = "`unknown_session`: not a charge of this driver", body = ApiError),
        (status = 409, description = "`charge_over` or `pile_offline`", body = ApiError),
    ),
    security(("bearer" = [])),
)]
async fn stop(state: State, req: HttpRequest, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = vocab::SessionId(id.into_inner());
    let session = tokens::own_charge(&state, &req, &id).await?;
    let over = || ApiError::conflict("charge_over", format!("charge {id} is over"));
    if !session.state.is_open() {
        return Err(over());
    }
    let record = super::piles::record(&state, session.pile_id.as_str()).await?;
    let pile = live_pile(&state, &record, session.port.0)?;
    // The port stops whatever it runs: only if that is still this charge.
    let offline = || ApiError::conflict("pile_offline", format!("pile {} is not connected", record.id));
    let view = pile.send(pile::View).await.map_err(|_| offline())?;
    if !view.ports.iter().any(|p| p.port == session.port && p.session_id.as_ref() == Some(&id)) {
        return Err(over());
    }
    let stopped = pile.send(pile::StopCharge { port: session.port }).await.map_err(|_| offline())?;
    stopped.map_err(|e| match e {
        actors::port::StopError::NotCharging => over(),
        e => ApiError::conflict("pile_offline", e.to_string()),
    })?;
    Ok(HttpResponse::Accepted().json(json!({ "session_id": id, "state": "stopping" })))
}
