//! At the till and over a code's life (issue 34): check a code, consume it once per idempotency
//! key, take it back (`unavailable`), give it a new code. Each call's answer changes the ledger in
//! one transaction with what is recorded of the call (`store::till`).

use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use super::{required, Distribution, DistributionError};
use crate::credentials::TokenError;
use crate::jobs::JobPayload;
use crate::store::till::{self, Answer, Claim, ConsumeRequest, ConsumeState};
use crate::store::{bindings, jobs, members, StoreError};
use crate::wechat::ids::{CardId, Code};
use crate::wechat_api::till::{CodeInfo, CONSUMED, GONE, UNKNOWN_CODES};
use crate::wechat_api::ApiCallError;

/// The least a consume stays pending before a retry takes it over (longer with slow API timeouts).
const PENDING_TAKEOVER_SECS: i64 = 60;

/// Tries at recording a consume WeChat made.
const RECORD_ATTEMPTS: u32 = 3;

/// How long a request whose key another request is consuming with waits for that answer.
const WAIT_FOR_OTHER: Duration = Duration::from_secs(15);

/// Idempotency keys: 1–64 characters, letters, digits and `-_.:` (a UUID fits).
const KEY_MAX: usize = 64;

/// Why WeChat refused a code at the till, as the admin API's status says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 40099: consumed already (409).
    Consumed,
    /// 40127: deleted by its holder, being gifted, expired or unavailable (410).
    Gone,
    /// 40056, 40116: no such code (404).
    Unknown,
}

impl Refusal {
    /// The refusal an errcode means, if it is one of the till's.
    pub fn of(errcode: i64) -> Option<Self> {
        match errcode {
            CONSUMED => Some(Self::Consumed),
            GONE => Some(Self::Gone),
            e if UNKNOWN_CODES.contains(&e) => Some(Self::Unknown),
            _ => None,
        }
    }
}

/// A code as the till sees it: WeChat's status and whether it can be consumed now, and the member
/// it is bound to in cardhook's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CodeCheck {
    pub appid: String,
    pub code: String,
    pub card_id: String,
    #[schema(required = true)]
    pub openid: Option<String>,
    /// WeChat's `user_card_status` (`CONSUMED` when WeChat answered 40099).
    pub status: String,
    pub can_consume: bool,
    #[schema(required = true)]
    pub begin_time: Option<i64>,
    #[schema(required = true)]
    pub end_time: Option<i64>,
    /// The binding's status in cardhook's ledger, if it knows the code.
    #[schema(required = true)]
    pub ledger_status: Option<String>,
    #[schema(required = true)]
    pub member_no: Option<String>,
}

/// What a consume asks.
#[derive(Debug, Clone)]
pub struct ConsumeOrder {
    pub appid: Option<String>,
    pub code: String,
    pub card_id: Option<String>,
    /// The code is an `encrypt_code` (from a JS-SDK scan or a URL): decrypted first.
    pub encrypted: bool,
    pub idempotency_key: String,
}

/// A consumed code (DESIGN §4: `{"code","card_id","openid","consumed":true,"member_no"?}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConsumeAnswer {
    pub code: String,
    pub card_id: String,
    pub openid: String,
    pub consumed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub member_no: Option<String>,
}

/// A code taken back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokeAnswer {
    pub code: String,
    pub card_id: String,
    pub openid: Option<String>,
    /// The member the code was bound to: it keeps its points and balance, unbound.
    pub member_no: Option<String>,
}

/// A code given a new code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecodeAnswer {
    pub card_id: String,
    pub code: String,
    pub new_code: String,
    /// Whether cardhook's ledger knew the old code (and now holds the new one).
    pub in_ledger: bool,
}

/// The till's calls (`Distribution::till`).
pub struct Till<'a> {
    pub(super) op: &'a Distribution,
}

fn check_key(key: &str) -> Result<(), DistributionError> {
    let fine = !key.is_empty()
        && key.len() <= KEY_MAX
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if fine {
        Ok(())
    } else {
        Err(DistributionError::Invalid(format!(
            "idempotency_key must be 1–{KEY_MAX} letters, digits or -_.:"
        )))
    }
}

fn refused(errcode: i64, errmsg: &str) -> DistributionError {
    match Refusal::of(errcode) {
        Some(refusal) => DistributionError::Refused { refusal, errcode },
        None => ApiCallError::Api {
            errcode,
            errmsg: errmsg.to_owned(),
        }
        .into(),
    }
}

