//! Who may call the operators' API, bound to each route where it is
//! registered.
//!
//! Two steps. `signed_in`, on the operators' scope, finds out who calls:
//! the bearer token must belong to a platform user of an operator that is
//! not frozen. Then each route states the least it needs, by being
//! registered through [`admin`], [`manager`], [`staff`] or [`merchant`]; that
//! gate runs on the route actix matched (after percent-decoding), so no
//! spelling of a path can reach a route without its check. Reading is for
//! staff and up; changing anything for managers and up. Drivers, their
//! cards and money, and operators themselves are the platform's, so only
//! the platform admin changes them. Merchant users reach only the routes
//! registered with [`merchant`], and `tenancy::Scope` narrows what those
//! answer to their own merchant and stations; elsewhere they get 404, as if
//! nothing were there. Handlers get their `Scope` only through a gate, so a
//! route registered without one fails closed. Drivers' routes check their
//! own tokens (`tokens::driver`); payment notifications are checked by
//! signature instead.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::web::Query;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, Route};
use domain::accounts::{NewUser, Principal, Role, Status, User};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use vocab::OperatorId;

use crate::error::{ApiError, ApiResult};
use crate::money::MoneyData;
use crate::passwords;
use crate::routes::{Page, PageQuery, State};
use crate::tenancy::Scope;
use crate::tokens;

/// The public routes of authentication.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/login", web::post().to(login)).route("/auth/logout", web::post().to(logout));
}

/// Routes only staff reach (behind `signed_in`).
pub fn staff_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", manager(web::post().to(create_user))).route("/users", staff(web::get().to(users)));
}

/// The least a route needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The platform admin: operators, drivers, cards, reconciliation.
    Admin,
    /// Managers and the admin: every change within an operator.
    Manager,
    /// Staff, managers and the admin: reading.
    Staff,
    /// Staff and up, and merchant users, who see only their own.
    Merchant,
}

impl Access {
    /// Whether a user of `role` may call a route needing `self`.
    pub fn allows(self, role: Role) -> bool {
        match (self, role) {
            (Access::Merchant, _) => true,
            (_, Role::Merchant) => false,
            (Access::Staff, _) => true,
            (Access::Manager, r) => r >= Role::Manager,
            (Access::Admin, r) => r == Role::Admin,
        }
    }
}

/// The route, for the platform admin only.
pub fn admin(route: Route) -> Route {
    route.wrap(from_fn(|req, next| gate(Access::Admin, req, next)))
}

/// The route, for managers and up.
pub fn manager(route: Route) -> Route {
    route.wrap(from_fn(|req, next| gate(Access::Manager, req, next)))
}

/// The route, for staff and up.
pub fn staff(route: Route) -> Route {
    route.wrap(from_fn(|req, next| gate(Access::Staff, req, next)))
}

/// The route, for staff and up and for merchant users (scoped to their own).
pub fn merchant(route: Route) -> Route {
    route.wrap(from_fn(|req, next| gate(Access::Merchant, req, next)))
}

/// Who called, as `signed_in` found out; not yet allowed anything.
#[derive(Clone, Copy)]
struct Caller(Scope);

/// A route's gate: the caller's role must allow `access`. Hands the
/// handler its `Scope`.
async fn gate(
    access: Access,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let caller = req.extensions().get::<Caller>().map(|c| c.0);
    let checked = match caller {
        None => Err(tokens::unauthorized("log in first")),
        Some(scope) if access.allows(scope.role) => Ok(scope),
        Some(scope) if scope.role == Role::Merchant => {
            Err(ApiError::not_found("not_found", "no such resource"))
        }
        Some(scope) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "a {} may not {} {}",
                scope.role.as_str(),
                req.method(),
                req.match_pattern().unwrap_or_default()
            ),
        )),
    };
    match checked {
        Ok(scope) => {
            req.extensions_mut().insert(scope);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(e) => Ok(req.into_response(HttpResponse::build(e.status).json(&e)).map_into_right_body()),
    }
}

