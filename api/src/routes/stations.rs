//! Stations: a site with one transformer and one tariff, in one time zone.

use actix_web::{web, HttpResponse};
use actors::{registry, station};
use domain::allocation::PowerConfig;
use domain::geo::GeoIndex;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;
use store::{Item, ItemKind, NewStation, Station, StationDetails};
use utoipa::{IntoParams, ToSchema};
use vocab::PortStatus;

use super::{patched, served, served_page, OutOfService, Page, PageQuery, Served, State};
use crate::auth::{manager, merchant};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::{as_field, unknown, Scope};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/stations", manager(web::post().to(create)))
        .route("/stations", merchant(web::get().to(list)))
        .route("/stations/{id}", merchant(web::get().to(get)))
        .route("/stations/{id}", manager(web::patch().to(update)))
        .route("/stations/{id}/details", manager(web::put().to(set_details)))
        .route("/stations/{id}/tariff", manager(web::put().to(set_tariff)))
        .route("/stations/{id}/power", manager(web::put().to(set_power)))
        .route("/stations/{id}/power", manager(web::delete().to(unset_power)))
        .route("/stations/{id}/power", merchant(web::get().to(power)))
        .route("/stations/{id}/load", manager(web::post().to(other_load)));
}

/// What drivers' apps may ask without logging in.
pub fn public_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/stations/near", web::get().to(near)).route("/stations/{id}/ports", web::get().to(ports));
}

/// Where stations are, for `near`: built from the store at start, kept up
/// to date as stations get details.
pub type Geo = web::Data<std::sync::RwLock<GeoIndex>>;

pub fn geo_index(stations: &[store::Station]) -> GeoIndex {
    let mut g = GeoIndex::default();
    for s in stations {
        locate(&mut g, s.id, s.details.as_ref());
    }
    g
}

fn locate(g: &mut GeoIndex, id: i64, details: Option<&StationDetails>) {
    match details.and_then(|d| Some((d.lat.to_f64()?, d.lon.to_f64()?))) {
        Some((lat, lon)) => g.insert(id, lat, lon),
        None => g.remove(id),
    }
}

fn check_details(d: &StationDetails) -> ApiResult<()> {
    let degrees = |field, v: Decimal, max: i64| {
        if v.abs() > Decimal::from(max) || v.normalize().scale() > 6 {
            return Err(ApiError::invalid(field, format!("degrees within ±{max}, to 0.000001")));
        }
        Ok(())
    };
    degrees("lat", d.lat, 90)?;
    degrees("lon", d.lon, 180)?;
    if d.address.trim().is_empty() {
        return Err(ApiError::invalid("address", "a station needs an address"));
    }
    if d.photos.len() > 20
        || d.photos.iter().any(|u| !(u.starts_with("https://") || u.starts_with("http://")))
    {
        return Err(ApiError::invalid("photos", "at most 20 http(s) URLs"));
    }
    Ok(())
}

