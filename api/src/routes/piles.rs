//! Piles: registering them (a pile no operator registered is refused at
//! login), their live state, and starting and stopping charges on a port.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::adapter::{Maintenance, PileCommand};
use actors::charge::{Purchase, StartError, Started};
use actors::maintenance::CommandRecord;
use actors::pile::{self, MaintainError, PileView};
use actors::port::StopError;
use domain::accounts::Status;
use domain::pricing::{PricePlan, Pricing};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use store::{Diagnostic, PileRecord};
use utoipa::{IntoParams, ToSchema};
use vocab::{PileId, PortNo, Protocol};

use super::nodes::{self, offline_view, view};
use super::{bounds, optional_json, set_service, OutOfService, Page, PageQuery, State};
use crate::auth::{manager, staff};
use crate::error::{ApiError, ApiResult};
use crate::forward::forwarded;
use crate::idempotency::{self, InFlight};
use crate::tenancy::{as_field, Scope};
use store::{Item, ItemKind};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/piles", manager(web::post().to(create)))
        .route("/piles", staff(web::get().to(list)))
        .route("/piles/{id}", staff(forwarded(web::get().to(get))))
        .route("/piles/{id}", manager(forwarded(web::patch().to(update))))
        .route("/piles/{id}/ports/{port}", manager(forwarded(web::patch().to(update_port))))
        .route("/piles/{id}/ports/{port}/start", manager(forwarded(web::post().to(start))))
        .route("/piles/{id}/ports/{port}/stop", manager(forwarded(web::post().to(stop))))
        .route("/piles/{id}/commands", manager(forwarded(web::post().to(command))))
        .route("/piles/{id}/commands", staff(forwarded(web::get().to(commands))))
        .route("/piles/{id}/diagnostics", staff(web::get().to(diagnostics)))
        .route("/piles/{id}/offline-cards", staff(web::get().to(offline_cards)))
        .route("/piles/{id}/ocpp-password", manager(web::put().to(ocpp_password)))
        .route("/piles/{id}/commands/{command}", staff(forwarded(web::get().to(one_command))));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPile {
    pub id: String,
    pub station_id: i64,
    pub protocol: String,
    pub ports: u8,
}

/// Checks a pile id has the form its protocol carries.
fn check_id(protocol: Protocol, id: &str) -> ApiResult<()> {
    match protocol {
        Protocol::Ykc if id.len() == 14 && id.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        Protocol::Ykc => Err(ApiError::invalid("id", "a YKC pile id is 14 digits")),
        Protocol::Dny if proto::dny::phys_of(&PileId(id.to_owned())).is_some() => Ok(()),
        Protocol::Dny => {
            Err(ApiError::invalid("id", "an e-bike pile id is its 8 hex digit device id, e.g. 05A1B2C3"))
        }
        Protocol::Ocpp if actors::ocpp_auth::charge_point_id(&format!("/ocpp/{id}")).is_ok() => Ok(()),
        Protocol::Ocpp => Err(ApiError::invalid(
            "id",
            "an OCPP charge point id is the last segment of its URL: 1 to 48 letters, digits, '-', '_', '.' or ':'",
        )),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/piles",
    tag = "piles",
    request_body = NewPile,
    responses(
        (status = 201, description = "The pile with its ports' live state", body = PileView),
    ),
    security(("bearer" = [])),
)]
async fn create(state: State, scope: Scope, body: crate::extract::Json<NewPile>) -> ApiResult<HttpResponse> {
    let protocol = Protocol::parse(&body.protocol)
        .ok_or_else(|| ApiError::invalid("protocol", "protocol must be \"ykc\" or \"dny\""))?;
    check_id(protocol, &body.id)?;
    if !(1..=99).contains(&body.ports) {
        return Err(ApiError::invalid("ports", "a pile has 1 to 99 ports"));
    }
    scope.station(&state, body.station_id).await.map_err(as_field("station_id"))?;
    let record = PileRecord {
        id: PileId(body.id.clone()),
        station_id: body.station_id,
        protocol,
        ports: body.ports,
        created_at: state.now(),
    };
    state.store.create_pile(&record).await.map_err(|e| match e {
        store::StoreError::Conflict(_) => {
            ApiError::conflict("pile_exists", format!("pile {} is already registered", body.id))
        }
        e => e.into(),
    })?;
    Ok(HttpResponse::Created().json(offline_view(&record)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Filter {
    station_id: Option<i64>,
}

/// The piles the user sees, a page at a time, with their live state.
#[utoipa::path(
    get,
    path = "/api/v1/piles",
    tag = "piles",
    params(Filter, PageQuery),
    responses(
        (status = 200, description = "A page of piles with their live state", body = Page<PileBody>),
    ),
    security(("bearer" = [])),
)]
async fn list(
    state: State,
    scope: Scope,
    filter: web::Query<Filter>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let (records, seen) = (state.store.piles().await?, scope.stations(&state).await?);
    let records = records.into_iter().filter(|r| {
        filter.station_id.is_none_or(|s| r.station_id == s)
            && seen.as_ref().is_none_or(|s| s.contains(&r.station_id))
    });
    let page = Page::of(records, |r| r.id.as_str().to_owned(), &page)?;
    let out = Out::of(&state).await?;
    let items = nodes::views(&state, &page.items).await;
    let items = items.into_iter().map(|v| out.body(v)).collect();
    Ok(HttpResponse::Ok().json(Page { items, next: page.next }))
}

/// A pile's live view, and what of it is out of service.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PileBody {
    #[serde(flatten)]
    view: PileView,
    in_service: bool,
    ports_out_of_service: Vec<u8>,
}

