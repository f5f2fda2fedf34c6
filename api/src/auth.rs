//! Who may call the operators' API, decided in one place.
//!
//! Every operator route sits behind `staff`: the bearer token must belong to
//! a platform user, and the user's role must allow the request. Reading is
//! for staff and up; changing anything for managers and up; creating users
//! for admins. A merchant user reads only its own merchant and statements,
//! and anything else answers 404, as if it did not exist. Drivers' routes
//! check their own tokens (`money::driver`); payment notifications are
//! checked by signature instead.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use engine::accounts::{NewUser, Principal, Role, User};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::money::{self, MoneyData};
use crate::routes::State;

/// The public routes of authentication.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/login", web::post().to(login));
}

/// Routes only staff reach (behind `staff`).
pub fn staff_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::post().to(create_user));
}

/// The least role a request needs, or `None` if a merchant may make it.
fn needs(method: &Method, path: &str, user: &User) -> Result<(), ApiError> {
    let role = user.user.role;
    if role == Role::Merchant {
        let own = user.user.merchant_id.map(|m| format!("/api/v1/merchants/{m}"));
        let mine = own.is_some_and(|own| path == own || path.starts_with(&format!("{own}/")));
        return if method == Method::GET && mine {
            Ok(())
        } else {
            Err(ApiError::not_found("not_found", "no such resource"))
        };
    }
    let least = if path == "/api/v1/users" {
        Role::Admin
    } else if method == Method::GET || method == Method::HEAD {
        Role::Staff
    } else {
        Role::Manager
    };
    if role < least {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("a {} may not {method} {path}", role.as_str()),
        ));
    }
    Ok(())
}

/// Middleware: the caller is a platform user whose role allows the request.
pub async fn staff(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<State>().cloned() else {
        return Err(ApiError::unavailable("no platform").into());
    };
    let checked = async {
        let Principal::Staff { user_id } = money::principal(&state, req.request()).await? else {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "drivers use /api/v1/me"));
        };
        let user = state.store.user(user_id).await?.ok_or_else(|| money::unauthorized("unknown user"))?;
        needs(req.method(), req.path(), &user)?;
        Ok(user)
    };
    match checked.await {
        Ok(user) => {
            req.extensions_mut().insert(user);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(e) => {
            let res = HttpResponse::build(e.status).json(&e);
            Ok(req.into_response(res).map_into_right_body())
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

async fn login(state: State, money: MoneyData, body: web::Json<Login>) -> ApiResult<HttpResponse> {
    let refused = || money::unauthorized("wrong username or password");
    let user = state.store.user_by_name(body.username.trim()).await?.ok_or_else(refused)?;
    if !money::password_matches(&body.password, &user.user.password_hash) {
        return Err(refused());
    }
    let token = money.issue(&state, Principal::Staff { user_id: user.id }).await?;
    Ok(HttpResponse::Ok().json(json!({ "user": user, "token": token })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    username: String,
    password: String,
    role: Role,
    merchant_id: Option<i64>,
}

/// A user with a hashed password, checked as every way of creating one must.
pub async fn new_user(
    store: &dyn engine::store::Store,
    username: &str,
    password: &str,
    role: Role,
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
        (Role::Merchant, Some(m)) if store.merchant(m).await?.is_none() => {
            return Err(ApiError::invalid("merchant_id", format!("no merchant {m}")))
        }
        (Role::Merchant, _) => {}
        (_, Some(_)) => return Err(ApiError::invalid("merchant_id", "only merchant users name a merchant")),
        (_, None) => {}
    }
    let new = NewUser {
        username: username.to_owned(),
        password_hash: money::hash_password(password)?,
        role,
        merchant_id,
    };
    store.create_user(&new).await.map_err(|e| match e {
        engine::store::StoreError::Conflict(_) => {
            ApiError::conflict("username_taken", format!("{username} is taken"))
        }
        e => e.into(),
    })
}

async fn create_user(state: State, body: web::Json<NewUserBody>) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let user = new_user(state.store.as_ref(), &b.username, &b.password, b.role, b.merchant_id).await?;
    Ok(HttpResponse::Created().json(user))
}
