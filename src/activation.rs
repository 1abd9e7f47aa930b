//! Which pushes activate a member card, and the activation request a card's configuration makes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::config::{Activation, CardSettings};
use crate::wechat::events::Event;
use crate::wechat_api::membercard::ActivateRequest;

/// A queued job's payload: versioned, tagged JSON, frozen at enqueue time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum JobPayload {
    ActivateMemberCardV1 {
        appid: String,
        openid: String,
        request: ActivateRequest,
    },
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
}

/// A membership number template: literal text with `{code}`, `{openid}` and `{seq:N}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipTemplate(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Code,
    OpenId,
    Seq(usize),
}

impl MembershipTemplate {
    pub fn parse(template: &str) -> Result<Self, &'static str> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or("has an unclosed `{`")? + open;
            let part = match &rest[open + 1..close] {
                "code" => Part::Code,
                "openid" => Part::OpenId,
                "seq" => Part::Seq(0),
                other => match other.strip_prefix("seq:").map(str::parse::<usize>) {
                    Some(Ok(width)) if width <= 32 => Part::Seq(width),
                    _ => return Err("placeholders are {code}, {openid}, {seq} and {seq:N}"),
                },
            };
            parts.push(part);
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err("is empty");
        }
        Ok(Self(parts))
    }

    /// Whether rendering needs the card's next sequence number.
    pub fn needs_sequence(&self) -> bool {
        self.0.iter().any(|p| matches!(p, Part::Seq(_)))
    }

    pub fn render(&self, code: &str, openid: &str, seq: i64) -> String {
        self.0
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.clone(),
                Part::Code => code.to_owned(),
                Part::OpenId => openid.to_owned(),
                Part::Seq(width) => format!("{seq:0width$}"),
            })
            .collect()
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

impl Activate<'_> {
    /// The request body, with the membership number rendered (`seq` only used by `{seq}` templates).
    pub fn request(&self, openid: &str, seq: i64) -> ActivateRequest {
        let card = self.card;
        ActivateRequest {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render() {
        let t = MembershipTemplate::parse("VIP{seq:8}").unwrap();
        assert!(t.needs_sequence());
        assert_eq!(t.render("c", "o", 42), "VIP00000042");
        assert_eq!(
            MembershipTemplate::parse("{code}")
                .unwrap()
                .render("123", "o", 1),
            "123"
        );
        assert_eq!(
            MembershipTemplate::parse("M-{openid}-{code}")
                .unwrap()
                .render("1", "oX", 1),
            "M-oX-1"
        );
        for bad in ["", "{nope}", "{code", "{seq:x}", "{seq:99}"] {
            assert!(MembershipTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
