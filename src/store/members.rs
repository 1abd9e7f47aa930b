//! The `member` table: the merchant's members (number, phone, name, points, balance) and the WeChat
//! card code each is bound to.

use std::collections::HashMap;

use entity::member::{self, Column, Entity, Model};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;

use super::published::{MemberCardChange, MemberPoints};
use super::StoreError;

/// A member as `cardhook members show` and the admin API print it (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub appid: String,
    pub member_no: String,
    pub phone: String,
    pub name: Option<String>,
    pub bonus: i64,
    /// In fen.
    pub balance: i64,
    pub openid: Option<String>,
    pub card_id: Option<String>,
    pub code: Option<String>,
    pub bound_at: Option<i64>,
    /// Whether WeChat activated the bound card.
    pub activated: bool,
    /// What WeChat last confirmed the card shows (null until it is activated).
    pub wechat_bonus: Option<i64>,
    pub wechat_balance: Option<i64>,
    /// Whether WeChat shows the member's points and balance (false while a sync is pending).
    pub synced: bool,
    pub level: Option<String>,
}

/// What a member is, as written by an import or a new member made at binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub member_no: String,
    pub phone: String,
    pub name: Option<String>,
    pub bonus: i64,
    pub balance: i64,
    pub level: Option<String>,
}

pub async fn get(
    db: &impl ConnectionTrait,
    appid: &str,
    member_no: &str,
) -> Result<Option<Model>, StoreError> {
    Ok(Entity::find_by_id((appid.to_owned(), member_no.to_owned()))
        .one(db)
        .await?)
}

pub async fn by_phone(
    db: &impl ConnectionTrait,
    appid: &str,
    phone: &str,
) -> Result<Option<Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Appid.eq(appid))
        .filter(Column::Phone.eq(phone))
        .one(db)
        .await?)
}

/// The members a WeChat user holds the cards of (one per card, usually one).
pub async fn by_openid(
    db: &impl ConnectionTrait,
    appid: &str,
    openid: &str,
) -> Result<Vec<Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Appid.eq(appid))
        .filter(Column::Openid.eq(openid))
        .order_by_asc(Column::MemberNo)
        .all(db)
        .await?)
}

/// The member a card code is bound to.
pub async fn by_code(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: &str,
    code: &str,
) -> Result<Option<Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Appid.eq(appid))
        .filter(Column::CardId.eq(card_id))
        .filter(Column::Code.eq(code))
        .one(db)
        .await?)
}

/// Every member of an account as an import sees them, by member number (only the columns it
/// compares: a file of 100 000 members is compared with as many rows).
pub async fn all(
    db: &impl ConnectionTrait,
    appid: &str,
) -> Result<HashMap<String, MemberRow>, StoreError> {
    use sea_orm::QuerySelect;
    type Columns = (String, String, Option<String>, i64, i64, Option<String>);
    let rows: Vec<Columns> = Entity::find()
        .select_only()
        .columns([
            Column::MemberNo,
            Column::Phone,
            Column::Name,
            Column::Bonus,
            Column::Balance,
            Column::Level,
        ])
        .filter(Column::Appid.eq(appid))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(member_no, phone, name, bonus, balance, level)| {
            let row = MemberRow {
                member_no: member_no.clone(),
                phone,
                name,
                bonus,
                balance,
                level,
            };
            (member_no, row)
        })
        .collect())
}

