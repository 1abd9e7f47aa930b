//! The fake WeChat API's custom-code store (reference §8.3): `/card/code/deposit`,
//! `/card/code/getdepositcount` and `/card/code/checkcode` answered from the codes actually
//! deposited, with WeChat's 100-code limit (40109) and injectable failures of chosen deposit calls.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::fake_wechat::FakeWeChat;

#[derive(Default)]
struct State {
    /// card_id → codes WeChat holds.
    held: HashMap<String, BTreeSet<String>>,
    /// How many times each code was sent in a deposit call WeChat processed.
    accepted_sends: BTreeMap<String, u32>,
    deposit_calls: usize,
    /// Deposit calls (1-based) that fail: with an HTTP status, and whether WeChat took the
    /// codes anyway (the answer was lost on the way back).
    failures: HashMap<usize, (u16, bool)>,
    /// Codes WeChat refuses (`fail_code`).
    refused: BTreeSet<String>,
    /// Answer deposits with counts, as reference 001 documents them, not the codes.
    counts_only: bool,
}

/// A handle on the store, shared with the mounted responders.
#[derive(Clone, Default)]
pub struct FakeCodes(Arc<Mutex<State>>);

#[derive(Clone)]
struct Route(FakeCodes, &'static str);

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

fn codes_of(body: &Value) -> Vec<String> {
    body["code"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Respond for Route {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = body(request);
        let card_id = body["card_id"].as_str().unwrap_or_default().to_owned();
        let codes = codes_of(&body);
        let mut state = self.0 .0.lock().unwrap();
        let answer = match self.1 {
            "deposit" => {
                state.deposit_calls += 1;
                if codes.is_empty() || codes.len() > 100 {
                    return ResponseTemplate::new(200).set_body_json(
                        json!({"errcode": 40109, "errmsg": "code count is 0 or more than 100"}),
                    );
                }
                let failure = state.failures.get(&state.deposit_calls).copied();
                if let Some((status, taken)) = failure {
                    if taken {
                        state.take(&card_id, &codes);
                    }
                    return ResponseTemplate::new(status);
                }
                state.take(&card_id, &codes)
            }
            "getdepositcount" => {
                let count = state.held.get(&card_id).map_or(0, BTreeSet::len);
                json!({"errcode": 0, "errmsg": "ok", "count": count})
            }
            _ => {
                let held = state.held.get(&card_id).cloned().unwrap_or_default();
                let (exist, not_exist): (Vec<String>, Vec<String>) =
                    codes.into_iter().partition(|c| held.contains(c));
                json!({"errcode": 0, "errmsg": "ok", "exist_code": exist, "not_exist_code": not_exist})
            }
        };
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

impl State {
    /// WeChat processes a deposit: new codes are held, known ones are duplicates.
    fn take(&mut self, card_id: &str, codes: &[String]) -> Value {
        let (mut succ, mut duplicate, mut fail) = (vec![], vec![], vec![]);
        for code in codes {
            *self.accepted_sends.entry(code.clone()).or_default() += 1;
            if self.refused.contains(code) {
                fail.push(code.clone());
            } else if self
                .held
                .entry(card_id.to_owned())
                .or_default()
                .insert(code.clone())
            {
                succ.push(code.clone());
            } else {
                duplicate.push(code.clone());
            }
        }
        if self.counts_only {
            return json!({"errcode": 0, "errmsg": "ok", "succ_code": succ.len(),
                          "duplicate_code": duplicate.len(), "fail_code": fail.len()});
        }
        json!({"errcode": 0, "errmsg": "ok", "succ_code": succ, "duplicate_code": duplicate, "fail_code": fail})
    }
}

impl FakeCodes {
    /// Mount the three code routes on `fake`.
    pub async fn mount(fake: &FakeWeChat) -> Self {
        let codes = Self::default();
        for route in ["deposit", "getdepositcount", "checkcode"] {
            Mock::given(method("POST"))
                .and(path(format!("/card/code/{route}")))
                .respond_with(Route(codes.clone(), route))
                .mount(&fake.server)
                .await;
        }
        codes
    }

    /// Deposit call number `call` (1-based, counted over the fake's life) answers HTTP `status`;
    /// with `taken`, WeChat stored the codes before the answer was lost.
    pub fn fail_call(&self, call: usize, status: u16, taken: bool) {
        self.0
            .lock()
            .unwrap()
            .failures
            .insert(call, (status, taken));
    }

    /// From now on, deposits are answered with counts (reference 001), not lists.
    pub fn answer_with_counts(&self) {
        self.0.lock().unwrap().counts_only = true;
    }

    pub fn refuse(&self, code: &str) {
        self.0.lock().unwrap().refused.insert(code.to_owned());
    }

    pub fn held(&self, card_id: &str) -> BTreeSet<String> {
        self.0
            .lock()
            .unwrap()
            .held
            .get(card_id)
            .cloned()
            .unwrap_or_default()
    }

    /// How many times each code reached WeChat in a processed deposit call.
    pub fn accepted_sends(&self) -> BTreeMap<String, u32> {
        self.0.lock().unwrap().accepted_sends.clone()
    }

    pub fn deposit_calls(&self) -> usize {
        self.0.lock().unwrap().deposit_calls
    }
}