/// A refusal of the till's becomes its own error; anything else stays as it is.
fn as_refusal(e: TokenError) -> DistributionError {
    match e {
        TokenError::Api(ApiCallError::Api { errcode, errmsg }) => refused(errcode, &errmsg),
        other => other.into(),
    }
}

impl Till<'_> {
    /// One WeChat call for `appid` with the shared access_token.
    async fn ask<T, F, Fut>(&self, appid: &str, call: F) -> Result<T, DistributionError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ApiCallError>>,
    {
        self.op
            .tokens
            .with_token(appid, self.op.now(), call)
            .await
            .map_err(as_refusal)
    }

    /// `/card/code/get` with `check_consume`, and the member bound to the code.
    pub async fn check(
        &self,
        appid: Option<&str>,
        code: &str,
        card_id: Option<&str>,
    ) -> Result<CodeCheck, DistributionError> {
        required("code", code)?;
        let appid = self.op.appid(appid)?;
        let api = self.op.tokens.api();
        let answer = self
            .ask(&appid, |token| async move {
                api.code_info(&token, code, card_id, true).await
            })
            .await;
        let info = match answer {
            Ok(info) => info,
            // With check_consume, WeChat says "consumed" as an error rather than a status.
            Err(DistributionError::Refused {
                errcode: CONSUMED, ..
            }) => CodeInfo {
                user_card_status: "CONSUMED".to_owned(),
                ..CodeInfo::default()
            },
            Err(e) => return Err(e),
        };
        let card_id = match (info.card.card_id.as_str(), card_id) {
            ("", Some(asked)) => asked.to_owned(),
            (answered, _) => answered.to_owned(),
        };
        let binding = self.binding(&appid, &card_id, code).await?;
        let member = members::by_code(&self.op.db, &appid, &card_id, code).await?;
        Ok(CodeCheck {
            appid,
            code: code.to_owned(),
            openid: Some(info.openid)
                .filter(|o| !o.is_empty())
                .or_else(|| binding.as_ref().map(|b| b.openid.clone())),
            status: info.user_card_status,
            can_consume: info.can_consume,
            begin_time: info.card.begin_time,
            end_time: info.card.end_time,
            ledger_status: binding.map(|b| b.status),
            member_no: member.map(|m| m.member_no),
            card_id,
        })
    }

    async fn binding(
        &self,
        appid: &str,
        card_id: &str,
        code: &str,
    ) -> Result<Option<entity::card_binding::Model>, DistributionError> {
        Ok(bindings::by_code(&self.op.db, Some(appid), card_id, code)
            .await?
            .pop())
    }

    /// Consume a code once per idempotency key: a retry with the key (on this instance or another)
    /// is answered from the first consume and calls WeChat no more.
    pub async fn consume(&self, order: &ConsumeOrder) -> Result<ConsumeAnswer, DistributionError> {
        check_key(&order.idempotency_key)?;
        required("code", &order.code)?;
        let appid = self.op.appid(order.appid.as_deref())?;
        let code = match order.encrypted {
            true => self.decrypt(&appid, &order.code).await?,
            false => order.code.clone(),
        };
        let request = ConsumeRequest {
            appid,
            key: order.idempotency_key.clone(),
            code,
            card_id: order.card_id.clone().filter(|c| !c.is_empty()),
        };
        let mut row = match till::claim(&self.op.db, &request, self.op.now()).await? {
            Claim::New => return self.consume_once(request, false).await,
            Claim::Taken(row) => *row,
        };
        if row.code != request.code || row.card_id != request.card_id.clone().unwrap_or_default() {
            return Err(DistributionError::Invalid(
                "idempotency_key was used for another code or card".to_owned(),
            ));
        }
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHER;
        loop {
            match ConsumeState::of(&row.state) {
                ConsumeState::Consumed => {
                    let card_id = row.answer_card_id.unwrap_or(row.card_id);
                    let openid = row.openid.unwrap_or_default();
                    return self
                        .answer(&request.appid, request.code, card_id, openid)
                        .await;
                }
                ConsumeState::Refused => return Err(refused(row.errcode.unwrap_or_default(), "")),
                ConsumeState::Pending => {
                    let now = self.op.now();
                    if now - row.updated_at >= self.takeover_secs()
                        && till::take_over(&self.op.db, &request, row.updated_at, now).await?
                    {
                        return self.consume_once(request, true).await;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(DistributionError::InProgress);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    // Reading, not claiming again: a wait takes no turn on the writer.
                    row = till::get(&self.op.db, &request.appid, &request.key)
                        .await?
                        .ok_or_else(|| {
                            StoreError::Busy("a consume's key vanished; retry".into())
                        })?;
                }
            }
        }
    }

    /// A consume left pending this long after its last attempt began is taken over by a retry: its
    /// calls (a token, the consume, the consume again after a refused token) have long timed out.
    fn takeover_secs(&self) -> i64 {
        let calls = 4 * self.op.tokens.api().timeout().as_secs();
        i64::try_from(calls)
            .unwrap_or(i64::MAX)
            .max(PENDING_TAKEOVER_SECS)
    }

    /// Run a claimed consume to its end on a task of its own: a client that hangs up does not leave
    /// WeChat's answer unrecorded.
    async fn consume_once(
        &self,
        request: ConsumeRequest,
        repeat: bool,
    ) -> Result<ConsumeAnswer, DistributionError> {
        let op = self.op.clone();
        tokio::spawn(async move { op.till().call_consume(&request, repeat).await })
            .await
            .unwrap_or_else(|e| Err(StoreError::Busy(format!("the consume stopped: {e}")).into()))
    }

    /// Call `/card/code/consume` for a claimed key (`repeat`: an earlier attempt's answer was lost)
    /// and record its answer.
    async fn call_consume(
        &self,
        request: &ConsumeRequest,
        repeat: bool,
    ) -> Result<ConsumeAnswer, DistributionError> {
        let api = self.op.tokens.api();
        let (code, card_id) = (request.code.as_str(), request.card_id.as_deref());
        let answer = self
            .ask(&request.appid, |token| async move {
                api.consume_code(&token, code, card_id).await
            })
            .await;
        let consumed = match answer {
            Ok(consumed) => consumed,
            // The lost attempt may have consumed it: not an answer to keep for the key.
            Err(DistributionError::Refused {
                refusal: Refusal::Consumed,
                ..
            }) if repeat => {
                till::release(&self.op.db, &request.appid, &request.key).await?;
                return Err(DistributionError::MaybeConsumed);
            }
            Err(e @ DistributionError::Refused { errcode, .. }) => {
                // WeChat refused the code: the key's answer from now on.
                let refusal = Answer::Refused {
                    errcode,
                    errmsg: &e.to_string(),
                };
                let now = self.op.now();
                till::settle(&self.op.db, &request.appid, &request.key, refusal, now).await?;
                return Err(e);
            }
            Err(e) => {
                // No answer, or one that may change (busy, quota): WeChat may or may not have
                // consumed it. The key stays pending and a retry with it asks WeChat again at once.
                till::release(&self.op.db, &request.appid, &request.key).await?;
                return Err(e);
            }
        };
        let card_id = match consumed.card.card_id.as_str() {
            "" => request.card_id.clone().unwrap_or_default(),
            answered => answered.to_owned(),
        };
        let mut attempt = 1;
        // WeChat consumed it: record that, trying again a few times before giving up (the key then
        // stays pending, and its retry gets an honest "maybe consumed by this key").
        while let Err(e) = self
            .record_consumed(request, &card_id, &consumed.openid)
            .await
        {
            if attempt == RECORD_ATTEMPTS {
                till::release(&self.op.db, &request.appid, &request.key).await?;
                return Err(e.into());
            }
            tracing::warn!(error.message = %e, attempt, "recording a consume failed; trying again");
            attempt += 1;
        }
        tracing::info!(appid = %request.appid, card_id = %card_id, "code consumed at the till");
        self.answer(
            &request.appid,
            request.code.clone(),
            card_id,
            consumed.openid,
        )
        .await
    }

    /// The key's answer and the ledger's move, in one transaction.
    async fn record_consumed(
        &self,
        request: &ConsumeRequest,
        card_id: &str,
        openid: &str,
    ) -> Result<(), StoreError> {
        let now = self.op.now();
        let day = self.op.day(now);
        let txn = self.op.db.begin_write().await?;
        let settled = Answer::Consumed { card_id, openid };
        till::settle(&txn, &request.appid, &request.key, settled, now).await?;
        let (card, code) = (CardId(card_id.to_owned()), Code(request.code.clone()));
        till::note_consumed(&txn, &request.appid, &card, &code, &day, now).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn answer(
        &self,
        appid: &str,
        code: String,
        card_id: String,
        openid: String,
    ) -> Result<ConsumeAnswer, DistributionError> {
        let member = members::by_code(&self.op.db, appid, &card_id, &code).await?;
        Ok(ConsumeAnswer {
            code,
            card_id,
            openid,
            consumed: true,
            member_no: member.map(|m| m.member_no),
        })
    }

    async fn decrypt(&self, appid: &str, encrypt_code: &str) -> Result<String, DistributionError> {
        let api = self.op.tokens.api();
        self.ask(appid, |token| async move {
            api.decrypt_code(&token, encrypt_code).await
        })
        .await
    }

    /// The card of a code: the one named, else the one cardhook's ledger holds the code under,
    /// else the one WeChat names.
    async fn card_of(
        &self,
        appid: &str,
        code: &str,
        card_id: Option<&str>,
    ) -> Result<String, DistributionError> {
        if let Some(card_id) = card_id.filter(|c| !c.is_empty()) {
            return Ok(card_id.to_owned());
        }
        let mut known = bindings::cards_of_code(&self.op.db, appid, code).await?;
        if known.len() == 1 {
            return Ok(known.remove(0));
        }
        let api = self.op.tokens.api();
        let info = self
            .ask(appid, |token| async move {
                api.code_info(&token, code, None, false).await
            })
            .await?;
        Ok(info.card.card_id)
    }

    /// Take a code back (`/card/code/unavailable`): its binding ends (`revoked`), its member keeps
    /// its points and balance, `card.revoked` is published.
    pub async fn unavailable(
        &self,
        appid: Option<&str>,
        code: &str,
        card_id: Option<&str>,
        reason: Option<&str>,
    ) -> Result<RevokeAnswer, DistributionError> {
        required("code", code)?;
        let appid = self.op.appid(appid)?;
        let card_id = self.card_of(&appid, code, card_id).await?;
        let api = self.op.tokens.api();
        let card = Some(card_id.as_str());
        self.ask(&appid, |token| async move {
            api.code_unavailable(&token, code, card, reason).await
        })
        .await?;
        let now = self.op.now();
        let day = self.op.day(now);
        let txn = self.op.db.begin_write().await?;
        let card = CardId(card_id.clone());
        let revoked = till::note_revoked(
            &txn,
            &appid,
            &card,
            &Code(code.to_owned()),
            reason,
            &day,
            now,
        )
        .await?;
        if let Some((openid, tag)) = &revoked.untag {
            // Out of its level's WeChat tag: a mass send to the level no longer reaches it.
            let job = JobPayload::UntagOpenidV1 {
                appid: appid.clone(),
                openid: openid.clone(),
                tag: tag.clone(),
            };
            jobs::enqueue(&txn, &job.to_job(), now).await?;
        }
        txn.commit().await.map_err(StoreError::from)?;
        tracing::info!(appid = %appid, card_id = %card_id, "code taken back");
        Ok(RevokeAnswer {
            code: code.to_owned(),
            card_id,
            openid: revoked.openid,
            member_no: revoked.member_no,
        })
    }

    /// Give a code a new code (`/card/code/update`): the ledger and the member follow.
    pub async fn update(
        &self,
        appid: Option<&str>,
        code: &str,
        new_code: &str,
        card_id: Option<&str>,
    ) -> Result<RecodeAnswer, DistributionError> {
        required("code", code)?;
        required("new_code", new_code)?;
        if code == new_code {
            return Err(DistributionError::Invalid(
                "new_code is the code itself".to_owned(),
            ));
        }
        let appid = self.op.appid(appid)?;
        let card_id = self.card_of(&appid, code, card_id).await?;
        let api = self.op.tokens.api();
        let card = Some(card_id.as_str());
        self.ask(&appid, |token| async move {
            api.update_code(&token, code, card, new_code).await
        })
        .await?;
        let now = self.op.now();
        let txn = self.op.db.begin_write().await?;
        let in_ledger = till::note_recoded(&txn, &appid, &card_id, code, new_code, now).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(RecodeAnswer {
            card_id,
            code: code.to_owned(),
            new_code: new_code.to_owned(),
            in_ledger,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tills_refusals_are_three_errcodes() {
        assert_eq!(Refusal::of(40099), Some(Refusal::Consumed));
        assert_eq!(Refusal::of(40127), Some(Refusal::Gone));
        assert_eq!(Refusal::of(40056), Some(Refusal::Unknown));
        assert_eq!(Refusal::of(40116), Some(Refusal::Unknown));
        assert_eq!(Refusal::of(40001), None);
        assert_eq!(Refusal::of(-1), None);
    }

    #[test]
    fn an_idempotency_key_is_short_and_plain() {
        assert!(check_key("3f2c9a1e-8b7d-4c6a-9e5f-0a1b2c3d4e5f").is_ok());
        assert!(check_key("till-12:2026.12.07_001").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(65)).is_err());
        assert!(check_key("a b").is_err());
        assert!(check_key("键").is_err());
    }
}
