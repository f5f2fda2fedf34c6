//! Price rules for classes of drivers: a discount, a fleet's own tariff, or
//! a station private to a class, at one station or all of an operator's.

use actix_web::{web, HttpResponse};
use domain::accounts::{NewRule, Rule};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Page, PageQuery, State};
use crate::auth::{manager, staff};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::{as_field, Scope};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/rules", manager(web::post().to(create_rule)))
        .route("/rules", staff(web::get().to(rules)))
        .route("/rules/{id}", manager(web::put().to(replace_rule)));
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewRuleBody)]
struct RuleBody {
    /// The admin names the operator; others create their own operator's.
    operator_id: Option<i64>,
    #[serde(flatten)]
    rule: NewRule,
}

/// A rule for a class of drivers at the operator's stations (or one of them).
#[utoipa::path(
    post,
    path = "/api/v1/rules",
    tag = "rules",
    request_body = RuleBody,
    responses(
        (status = 201, description = "Created", body = Rule),
    ),
    security(("bearer" = [])),
)]
async fn create_rule(
    state: State,
    scope: Scope,
    body: crate::extract::Json<RuleBody>,
) -> ApiResult<HttpResponse> {
    let rule = checked(&state, scope, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(state.store.create_rule(&rule).await?))
}

/// Replaces a rule (its class, station, kind and validity), for charges
/// started from now on.
#[utoipa::path(
    put,
    path = "/api/v1/rules/{id}",
    tag = "rules",
    params(("id" = i64, Path, description = "The rule")),
    request_body = RuleBody,
    responses(
        (status = 200, description = "The rule as it is now", body = Rule),
    ),
    security(("bearer" = [])),
)]
async fn replace_rule(
    state: State,
    scope: Scope,
    id: web::Path<i64>,
    body: crate::extract::Json<RuleBody>,
) -> ApiResult<HttpResponse> {
    let found =
        state.store.rules().await?.into_iter().find(|r| r.id == *id && scope.sees(r.rule.operator_id));
    let old = found.ok_or_else(|| crate::tenancy::unknown("rule", *id))?;
    let mut body = body.into_inner();
    body.operator_id = body.operator_id.or(Some(old.rule.operator_id));
    let rule = Rule { id: old.id, rule: checked(&state, scope, body).await? };
    if !state.store.update_rule(&rule).await? {
        return Err(crate::tenancy::unknown("rule", *id));
    }
    Ok(HttpResponse::Ok().json(rule))
}

/// A rule as a body asks for it, checked: valid, and naming only the
/// operator's own station and tariff.
async fn checked(state: &State, scope: Scope, body: RuleBody) -> ApiResult<NewRule> {
    let RuleBody { operator_id, mut rule } = body;
    rule.validate().map_err(|m| ApiError::invalid("rule", m))?;
    rule.operator_id = scope.owner(state, operator_id).await?;
    let not_theirs = |field, what, id| {
        ApiError::invalid(field, format!("no {what} {id} of operator {}", rule.operator_id))
    };
    if let Some(s) = rule.station_id {
        let station = scope.station(state, s).await.map_err(as_field("station_id"))?;
        if station.operator_id != rule.operator_id {
            return Err(not_theirs("station_id", "station", s));
        }
    }
    if let domain::accounts::RuleKind::Tariff { tariff_id } = rule.kind {
        super::tariffs::usable(state, scope, tariff_id, rule.operator_id).await?;
    }
    Ok(rule)
}

#[utoipa::path(
    get,
    path = "/api/v1/rules",
    tag = "rules",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of rules", body = Page<Rule>),
    ),
    security(("bearer" = [])),
)]
async fn rules(state: State, scope: Scope, page: web::Query<PageQuery>) -> ApiResult<HttpResponse> {
    let all = state.store.rules().await?.into_iter().filter(|r| scope.sees(r.rule.operator_id));
    Ok(HttpResponse::Ok().json(Page::of(all, |r| r.id, &page)?))
}