/// Piles and ports out of service, read once for a list.
struct Out {
    piles: OutOfService,
    ports: OutOfService,
}

impl Out {
    async fn of(state: &State) -> ApiResult<Out> {
        Ok(Out {
            piles: OutOfService::of(state, ItemKind::Pile).await?,
            ports: OutOfService::of(state, ItemKind::Port).await?,
        })
    }

    fn body(&self, view: PileView) -> PileBody {
        let ports_out_of_service = (1..=view.ports.len() as u8)
            .filter(|n| self.ports.contains(Item::port(&view.id, *n).key))
            .collect();
        PileBody { in_service: !self.piles.contains(&view.id), ports_out_of_service, view }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ServicePatch {
    /// `false` takes it out of service: a pile is refused at login (and a
    /// connected one is hung up on), a port refuses charges.
    in_service: bool,
}

#[utoipa::path(
    patch,
    path = "/api/v1/piles/{id}",
    tag = "piles",
    params(("id" = String, Path, description = "The pile")),
    request_body = ServicePatch,
    responses(
        (status = 200, description = "The pile as changed", body = PileBody),
    ),
    security(("bearer" = [])),
)]
async fn update(
    state: State,
    scope: Scope,
    id: web::Path<String>,
    body: crate::extract::Json<ServicePatch>,
) -> ApiResult<HttpResponse> {
    let record = scope.pile(&state, &id).await?;
    set_service(&state, Item::new(ItemKind::Pile, &record.id), Some(body.in_service)).await?;
    if !body.in_service {
        if let Some(pile) = state.registry.pile(&record.id) {
            pile.do_send(pile::Disconnect("out_of_service"));
        }
    }
    let view = view(&state, &record).await;
    Ok(HttpResponse::Ok().json(Out::of(&state).await?.body(view)))
}

#[utoipa::path(
    patch,
    path = "/api/v1/piles/{id}/ports/{port}",
    tag = "piles",
    params(("id" = String, Path, description = "The pile"), ("port" = u8, Path, description = "The port, from 1")),
    request_body = ServicePatch,
    responses(
        (status = 200, description = "The pile as changed", body = PileBody),
    ),
    security(("bearer" = [])),
)]
async fn update_port(
    state: State,
    scope: Scope,
    path: web::Path<(String, u8)>,
    body: crate::extract::Json<ServicePatch>,
) -> ApiResult<HttpResponse> {
    let (id, port) = path.into_inner();
    let record = scope.pile(&state, &id).await?;
    if port == 0 || port > record.ports {
        return Err(ApiError::not_found(
            "unknown_port",
            format!("pile {id} has ports 1 to {}", record.ports),
        ));
    }
    set_service(&state, Item::port(&record.id, port), Some(body.in_service)).await?;
    if let Some(pile) = state.registry.pile(&record.id) {
        let cmd = PileCommand::PortService { port: PortNo(port), in_service: body.in_service };
        // Offline: the platform refuses the port's charges all the same.
        let _ = pile.send(pile::Send(cmd)).await;
    }
    let view = view(&state, &record).await;
    Ok(HttpResponse::Ok().json(Out::of(&state).await?.body(view)))
}

