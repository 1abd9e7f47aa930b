//! The OAuth2 states of the H5 page already used (`oauth_state`): a state is single use, on every
//! instance sharing the database.

use entity::oauth_state;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::Db;
use super::StoreError;

/// How far apart the clocks of instances may be.
const CLOCK_MARGIN_SECS: i64 = 300;

/// Use the state `state_id` (good until `expires_at`): true the first time, false ever after.
pub async fn use_state(
    db: &Db,
    state_id: &str,
    appid: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let txn = db.begin_write().await?;
    let inserted = oauth_state::Entity::insert(oauth_state::ActiveModel {
        state_id: Set(state_id.to_owned()),
        appid: Set(appid.to_owned()),
        expires_at: Set(expires_at),
    })
    .on_conflict(
        OnConflict::column(oauth_state::Column::StateId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    // A used state past its expiry is refused for that reason alone: its row can go (with a margin
    // for instances whose clocks differ).
    oauth_state::Entity::delete_many()
        .filter(oauth_state::Column::ExpiresAt.lt(now - CLOCK_MARGIN_SECS))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(inserted == 1)
}