#[utoipa::path(
    put,
    path = "/api/v1/stations/{id}/details",
    tag = "stations",
    params(("id" = i64, Path, description = "The station")),
    request_body = StationDetails,
    responses(
        (status = 200, description = "The station with its details", body = Station),
    ),
    security(("bearer" = [])),
)]
async fn set_details(
    state: State,
    scope: Scope,
    geo: Geo,
    id: web::Path<i64>,
    body: crate::extract::Json<StationDetails>,
) -> ApiResult<HttpResponse> {
    check_details(&body)?;
    scope.station(&state, *id).await?;
    let station = state
        .store
        .set_station_details(*id, Some(&body))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_station", format!("no station {id}")))?;
    locate(&mut geo.write().unwrap_or_else(|e| e.into_inner()), station.id, station.details.as_ref());
    Ok(HttpResponse::Ok().json(station))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Near {
    lat: f64,
    lon: f64,
    /// Default 5 km, at most 50.
    radius_km: Option<f64>,
    /// Default 20, at most 100.
    limit: Option<usize>,
}

/// Stations around a point, nearest first, with how many of their ports are
/// free right now (online and idle or plugged).
#[utoipa::path(
    get,
    path = "/api/v1/stations/near",
    tag = "stations",
    params(Near),
    responses(
        (status = 200, description = "Stations nearest first: `id`, `name`, `details`, `distance_m`, `ports_free`, `ports_online`", body = Vec<Object>),
    ),
)]
async fn near(state: State, geo: Geo, q: web::Query<Near>) -> ApiResult<HttpResponse> {
    if !(-90.0..=90.0).contains(&q.lat) {
        return Err(ApiError::invalid("lat", "degrees within ±90"));
    }
    if !(-180.0..=180.0).contains(&q.lon) {
        return Err(ApiError::invalid("lon", "degrees within ±180"));
    }
    let radius_km = q.radius_km.unwrap_or(5.0);
    if !(radius_km > 0.0 && radius_km <= 50.0) {
        return Err(ApiError::invalid("radius_km", "above 0 and at most 50"));
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let found = geo.read().unwrap_or_else(|e| e.into_inner()).near(q.lat, q.lon, radius_km * 1000.0, limit);
    let closed = OutOfService::of(&state, ItemKind::Station).await?;
    let mut out = Vec::with_capacity(found.len());
    for (id, distance_m) in found.into_iter().filter(|(id, _)| !closed.contains(id)) {
        let Some(station) = state.store.station(id).await? else { continue };
        let (free, total) = free_ports(&state, id).await;
        out.push(serde_json::json!({
            "id": station.id,
            "name": station.name,
            "details": station.details,
            "distance_m": distance_m.round() as u64,
            "ports_free": free,
            "ports_online": total,
        }));
    }
    Ok(HttpResponse::Ok().json(out))
}

/// What a driver sees of a station before charging: where it is, its prices
/// and each connected pile's ports, with the code to start one. No ids of
/// charges or anything an operator keeps to itself.
#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}/ports",
    tag = "stations",
    params(("id" = i64, Path, description = "The station")),
    responses(
        (status = 200, description = "`{id, name, details, in_service, prices: {tariff, service_fee, minimum_charge}, piles: [{id, protocol, ports: [{port, status, code, in_service}]}]}`", body = Object),
    ),
)]
async fn ports(state: State, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let unknown = || ApiError::not_found("unknown_station", format!("no station {id}"));
    let station = state.store.station(*id).await?.ok_or_else(unknown)?;
    let tariff = state.store.tariff(station.tariff_id).await?.ok_or_else(unknown)?;
    let (closed, ports_out) =
        (OutOfService::of(&state, ItemKind::Station).await?, OutOfService::of(&state, ItemKind::Port).await?);
    let open = !closed.contains(station.id);
    let piles: Vec<_> = online_piles(&state, station.id)
        .await
        .iter()
        .map(|v| {
            let ports: Vec<_> = v
                .ports
                .iter()
                .map(|p| {
                    let item = Item::port(&v.id, p.port.0);
                    serde_json::json!({
                        "port": p.port,
                        "status": p.status,
                        "code": item.key,
                        "in_service": open && !ports_out.contains(&item.key),
                    })
                })
                .collect();
            serde_json::json!({ "id": v.id, "protocol": v.protocol, "ports": ports })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": station.id,
        "name": station.name,
        "details": station.details,
        "in_service": open,
        "prices": {
            "tariff": super::tariffs::TariffBody::from(tariff),
            "service_fee": station.service_fee,
            "minimum_charge": station.minimum_charge,
        },
        "piles": piles,
    })))
}

/// (free, online) ports of a station's connected piles.
async fn free_ports(state: &State, id: i64) -> (usize, usize) {
    online_piles(state, id).await.into_iter().flat_map(|v| v.ports).fold((0, 0), |(free, all), p| {
        let open = matches!(p.status, PortStatus::Idle | PortStatus::Plugged);
        (free + usize::from(open), all + 1)
    })
}

/// The live views of a station's connected piles, by id; none if its actor
/// is not running. With several nodes, those on every node.
async fn online_piles(state: &State, id: i64) -> Vec<actors::pile::PileView> {
    if state.config.directory.is_some() {
        let records: Vec<_> = state
            .store
            .piles()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.station_id == id)
            .collect();
        let mut online: Vec<_> =
            super::nodes::views(state, &records).await.into_iter().filter(|v| v.online).collect();
        online.sort_by(|a, b| a.id.cmp(&b.id));
        return online;
    }
    let Some(addr) = state.registry.stations.get(&id).map(|a| a.clone()) else { return Vec::new() };
    let piles = addr.send(station::Piles).await.unwrap_or_default();
    let views = futures::future::join_all(piles.iter().map(|p| p.send(actors::pile::View))).await;
    let mut online: Vec<_> = views.into_iter().flatten().filter(|v| v.online).collect();
    online.sort_by(|a, b| a.id.cmp(&b.id));
    online
}

/// China Standard Time, where most piles of these protocols run.
const DEFAULT_UTC_OFFSET_MINUTES: i32 = 8 * 60;

