//! Which pushes a configured card acts on: the activation a got card calls for (or, for a one-click
//! card bound by phone, first the binding to the merchant's member), and the card a follow QR code
//! hands out; what a member card is activated with.

use std::collections::HashMap;

use super::JobPayload;
use crate::config::{Activation, BindBy, CardSettings};
use crate::membership_number::MembershipTemplate;
use crate::store::push::{Incoming, JobsFor, NewJob};
use crate::wechat::events::Event;
use crate::wechat_api::membercard::MemberActivation;

/// The configured member cards, by card_id.
#[derive(Debug, Clone, Default)]
pub struct CardRules(HashMap<String, (CardSettings, MembershipTemplate)>);

impl CardRules {
    /// The configuration of card `card_id`.
    pub fn card(&self, card_id: &str) -> Option<&CardSettings> {
        self.0.get(card_id).map(|(card, _)| card)
    }
}

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

    /// The one-click card bound by phone whose form a `submit_membercard_user_info` submits, and the
    /// code.
    fn binding_for<'a>(&'a self, event: &'a Event) -> Option<(&'a CardSettings, &'a str)> {
        let Event::SubmitMembercardUserInfo(e) = event else {
            return None;
        };
        let (card, _) = self.0.get(e.card_id.as_str())?;
        let bound = card.activation == Activation::OnSubmit && card.bind_by == Some(BindBy::Phone);
        bound.then_some((card, e.code.as_ref()?.as_str()))
    }

    /// The activation a new push calls for: `user_get_card` for `on_get` cards (a restore is not a
    /// new card), `submit_membercard_user_info` for `on_submit` cards not bound by phone.
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
        (card.activation == wanted && card.bind_by.is_none()).then_some(Activate {
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
        let openid = push.message.from_user_name.as_str();
        if let Some((card, code)) = self.binding_for(&push.message.event) {
            let payload = JobPayload::BindMemberV1 {
                appid: push.appid.as_str().to_owned(),
                openid: openid.to_owned(),
                card_id: card.card_id.clone(),
                code: code.to_owned(),
            };
            return Some(payload.to_job());
        }
        let activate = self.activation_for(&push.message.event)?;
        let payload = JobPayload::ActivateMemberCardV1 {
            appid: push.appid.as_str().to_owned(),
            openid: openid.to_owned(),
            request: activate.activation(openid, seq),
        };
        Some(payload.to_job())
    }

    fn follow_job(&self, push: &Incoming, scene: &str, card_id: &str) -> Option<NewJob> {
        let payload = JobPayload::SendCardV1 {
            appid: push.appid.as_str().to_owned(),
            openid: push.message.from_user_name.as_str().to_owned(),
            card_id: card_id.to_owned(),
            outer_str: scene.to_owned(),
        };
        Some(payload.to_job())
    }
}

impl Activate<'_> {
    /// What to activate with, the membership number rendered (`seq` only used by `{seq}` templates).
    pub fn activation(&self, openid: &str, seq: i64) -> MemberActivation {
        let card = self.card;
        let number = self.template.render(self.code, openid, seq);
        activation_of(card, self.code, number, card.init_bonus, card.init_balance)
    }
}

/// What `card` activates `code` with once it is bound to `member`: the member's own number, points
/// and balance (reference 003), and the card's other configured values.
pub fn for_member(
    card: &CardSettings,
    code: &str,
    member: &entity::member::Model,
) -> MemberActivation {
    activation_of(
        card,
        code,
        member.member_no.clone(),
        member.bonus,
        member.balance,
    )
}

fn activation_of(
    card: &CardSettings,
    code: &str,
    membership_number: String,
    init_bonus: i64,
    init_balance: i64,
) -> MemberActivation {
    MemberActivation {
        card_id: card.card_id.clone(),
        code: code.to_owned(),
        membership_number,
        init_bonus,
        init_balance,
        init_bonus_record: card.init_bonus_record.clone(),
        init_custom_field_value1: card.init_custom_field_value1.clone(),
        init_custom_field_value2: card.init_custom_field_value2.clone(),
        init_custom_field_value3: card.init_custom_field_value3.clone(),
        background_pic_url: card.background_pic_url.clone(),
        activate_begin_time: card.activate_begin_time,
        activate_end_time: card.activate_end_time,
    }
}
