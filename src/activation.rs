//! Which pushes activate a member card, and the activation job a card's configuration makes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::config::{Activation, CardSettings};
use crate::membership_number::MembershipTemplate;
use crate::store::push::{Incoming, JobsFor, NewJob};
use crate::wechat::events::Event;

/// A queued job's payload: versioned, tagged JSON, frozen at enqueue time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum JobPayload {
    ActivateMemberCardV1 {
        appid: String,
        openid: String,
        request: MemberActivation,
    },
}

/// What a member card is activated with. Its JSON is exactly the body of
/// `/card/membercard/activate` (reference 003), which the worker sends as it is; optional values are
/// left out when not configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberActivation {
    pub card_id: String,
    pub code: String,
    pub membership_number: String,
    pub init_bonus: i64,
    pub init_balance: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_bonus_record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_custom_field_value1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_custom_field_value2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_custom_field_value3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_pic_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activate_begin_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activate_end_time: Option<i64>,
}

impl JobPayload {
    pub const ACTIVATE_KIND: &'static str = "activate_member_card";

    /// Jobs are unique per (appid, card_id, code): a redelivered push never enqueues twice.
    pub fn dedup_key(&self) -> String {
        match self {
            Self::ActivateMemberCardV1 { appid, request, .. } => {
                format!("activate|{appid}|{}|{}", request.card_id, request.code)
            }
        }
    }

    /// The prefix of every dedup key of an account's activation jobs.
    pub fn account_prefix(appid: &str) -> String {
        format!("activate|{appid}|")
    }

    /// The `job` row of this payload.
    pub fn to_job(&self) -> NewJob {
        NewJob {
            kind: Self::ACTIVATE_KIND,
            dedup_key: self.dedup_key(),
            // A payload of strings and integers always serializes.
            payload: serde_json::to_string(self).unwrap_or_default(),
        }
    }
}

/// The configured member cards, by card_id.
#[derive(Debug, Clone, Default)]
pub struct CardRules(HashMap<String, (CardSettings, MembershipTemplate)>);

/// What a push asks of the activation queue.
pub struct Activate<'a> {
    pub card: &'a CardSettings,
    pub template: &'a MembershipTemplate,
    pub code: &'a str,
}

impl CardRules {
    /// Build from validated settings; cards with a bad template are skipped (validate() refuses them).
    pub fn from_settings(cards: &[CardSettings]) -> Self {
        Self(
            cards
                .iter()
                .filter_map(|c| {
                    let template = MembershipTemplate::parse(&c.membership_number).ok()?;
                    Some((c.card_id.clone(), (c.clone(), template)))
                })
                .collect(),
        )
    }

    /// The activation a new push calls for: `user_get_card` for `on_get` cards (a restore is not a
    /// new card), `submit_membercard_user_info` for `on_submit` cards.
    pub fn activation_for<'a>(&'a self, event: &'a Event) -> Option<Activate<'a>> {
        let (card_id, code, wanted) = match event {
            Event::UserGetCard(e) if !e.is_restore_member_card => {
                (&e.card_id, &e.code, Activation::OnGet)
            }
            Event::SubmitMembercardUserInfo(e) => {
                (&e.card_id, e.code.as_ref()?, Activation::OnSubmit)
            }
            _ => return None,
        };
        let (card, template) = self.0.get(card_id.as_str())?;
        (card.activation == wanted).then_some(Activate {
            card,
            template,
            code: code.as_str(),
        })
    }
}

impl JobsFor for CardRules {
    fn sequence_for<'a>(&self, push: &'a Incoming) -> Option<&'a str> {
        let activate = self.activation_for(&push.message.event)?;
        activate
            .template
            .needs_sequence()
            .then(|| push.message.event.card_id().map(|c| c.as_str()))
            .flatten()
    }

    fn job_for(&self, push: &Incoming, seq: i64) -> Option<NewJob> {
        let activate = self.activation_for(&push.message.event)?;
        let openid = push.message.from_user_name.as_str();
        let payload = JobPayload::ActivateMemberCardV1 {
            appid: push.appid.as_str().to_owned(),
            openid: openid.to_owned(),
            request: activate.activation(openid, seq),
        };
        Some(payload.to_job())
    }
}

impl Activate<'_> {
    /// What to activate with, the membership number rendered (`seq` only used by `{seq}` templates).
    pub fn activation(&self, openid: &str, seq: i64) -> MemberActivation {
        let card = self.card;
        MemberActivation {
            card_id: card.card_id.clone(),
            code: self.code.to_owned(),
            membership_number: self.template.render(self.code, openid, seq),
            init_bonus: card.init_bonus,
            init_balance: card.init_balance,
            init_bonus_record: card.init_bonus_record.clone(),
            init_custom_field_value1: card.init_custom_field_value1.clone(),
            init_custom_field_value2: card.init_custom_field_value2.clone(),
            init_custom_field_value3: card.init_custom_field_value3.clone(),
            background_pic_url: card.background_pic_url.clone(),
            activate_begin_time: card.activate_begin_time,
            activate_end_time: card.activate_end_time,
        }
    }
}