/// Insert or update `rows` by member number, in order (a phone passed from one member to another
/// within a file is freed before it is taken). What a member is bound to is kept; an updated member
/// gets a new revision.
pub async fn upsert(
    db: &impl ConnectionTrait,
    appid: &str,
    rows: &[MemberRow],
    now: i64,
) -> Result<(), StoreError> {
    for chunk in super::statement_chunks(rows) {
        let models = chunk.iter().map(|row| member::ActiveModel {
            appid: Set(appid.to_owned()),
            member_no: Set(row.member_no.clone()),
            phone: Set(row.phone.clone()),
            name: Set(row.name.clone()),
            bonus: Set(row.bonus),
            balance: Set(row.balance),
            openid: Set(None),
            card_id: Set(None),
            code: Set(None),
            bound_at: Set(None),
            activated_at: Set(None),
            wechat_bonus: Set(None),
            wechat_balance: Set(None),
            revision: Set(0),
            record_bonus: Set(None),
            record_balance: Set(None),
            echo_bonus: Set(None),
            echo_balance: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            level: Set(row.level.clone()),
            wechat_tag: Set(None),
        });
        Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([Column::Appid, Column::MemberNo])
                    .update_columns([
                        Column::Phone,
                        Column::Name,
                        Column::Bonus,
                        Column::Balance,
                        Column::Level,
                        Column::UpdatedAt,
                    ])
                    // A new revision: an update to WeChat in flight is sent again after it.
                    .value(
                        Column::Revision,
                        Expr::col((Entity, Column::Revision)).add(1),
                    )
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The members of `appid` numbered `numbers`, by number.
pub async fn by_numbers(
    db: &impl ConnectionTrait,
    appid: &str,
    numbers: &[String],
) -> Result<HashMap<String, Model>, StoreError> {
    let mut found = HashMap::with_capacity(numbers.len());
    for chunk in super::statement_chunks(numbers) {
        let rows = Entity::find()
            .filter(Column::Appid.eq(appid))
            .filter(Column::MemberNo.is_in(chunk.iter().map(String::as_str)))
            .all(db)
            .await?;
        found.extend(rows.into_iter().map(|m| (m.member_no.clone(), m)));
    }
    Ok(found)
}

/// Bind an unbound member to a card code; false when the member was bound meanwhile.
pub async fn bind(
    db: &impl ConnectionTrait,
    appid: &str,
    member_no: &str,
    card: (&str, &str),
    openid: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let (card_id, code) = card;
    let bound = Entity::update_many()
        .col_expr(Column::Openid, Expr::value(openid))
        .col_expr(Column::CardId, Expr::value(card_id))
        .col_expr(Column::Code, Expr::value(code))
        .col_expr(Column::BoundAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Appid.eq(appid))
        .filter(Column::MemberNo.eq(member_no))
        .filter(Column::Code.is_null())
        .exec(db)
        .await?;
    Ok(bound.rows_affected == 1)
}

/// WeChat activated the card bound to a member (if one is bound to it) with these points and
/// balance; the member as it now is.
pub async fn mark_activated(
    db: &impl ConnectionTrait,
    card: (&str, &str, &str),
    shown: (i64, i64),
    now: i64,
) -> Result<Option<Model>, StoreError> {
    let (appid, card_id, code) = card;
    let mut rows = Entity::update_many()
        .col_expr(Column::ActivatedAt, Expr::value(now))
        .col_expr(Column::WechatBonus, Expr::value(shown.0))
        .col_expr(Column::WechatBalance, Expr::value(shown.1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Appid.eq(appid))
        .filter(Column::CardId.eq(card_id))
        .filter(Column::Code.eq(code))
        .exec_with_returning(db)
        .await?;
    Ok(rows.pop())
}

/// The members bound to an activated card of `appid` (of `card_id` only, if given), by number.
pub async fn activated(
    db: &impl ConnectionTrait,
    appid: &str,
    card_id: Option<&str>,
) -> Result<Vec<Model>, StoreError> {
    let mut query = Entity::find()
        .filter(Column::Appid.eq(appid))
        .filter(Column::Code.is_not_null())
        .filter(Column::ActivatedAt.is_not_null());
    if let Some(card_id) = card_id {
        query = query.filter(Column::CardId.eq(card_id));
    }
    Ok(query.order_by_asc(Column::MemberNo).all(db).await?)
}

/// WeChat was read to show these points and balance on a member's card; the member as it now is.
pub async fn note_shown(
    db: &impl ConnectionTrait,
    appid: &str,
    member_no: &str,
    shown: (i64, i64),
    now: i64,
) -> Result<Option<Model>, StoreError> {
    let mut rows = Entity::update_many()
        .col_expr(Column::WechatBonus, Expr::value(shown.0))
        .col_expr(Column::WechatBalance, Expr::value(shown.1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Appid.eq(appid))
        .filter(Column::MemberNo.eq(member_no))
        .exec_with_returning(db)
        .await?;
    Ok(rows.pop())
}

/// A change of a member's points or balance (absolute values; None keeps the value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueChange {
    pub bonus: Option<i64>,
    pub balance: Option<i64>,
    /// The text of the points change message.
    pub record_bonus: Option<String>,
    /// The text of the balance change message.
    pub record_balance: Option<String>,
}

/// Set a member's points and balance and the texts of their change messages (a new revision to send
/// to WeChat); the member as it now is.
pub async fn change_values(
    db: &impl ConnectionTrait,
    appid: &str,
    member_no: &str,
    change: &ValueChange,
    now: i64,
) -> Result<Option<Model>, StoreError> {
    let mut update = Entity::update_many()
        .col_expr(Column::Revision, Expr::col(Column::Revision).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    if let Some(bonus) = change.bonus {
        update = update.col_expr(Column::Bonus, Expr::value(bonus));
    }
    if let Some(balance) = change.balance {
        update = update.col_expr(Column::Balance, Expr::value(balance));
    }
    let mut rows = update
        // The message texts are the latest change's (none given: WeChat's default wording).
        .col_expr(
            Column::RecordBonus,
            Expr::value(change.record_bonus.clone()),
        )
        .col_expr(
            Column::RecordBalance,
            Expr::value(change.record_balance.clone()),
        )
        .filter(Column::Appid.eq(appid))
        .filter(Column::MemberNo.eq(member_no))
        .exec_with_returning(db)
        .await?;
    Ok(rows.pop())
}

/// Those of `member_nos` bound to an activated card.
pub async fn activated_among(
    db: &impl ConnectionTrait,
    appid: &str,
    member_nos: &[String],
) -> Result<Vec<Model>, StoreError> {
    let mut found = Vec::new();
    for chunk in super::statement_chunks(member_nos) {
        let rows = Entity::find()
            .filter(Column::Appid.eq(appid))
            .filter(Column::MemberNo.is_in(chunk.iter().map(String::as_str)))
            .filter(Column::Code.is_not_null())
            .filter(Column::ActivatedAt.is_not_null())
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// What one updateuser call sent for a member: the member's revision it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub revision: i64,
}

/// The change an updateuser call is about to make, registered before the call: its
/// `update_member_card` push is then recognised as its echo whenever it comes — also before the
/// call's answer is recorded (a change registered only after the answer would be counted as
/// WeChat's own when the push came first, and would then swallow a later identical change).
pub async fn expect_echo(
    db: &impl ConnectionTrait,
    appid: &str,
    member_no: &str,
    add: (i64, i64),
    now: i64,
) -> Result<(), StoreError> {
    set_echo(db, (appid, member_no), Some(add), None, now).await
}

/// WeChat refused the call registered by [`expect_echo`]: no push will come for it.
pub async fn forget_echo(
    db: &impl ConnectionTrait,
    appid: &str,
    member_no: &str,
    add: (i64, i64),
    now: i64,
) -> Result<(), StoreError> {
    set_echo(db, (appid, member_no), None, Some(add), now).await
}

/// The member's expected echo set to `echo` (None: none), when it is `only_if` now (or always).
async fn set_echo(
    db: &impl ConnectionTrait,
    (appid, member_no): (&str, &str),
    echo: Option<(i64, i64)>,
    only_if: Option<(i64, i64)>,
    now: i64,
) -> Result<(), StoreError> {
    let value = |change: Option<i64>| Expr::value(change.filter(|c| *c != 0));
    let mut update = Entity::update_many()
        .col_expr(Column::EchoBonus, value(echo.map(|e| e.0)))
        .col_expr(Column::EchoBalance, value(echo.map(|e| e.1)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Appid.eq(appid))
        .filter(Column::MemberNo.eq(member_no));
    if let Some((bonus, balance)) = only_if {
        update = update
            .filter(Expr::col(Column::EchoBonus).if_null(0).eq(bonus))
            .filter(Expr::col(Column::EchoBalance).if_null(0).eq(balance));
    }
    update.exec(db).await?;
    Ok(())
}

/// WeChat took an update: it now shows `shown` (points, balance). The message texts are cleared when
/// nothing changed since the update was read (revision `sent`); the update's echo was registered
/// before the call ([`expect_echo`]). The member as it now is.
pub async fn confirm_sync(
    db: &impl ConnectionTrait,
    appid: &str,
    member_no: &str,
    sent: Sent,
    shown: (i64, i64),
    now: i64,
) -> Result<Option<Model>, StoreError> {
    let unchanged_since = Expr::col(Column::Revision).eq(sent.revision);
    let clear = |column: Column| {
        Expr::case(unchanged_since.clone(), Expr::value(Option::<String>::None))
            .finally(Expr::col(column))
    };
    let mut rows = Entity::update_many()
        .col_expr(Column::WechatBonus, Expr::value(shown.0))
        .col_expr(Column::WechatBalance, Expr::value(shown.1))
        .col_expr(Column::RecordBonus, clear(Column::RecordBonus).into())
        .col_expr(Column::RecordBalance, clear(Column::RecordBalance).into())
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Appid.eq(appid))
        .filter(Column::MemberNo.eq(member_no))
        .exec_with_returning(db)
        .await?;
    Ok(rows.pop())
}

/// An `update_member_card` push (reference §3.9): the change WeChat made to a bound card. The echo of
/// cardhook's own last update is only recognised (WeChat's values were taken from that call's
/// answer); any other change is added to what WeChat shows, and the member it changed is returned
/// with WeChat's new figures. `store::sqlite_batch` writes the same.
pub async fn note_wechat_change(
    db: &impl ConnectionTrait,
    change: &MemberCardChange<'_>,
    now: i64,
) -> Result<Option<MemberPoints>, StoreError> {
    let of_card = || {
        Condition::all()
            .add(Column::Appid.eq(change.appid))
            .add(Column::CardId.eq(change.card_id))
            .add(Column::Code.eq(change.code))
    };
    let echo = Entity::update_many()
        .col_expr(Column::EchoBonus, Expr::value(Option::<i64>::None))
        .col_expr(Column::EchoBalance, Expr::value(Option::<i64>::None))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(of_card())
        .filter(
            Condition::any()
                .add(Column::EchoBonus.is_not_null())
                .add(Column::EchoBalance.is_not_null()),
        )
        .filter(Expr::col(Column::EchoBonus).if_null(0).eq(change.bonus))
        .filter(Expr::col(Column::EchoBalance).if_null(0).eq(change.balance))
        .exec(db)
        .await?;
    if echo.rows_affected > 0 {
        return Ok(None);
    }
    let changed = Entity::update_many()
        .col_expr(
            Column::WechatBonus,
            Expr::col(Column::WechatBonus).if_null(0).add(change.bonus),
        )
        .col_expr(
            Column::WechatBalance,
            Expr::col(Column::WechatBalance)
                .if_null(0)
                .add(change.balance),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(of_card())
        .exec(db)
        .await?;
    if changed.rows_affected == 0 {
        return Ok(None);
    }
    let member = Entity::find().filter(of_card()).one(db).await?;
    Ok(member.map(|m| MemberPoints {
        member_no: m.member_no,
        bonus: m.wechat_bonus.unwrap_or(0),
        balance: m.wechat_balance.unwrap_or(0),
    }))
}

/// The members `member_nos` are now under WeChat tag `tag` (None: under none of cardhook's).
pub async fn set_wechat_tag(
    db: &impl ConnectionTrait,
    appid: &str,
    member_nos: &[&str],
    tag: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::WechatTag, Expr::value(tag.map(str::to_owned)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Appid.eq(appid))
        .filter(Column::MemberNo.is_in(member_nos.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// The account's members bound to a card, by member number.
pub async fn bound(db: &impl ConnectionTrait, appid: &str) -> Result<Vec<Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Appid.eq(appid))
        .filter(Column::Openid.is_not_null())
        .order_by_asc(Column::MemberNo)
        .all(db)
        .await?)
}

/// Whether WeChat confirmed the member's points and balance as cardhook has them.
pub fn wechat_shows_ours(member: &Model) -> bool {
    member.wechat_bonus == Some(member.bonus) && member.wechat_balance == Some(member.balance)
}

impl From<Model> for MemberView {
    fn from(member: Model) -> Self {
        Self {
            synced: wechat_shows_ours(&member),
            wechat_bonus: member.wechat_bonus,
            wechat_balance: member.wechat_balance,
            activated: member.activated_at.is_some(),
            appid: member.appid,
            member_no: member.member_no,
            phone: member.phone,
            name: member.name,
            bonus: member.bonus,
            balance: member.balance,
            openid: member.openid,
            card_id: member.card_id,
            code: member.code,
            bound_at: member.bound_at,
            level: member.level,
        }
    }
}

/// The members as the dashboard's members page counts them. Points and balance are "in sync"
/// when what WeChat last showed (the last `reconcile`, activation or echo) is what cardhook holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MembersOverview {
    pub members: i64,
    pub bound: i64,
    pub in_sync: i64,
    pub drifted: i64,
}

/// [`MembersOverview`] of `appid`'s members: a count over an index and, at once (on a pool, on a
/// second connection), the bound members alone through `idx_member_sync` (the bound members'
/// points and balance, both sides: no row is read).
pub async fn overview(
    db: &impl ConnectionTrait,
    appid: &str,
) -> Result<MembersOverview, StoreError> {
    use sea_orm::{PaginatorTrait, QuerySelect};
    let members = Entity::find().filter(Column::Appid.eq(appid)).count(db);
    // SUM over bigint is numeric on PostgreSQL: cast back.
    let sum = |condition: &str| {
        Expr::cust(format!(
            "CAST(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS BIGINT)"
        ))
    };
    let counts = Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "bound")
        .column_as(
            sum("wechat_bonus = bonus AND wechat_balance = balance"),
            "in_sync",
        )
        .column_as(
            sum("wechat_bonus IS NOT NULL AND (wechat_bonus <> bonus OR wechat_balance IS NULL OR wechat_balance <> balance)"),
            "drifted",
        )
        .filter(Column::Appid.eq(appid))
        .filter(Column::Code.is_not_null())
        .into_tuple::<(i64, Option<i64>, Option<i64>)>()
        .one(db);
    let (members, counts) = futures_util::try_join!(members, counts)?;
    let (bound, in_sync, drifted) = counts.unwrap_or_default();
    Ok(MembersOverview {
        members: i64::try_from(members).unwrap_or(i64::MAX),
        bound,
        in_sync: in_sync.unwrap_or(0),
        drifted: drifted.unwrap_or(0),
    })
}

/// How many of `appid`'s members were imported (or made at a binding) on each of `days` days from
/// `start` (unix seconds, a local midnight; a fixed UTC offset makes every day 86 400 seconds), in
/// one statement of a COUNT per day, each a range of `idx_member_created` (appid, created_at)
/// counted in place. Grouping the period's entries by a computed day sorted them all first: 0.55 s
/// for 90 days of 655 000 imports, against 0.04 s.
pub async fn imported_by_day(
    db: &impl ConnectionTrait,
    appid: &str,
    start: i64,
    days: usize,
) -> Result<Vec<i64>, StoreError> {
    use sea_orm::sea_query::{Alias, Query, SubQueryStatement};
    if days == 0 {
        return Ok(Vec::new());
    }
    let mut select = Query::select();
    for (day, from) in (start..).step_by(86_400).take(days).enumerate() {
        let count = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(Entity)
            .and_where(Column::Appid.eq(appid))
            .and_where(Column::CreatedAt.gte(from))
            .and_where(Column::CreatedAt.lt(from + 86_400))
            .to_owned();
        let count = Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(count)));
        select.expr_as(count, Alias::new(format!("d{day}")));
    }
    let row = db
        .query_one(&select)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the day counts".to_owned()))?;
    (0..days)
        .map(|day| Ok(row.try_get_by_index::<i64>(day)?))
        .collect()
}
