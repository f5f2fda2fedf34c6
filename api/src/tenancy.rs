//! Whose data a request may touch, decided in one place.
//!
//! The platform admin sees every operator. An operator's managers and staff
//! see what their operator owns: its stations (and through them piles,
//! charges and alarms), tariffs, plans, merchants, rules and users. A
//! merchant user sees its own merchant and the stations it owns. Anything
//! else answers 404 exactly as an unknown id does, so another tenant's ids
//! leak nothing. Handlers look owned things up through `Scope` rather than
//! the store, so none of them checks ownership by hand.

use std::collections::HashSet;
use std::future::{ready, Ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest};
use domain::accounts::{Merchant, Operator, Role, User};
use domain::alarm::{Alarm, AlarmId};
use domain::pricing::{PlanId, PricePlan};
use domain::session::SessionRecord;
use domain::tariff::Tariff;
use store::{PileRecord, Station};
use vocab::{MerchantId, OperatorId, PileId, SessionId, StationId, DEFAULT_OPERATOR};

use crate::error::{ApiError, ApiResult};
use crate::routes::State;
use crate::tokens;

/// The signed-in platform user's view of the platform; put in place by the
/// route's gate (`auth::admin`, `manager`, `staff` or `merchant`).
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub user_id: i64,
    pub role: Role,
    /// `None`: the platform admin, who sees every operator.
    pub operator: Option<OperatorId>,
    /// A merchant user's merchant.
    pub merchant: Option<MerchantId>,
}

impl FromRequest for Scope {
    type Error = ApiError;
    type Future = Ready<ApiResult<Scope>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(req.extensions().get::<Scope>().copied().ok_or_else(|| tokens::unauthorized("log in first")))
    }
}

/// The 404 of an id this user cannot see, or that does not exist: the same.
pub fn unknown(what: &'static str, id: impl std::fmt::Display) -> ApiError {
    let code = match what {
        "operator" => "unknown_operator",
        "tariff" => "unknown_tariff",
        "plan" => "unknown_plan",
        "station" => "unknown_station",
        "merchant" => "unknown_merchant",
        "pile" => "unknown_pile",
        "session" => "unknown_session",
        "alarm" => "unknown_alarm",
        "rule" => "unknown_rule",
        _ => "not_found",
    };
    ApiError::not_found(code, format!("no {what} {id}"))
}

/// A 404 for something a body refers to is the body's fault: 422 naming the
/// field. Other errors pass through.
pub fn as_field(field: &'static str) -> impl Fn(ApiError) -> ApiError {
    move |e| match e.status {
        actix_web::http::StatusCode::NOT_FOUND => ApiError::invalid(field, e.message),
        _ => e,
    }
}

impl Scope {
    pub fn of(user: &User) -> Scope {
        Scope {
            user_id: user.id,
            role: user.user.role,
            operator: match user.user.role {
                Role::Admin => None,
                _ => Some(user.user.operator_id.unwrap_or(DEFAULT_OPERATOR)),
            },
            merchant: user.user.merchant_id,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.operator.is_none()
    }

    pub fn sees(&self, operator: OperatorId) -> bool {
        self.operator.is_none_or(|o| o == operator)
    }

    pub fn sees_station(&self, s: &Station) -> bool {
        self.sees(s.operator_id) && self.merchant.is_none_or(|m| s.merchant_id == Some(m))
    }

    /// The operator a new resource belongs to: the user's own, or for the
    /// admin the one named (the default operator if none is).
    pub async fn owner(&self, state: &State, named: Option<OperatorId>) -> ApiResult<OperatorId> {
        match (self.operator, named) {
            (Some(own), None) => Ok(own),
            (_, Some(id)) => Ok(self.operator(state, id).await.map_err(as_field("operator_id"))?.id),
            (None, None) => Ok(DEFAULT_OPERATOR),
        }
    }

    pub async fn operator(&self, state: &State, id: OperatorId) -> ApiResult<Operator> {
        let found = state.store.operator(id).await?.filter(|o| self.sees(o.id) && self.merchant.is_none());
        found.ok_or_else(|| unknown("operator", id))
    }

    pub async fn tariff(&self, state: &State, id: i64) -> ApiResult<Tariff> {
        let found = state.store.tariff(id).await?.filter(|t| self.sees(t.operator_id));
        found.ok_or_else(|| unknown("tariff", id))
    }

    pub async fn plan(&self, state: &State, id: PlanId) -> ApiResult<PricePlan> {
        let found = state.store.plan(id).await?.filter(|p| self.sees(p.operator_id));
        found.ok_or_else(|| unknown("plan", id))
    }

    pub async fn merchant(&self, state: &State, id: MerchantId) -> ApiResult<Merchant> {
        let found = state
            .store
            .merchant(id)
            .await?
            .filter(|m| self.sees(m.operator_id) && self.merchant.is_none_or(|own| own == m.id));
        found.ok_or_else(|| unknown("merchant", id))
    }

    pub async fn station(&self, state: &State, id: StationId) -> ApiResult<Station> {
        let found = state.store.station(id).await?.filter(|s| self.sees_station(s));
        found.ok_or_else(|| unknown("station", id))
    }

    pub async fn pile(&self, state: &State, id: &str) -> ApiResult<PileRecord> {
        let pile = state.store.pile(&PileId(id.to_owned())).await?.ok_or_else(|| unknown("pile", id))?;
        self.station(state, pile.station_id).await.map_err(|_| unknown("pile", id))?;
        Ok(pile)
    }

    pub async fn session(&self, state: &State, id: &str) -> ApiResult<SessionRecord> {
        let found = state.store.session(&SessionId(id.to_owned())).await?;
        let session = found.ok_or_else(|| unknown("session", id))?;
        self.station(state, session.station_id).await.map_err(|_| unknown("session", id))?;
        Ok(session)
    }

    pub async fn alarm(&self, state: &State, id: AlarmId) -> ApiResult<Alarm> {
        let alarm = state.store.alarm(id).await?.ok_or_else(|| unknown("alarm", id))?;
        self.station(state, alarm.alarm.station_id).await.map_err(|_| unknown("alarm", id))?;
        Ok(alarm)
    }

    /// The stations this user sees; `None`: every station (the admin).
    pub async fn stations(&self, state: &State) -> ApiResult<Option<HashSet<StationId>>> {
        if self.is_admin() {
            return Ok(None);
        }
        let all = state.store.stations().await?;
        Ok(Some(all.into_iter().filter(|s| self.sees_station(s)).map(|s| s.id).collect()))
    }
}