#[derive(Deserialize, ToSchema)]
#[schema(as = NewStation)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// The admin names the operator; others create their own operator's.
    pub operator_id: Option<i64>,
    pub name: String,
    pub tariff_id: i64,
    pub utc_offset_minutes: Option<i32>,
    /// Added to every charge, yuan.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100000)]
    pub service_fee: Decimal,
    /// The least a charge costs, yuan.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100000)]
    pub minimum_charge: Decimal,
    /// The site owner its charges are settled to; none: the operator's own.
    pub merchant_id: Option<i64>,
    /// Address, coordinates, opening hours and photos, for drivers.
    pub details: Option<StationDetails>,
}

#[utoipa::path(
    post,
    path = "/api/v1/stations",
    tag = "stations",
    request_body = Body,
    responses(
        (status = 201, description = "Created", body = Station),
    ),
    security(("bearer" = [])),
)]
async fn create(
    state: State,
    scope: Scope,
    geo: Geo,
    body: crate::extract::Json<Body>,
) -> ApiResult<HttpResponse> {
    if let Some(d) = &body.details {
        check_details(d)?;
    }
    let name = super::name(&body.name, "station")?;
    let offset = check_offset(body.utc_offset_minutes.unwrap_or(DEFAULT_UTC_OFFSET_MINUTES))?;
    let operator = scope.owner(&state, body.operator_id).await?;
    // What a station refers to is its own operator's, even for the admin.
    super::tariffs::usable(&state, scope, body.tariff_id, operator).await?;
    if let Some(m) = body.merchant_id {
        check_merchant(&state, scope, m, operator).await?;
    }
    check_fen("service_fee", body.service_fee)?;
    check_fen("minimum_charge", body.minimum_charge)?;
    let station = NewStation {
        operator_id: operator,
        name: name.to_owned(),
        tariff_id: body.tariff_id,
        utc_offset_minutes: offset,
        service_fee: body.service_fee,
        minimum_charge: body.minimum_charge,
        merchant_id: body.merchant_id,
        details: body.details.clone(),
    };
    let created = state.store.create_station(&station).await?;
    locate(&mut geo.write().unwrap_or_else(|e| e.into_inner()), created.id, created.details.as_ref());
    Ok(HttpResponse::Created().json(created))
}

fn check_offset(minutes: i32) -> ApiResult<i32> {
    if !(-14 * 60..=14 * 60).contains(&minutes) {
        return Err(ApiError::invalid("utc_offset_minutes", "must be within ±14 hours"));
    }
    Ok(minutes)
}

fn check_fen(field: &'static str, v: Decimal) -> ApiResult<()> {
    super::bounds::yuan(field, v, Decimal::ZERO).map(drop)
}

