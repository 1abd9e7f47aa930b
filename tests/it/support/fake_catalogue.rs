//! The fake WeChat API's card catalogue (references 000, 003): `/cgi-bin/media/uploadimg` hands out
//! CDN URLs, `/card/create` keeps the card, `/card/get` answers it with its status and stock,
//! `/card/modifystock` moves the stock (refusing to go below 0), `/card/update` and
//! `/card/membercard/activateuserform/set` answer ok; `/card/batchget` pages through the cards (at
//! most 50 a page, filtered by status), those created here and those "created in the console".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::fake_wechat::FakeWeChat;

#[derive(Default)]
struct State {
    uploads: usize,
    /// card_id → the card as created (`{"card_type", "<type>": {…}}`) and its stock.
    cards: HashMap<String, (Value, i64)>,
    /// card_id → its status, when not CARD_STATUS_VERIFY_OK.
    statuses: HashMap<String, String>,
}

impl State {
    fn status(&self, card_id: &str) -> String {
        self.statuses
            .get(card_id)
            .cloned()
            .unwrap_or_else(|| "CARD_STATUS_VERIFY_OK".to_owned())
    }
}

/// A handle on the catalogue, shared with the mounted responders.
#[derive(Clone, Default)]
pub struct FakeCatalogue(Arc<Mutex<State>>);

#[derive(Clone)]
struct Route(FakeCatalogue, &'static str);

fn answer(body: Value) -> ResponseTemplate {
    let mut body = body;
    body["errcode"] = json!(0);
    body["errmsg"] = json!("ok");
    ResponseTemplate::new(200).set_body_json(body)
}

fn errcode(code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"errcode": code, "errmsg": message}))
}

impl Respond for Route {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0 .0.lock().unwrap();
        if self.1 == "uploadimg" {
            state.uploads += 1;
            return answer(
                json!({"url": format!("http://mmbiz.qpic.cn/mmbiz/fake-upload-{}/0", state.uploads)}),
            );
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let card_id = body["card_id"].as_str().unwrap_or_default().to_owned();
        match self.1 {
            "create" => {
                let card = body["card"].clone();
                let kind = card["card_type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let quantity = card[kind.as_str()]["base_info"]["sku"]["quantity"]
                    .as_i64()
                    .unwrap_or(0);
                let card_id = format!("pFAKE{}", state.cards.len() + 1);
                state.cards.insert(card_id.clone(), (card, quantity));
                answer(json!({"card_id": card_id}))
            }
            "get" => match state.cards.get(&card_id) {
                Some((card, quantity)) => {
                    let mut card = card.clone();
                    let kind = card["card_type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    let base_info = &mut card[kind.as_str()]["base_info"];
                    base_info["sku"] = json!({"quantity": quantity, "total_quantity": quantity});
                    base_info["status"] = json!(state.status(&card_id));
                    base_info["id"] = json!(card_id);
                    answer(json!({"card": card}))
                }
                None => errcode(40073, "invalid card id"),
            },
            "modifystock" => {
                let Some((_, quantity)) = state.cards.get_mut(&card_id) else {
                    return errcode(40073, "invalid card id");
                };
                let change = body["increase_stock_value"].as_i64().unwrap_or(0)
                    - body["reduce_stock_value"].as_i64().unwrap_or(0);
                if *quantity + change < 0 {
                    return errcode(45031, "stock is not enough");
                }
                *quantity += change;
                answer(json!({}))
            }
            "batchget" => {
                let wanted: Vec<&str> = body["status_list"]
                    .as_array()
                    .map(|list| list.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut ids: Vec<String> = state
                    .cards
                    .keys()
                    .filter(|id| wanted.is_empty() || wanted.contains(&state.status(id).as_str()))
                    .cloned()
                    .collect();
                ids.sort();
                let count = body["count"].as_u64().unwrap_or(0);
                if count == 0 || count > 50 {
                    return errcode(40097, "invalid count");
                }
                let offset = body["offset"].as_u64().unwrap_or(0) as usize;
                // This WeChat hands out at most 10 a page, whatever count asks: a client must page
                // on until the total, not stop at a short page.
                let page: Vec<String> = ids
                    .iter()
                    .skip(offset)
                    .take(count.min(10) as usize)
                    .cloned()
                    .collect();
                answer(json!({"card_id_list": page, "total_num": ids.len()}))
            }
            _ => answer(json!({})),
        }
    }
}

impl FakeCatalogue {
    /// Mount the catalogue routes on `fake`.
    pub async fn mount(fake: &FakeWeChat) -> Self {
        let catalogue = Self::default();
        for (route, name) in [
            ("/cgi-bin/media/uploadimg", "uploadimg"),
            ("/card/create", "create"),
            ("/card/get", "get"),
            ("/card/modifystock", "modifystock"),
            ("/card/update", "update"),
            ("/card/membercard/activateuserform/set", "form"),
            ("/card/batchget", "batchget"),
        ] {
            Mock::given(method("POST"))
                .and(path(route))
                .respond_with(Route(catalogue.clone(), name))
                .mount(&fake.server)
                .await;
        }
        catalogue
    }

    /// A card made in WeChat's console, not through cardhook: a member card `card_id` titled `title`.
    pub fn console_card(&self, card_id: &str, title: &str, quantity: i64, status: &str) {
        let card = json!({"card_type": "MEMBER_CARD",
                          "member_card": {"base_info": {"title": title, "brand_name": "Console"}}});
        let mut state = self.0.lock().unwrap();
        state.cards.insert(card_id.to_owned(), (card, quantity));
        state.statuses.insert(card_id.to_owned(), status.to_owned());
    }

    /// The stock WeChat holds for the card.
    pub fn quantity(&self, card_id: &str) -> Option<i64> {
        self.0.lock().unwrap().cards.get(card_id).map(|(_, q)| *q)
    }
}
