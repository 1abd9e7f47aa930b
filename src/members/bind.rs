//! Binding a WeChat member card to the merchant's member found by phone, and queueing its activation
//! with the member's own number, points and balance — in one transaction. A member is bound to at most
//! one code, a code to at most one member; the same binding asked for again changes nothing.
//!
//! Knowing a phone number proves nothing: the phone must be proven, by an SMS code sent to it (the
//! H5 page) or by WeChat's own verified form (the one-click form, whose mobile number WeChat checks
//! by SMS itself). The code is checked in the binding's transaction and used up by it.

use chrono::FixedOffset;
use entity::member::Model;

use crate::config::{CardSettings, UnknownMember};
use crate::jobs::{for_member, JobPayload};
use crate::membership_number::MembershipTemplate;
use crate::store::channel_day::{self, ChannelDelta, Counts};
use crate::store::members::{self, MemberRow};
use crate::store::sms::{self, CodeCheck};
use crate::store::Db;
use crate::store::{bindings, jobs, outbox, published, push, sequences, StoreError};
use crate::wechat::ids::CardId;

/// Who asks, for which card code, with which (normalised) phone.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub appid: &'a str,
    pub card: &'a CardSettings,
    pub code: &'a str,
    pub openid: &'a str,
    pub phone: &'a str,
    /// `[[member_tags]]` are configured: a member with a level bound now gets a `tag_member` job.
    pub tagging: bool,
    /// `stats.utc_offset`: the binding counts `bound` on its day in this offset.
    pub stats_offset: FixedOffset,
}

/// What proves that the customer holds the claim's phone.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// WeChat's one-click form: WeChat verified the mobile number by SMS in its own form.
    WeChatForm,
    /// The SMS code the customer typed, checked against the one sent to the phone for this session.
    SmsCode {
        /// The phone's keyed hash (`web::signing::Signer::phone_key`).
        phone_key: &'a str,
        /// The typed code's keyed hash.
        code_hash: &'a str,
        max_tries: u32,
    },
}

/// A binding made, or found made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// Bound now; the activation is queued.
    New(Model),
    /// The code was bound to this member already (a second submit): nothing changed.
    Already(Model),
}

impl Bound {
    pub fn member(&self) -> &Model {
        match self {
            Self::New(member) | Self::Already(member) => member,
        }
    }
}

/// Why no binding was made. The H5 page shows one text for all of them (a refusal must not tell
/// an outsider which phones are members); the log and the metrics keep the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the phone was not proven: {}", .0.label())]
    Unproven(CodeCheck),
    #[error("no member has this phone number")]
    UnknownMember,
    #[error("the member with this phone number already holds another card")]
    MemberHasAnotherCard,
    #[error("this card is already bound to another member")]
    CodeHasAnotherMember,
}

impl Refusal {
    /// A metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unproven(CodeCheck::Wrong) => "code_wrong",
            Self::Unproven(CodeCheck::Burnt) => "code_burnt",
            Self::Unproven(CodeCheck::Expired) => "code_expired",
            Self::Unproven(_) => "no_code",
            Self::UnknownMember => "unknown_member",
            Self::MemberHasAnotherCard => "member_has_another_card",
            Self::CodeHasAnotherMember => "code_has_another_member",
        }
    }
}

/// Bind `claim`'s code to the member with its phone, proven by `proof`, and queue the activation,
/// in one transaction. An SMS code is checked first: a wrong one counts a try (committed), a right
/// one is used up whatever the binding then finds.
pub async fn bind(
    db: &Db,
    claim: &Claim<'_>,
    proof: Proof<'_>,
    now: i64,
) -> Result<Result<Bound, Refusal>, StoreError> {
    let txn = db.begin_write().await?;
    if let Proof::SmsCode {
        phone_key,
        code_hash,
        max_tries,
    } = proof
    {
        let key = (claim.appid, phone_key, claim.openid);
        let checked = sms::check(&txn, key, code_hash, max_tries, now).await?;
        if checked != CodeCheck::Right {
            txn.commit().await?;
            return Ok(Err(Refusal::Unproven(checked)));
        }
    }
    // The binding's own writes go or stay together; the used code stays used.
    let binding = txn.savepoint().await?;
    let outcome = bind_in(&binding, claim, now).await?;
    match &outcome {
        Ok(Bound::New(member)) => {
            // Under its level's tag (or out of one it left while unbound).
            if claim.tagging && (member.level.is_some() || member.wechat_tag.is_some()) {
                let tag = JobPayload::TagMemberV1 {
                    appid: claim.appid.to_owned(),
                    member_no: member.member_no.clone(),
                };
                jobs::requeue(&binding, &[tag.to_job()], now).await?;
            }
            count_bound(&binding, claim, now).await?;
            binding.commit().await?;
            // Last, so that on PostgreSQL the lock that orders events is held only to the commit.
            let card = (claim.card.card_id.as_str(), claim.code);
            let event =
                published::member_bound(claim.appid, &member.member_no, card, claim.openid, now);
            outbox::insert(&txn, &[event]).await?;
        }
        _ => binding.rollback().await?,
    }
    txn.commit().await?;
    Ok(outcome)
}