/// A station's merchant is one of its operator's, in service.
async fn check_merchant(state: &State, scope: Scope, m: i64, operator: i64) -> ApiResult<()> {
    let merchant = scope.merchant(state, m).await.map_err(as_field("merchant_id"))?;
    if merchant.operator_id != operator {
        return Err(ApiError::invalid("merchant_id", format!("no merchant {m} of operator {operator}")));
    }
    if state.store.out_of_service(&Item::new(ItemKind::Merchant, m)).await?.is_some() {
        return Err(ApiError::invalid("merchant_id", format!("merchant {m} is out of service")));
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}",
    tag = "stations",
    params(("id" = i64, Path, description = "The station")),
    responses(
        (status = 200, description = "The station", body = Served<Station>),
    ),
    security(("bearer" = [])),
)]
async fn get(state: State, scope: Scope, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let station = scope.station(&state, *id).await?;
    Ok(HttpResponse::Ok().json(served(&state, ItemKind::Station, station, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = StationPatch)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    pub name: Option<String>,
    pub utc_offset_minutes: Option<i32>,
    #[schema(minimum = 0, maximum = 100000)]
    pub service_fee: Option<Decimal>,
    #[schema(minimum = 0, maximum = 100000)]
    pub minimum_charge: Option<Decimal>,
    /// `null` makes the station the operator's own again.
    #[serde(default, deserialize_with = "super::nullable")]
    pub merchant_id: Option<Option<i64>>,
    /// `false` closes the station: its ports refuse charges and drivers no
    /// longer find it.
    pub in_service: Option<bool>,
}

/// Changes what a PATCH names. Charges already running keep their terms;
/// the station's piles get its new fees for the next ones.
#[utoipa::path(
    patch,
    path = "/api/v1/stations/{id}",
    tag = "stations",
    params(("id" = i64, Path, description = "The station")),
    request_body = Patch,
    responses(
        (status = 200, description = "The station as changed", body = Served<Station>),
    ),
    security(("bearer" = [])),
)]
async fn update(
    state: State,
    scope: Scope,
    id: web::Path<i64>,
    body: crate::extract::Json<Patch>,
) -> ApiResult<HttpResponse> {
    let mut s = scope.station(&state, *id).await?;
    if let Some(name) = &body.name {
        s.name = super::name(name, "station")?.to_owned();
    }
    if let Some(minutes) = body.utc_offset_minutes {
        s.utc_offset_minutes = check_offset(minutes)?;
    }
    if let Some(fee) = body.service_fee {
        check_fen("service_fee", fee)?;
        s.service_fee = fee;
    }
    if let Some(minimum) = body.minimum_charge {
        check_fen("minimum_charge", minimum)?;
        s.minimum_charge = minimum;
    }
    if let Some(merchant) = body.merchant_id {
        if let Some(m) = merchant {
            check_merchant(&state, scope, m, s.operator_id).await?;
        }
        s.merchant_id = merchant;
    }
    if !state.store.update_station(&s).await? {
        return Err(unknown("station", id));
    }
    if let Some(actor) = state.registry.stations.get(&s.id).map(|a| a.clone()) {
        if let Some(tariff) = state.store.tariff(s.tariff_id).await? {
            actor.do_send(station::SetTariff(s.clone(), tariff));
        }
    }
    super::nodes::edited(&state, s.id);
    let item = Item::new(ItemKind::Station, s.id);
    Ok(HttpResponse::Ok().json(patched(&state, item, body.in_service, s).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Filter {
    merchant_id: Option<i64>,
}

/// The stations the user sees, a page at a time, optionally one merchant's.
#[utoipa::path(
    get,
    path = "/api/v1/stations",
    tag = "stations",
    params(Filter, PageQuery),
    responses(
        (status = 200, description = "A page of the stations the user sees", body = Page<Served<Station>>),
    ),
    security(("bearer" = [])),
)]
async fn list(
    state: State,
    scope: Scope,
    filter: web::Query<Filter>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let all = state.store.stations().await?;
    let seen = all
        .into_iter()
        .filter(|s| scope.sees_station(s) && filter.merchant_id.is_none_or(|m| s.merchant_id == Some(m)));
    Ok(HttpResponse::Ok().json(served_page(&state, ItemKind::Station, seen, |s| s.id, &page).await?))
}

fn watts(field: &'static str, v: Decimal) -> ApiResult<()> {
    if v.is_sign_negative() && !v.is_zero() || v > Decimal::from(100_000_000) || v.normalize().scale() > 1 {
        return Err(ApiError::invalid(field, "watts, 0 to 100 MW, to 0.1 W"));
    }
    Ok(())
}

/// Manage the station's power: its transformer, a limit schedule, and what
/// each kind of port needs at least and may draw at most.
#[utoipa::path(
    put,
    path = "/api/v1/stations/{id}/power",
    tag = "stations",
    params(("id" = i64, Path, description = "The station")),
    request_body = PowerConfig,
    responses(
        (status = 200, description = "The station with its power managed", body = Station),
    ),
    security(("bearer" = [])),
)]
async fn set_power(
    state: State,
    scope: Scope,
    id: web::Path<i64>,
    body: crate::extract::Json<PowerConfig>,
) -> ApiResult<HttpResponse> {
    scope.station(&state, *id).await?;
    let p = body.into_inner();
    watts("transformer.capacity_w", p.transformer.capacity_w)?;
    watts("transformer.margin_w", p.transformer.margin_w)?;
    watts("ykc_gun_rated_w", p.ykc_gun_rated_w)?;
    watts("ebike_port_min_w", p.ebike_port_min_w)?;
    watts("ebike_port_max_w", p.ebike_port_max_w)?;
    if p.ebike_port_max_w < p.ebike_port_min_w {
        return Err(ApiError::invalid("ebike_port_max_w", "below ebike_port_min_w"));
    }
    let station = state.store.set_station_power(*id, Some(&p)).await?;
    let station =
        station.ok_or_else(|| ApiError::not_found("unknown_station", format!("no station {id}")))?;
    if let Some(actor) = state.registry.stations.get(&station.id).map(|a| a.clone()) {
        actor.do_send(station::SetPower(Some(p)));
    }
    super::nodes::edited(&state, station.id);
    Ok(HttpResponse::Ok().json(station))
}

#[utoipa::path(
    delete,
    path = "/api/v1/stations/{id}/power",
    tag = "stations",
    params(("id" = i64, Path, description = "The station")),
    responses(
        (status = 200, description = "The station, its power no longer managed", body = Station),
    ),
    security(("bearer" = [])),
)]
async fn unset_power(state: State, scope: Scope, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    scope.station(&state, *id).await?;
    let station = state.store.set_station_power(*id, None).await?;
    let station =
        station.ok_or_else(|| ApiError::not_found("unknown_station", format!("no station {id}")))?;
    if let Some(actor) = state.registry.stations.get(&station.id).map(|a| a.clone()) {
        actor.do_send(station::SetPower(None));
    }
    super::nodes::edited(&state, station.id);
    Ok(HttpResponse::Ok().json(station))
}