/// Middleware on the operators' scope: the caller is a platform user of an
/// active operator. What the user may do is each route's gate's business.
pub async fn signed_in(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<State>().cloned() else {
        return Err(ApiError::unavailable("no platform").into());
    };
    let checked = async {
        let Principal::Staff { user_id } = tokens::principal(&state, req.request()).await? else {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "drivers use /api/v1/me"));
        };
        let user = state.store.user(user_id).await?.ok_or_else(|| tokens::unauthorized("unknown user"))?;
        let scope = Scope::of(&user);
        active(&state, &scope).await?;
        Ok(scope)
    };
    match checked.await {
        Ok(scope) => {
            req.extensions_mut().insert(Caller(scope));
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(e) => {
            let res = HttpResponse::build(e.status).json(&e);
            Ok(req.into_response(res).map_into_right_body())
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = StaffLogin)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

/// A frozen operator's users are locked out until it is active again.
async fn active(state: &State, scope: &Scope) -> ApiResult<()> {
    let Some(id) = scope.operator else { return Ok(()) };
    match state.store.operator(id).await? {
        Some(o) if o.status == Status::Active => Ok(()),
        _ => Err(tokens::unauthorized("this user's operator is not active")),
    }
}

/// What `POST /api/v1/auth/login` answers.
#[derive(ToSchema)]
pub struct StaffToken {
    pub user: User,
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "users",
    request_body = Login,
    responses(
        (status = 200, description = "The user and a bearer token", body = StaffToken),
        (status = 429, description = "Too many tries for this username or address; see `Retry-After`", body = ApiError),
    ),
)]
async fn login(
    req: HttpRequest,
    state: State,
    money: MoneyData,
    body: crate::extract::Json<Login>,
) -> ApiResult<HttpResponse> {
    let refused = || tokens::unauthorized("wrong username or password");
    let username = body.username.trim();
    money.signin.password_check(username, money.signin.client(&req))?;
    let user = state.store.user_by_name(username).await?;
    let stored = user.as_ref().map(|u| u.user.password_hash.as_str());
    // An unknown user is checked against a dummy hash: the same work and
    // the same answer as a wrong password.
    let matched = passwords::verify(&body.password, stored).await;
    let Some(user) = user.filter(|_| matched) else { return Err(refused()) };
    active(&state, &Scope::of(&user)).await?;
    let token =
        crate::tokens::issue(&state, money.config.token_ttl, Principal::Staff { user_id: user.id }).await?;
    Ok(HttpResponse::Ok().json(json!({ "user": user, "token": token })))
}

/// Signs out: the bearer token (a platform user's or a driver's) stops
/// working at once, before it would expire.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "users",
    responses(
        (status = 204, description = "The token no longer signs anyone in"),
        (status = 401, description = "No live token was sent", body = ApiError),
    ),
    security(("bearer" = [])),
)]
async fn logout(req: HttpRequest, state: State) -> ApiResult<HttpResponse> {
    tokens::revoke(&state, &req).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewUserRequest)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    username: String,
    password: String,
    role: Role,
    /// The admin names the operator; others create users of their own.
    operator_id: Option<i64>,
    merchant_id: Option<i64>,
}

/// A user with a hashed password, checked as every way of creating one must.
/// `operator` is `None` for an admin; a merchant user's merchant must be the
/// operator's.
pub async fn new_user(
    store: &dyn store::Store,
    username: &str,
    password: &str,
    role: Role,
    operator: Option<OperatorId>,
    merchant_id: Option<i64>,
) -> ApiResult<User> {
    let username = username.trim();
    if username.is_empty() || username.len() > 64 || username.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("username", "1 to 64 characters, no spaces"));
    }
    if password.chars().count() < 10 {
        return Err(ApiError::invalid("password", "at least 10 characters"));
    }
    match (role, merchant_id) {
        (Role::Merchant, None) => {
            return Err(ApiError::invalid("merchant_id", "a merchant user names its merchant"))
        }
        (Role::Merchant, Some(m))
            if store.merchant(m).await?.is_none_or(|m| Some(m.operator_id) != operator) =>
        {
            return Err(ApiError::invalid("merchant_id", format!("no merchant {m}")))
        }
        (Role::Merchant, _) => {}
        (_, Some(_)) => return Err(ApiError::invalid("merchant_id", "only merchant users name a merchant")),
        (_, None) => {}
    }
    let new = NewUser {
        username: username.to_owned(),
        password_hash: passwords::hash(password).await?,
        role,
        operator_id: operator,
        merchant_id,
    };
    store.create_user(&new).await.map_err(|e| match e {
        store::StoreError::Conflict(_) => {
            ApiError::conflict("username_taken", format!("{username} is taken"))
        }
        e => e.into(),
    })
}

/// The admin creates anyone; a manager creates staff, managers and merchant
/// users of its own operator.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = NewUserBody,
    responses(
        (status = 201, description = "Created", body = User),
    ),
    security(("bearer" = [])),
)]
async fn create_user(
    state: State,
    scope: Scope,
    body: crate::extract::Json<NewUserBody>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    if b.role > scope.role {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("a {} may not create a {}", scope.role.as_str(), b.role.as_str()),
        ));
    }
    let operator = match b.role {
        Role::Admin if b.operator_id.is_some() => {
            return Err(ApiError::invalid("operator_id", "admins belong to no operator"))
        }
        Role::Admin => None,
        _ => Some(scope.owner(&state, b.operator_id).await?),
    };
    let store = state.store.as_ref();
    let user = new_user(store, &b.username, &b.password, b.role, operator, b.merchant_id).await?;
    Ok(HttpResponse::Created().json(user))
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of users", body = Page<User>),
    ),
    security(("bearer" = [])),
)]
async fn users(state: State, scope: Scope, page: Query<PageQuery>) -> ApiResult<HttpResponse> {
    let all = state.store.users().await?;
    let seen = all.into_iter().filter(|u| scope.is_admin() || u.user.operator_id == scope.operator);
    Ok(HttpResponse::Ok().json(Page::of(seen, |u| u.id, &page)?))
}
