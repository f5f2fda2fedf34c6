//! Time-of-use tariffs: four periods' prices and which period each part of
//! the day is in, given as time ranges that must cover the whole day.

use actix_web::{web, HttpResponse};
use domain::tariff::{Period, PeriodPrice, Tariff, TouPrices, SLOTS};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{patched, served, served_page, Page, PageQuery, Served, State};
use crate::auth::{manager, staff};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::{as_field, unknown, Scope};
use store::{Item, ItemKind};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/tariffs", manager(web::post().to(create)))
        .route("/tariffs", staff(web::get().to(list)))
        .route("/tariffs/{id}", staff(web::get().to(get)))
        .route("/tariffs/{id}", manager(web::patch().to(update)));
}

#[derive(Deserialize, Serialize, Default, Clone, ToSchema)]
#[schema(as = TariffPrices)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub sharp: Option<PeriodPrice>,
    pub peak: Option<PeriodPrice>,
    pub flat: Option<PeriodPrice>,
    pub valley: Option<PeriodPrice>,
}

/// A range of the local day, "HH:MM" on half hours; `to` may be "24:00".
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, ToSchema)]
#[schema(as = TariffRange)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub from: String,
    pub to: String,
    pub period: Period,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTariff {
    /// The admin names the operator; others create their own operator's.
    pub operator_id: Option<i64>,
    pub name: String,
    pub prices: Prices,
    pub periods: Vec<Range>,
}

#[derive(Serialize, Clone, ToSchema)]
#[schema(as = Tariff)]
pub struct TariffBody {
    pub id: i64,
    pub operator_id: i64,
    pub name: String,
    pub prices: Prices,
    pub periods: Vec<Range>,
}

impl From<Tariff> for TariffBody {
    fn from(t: Tariff) -> Self {
        let p = |period| Some(t.tou.price(period));
        TariffBody {
            id: t.id,
            operator_id: t.operator_id,
            name: t.name,
            prices: Prices {
                sharp: p(Period::Sharp),
                peak: p(Period::Peak),
                flat: p(Period::Flat),
                valley: p(Period::Valley),
            },
            periods: ranges(&t.tou.slots),
        }
    }
}

fn slot_of(hhmm: &str) -> Option<usize> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (usize, usize) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(SLOTS),
        (0..=23, 0) => Some(h * 2),
        (0..=23, 30) => Some(h * 2 + 1),
        _ => None,
    }
}

fn hhmm(slot: usize) -> String {
    format!("{:02}:{:02}", slot / 2, (slot % 2) * 30)
}

/// The slots of a day from ranges that cover it exactly once.
pub fn slots(periods: &[Range]) -> ApiResult<[Period; SLOTS]> {
    let mut slots = [None; SLOTS];
    for r in periods {
        let bad = || {
            ApiError::invalid(
                "periods",
                format!("{}–{} is not a range of half hours within a day", r.from, r.to),
            )
        };
        let (from, to) = (slot_of(&r.from).ok_or_else(bad)?, slot_of(&r.to).ok_or_else(bad)?);
        if from >= to || from >= SLOTS {
            return Err(bad());
        }
        for (i, slot) in slots.iter_mut().enumerate().take(to).skip(from) {
            if slot.replace(r.period).is_some() {
                return Err(ApiError::invalid("periods", format!("{} is covered twice", hhmm(i))));
            }
        }
    }
    let mut out = [Period::Flat; SLOTS];
    for (i, s) in slots.iter().enumerate() {
        out[i] = s.ok_or_else(|| {
            ApiError::invalid("periods", format!("{}–{} is not covered", hhmm(i), hhmm(i + 1)))
        })?;
    }
    Ok(out)
}

/// Ranges from slots, merging neighbours in the same period.
pub fn ranges(slots: &[Period; SLOTS]) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    for (i, &period) in slots.iter().enumerate() {
        match out.last_mut() {
            Some(r) if r.period == period => r.to = hhmm(i + 1),
            _ => out.push(Range { from: hhmm(i), to: hhmm(i + 1), period }),
        }
    }
    out
}

fn tou(prices: &Prices, periods: &[Range]) -> ApiResult<TouPrices> {
    let slots = slots(periods)?;
    let given = [prices.sharp, prices.peak, prices.flat, prices.valley];
    let zero = PeriodPrice { energy: Decimal::ZERO, service: Decimal::ZERO };
    let mut prices = [zero; 4];
    for period in Period::ALL {
        prices[period.index()] = match given[period.index()] {
            Some(p) => p,
            None if !slots.contains(&period) => zero,
            None => {
                return Err(ApiError::invalid(
                    "prices",
                    format!("the {} period is used but has no price", period.as_str()),
                ))
            }
        };
    }
    let tou = TouPrices { prices, slots };
    tou.validate().map_err(|e| ApiError::invalid("prices", e.to_string()))?;
    Ok(tou)
}

#[utoipa::path(
    post,
    path = "/api/v1/tariffs",
    tag = "tariffs",
    request_body = NewTariff,
    responses(
        (status = 201, description = "Created", body = TariffBody),
    ),
    security(("bearer" = [])),
)]
async fn create(
    state: State,
    scope: Scope,
    body: crate::extract::Json<NewTariff>,
) -> ApiResult<HttpResponse> {
    let name = super::name(&body.name, "tariff")?;
    let tou = tou(&body.prices, &body.periods)?;
    let operator = scope.owner(&state, body.operator_id).await?;
    let tariff = state.store.create_tariff(operator, name, &tou).await?;
    Ok(HttpResponse::Created().json(TariffBody::from(tariff)))
}