/// The live station actor, started if the station exists and the user sees it.
async fn live(state: &State, scope: Scope, id: i64) -> ApiResult<actix::Addr<station::Station>> {
    scope.station(state, id).await?;
    registry::station(state, id).await.map_err(|e| match e {
        registry::StartError::NoStation(_) => {
            ApiError::not_found("unknown_station", format!("no station {id}"))
        }
        e => ApiError::unavailable(e.to_string()),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}/power",
    tag = "stations",
    params(("id" = i64, Path, description = "The station")),
    responses(
        (status = 200, description = "The station's live power: limit, load and what each port is given, as the node managing it (`owner`) sees it; `stale: true` if that node could not be asked and this node's own view is shown", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn power(state: State, scope: Scope, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let mut view = live(&state, scope, *id)
        .await?
        .send(station::GetPower)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    // With several nodes only the owner knows every charge and grant: ask
    // it, unless this node is the owner. One node asks nobody.
    let Some(node) = &state.config.directory else { return Ok(HttpResponse::Ok().json(view)) };
    let owner = match (&view.owner, &view.owner_addr) {
        (Some(o), Some(addr)) => Some((o.clone(), addr.clone())),
        // This node's actor does not know the owner yet (it just started):
        // the store does.
        (None, _) => state
            .store
            .lease(*id)
            .await
            .ok()
            .flatten()
            .filter(|l| l.expires_at > chrono::Utc::now() && l.holder != node.node_id)
            .map(|l| (l.holder, l.http_addr)),
        _ => None,
    };
    let Some((owner, addr)) = owner else { return Ok(HttpResponse::Ok().json(view)) };
    match super::nodes::owner_power(&state, &addr, *id).await {
        Ok(theirs) => Ok(HttpResponse::Ok().insert_header((crate::forward::ANSWERED_BY, owner)).json(theirs)),
        Err(e) => {
            tracing::warn!(station = *id, owner, error = %e, "the station's owner did not show its power view; showing this node's");
            view.owner = Some(owner);
            view.stale = true;
            Ok(HttpResponse::Ok().json(view))
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = OtherLoad)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// What the transformer carries besides charging, W.
    pub watts: Decimal,
}

/// A meter gateway pushes the transformer's non-charging load.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/load",
    tag = "stations",
    params(("id" = i64, Path, description = "The station")),
    request_body = Load,
    responses(
        (status = 202, description = "Taken: `{station_id, other_load_w}`", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn other_load(
    state: State,
    scope: Scope,
    id: web::Path<i64>,
    body: crate::extract::Json<Load>,
) -> ApiResult<HttpResponse> {
    watts("watts", body.watts)?;
    live(&state, scope, *id).await?.do_send(station::OtherLoad(body.watts));
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "station_id": *id, "other_load_w": body.watts })))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = StationTariff)]
#[serde(deny_unknown_fields)]
pub struct TariffBody {
    pub tariff_id: i64,
}

/// Move the station to another tariff: charges started from now on are
/// priced by it, and its YKC piles are sent it (at once if idle, else when
/// their charges end). Running charges keep the tariff they started under.
#[utoipa::path(
    put,
    path = "/api/v1/stations/{id}/tariff",
    tag = "stations",
    params(("id" = i64, Path, description = "The station")),
    request_body = TariffBody,
    responses(
        (status = 200, description = "The station on its new tariff", body = Station),
    ),
    security(("bearer" = [])),
)]
async fn set_tariff(
    state: State,
    scope: Scope,
    id: web::Path<i64>,
    body: crate::extract::Json<TariffBody>,
) -> ApiResult<HttpResponse> {
    let station = scope.station(&state, *id).await?;
    let tariff = super::tariffs::usable(&state, scope, body.tariff_id, station.operator_id).await?;
    let station = state.store.set_station_tariff(*id, tariff.id).await?;
    let station =
        station.ok_or_else(|| ApiError::not_found("unknown_station", format!("no station {id}")))?;
    if let Some(actor) = state.registry.stations.get(&station.id).map(|a| a.clone()) {
        actor.do_send(station::SetTariff(station.clone(), tariff));
    }
    super::nodes::edited(&state, station.id);
    Ok(HttpResponse::Ok().json(station))
}
