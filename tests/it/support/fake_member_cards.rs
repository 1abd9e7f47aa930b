//! The fake WeChat API's member cards (reference §4.1–§4.3): points and balance kept per code,
//! set by `/card/membercard/activate` and `/card/membercard/updateuser` (absolute values), read by
//! `/card/membercard/userinfo/get` (with the one-click form's mobile number), with the change messages WeChat would send counted and the next
//! updates delayable (the change lands, the answer comes late).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::fake_wechat::FakeWeChat;

#[derive(Default)]
struct State {
    /// code → (points, balance) the card shows.
    shown: HashMap<String, (i64, i64)>,
    /// Change messages sent to customers: (code, points added, balance added).
    messages: Vec<(String, i64, i64)>,
    /// code → the mobile number its holder gave on the one-click form.
    forms: HashMap<String, String>,
    /// How many of the next updates answer late, and how late.
    slow_updates: (usize, Duration),
}

/// A handle on the cards, shared with the mounted responders.
#[derive(Clone, Default)]
pub struct FakeMemberCards(Arc<Mutex<State>>);

#[derive(Clone)]
struct Route(FakeMemberCards, &'static str);

fn ok(mut answer: Value) -> ResponseTemplate {
    answer["errcode"] = json!(0);
    answer["errmsg"] = json!("ok");
    ResponseTemplate::new(200).set_body_json(answer)
}

impl Respond for Route {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let code = body["code"].as_str().unwrap_or_default().to_owned();
        let int = |key: &str| body[key].as_i64();
        let mut state = self.0 .0.lock().unwrap();
        match self.1 {
            "activate" => {
                let values = (
                    int("init_bonus").unwrap_or(0),
                    int("init_balance").unwrap_or(0),
                );
                state.shown.insert(code, values);
                ok(json!({}))
            }
            "updateuser" => {
                let Some(&(bonus, balance)) = state.shown.get(&code) else {
                    return ResponseTemplate::new(200)
                        .set_body_json(json!({"errcode": 40056, "errmsg": "invalid serial code"}));
                };
                let now = (
                    int("bonus").unwrap_or(bonus),
                    int("balance").unwrap_or(balance),
                );
                state.shown.insert(code.clone(), now);
                let notify = &body["notify_optional"];
                let added = (
                    int("add_bonus").filter(|_| notify["is_notify_bonus"] == true),
                    int("add_balance").filter(|_| notify["is_notify_balance"] == true),
                );
                if added.0.unwrap_or(0) != 0 || added.1.unwrap_or(0) != 0 {
                    state
                        .messages
                        .push((code, added.0.unwrap_or(0), added.1.unwrap_or(0)));
                }
                let answer =
                    ok(json!({"result_bonus": now.0, "result_balance": now.1, "openid": "oFake"}));
                match &mut state.slow_updates {
                    (0, _) => answer,
                    (left, delay) => {
                        *left -= 1;
                        answer.set_delay(*delay)
                    }
                }
            }
            _ => {
                let form = match state.forms.get(&code) {
                    Some(mobile) => {
                        json!([{"name": "USER_FORM_INFO_FLAG_MOBILE", "value": mobile}])
                    }
                    None => json!([]),
                };
                let (bonus, balance) = state.shown.get(&code).copied().unwrap_or_default();
                ok(json!({
                    "openid": "oFake", "membership_number": code, "bonus": bonus, "balance": balance,
                    "has_active": state.shown.contains_key(&code), "user_card_status": "NORMAL",
                    "user_info": {"common_field_list": form, "custom_field_list": []}
                }))
            }
        }
    }
}

impl FakeMemberCards {
    /// Mount activate, updateuser and userinfo/get on `fake` (errors mounted with a higher
    /// priority, e.g. `answer_errcode`, still come first).
    pub async fn mount(fake: &FakeWeChat) -> Self {
        let cards = Self::default();
        for route in ["activate", "updateuser", "userinfo/get"] {
            Mock::given(method("POST"))
                .and(path(format!("/card/membercard/{route}")))
                .respond_with(Route(cards.clone(), route))
                .mount(&fake.server)
                .await;
        }
        cards
    }

    /// The holder of `code` gave `mobile` on the card's one-click form.
    pub fn form_gives(&self, code: &str, mobile: &str) {
        self.0
            .lock()
            .unwrap()
            .forms
            .insert(code.to_owned(), mobile.to_owned());
    }

    /// What the card `code` shows: (points, balance).
    pub fn shown(&self, code: &str) -> Option<(i64, i64)> {
        self.0.lock().unwrap().shown.get(code).copied()
    }

    /// Change the card behind cardhook's back (a drift).
    pub fn set_shown(&self, code: &str, values: (i64, i64)) {
        self.0.lock().unwrap().shown.insert(code.to_owned(), values);
    }

    /// The change messages customers got: (code, points added, balance added).
    pub fn messages(&self) -> Vec<(String, i64, i64)> {
        self.0.lock().unwrap().messages.clone()
    }

    /// The next `count` updates land at once but answer after `delay`.
    pub fn slow_updates(&self, count: usize, delay: Duration) {
        self.0.lock().unwrap().slow_updates = (count, delay);
    }
}