/// Refuses a start where the station, pile or port is out of service.
pub(super) async fn in_service(state: &State, record: &PileRecord, port: u8) -> ApiResult<()> {
    match actors::service::out_of_service(state, record.station_id, &record.id, port).await? {
        None => Ok(()),
        Some(kind) => {
            Err(ApiError::conflict("out_of_service", format!("the {} is out of service", kind.as_str())))
        }
    }
}

pub(super) async fn record(state: &State, id: &str) -> ApiResult<PileRecord> {
    state
        .store
        .pile(&PileId(id.to_owned()))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_pile", format!("no pile {id}")))
}

#[utoipa::path(
    get,
    path = "/api/v1/piles/{id}",
    tag = "piles",
    params(("id" = String, Path, description = "The pile")),
    responses(
        (status = 200, description = "The pile with its ports' live state", body = PileBody),
    ),
    security(("bearer" = [])),
)]
async fn get(state: State, scope: Scope, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let record = scope.pile(&state, &id).await?;
    let view = view(&state, &record).await;
    Ok(HttpResponse::Ok().json(Out::of(&state).await?.body(view)))
}

/// Without wallets, the balance a pile is told the driver has (yuan).
const DEFAULT_START_BALANCE: u32 = 500;

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// What the driver has to spend, yuan (told to piles that enforce it).
    #[schema(minimum = 0, maximum = 100000)]
    pub balance: Option<Decimal>,
    /// An e-bike price plan; without one the station's tariff applies.
    pub plan_id: Option<i64>,
    /// Paid up front, yuan: the charge stops when it is spent, the rest is refunded.
    #[schema(minimum = 0.01, maximum = 100000)]
    pub prepaid: Option<Decimal>,
    /// Or hours bought up front at the plan's (cheapest) hourly price.
    #[schema(minimum = 0.01, maximum = 24)]
    pub prepaid_hours: Option<Decimal>,
    /// If the station has no room now, wait for it instead of a 409.
    #[serde(default)]
    pub queue: bool,
}

/// The plan and prepaid amount of a start request at a pile; the plan must
/// be one of the pile's operator's.
pub(super) async fn pricing(
    state: &State,
    body: &StartBody,
    pile: &PileRecord,
) -> ApiResult<(Option<PricePlan>, Option<Decimal>)> {
    let plan = match body.plan_id {
        Some(id) => {
            let (plan, station) =
                futures::try_join!(state.store.plan(id), state.store.station(pile.station_id))?;
            let operator = station.map(|s| s.operator_id);
            let plan = plan
                .filter(|p| Some(p.operator_id) == operator)
                .ok_or_else(|| ApiError::invalid("plan_id", format!("no plan {id} at this pile")))?;
            if state.store.out_of_service(&Item::new(ItemKind::Plan, id)).await?.is_some() {
                return Err(ApiError::invalid("plan_id", format!("plan {id} is out of service")));
            }
            Some(plan)
        }
        None => None,
    };
    let prepaid = match (body.prepaid, body.prepaid_hours) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("prepaid_hours", "give prepaid or prepaid_hours, not both"))
        }
        (Some(yuan), None) => Some(bounds::yuan("prepaid", yuan, bounds::FEN)?),
        (None, Some(hours)) => {
            let hours = bounds::within("prepaid_hours", hours, bounds::FEN, bounds::MAX_HOURS.into(), 2)?;
            let per_hour = match plan.as_ref().map(|p| &p.pricing) {
                Some(Pricing::Time { per_hour, .. }) => *per_hour,
                Some(Pricing::PowerTiers { tiers, .. }) => {
                    tiers.iter().map(|t| t.per_hour).min().unwrap_or_default()
                }
                _ => {
                    return Err(ApiError::invalid(
                        "prepaid_hours",
                        "hours can be bought on a time or power-tier plan",
                    ))
                }
            };
            // Plan prices are bounded too, so the product cannot overflow.
            let cost = domain::pricing::cents(hours * per_hour);
            Some(bounds::yuan("prepaid_hours", cost, bounds::FEN).map_err(|_| {
                ApiError::invalid(
                    "prepaid_hours",
                    format!("{hours} h cost {cost}: above 0 and at most {} yuan", bounds::MAX_YUAN),
                )
            })?)
        }
        (None, None) => None,
    };
    Ok((plan, prepaid))
}

