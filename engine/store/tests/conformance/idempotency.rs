//! Idempotency keys every backend must keep: the first response wins.

use store::StoredResponse;

use super::{t, unique, Db};

pub async fn run(db: &Db) {
    idempotent_responses_are_kept_once(db).await;
}

async fn idempotent_responses_are_kept_once(db: &Db) {
    let key = unique("key");
    assert_eq!(db.idempotent_response(&key).await.unwrap(), None);
    let first = StoredResponse {
        fingerprint: "POST /a {}".into(),
        status: 202,
        body: r#"{"session_id":"1"}"#.into(),
        created_at: t(7),
    };
    assert!(db.remember_response(&key, &first).await.unwrap());
    let second = StoredResponse { status: 409, body: "{}".into(), ..first.clone() };
    assert!(!db.remember_response(&key, &second).await.unwrap(), "a key keeps its first response");
    assert_eq!(db.idempotent_response(&key).await.unwrap(), Some(first));
}
