//! The HTTP routes, one module per resource, all under `/api/v1` except the
//! operational `/healthz` and `/metrics`. Every failure, down to a malformed
//! query or an unknown path, answers the same JSON error body (`extract`).

use std::sync::Arc;

use std::collections::HashSet;
use std::str::FromStr;

use actix_web::web;
use actors::Platform;
use serde::{Deserialize, Serialize};
use store::{Item, ItemKind};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub mod accounts;
pub mod alarms;
pub mod bounds;
pub mod cluster_events;
pub mod drivers;
pub mod live;
pub mod merchants;
pub mod nodes;
pub mod operators;
pub mod ops;
pub mod payments;
pub mod piles;
pub mod plans;
pub mod power_history;
pub mod qr;
pub mod reports;
pub mod rules;
pub mod sessions;
mod sse;
pub mod stations;
pub mod tariffs;

pub type State = web::Data<Arc<Platform>>;

/// A JSON body that may be left out: empty means all defaults, but a body
/// that is there must be well-formed.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    crate::extract::parse(body)
}

/// `?after=CURSOR&limit=N` of a list: the items after the cursor, in the
/// list's order (by id).
#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub after: Option<String>,
    pub limit: Option<usize>,
}

/// One page of a list. `next` is the cursor of the following page, absent
/// on the last one.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// The most items a page holds.
pub const MAX_PAGE: usize = 500;

impl<T> Page<T> {
    /// A page of `all`, which is sorted by `key`.
    pub fn of<K: Ord + FromStr + ToString>(
        all: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> K,
        q: &PageQuery,
    ) -> Result<Page<T>, ApiError> {
        let limit = q.limit.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::invalid("limit", format!("a page holds 1 to {MAX_PAGE} items")));
        }
        let after = match &q.after {
            Some(a) => {
                Some(a.parse::<K>().map_err(|_| ApiError::invalid("after", "not a cursor of this list"))?)
            }
            None => None,
        };
        let mut items: Vec<T> =
            all.into_iter().filter(|t| after.as_ref().is_none_or(|a| key(t) > *a)).take(limit + 1).collect();
        let next = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map(|t| key(t).to_string())
        });
        Ok(Page { items, next: next.flatten() })
    }
}

/// A record and whether it is in service (see `store::Item`).
#[derive(Serialize, ToSchema)]
pub struct Served<T> {
    #[serde(flatten)]
    pub item: T,
    /// False once an operator took it out of service.
    pub in_service: bool,
}

/// Which of a kind's items are out of service: one read for a whole list.
pub struct OutOfService(HashSet<String>);

impl OutOfService {
    pub async fn of(state: &State, kind: ItemKind) -> Result<OutOfService, ApiError> {
        Ok(OutOfService(state.store.out_of_service_all(kind).await?.into_keys().collect()))
    }

    pub fn contains(&self, key: impl ToString) -> bool {
        self.0.contains(&key.to_string())
    }

    pub fn mark<T>(&self, item: T, key: impl ToString) -> Served<T> {
        let in_service = !self.contains(key);
        Served { item, in_service }
    }
}

/// A resource's name, trimmed; `what` names the resource in the error.
pub fn name<'a>(name: &'a str, what: &str) -> Result<&'a str, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name", format!("a {what} needs a name")));
    }
    Ok(name)
}

/// The end of every `PATCH`: the record's service set as asked, and the
/// record answered with it.
pub async fn patched<T>(
    state: &State,
    item: Item,
    in_service: Option<bool>,
    record: T,
) -> Result<Served<T>, ApiError> {
    set_service(state, item.clone(), in_service).await?;
    let out = state.store.out_of_service(&item).await?;
    Ok(Served { item: record, in_service: out.is_none() })
}

/// A page of records sorted by id, each marked in or out of service.
pub async fn served_page<T>(
    state: &State,
    kind: ItemKind,
    all: impl IntoIterator<Item = T>,
    id: impl Fn(&T) -> i64,
    q: &PageQuery,
) -> Result<Page<Served<T>>, ApiError> {
    let page = Page::of(all, &id, q)?;
    let out = OutOfService::of(state, kind).await?;
    let items = page.items.into_iter().map(|t| {
        let key = id(&t);
        out.mark(t, key)
    });
    Ok(Page { items: items.collect(), next: page.next })
}

/// One record with whether it is in service.
pub async fn served<T>(
    state: &State,
    kind: ItemKind,
    item: T,
    key: impl ToString,
) -> Result<Served<T>, ApiError> {
    let out = state.store.out_of_service(&Item { kind, key: key.to_string() }).await?;
    Ok(Served { item, in_service: out.is_none() })
}

/// Takes an item out of service or puts it back, as a `PATCH` says.
pub async fn set_service(state: &State, item: Item, in_service: Option<bool>) -> Result<(), ApiError> {
    match in_service {
        Some(on) => Ok(state.store.set_out_of_service(&item, (!on).then(|| state.now())).await?),
        None => Ok(()),
    }
}

/// For `PATCH` bodies: a field left out is `None`, a field set to `null`
/// is `Some(None)`.
pub fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