pub(super) fn live_pile(state: &State, record: &PileRecord, port: u8) -> ApiResult<actix::Addr<pile::Pile>> {
    let id = &record.id;
    if port == 0 || port > record.ports {
        return Err(ApiError::not_found(
            "unknown_port",
            format!("pile {id} has ports 1 to {}", record.ports),
        ));
    }
    state
        .registry
        .pile(&record.id)
        .ok_or_else(|| ApiError::conflict("pile_offline", format!("pile {id} is not connected")))
}

#[utoipa::path(
    post,
    path = "/api/v1/piles/{id}/ports/{port}/start",
    tag = "piles",
    params(("id" = String, Path, description = "The pile"), ("port" = u8, Path, description = "The port, from 1"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key answers the first answer")),
    request_body = Option<StartBody>,
    responses(
        (status = 202, description = "`{session_id, state: starting}` or `{state: queued, position}`", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn start(
    state: State,
    scope: Scope,
    in_flight: web::Data<InFlight>,
    req: HttpRequest,
    path: web::Path<(String, u8)>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (id, port) = path.into_inner();
    let record = scope.pile(&state, &id).await?;
    idempotency::once(&state, &in_flight, &req, &body, || start_charge(&state, record, port, &body)).await
}

async fn start_charge(
    state: &State,
    record: PileRecord,
    port: u8,
    body: &[u8],
) -> ApiResult<(StatusCode, Value)> {
    let id = &record.id;
    let body: StartBody = optional_json(body)?;
    let (plan, prepaid) = pricing(state, &body, &record).await?;
    let balance = match body.balance {
        Some(b) => bounds::yuan("balance", b, Decimal::ZERO)?,
        None => prepaid.unwrap_or(Decimal::from(DEFAULT_START_BALANCE)),
    };
    let pile = live_pile(state, &record, port)?;
    in_service(state, &record, port).await?;
    let purchase = Purchase { plan, prepaid, ..Default::default() };
    let started = pile
        .send(pile::StartCharge { port: PortNo(port), queue: body.queue, balance, purchase })
        .await
        .map_err(|_| ApiError::conflict("pile_offline", format!("pile {id} is not connected")))?
        .map_err(start_error)?;
    Ok((StatusCode::ACCEPTED, started_json(started, None)))
}

pub(super) fn start_error(e: StartError) -> ApiError {
    match e {
        StartError::NoSuchPort => ApiError::not_found("unknown_port", e.to_string()),
        StartError::Offline | StartError::Unavailable => ApiError::conflict("pile_offline", e.to_string()),
        StartError::Busy(_) => ApiError::conflict("port_busy", e.to_string()),
        StartError::Faulted => ApiError::conflict("port_faulted", e.to_string()),
        StartError::CapacityShort(_) => ApiError::conflict("station_capacity_short", e.to_string()),
        StartError::Refused(m) => ApiError::new(StatusCode::PAYMENT_REQUIRED, "insufficient_balance", m),
        StartError::Storage(m) => ApiError::unavailable(m),
        StartError::TooLittle(m) => ApiError::invalid("prepaid", m),
    }
}

/// The answer to a start; `held`: what a wallet charge set aside.
pub(super) fn started_json(started: Started, held: Option<Decimal>) -> Value {
    match started {
        Started::Session(session) => json!({ "session_id": session, "state": "starting", "held": held }),
        // Starts by itself when the station has room; the port shows its session then.
        Started::Queued(position) => json!({ "state": "queued", "position": position, "held": held }),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/piles/{id}/ports/{port}/stop",
    tag = "piles",
    params(("id" = String, Path, description = "The pile"), ("port" = u8, Path, description = "The port, from 1"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key answers the first answer")),
    responses(
        (status = 202, description = "`{session_id, state: stopping}`", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn stop(
    state: State,
    scope: Scope,
    in_flight: web::Data<InFlight>,
    req: HttpRequest,
    path: web::Path<(String, u8)>,
) -> ApiResult<HttpResponse> {
    let (id, port) = path.into_inner();
    let record = scope.pile(&state, &id).await?;
    idempotency::once(&state, &in_flight, &req, &[], || stop_charge(&state, record, port)).await
}

async fn stop_charge(state: &State, record: PileRecord, port: u8) -> ApiResult<(StatusCode, Value)> {
    let id = &record.id;
    let pile = live_pile(state, &record, port)?;
    let stopped = pile
        .send(pile::StopCharge { port: PortNo(port) })
        .await
        .map_err(|_| ApiError::conflict("pile_offline", format!("pile {id} is not connected")))?;
    let session = stopped.map_err(|e| match e {
        StopError::NoSuchPort => ApiError::not_found("unknown_port", e.to_string()),
        StopError::NotCharging => ApiError::conflict("not_charging", e.to_string()),
        StopError::Offline | StopError::Unavailable => ApiError::conflict("pile_offline", e.to_string()),
    })?;
    Ok((StatusCode::ACCEPTED, json!({ "session_id": session, "state": "stopping" })))
}

/// Send a maintenance command: its outcome (acknowledged, refused, timed
/// out) shows in the pile's command list.
#[utoipa::path(
    post,
    path = "/api/v1/piles/{id}/commands",
    tag = "piles",
    params(("id" = String, Path, description = "The pile")),
    request_body = Maintenance,
    responses(
        (status = 202, description = "The command as sent", body = CommandRecord),
    ),
    security(("bearer" = [])),
)]
async fn command(
    state: State,
    scope: Scope,
    id: web::Path<String>,
    body: crate::extract::Json<Maintenance>,
) -> ApiResult<HttpResponse> {
    let record = scope.pile(&state, &id).await?;
    let mut command = body.into_inner();
    // Only cards of live accounts go on a pile's offline list.
    if let Maintenance::OfflineCardsSync { cards } | Maintenance::OfflineCardsClear { cards } = &mut command {
        cards.iter_mut().for_each(|c| c.make_ascii_uppercase());
    }
    if let Maintenance::OfflineCardsSync { cards } = &command {
        for card in cards {
            let live = state.store.card(card).await?.is_some_and(|c| c.status == Status::Active);
            if !live {
                return Err(ApiError::invalid("cards", format!("card {card} is not an active card")));
            }
        }
    }
    let offline = || ApiError::conflict("pile_offline", format!("pile {id} is not connected"));
    let pile = state.registry.pile(&record.id).ok_or_else(offline)?;
    let sent = pile.send(pile::Maintain(command)).await.map_err(|_| offline())?;
    let command = sent.map_err(|e| match e {
        MaintainError::Offline => offline(),
        MaintainError::Unsupported(m) => ApiError::invalid("kind", m),
        MaintainError::InProgress(_) => ApiError::conflict("command_in_progress", e.to_string()),
    })?;
    // Listed once sent: a card the pile may hold is one its offline charges
    // are billed to. Taken off when the pile confirms (the pile actor).
    if let Maintenance::OfflineCardsSync { cards } = &command.command {
        state.store.set_offline_cards(&record.id, cards, true).await?;
    }
    Ok(HttpResponse::Accepted().json(command))
}

async fn pile_commands(state: &State, scope: Scope, id: &str) -> ApiResult<Vec<CommandRecord>> {
    let record = scope.pile(state, id).await?;
    match state.registry.pile(&record.id) {
        Some(pile) => pile.send(pile::Commands).await.map_err(|e| ApiError::unavailable(e.to_string())),
        None => Ok(Vec::new()),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Limit {
    limit: Option<usize>,
}

/// The pile's latest diagnostic frames (BMS), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/piles/{id}/diagnostics",
    tag = "piles",
    params(("id" = String, Path, description = "The pile"), Limit),
    responses(
        (status = 200, description = "Diagnostic frames, newest first", body = Vec<Diagnostic>),
    ),
    security(("bearer" = [])),
)]
async fn diagnostics(
    state: State,
    scope: Scope,
    id: web::Path<String>,
    q: web::Query<Limit>,
) -> ApiResult<HttpResponse> {
    let record = scope.pile(&state, &id).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(HttpResponse::Ok().json(state.store.diagnostics(&record.id, limit).await?))
}

/// The cards the pile may let charge while offline: its offline charges are
/// billed only to these.
#[utoipa::path(
    get,
    path = "/api/v1/piles/{id}/offline-cards",
    tag = "piles",
    params(("id" = String, Path, description = "The pile")),
    responses(
        (status = 200, description = "Card numbers (16 hex digits), in order", body = Vec<String>),
    ),
    security(("bearer" = [])),
)]
async fn offline_cards(state: State, scope: Scope, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let record = scope.pile(&state, &id).await?;
    Ok(HttpResponse::Ok().json(state.store.offline_cards(&record.id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/piles/{id}/commands",
    tag = "piles",
    params(("id" = String, Path, description = "The pile")),
    responses(
        (status = 200, description = "The pile's maintenance commands and their outcomes", body = Vec<CommandRecord>),
    ),
    security(("bearer" = [])),
)]
async fn commands(state: State, scope: Scope, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(pile_commands(&state, scope, &id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/piles/{id}/commands/{command}",
    tag = "piles",
    params(("id" = String, Path, description = "The pile"), ("command" = u64, Path, description = "The command's id")),
    responses(
        (status = 200, description = "The command", body = CommandRecord),
    ),
    security(("bearer" = [])),
)]
async fn one_command(state: State, scope: Scope, path: web::Path<(String, u64)>) -> ApiResult<HttpResponse> {
    let (id, command) = path.into_inner();
    let found = pile_commands(&state, scope, &id).await?.into_iter().find(|c| c.id == command);
    let found = found.ok_or_else(|| {
        ApiError::not_found("unknown_command", format!("pile {id} has no command {command}"))
    })?;
    Ok(HttpResponse::Ok().json(found))
}

/// A charge point's password (OCPP security profile 1), or `null` to
/// remove it: 16 to 40 printable ASCII characters, as OCPP's
/// AuthorizationKey.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OcppPassword {
    pub password: Option<String>,
}

/// Sets the password an OCPP charge point must present (HTTP Basic auth,
/// its id as the user name) when it opens its WebSocket; kept hashed.
#[utoipa::path(
    put,
    path = "/api/v1/piles/{id}/ocpp-password",
    tag = "piles",
    params(("id" = String, Path, description = "The charge point")),
    request_body = OcppPassword,
    responses(
        (status = 204, description = "Set (or removed)"),
        (status = 422, description = "Not an OCPP charge point, or a password out of bounds", body = ApiError),
    ),
    security(("bearer" = [])),
)]
async fn ocpp_password(
    state: State,
    scope: Scope,
    id: web::Path<String>,
    body: crate::extract::Json<OcppPassword>,
) -> ApiResult<HttpResponse> {
    let record = scope.pile(&state, &id).await?;
    if record.protocol != Protocol::Ocpp {
        return Err(ApiError::invalid("password", "only OCPP charge points have a password"));
    }
    let hash = match &body.password {
        Some(p) if (16..=40).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_graphic()) => {
            Some(crate::passwords::hash(p).await?)
        }
        Some(_) => return Err(ApiError::invalid("password", "16 to 40 printable ASCII characters")),
        None => None,
    };
    state.store.set_ocpp_password(&record.id, hash.as_deref()).await?;
    Ok(HttpResponse::NoContent().finish())
}
