//! The fake WeChat API at the till: codes with their card, holder and status, answered as WeChat
//! documents `/card/code/get` (with `check_consume`), `/card/code/consume`, `/card/code/unavailable`,
//! `/card/code/update`, `/card/code/decrypt`, `/card/user/getcardlist` (the codes an OpenID holds)
//! and `/card/delete` — with WeChat's refusals (40099
//! consumed, 40127 deleted/unavailable, 40056 unknown), a settable delay of consumes, and a count of
//! the consumes WeChat carried out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::fake_wechat::FakeWeChat;

/// One code WeChat holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCode {
    pub card_id: String,
    pub openid: String,
    /// `NORMAL`, `CONSUMED`, `DELETE`, `UNAVAILABLE`, …
    pub status: String,
}

#[derive(Default)]
struct State {
    codes: BTreeMap<String, HeldCode>,
    /// Consumes WeChat carried out (code → how many times).
    consumed: BTreeMap<String, u32>,
    deleted_cards: BTreeSet<String>,
    consume_delay: Duration,
    /// OpenIDs whose card list WeChat fails to answer (HTTP 503).
    failing_openids: BTreeSet<String>,
}

/// A handle on the fake's codes, shared with its responders.
#[derive(Clone, Default)]
pub struct FakeTill(Arc<Mutex<State>>);

#[derive(Clone)]
struct Route(FakeTill, &'static str);

fn refusal(errcode: i64, errmsg: &str) -> Value {
    json!({"errcode": errcode, "errmsg": errmsg})
}

impl Respond for Route {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let text = |field: &str| body[field].as_str().unwrap_or_default().to_owned();
        let code = text("code");
        let mut state = self.0 .0.lock().unwrap();
        let delay = state.consume_delay;
        // A code named with the wrong card is no code of that card.
        let found = state
            .codes
            .get(&code)
            .filter(|held| body["card_id"].is_null() || held.card_id == text("card_id"))
            .cloned();
        if self.1 == "getcardlist" {
            let openid = text("openid");
            if state.failing_openids.contains(&openid) {
                return ResponseTemplate::new(503);
            }
            let list: Vec<Value> = state
                .codes
                .iter()
                .filter(|(_, held)| held.openid == openid && held.status == "NORMAL")
                .filter(|(_, held)| body["card_id"].is_null() || held.card_id == text("card_id"))
                .map(|(code, held)| json!({"code": code, "card_id": held.card_id}))
                .collect();
            return ResponseTemplate::new(200).set_body_json(
                json!({"errcode": 0, "errmsg": "ok", "card_list": list, "has_share_card": false}),
            );
        }
        let answer = match (self.1, found) {
            ("decrypt", _) => match text("encrypt_code").strip_prefix("ENC:") {
                Some(plain) => json!({"errcode": 0, "errmsg": "ok", "code": plain}),
                None => refusal(40075, "invalid encrypt code"),
            },
            ("delete", _) => {
                state.deleted_cards.insert(text("card_id"));
                json!({"errcode": 0, "errmsg": "ok"})
            }
            (_, None) => refusal(40056, "invalid serial code hint: [fake]"),
            ("get", Some(held)) => {
                if held.status == "CONSUMED" && body["check_consume"] == json!(true) {
                    refusal(40099, "invalid code, this code has consumed. hint: [fake]")
                } else {
                    json!({"errcode": 0, "errmsg": "ok",
                           "card": {"card_id": held.card_id, "begin_time": 1_457_452_800, "end_time": 1_893_455_999},
                           "openid": held.openid, "can_consume": held.status == "NORMAL",
                           "user_card_status": held.status})
                }
            }
            ("consume", Some(held)) => match held.status.as_str() {
                "NORMAL" => {
                    state.set_status(&code, "CONSUMED");
                    *state.consumed.entry(code.clone()).or_default() += 1;
                    json!({"errcode": 0, "errmsg": "ok",
                           "card": {"card_id": held.card_id}, "openid": held.openid})
                }
                "CONSUMED" => refusal(40099, "invalid code, this code has consumed. hint: [fake]"),
                _ => refusal(40127, "user card is deleted or gifting. hint: [fake]"),
            },
            ("unavailable", Some(held)) => match held.status.as_str() {
                "NORMAL" => {
                    state.set_status(&code, "UNAVAILABLE");
                    json!({"errcode": 0, "errmsg": "ok"})
                }
                "CONSUMED" => refusal(40099, "invalid code, this code has consumed. hint: [fake]"),
                _ => refusal(40127, "user card is deleted or gifting. hint: [fake]"),
            },
            ("update", Some(held)) => {
                let new_code = text("new_code");
                if new_code.is_empty() || state.codes.contains_key(&new_code) {
                    refusal(40056, "invalid new code hint: [fake]")
                } else {
                    state.codes.remove(&code);
                    state.codes.insert(new_code, held);
                    json!({"errcode": 0, "errmsg": "ok"})
                }
            }
            (route, _) => panic!("no fake for {route}"),
        };
        let response = ResponseTemplate::new(200).set_body_json(answer);
        match self.1 {
            "consume" => response.set_delay(delay),
            _ => response,
        }
    }
}

impl State {
    fn set_status(&mut self, code: &str, status: &str) {
        if let Some(held) = self.codes.get_mut(code) {
            held.status = status.to_owned();
        }
    }
}

impl FakeTill {
    /// Mount the till's routes on `fake`.
    pub async fn mount(fake: &FakeWeChat) -> Self {
        let till = Self::default();
        for (route, url) in [
            ("get", "/card/code/get"),
            ("consume", "/card/code/consume"),
            ("unavailable", "/card/code/unavailable"),
            ("update", "/card/code/update"),
            ("decrypt", "/card/code/decrypt"),
            ("delete", "/card/delete"),
            ("getcardlist", "/card/user/getcardlist"),
        ] {
            Mock::given(method("POST"))
                .and(path(url))
                .respond_with(Route(till.clone(), route))
                .mount(&fake.server)
                .await;
        }
        till
    }

    /// WeChat holds `code` of `card_id`, held by `openid`, in `status`.
    pub fn hold(&self, code: &str, card_id: &str, openid: &str, status: &str) {
        self.0.lock().unwrap().codes.insert(
            code.to_owned(),
            HeldCode {
                card_id: card_id.to_owned(),
                openid: openid.to_owned(),
                status: status.to_owned(),
            },
        );
    }

    pub fn code(&self, code: &str) -> Option<HeldCode> {
        self.0.lock().unwrap().codes.get(code).cloned()
    }

    /// How many times WeChat consumed `code`.
    pub fn consumes_of(&self, code: &str) -> u32 {
        self.0
            .lock()
            .unwrap()
            .consumed
            .get(code)
            .copied()
            .unwrap_or(0)
    }

    pub fn deleted_cards(&self) -> BTreeSet<String> {
        self.0.lock().unwrap().deleted_cards.clone()
    }

    /// `/card/user/getcardlist` for `openid` fails (`false`: answers again).
    pub fn fail_openid(&self, openid: &str, failing: bool) {
        let mut state = self.0.lock().unwrap();
        match failing {
            true => state.failing_openids.insert(openid.to_owned()),
            false => state.failing_openids.remove(openid),
        };
    }

    /// Consumes answer after `delay` (WeChat slow, or two tills racing).
    pub fn delay_consumes(&self, delay: Duration) {
        self.0.lock().unwrap().consume_delay = delay;
    }
}
