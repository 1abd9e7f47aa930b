//! The `access_token` table: one token per AppID shared by every worker and process, with a lease
//! so that exactly one refresher fetches a new token (reference §5).

use entity::access_token::{self, Column};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::UpdateMany;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
};

use super::StoreError;

/// The shared token and its expiry, if it stays valid past `valid_until`.
pub async fn valid(
    db: &impl ConnectionTrait,
    appid: &str,
    valid_until: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    let row = access_token::Entity::find_by_id(appid.to_owned())
        .one(db)
        .await?;
    Ok(row
        .filter(|r| r.expires_at > valid_until)
        .and_then(|r| Some((r.token?, r.expires_at))))
}

/// Try to become the one refresher of `appid` until `now + lease_secs`.
pub async fn try_lease(
    db: &impl ConnectionTrait,
    appid: &str,
    owner: &str,
    now: i64,
    lease_secs: i64,
) -> Result<bool, StoreError> {
    let row = access_token::ActiveModel {
        appid: Set(appid.to_owned()),
        token: Set(None),
        expires_at: Set(0),
        refreshed_at: Set(0),
        lease_until: Set(None),
        lease_owner: Set(None),
    };
    access_token::Entity::insert(row)
        .on_conflict(OnConflict::column(Column::Appid).do_nothing().to_owned())
        .try_insert()
        .exec_without_returning(db)
        .await?;
    let free = Condition::any()
        .add(Column::LeaseUntil.is_null())
        .add(Column::LeaseUntil.lt(now));
    let taken = access_token::Entity::update_many()
        .col_expr(Column::LeaseUntil, Expr::value(now + lease_secs))
        .col_expr(Column::LeaseOwner, Expr::value(owner))
        .filter(Column::Appid.eq(appid))
        .filter(free)
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// An update of `appid`'s row that also gives back `owner`'s lease (no-op for anyone else).
fn ending_lease(appid: &str, owner: &str) -> UpdateMany<access_token::Entity> {
    access_token::Entity::update_many()
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
        .filter(Column::Appid.eq(appid))
        .filter(Column::LeaseOwner.eq(owner))
}

/// Store a fresh token (only while holding the lease) and release the lease.
pub async fn store(
    db: &impl ConnectionTrait,
    appid: &str,
    owner: &str,
    token: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let result = ending_lease(appid, owner)
        .col_expr(Column::Token, Expr::value(token))
        .col_expr(Column::ExpiresAt, Expr::value(expires_at))
        .col_expr(Column::RefreshedAt, Expr::value(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Give the lease back without a new token (the fetch failed, or another refresher was faster).
pub async fn release(
    db: &impl ConnectionTrait,
    appid: &str,
    owner: &str,
) -> Result<(), StoreError> {
    ending_lease(appid, owner).exec(db).await?;
    Ok(())
}

/// Invalidate `used` — only if it is still the cached token, so a token another worker already
/// refreshed is not thrown away.
pub async fn invalidate(
    db: &impl ConnectionTrait,
    appid: &str,
    used: &str,
) -> Result<(), StoreError> {
    access_token::Entity::update_many()
        .col_expr(Column::ExpiresAt, Expr::value(0))
        .filter(Column::Appid.eq(appid))
        .filter(Column::Token.eq(used))
        .exec(db)
        .await?;
    Ok(())
}
