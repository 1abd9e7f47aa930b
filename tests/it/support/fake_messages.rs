//! The fake WeChat API's message routes (reference "Follow QR codes", "Sending cards"):
//! `/cgi-bin/qrcode/create` (a ticket, and `expire_seconds` when one was asked),
//! `/cgi-bin/message/custom/send`, and the mass sends, each answered with the next msg_id.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::fake_wechat::FakeWeChat;

/// The ticket every follow QR code gets.
pub const FOLLOW_TICKET: &str = "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==";

#[derive(Clone)]
struct Route(Arc<AtomicI64>, &'static str);

impl Respond for Route {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let answer = match self.1 {
            "qrcode" => {
                let mut answer = json!({
                    "ticket": FOLLOW_TICKET, "url": "http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI"
                });
                if let Some(seconds) = body.get("expire_seconds") {
                    answer["expire_seconds"] = seconds.clone();
                }
                answer
            }
            "custom" => json!({}),
            _ => json!({
                "errmsg": "send job submission success",
                "msg_id": self.0.fetch_add(1, Ordering::SeqCst),
                "msg_data_id": 206227730
            }),
        };
        let mut answer = answer;
        answer["errcode"] = json!(0);
        if answer.get("errmsg").is_none() {
            answer["errmsg"] = json!("ok");
        }
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

/// Mount the message routes on `fake`; mass sends get msg_ids 1000, 1001, …
pub async fn mount(fake: &FakeWeChat) {
    let next_msg_id = Arc::new(AtomicI64::new(1000));
    for (route, name) in [
        ("/cgi-bin/qrcode/create", "qrcode"),
        ("/cgi-bin/message/custom/send", "custom"),
        ("/cgi-bin/message/mass/sendall", "mass"),
        ("/cgi-bin/message/mass/send", "mass"),
        ("/cgi-bin/message/mass/preview", "mass"),
    ] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(Route(next_msg_id.clone(), name))
            .mount(&fake.server)
            .await;
    }
}
