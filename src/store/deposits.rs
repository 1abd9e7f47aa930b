//! The progress of custom-code deposits (reference §8.3): each code of a `codes deposit` is staged
//! `pending` before any call, then marked with WeChat's answer, one call of at most 100 at a time.
//! A run that stops in the middle resumes with the codes still pending (or refused), so no code is
//! sent twice after WeChat took it.

use std::collections::HashMap;

use entity::code_deposit::{self, Column};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};

use super::StoreError;

/// Where a code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepositState {
    Pending,
    /// In WeChat's `succ_code`.
    Deposited,
    /// In `duplicate_code`: WeChat already had it.
    Duplicate,
    /// In `fail_code`: WeChat refused it; a later run sends it again.
    Failed,
}

impl DepositState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Deposited => "deposited",
            Self::Duplicate => "duplicate",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "deposited" => Self::Deposited,
            "duplicate" => Self::Duplicate,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }

    /// WeChat holds the code.
    pub fn is_done(self) -> bool {
        matches!(self, Self::Deposited | Self::Duplicate)
    }
}

/// Stage `codes` as pending; codes already known keep their state.
pub async fn stage(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &str,
    codes: &[String],
    now: i64,
) -> Result<(), StoreError> {
    let rows: Vec<code_deposit::ActiveModel> = codes
        .iter()
        .map(|code| code_deposit::ActiveModel {
            appid: Set(appid.to_owned()),
            card_id: Set(card_id.to_owned()),
            code: Set(code.clone()),
            state: Set(DepositState::Pending.as_str().to_owned()),
            updated_at: Set(now),
        })
        .collect();
    let keep = OnConflict::columns([Column::Appid, Column::CardId, Column::Code])
        .do_nothing()
        .to_owned();
    for chunk in super::statement_chunks(&rows) {
        code_deposit::Entity::insert_many(chunk.to_vec())
            .on_conflict(keep.clone())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The state of each of `codes` that is staged.
pub async fn states(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &str,
    codes: &[String],
) -> Result<HashMap<String, DepositState>, StoreError> {
    let mut states = HashMap::with_capacity(codes.len());
    for chunk in super::statement_chunks(codes) {
        let rows: Vec<(String, String)> = code_deposit::Entity::find()
            .select_only()
            .column(Column::Code)
            .column(Column::State)
            .filter(Column::Appid.eq(appid))
            .filter(Column::CardId.eq(card_id))
            .filter(Column::Code.is_in(chunk.iter().map(String::as_str)))
            .into_tuple()
            .all(db)
            .await?;
        states.extend(
            rows.into_iter()
                .map(|(code, state)| (code, DepositState::parse(&state))),
        );
    }
    Ok(states)
}

/// Record WeChat's answer for `codes`.
pub async fn mark(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &str,
    codes: &[String],
    state: DepositState,
    now: i64,
) -> Result<(), StoreError> {
    for chunk in super::statement_chunks(codes) {
        code_deposit::Entity::update_many()
            .col_expr(Column::State, Expr::value(state.as_str()))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Appid.eq(appid))
            .filter(Column::CardId.eq(card_id))
            .filter(Column::Code.is_in(chunk.iter().map(String::as_str)))
            .exec(db)
            .await?;
    }
    Ok(())
}