/// Count the binding `bound` in the funnel, in the channel its code came through (unattributed
/// when no push recorded the code).
async fn count_bound(
    txn: &sea_orm::DatabaseTransaction,
    claim: &Claim<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let card_id = CardId(claim.card.card_id.clone());
    let row = bindings::by_code(txn, Some(claim.appid), card_id.as_str(), claim.code)
        .await?
        .pop();
    let day = push::day_of(now, claim.stats_offset);
    let bound = Counts {
        bound: 1,
        ..Counts::default()
    };
    let delta = ChannelDelta::for_binding(claim.appid, &card_id, row.as_ref(), &day, bound);
    channel_day::add(txn, &delta).await
}

async fn bind_in(
    txn: &sea_orm::DatabaseTransaction,
    claim: &Claim<'_>,
    now: i64,
) -> Result<Result<Bound, Refusal>, StoreError> {
    let (appid, card_id) = (claim.appid, claim.card.card_id.as_str());
    if let Some(holder) = members::by_code(txn, appid, card_id, claim.code).await? {
        return Ok(if holder.phone == claim.phone {
            Ok(Bound::Already(holder))
        } else {
            Err(Refusal::CodeHasAnotherMember)
        });
    }
    let member = match members::by_phone(txn, appid, claim.phone).await? {
        Some(member) if member.code.is_some() => return Ok(Err(Refusal::MemberHasAnotherCard)),
        Some(member) => member,
        None if claim.card.unknown_member == UnknownMember::Refuse => {
            return Ok(Err(Refusal::UnknownMember))
        }
        None => new_member(txn, claim, now).await?,
    };
    if !members::bind(
        txn,
        appid,
        &member.member_no,
        (card_id, claim.code),
        claim.openid,
        now,
    )
    .await?
    {
        // Bound by another claim in between.
        return Ok(Err(Refusal::MemberHasAnotherCard));
    }
    let activation = JobPayload::ActivateMemberCardV1 {
        appid: appid.to_owned(),
        openid: claim.openid.to_owned(),
        request: for_member(claim.card, claim.code, &member),
    };
    jobs::enqueue(txn, &activation.to_job(), now).await?;
    let bound = members::get(txn, appid, &member.member_no)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(Ok(Bound::New(bound)))
}

/// A member for a phone the merchant does not know yet: numbered by the card's template, with its
/// initial points and balance.
async fn new_member(
    txn: &sea_orm::DatabaseTransaction,
    claim: &Claim<'_>,
    now: i64,
) -> Result<Model, StoreError> {
    let card = claim.card;
    let template = MembershipTemplate::parse(&card.membership_number)
        .map_err(|reason| StoreError::Encode(format!("membership_number template {reason}")))?;
    let seq = if template.needs_sequence() {
        sequences::next(txn, claim.appid, &card.card_id).await?
    } else {
        0
    };
    let row = MemberRow {
        member_no: template.render(claim.code, claim.openid, seq),
        phone: claim.phone.to_owned(),
        name: None,
        bonus: card.init_bonus,
        balance: card.init_balance,
        level: None,
    };
    if members::get(txn, claim.appid, &row.member_no)
        .await?
        .is_some()
    {
        return Err(StoreError::Encode(format!(
            "the membership_number template of card {} made member {}, which exists",
            card.card_id, row.member_no
        )));
    }
    members::upsert(txn, claim.appid, std::slice::from_ref(&row), now).await?;
    members::get(txn, claim.appid, &row.member_no)
        .await?
        .ok_or(StoreError::NotFound)
}
