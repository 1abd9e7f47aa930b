//! The SMS codes of the H5 page (`sms_code`) and the sends they cost (`sms_send`): a code is
//! stored as a keyed hash for the session that asked for it, good until it expires, burnt by
//! too many wrong tries, used once. Sends are counted per phone, per OpenID and per client
//! address, so every limit holds across restarts and across instances on PostgreSQL.

use entity::{sms_code, sms_send};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};
use subtle::ConstantTimeEq;

use super::Db;
use super::StoreError;

/// At most this many sends per phone a minute, per phone an hour, per OpenID a day and per
/// client address a day (issue 31).
pub const PER_PHONE_MINUTE: u64 = 1;
pub const PER_PHONE_HOUR: u64 = 5;
pub const PER_OPENID_DAY: u64 = 10;
pub const PER_CLIENT_DAY: u64 = 10;

const DAY: i64 = 86_400;

/// A code about to be sent.
#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub appid: &'a str,
    pub phone_key: &'a str,
    pub openid: &'a str,
    pub client: &'a str,
    pub code_hash: &'a str,
    pub expires_at: i64,
}

/// Whether a send may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// The code is stored and the send counted (`release` takes both back if it fails).
    Yes { send_id: i64 },
    /// A limit is reached (its name: a metric label).
    Limited(&'static str),
}

/// Count the send and store the code (replacing the session's earlier code for the phone) — in one
/// transaction, unless a limit is reached. On PostgreSQL the code's row is written first, so that
/// concurrent sends to one phone take their turns.
pub async fn reserve(db: &Db, new: &NewCode<'_>, now: i64) -> Result<Reserved, StoreError> {
    let txn = db.begin_write().await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // READ COMMITTED would let concurrent sends each count without the others: take the
        // phone's, the OpenID's and the client's turn first, always in this order (SQLite's write
        // transaction is exclusive already).
        for key in [new.phone_key, new.openid, new.client] {
            txn.execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                [format!("sms|{}|{key}", new.appid).into()],
            ))
            .await?;
        }
    }
    store_code(&txn, new, now).await?;
    // (column, value, of this account only, window, limit, name); a client address is counted
    // over every account.
    let limits = [
        (
            sms_send::Column::PhoneKey,
            new.phone_key,
            true,
            60,
            PER_PHONE_MINUTE,
            "phone_minute",
        ),
        (
            sms_send::Column::PhoneKey,
            new.phone_key,
            true,
            3600,
            PER_PHONE_HOUR,
            "phone_hour",
        ),
        (
            sms_send::Column::Openid,
            new.openid,
            true,
            DAY,
            PER_OPENID_DAY,
            "openid_day",
        ),
        (
            sms_send::Column::Client,
            new.client,
            false,
            DAY,
            PER_CLIENT_DAY,
            "client_day",
        ),
    ];
    for (column, value, per_account, window, limit, name) in limits {
        let mut sends = sms_send::Entity::find()
            .filter(column.eq(value))
            .filter(sms_send::Column::SentAt.gt(now - window));
        if per_account {
            sends = sends.filter(sms_send::Column::Appid.eq(new.appid));
        }
        if sends.count(&txn).await? >= limit {
            txn.rollback().await?;
            return Ok(Reserved::Limited(name));
        }
    }
    let sent = sms_send::Entity::insert(sms_send::ActiveModel {
        appid: Set(new.appid.to_owned()),
        phone_key: Set(new.phone_key.to_owned()),
        openid: Set(new.openid.to_owned()),
        client: Set(new.client.to_owned()),
        sent_at: Set(now),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    // What no limit looks at any more.
    sms_send::Entity::delete_many()
        .filter(sms_send::Column::SentAt.lt(now - DAY))
        .exec(&txn)
        .await?;
    sms_code::Entity::delete_many()
        .filter(sms_code::Column::ExpiresAt.lt(now - DAY))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Reserved::Yes {
        send_id: sent.last_insert_id,
    })
}

async fn store_code(
    txn: &impl ConnectionTrait,
    new: &NewCode<'_>,
    now: i64,
) -> Result<(), StoreError> {
    use sms_code::Column as C;
    sms_code::Entity::insert(sms_code::ActiveModel {
        appid: Set(new.appid.to_owned()),
        phone_key: Set(new.phone_key.to_owned()),
        openid: Set(new.openid.to_owned()),
        code_hash: Set(new.code_hash.to_owned()),
        expires_at: Set(new.expires_at),
        tries: Set(0),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([C::Appid, C::PhoneKey, C::Openid])
            .update_columns([C::CodeHash, C::ExpiresAt, C::Tries, C::CreatedAt])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// A send that did not go out: it does not count, and its code is gone.
pub async fn release(db: &Db, new: &NewCode<'_>, send_id: i64) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    sms_send::Entity::delete_by_id(send_id).exec(&txn).await?;
    sms_code::Entity::delete_many()
        .filter(sms_code::Column::Appid.eq(new.appid))
        .filter(sms_code::Column::PhoneKey.eq(new.phone_key))
        .filter(sms_code::Column::Openid.eq(new.openid))
        .filter(sms_code::Column::CodeHash.eq(new.code_hash))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// What checking a code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The phone is proven; the code is used up.
    Right,
    /// Wrong; the code stays, one try fewer.
    Wrong,
    /// Wrong, and that was its last try: the code is burnt.
    Burnt,
    Expired,
    /// No code was sent to this phone for this session.
    NoCode,
}

impl CodeCheck {
    /// A metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Right => "right",
            Self::Wrong => "wrong",
            Self::Burnt => "burnt",
            Self::Expired => "expired",
            Self::NoCode => "no_code",
        }
    }
}

/// Check `code_hash` against the session's code for the phone, inside `txn` (the binding's):
/// a right code is deleted (used once), a wrong one counts a try and burns the code at
/// `max_tries`. Another session's code is never touched.
pub async fn check(
    txn: &impl ConnectionTrait,
    key: (&str, &str, &str),
    code_hash: &str,
    max_tries: u32,
    now: i64,
) -> Result<CodeCheck, StoreError> {
    use sms_code::Column as C;
    let (appid, phone_key, openid) = key;
    let mut select =
        sms_code::Entity::find_by_id((appid.to_owned(), phone_key.to_owned(), openid.to_owned()));
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // Two submits of one code take turns (SQLite's write transaction is exclusive already).
        select = select.lock_exclusive();
    }
    let Some(row) = select.one(txn).await? else {
        return Ok(CodeCheck::NoCode);
    };
    let this = sms_code::Entity::delete_many()
        .filter(C::Appid.eq(appid))
        .filter(C::PhoneKey.eq(phone_key))
        .filter(C::Openid.eq(openid));
    if now > row.expires_at {
        this.exec(txn).await?;
        return Ok(CodeCheck::Expired);
    }
    if bool::from(row.code_hash.as_bytes().ct_eq(code_hash.as_bytes())) {
        this.exec(txn).await?;
        return Ok(CodeCheck::Right);
    }
    if row.tries + 1 >= i64::from(max_tries) {
        this.exec(txn).await?;
        return Ok(CodeCheck::Burnt);
    }
    sms_code::Entity::update_many()
        .col_expr(C::Tries, Expr::col(C::Tries).add(1))
        .filter(C::Appid.eq(appid))
        .filter(C::PhoneKey.eq(phone_key))
        .filter(C::Openid.eq(openid))
        .exec(txn)
        .await?;
    Ok(CodeCheck::Wrong)
}
