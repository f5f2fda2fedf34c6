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
    cfg.route("/rules", manager(web::post().to(create_rule))).route("/rules", staff(web::get().to(rules)));
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
    let RuleBody { operator_id, mut rule } = body.into_inner();
    rule.validate().map_err(|m| ApiError::invalid("rule", m))?;
    rule.operator_id = scope.owner(&state, operator_id).await?;
    let not_theirs = |field, what, id| {
        ApiError::invalid(field, format!("no {what} {id} of operator {}", rule.operator_id))
    };
    if let Some(s) = rule.station_id {
        let station = scope.station(&state, s).await.map_err(as_field("station_id"))?;
        if station.operator_id != rule.operator_id {
            return Err(not_theirs("station_id", "station", s));
        }
    }
    if let domain::accounts::RuleKind::Tariff { tariff_id } = rule.kind {
        super::tariffs::usable(&state, scope, tariff_id, rule.operator_id).await?;
    }
    Ok(HttpResponse::Created().json(state.store.create_rule(&rule).await?))
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