#[utoipa::path(
    get,
    path = "/api/v1/tariffs/{id}",
    tag = "tariffs",
    params(("id" = i64, Path, description = "The tariff")),
    responses(
        (status = 200, description = "The tariff", body = Served<TariffBody>),
    ),
    security(("bearer" = [])),
)]
async fn get(state: State, scope: Scope, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let tariff = TariffBody::from(scope.tariff(&state, *id).await?);
    Ok(HttpResponse::Ok().json(served(&state, ItemKind::Tariff, tariff, id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/tariffs",
    tag = "tariffs",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tariffs", body = Page<Served<TariffBody>>),
    ),
    security(("bearer" = [])),
)]
async fn list(state: State, scope: Scope, page: web::Query<PageQuery>) -> ApiResult<HttpResponse> {
    let all = state.store.tariffs().await?.into_iter().filter(|t| scope.sees(t.operator_id));
    let all = all.map(TariffBody::from);
    Ok(HttpResponse::Ok().json(served_page(&state, ItemKind::Tariff, all, |t| t.id, &page).await?))
}

/// A tariff for new stations, rules and charges: the operator's own, in service.
pub async fn usable(state: &State, scope: Scope, id: i64, operator: i64) -> ApiResult<Tariff> {
    let tariff = scope.tariff(state, id).await.map_err(as_field("tariff_id"))?;
    if tariff.operator_id != operator {
        return Err(ApiError::invalid("tariff_id", format!("no tariff {id} of operator {operator}")));
    }
    if state.store.out_of_service(&Item::new(ItemKind::Tariff, id)).await?.is_some() {
        return Err(ApiError::invalid("tariff_id", format!("tariff {id} is out of service")));
    }
    Ok(tariff)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = TariffPatch)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    pub name: Option<String>,
    /// New prices come with their periods: the two are one schedule.
    pub prices: Option<Prices>,
    pub periods: Option<Vec<Range>>,
    /// `false`: no new station or rule may use it; stations on it keep it.
    pub in_service: Option<bool>,
}

/// Renames or reprices a tariff. Charges running keep the prices they
/// started with; the tariff's stations and their piles get the new ones.
#[utoipa::path(
    patch,
    path = "/api/v1/tariffs/{id}",
    tag = "tariffs",
    params(("id" = i64, Path, description = "The tariff")),
    request_body = Patch,
    responses(
        (status = 200, description = "The tariff as changed", body = Served<TariffBody>),
    ),
    security(("bearer" = [])),
)]
async fn update(
    state: State,
    scope: Scope,
    id: web::Path<i64>,
    body: crate::extract::Json<Patch>,
) -> ApiResult<HttpResponse> {
    let mut tariff = scope.tariff(&state, *id).await?;
    if let Some(name) = &body.name {
        tariff.name = super::name(name, "tariff")?.to_owned();
    }
    match (&body.prices, &body.periods) {
        (Some(prices), Some(periods)) => tariff.tou = tou(prices, periods)?,
        (None, None) => {}
        (None, Some(_)) => return Err(ApiError::invalid("prices", "give prices with the periods")),
        (Some(_), None) => return Err(ApiError::invalid("periods", "give periods with the prices")),
    }
    if !state.store.update_tariff(&tariff).await? {
        return Err(unknown("tariff", id));
    }
    for station in state.store.stations().await?.into_iter().filter(|s| s.tariff_id == tariff.id) {
        super::nodes::edited(&state, station.id);
        if let Some(actor) = state.registry.stations.get(&station.id).map(|a| a.clone()) {
            actor.do_send(actors::station::SetTariff(station, tariff.clone()));
        }
    }
    let item = Item::new(ItemKind::Tariff, tariff.id);
    Ok(HttpResponse::Ok().json(patched(&state, item, body.in_service, TariffBody::from(tariff)).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(from: &str, to: &str, period: Period) -> Range {
        Range { from: from.into(), to: to.into(), period }
    }

    #[test]
    fn ranges_round_trip_through_slots() {
        let given = vec![
            r("00:00", "08:00", Period::Valley),
            r("08:00", "10:30", Period::Flat),
            r("10:30", "24:00", Period::Peak),
        ];
        let s = slots(&given).unwrap();
        assert_eq!(s[15], Period::Valley);
        assert_eq!(s[16], Period::Flat);
        assert_eq!(s[21], Period::Peak);
        assert_eq!(ranges(&s), given);
    }

    #[test]
    fn gaps_overlaps_and_bad_times_are_refused() {
        let gap = slots(&[r("00:00", "12:00", Period::Flat)]).unwrap_err();
        assert!(gap.message.contains("12:00–12:30 is not covered"), "{}", gap.message);
        let twice =
            slots(&[r("00:00", "24:00", Period::Flat), r("01:00", "02:00", Period::Peak)]).unwrap_err();
        assert!(twice.message.contains("01:00 is covered twice"), "{}", twice.message);
        assert!(slots(&[r("00:00", "12:15", Period::Flat)]).is_err());
        assert!(slots(&[r("10:00", "09:00", Period::Flat)]).is_err());
    }
}
