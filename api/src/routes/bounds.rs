//! The bounds on every amount and quantity a request may carry. Decimal
//! arithmetic panics on overflow, so a value from a client is held within
//! these before anything multiplies or adds it; the OpenAPI schema states
//! the same bounds so a generated client checks before it sends.

use rust_decimal::Decimal;

use crate::error::{ApiError, ApiResult};

/// The most money one request moves, yuan (a prepaid charge, a top-up, a
/// balance, a fee).
pub const MAX_YUAN: i64 = 100_000;
/// The most hours a charge may be bought for (piles stop at 10 anyway).
pub const MAX_HOURS: i64 = 24;

/// `v` if it lies within `min..=max` to `dp` decimal places; otherwise a
/// 422 naming the field.
pub fn within(field: &'static str, v: Decimal, min: Decimal, max: Decimal, dp: u32) -> ApiResult<Decimal> {
    if v < min || v > max || v.normalize().scale() > dp {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be {min} to {max}, to {dp} decimal places"),
        ));
    }
    Ok(v)
}

/// Yuan to the fen, from `min` up to [`MAX_YUAN`].
pub fn yuan(field: &'static str, v: Decimal, min: Decimal) -> ApiResult<Decimal> {
    within(field, v, min, Decimal::from(MAX_YUAN), 2)
}

/// The smallest positive amount: one fen.
pub const FEN: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// An optional instant in a query, as RFC 3339; otherwise a 422 naming the field.
pub fn instant(field: &'static str, v: &Option<String>) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    v.as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t.trim())
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| ApiError::invalid(field, "a time as RFC 3339, e.g. 2026-03-01T08:00:00Z"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_bounds_names_the_field() {
        assert!(yuan("prepaid", Decimal::MAX, FEN).is_err());
        assert!(yuan("prepaid", Decimal::ZERO, FEN).is_err());
        assert!(yuan("prepaid", Decimal::new(-1, 0), Decimal::ZERO).is_err());
        assert!(yuan("prepaid", Decimal::new(1001, 3), FEN).is_err());
        let e = yuan("balance", Decimal::from(MAX_YUAN + 1), Decimal::ZERO).unwrap_err();
        assert_eq!((e.status.as_u16(), e.field.as_deref()), (422, Some("balance")));
        assert_eq!(yuan("prepaid", FEN, FEN).unwrap(), Decimal::new(1, 2));
    }
}
