//! The fake WeChat API's user tags (用户标签管理): `/cgi-bin/tags/get`, `/cgi-bin/tags/create`
//! (45157 for a name taken, 45158 for a name over 30 bytes) and
//! `/cgi-bin/tags/members/batchtagging` / `batchuntagging` (40032 for an empty list or more than 50
//! OpenIDs, 45159 for an unknown tag), keeping who is under which tag.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::fake_wechat::FakeWeChat;

#[derive(Default)]
struct State {
    /// id → (name, OpenIDs under it).
    tags: BTreeMap<i64, (String, BTreeSet<String>)>,
    /// The size of each batch call, in order.
    batches: Vec<usize>,
    /// OpenIDs WeChat will not tag (no longer following): a batch with one is refused whole.
    refused: BTreeSet<String>,
}

/// A handle on the fake's tags, shared with its responders.
#[derive(Clone, Default)]
pub struct FakeTags(Arc<Mutex<State>>);

#[derive(Clone)]
struct Route(FakeTags, &'static str);

fn refusal(errcode: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"errcode": errcode, "errmsg": "fake refusal"}))
}

impl Respond for Route {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut state = self.0 .0.lock().unwrap();
        let answer = match self.1 {
            "get" => {
                let tags: Vec<Value> = state
                    .tags
                    .iter()
                    .map(
                        |(id, (name, users))| json!({"id": id, "name": name, "count": users.len()}),
                    )
                    .collect();
                json!({"tags": tags})
            }
            "create" => {
                let name = body["tag"]["name"].as_str().unwrap_or_default().to_owned();
                if name.is_empty() || name.len() > 30 {
                    return refusal(45158);
                }
                if state.tags.values().any(|(n, _)| *n == name) {
                    return refusal(45157);
                }
                let id = 100 + state.tags.len() as i64;
                state.tags.insert(id, (name.clone(), BTreeSet::new()));
                json!({"tag": {"id": id, "name": name}})
            }
            batch => {
                let openids: Vec<String> = body["openid_list"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|o| o.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if openids.is_empty() || openids.len() > 50 {
                    return refusal(40032);
                }
                state.batches.push(openids.len());
                if openids.iter().any(|o| state.refused.contains(o)) {
                    return refusal(40003);
                }
                let id = body["tagid"].as_i64().unwrap_or(-1);
                let Some((_, users)) = state.tags.get_mut(&id) else {
                    return refusal(45159);
                };
                for openid in openids {
                    match batch {
                        "batchtagging" => users.insert(openid),
                        _ => users.remove(&openid),
                    };
                }
                json!({"errcode": 0, "errmsg": "ok"})
            }
        };
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

impl FakeTags {
    pub async fn mount(fake: &FakeWeChat) -> Self {
        let tags = Self::default();
        for (verb, url, route) in [
            ("GET", "/cgi-bin/tags/get", "get"),
            ("POST", "/cgi-bin/tags/create", "create"),
            ("POST", "/cgi-bin/tags/members/batchtagging", "batchtagging"),
            (
                "POST",
                "/cgi-bin/tags/members/batchuntagging",
                "batchuntagging",
            ),
        ] {
            Mock::given(method(verb))
                .and(path(url))
                .respond_with(Route(tags.clone(), route))
                .mount(&fake.server)
                .await;
        }
        tags
    }

    /// A tag the account already has, made in WeChat's console.
    pub fn existing(&self, id: i64, name: &str) {
        self.0
            .lock()
            .unwrap()
            .tags
            .insert(id, (name.to_owned(), BTreeSet::new()));
    }

    /// WeChat refuses to tag `openid` from now on.
    pub fn refuse(&self, openid: &str) {
        self.0.lock().unwrap().refused.insert(openid.to_owned());
    }

    /// Who is under tag `name`.
    pub fn users(&self, name: &str) -> BTreeSet<String> {
        let state = self.0.lock().unwrap();
        state
            .tags
            .values()
            .find(|(n, _)| n == name)
            .map(|(_, users)| users.clone())
            .unwrap_or_default()
    }

    pub fn tag_count(&self) -> usize {
        self.0.lock().unwrap().tags.len()
    }

    /// The OpenIDs of each batch call, in order.
    pub fn batches(&self) -> Vec<usize> {
        self.0.lock().unwrap().batches.clone()
    }
}
