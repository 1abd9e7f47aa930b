//! The fake WeChat API: a real HTTP server (wiremock) speaking the documented JSON, able to answer
//! any errcode, delay past the client timeout, and report every request it received.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub struct FakeWeChat {
    pub server: MockServer,
}

fn answer(file: &str) -> Value {
    let path = format!("{}/fixtures/wechat_api/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn errcode(code: i64) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"errcode": code, "errmsg": format!("fake errcode {code}")}))
}

impl FakeWeChat {
    pub async fn start() -> Self {
        Self {
            server: MockServer::start().await,
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Both token endpoints answer `token` (the next `times` calls; None = always, as a fallback).
    pub async fn token_ok(&self, token: &str, expires_in: i64, times: Option<u64>) {
        let mut body = answer("stable_token_ok.json");
        body["access_token"] = json!(token);
        body["expires_in"] = json!(expires_in);
        for (verb, route) in [("POST", "/cgi-bin/stable_token"), ("GET", "/cgi-bin/token")] {
            let mock = Mock::given(method(verb))
                .and(path(route))
                .respond_with(ResponseTemplate::new(200).set_body_json(&body));
            let mock = match times {
                Some(n) => mock.up_to_n_times(n).with_priority(1),
                None => mock.with_priority(5),
            };
            mock.mount(&self.server).await;
        }
    }

    pub async fn activate_ok(&self) {
        Mock::given(method("POST"))
            .and(path("/card/membercard/activate"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer("activate_ok.json")))
            .with_priority(5)
            .mount(&self.server)
            .await;
    }

    /// The next `times` activations answer `code`.
    pub async fn activate_errcode(&self, code: i64, times: u64) {
        Mock::given(method("POST"))
            .and(path("/card/membercard/activate"))
            .respond_with(errcode(code))
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Activations made with `token` answer `code` (a stale token).
    pub async fn activate_errcode_for_token(&self, token: &str, code: i64) {
        Mock::given(method("POST"))
            .and(path("/card/membercard/activate"))
            .and(query_param("access_token", token))
            .respond_with(errcode(code))
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// The next `times` activations succeed, but only after `delay` (past the client timeout: the
    /// activation happens, its answer is lost).
    pub async fn activate_delay(&self, delay: Duration, times: u64) {
        Mock::given(method("POST"))
            .and(path("/card/membercard/activate"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(answer("activate_ok.json"))
                    .set_delay(delay),
            )
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// `/card/membercard/userinfo/get` reports `has_active`.
    pub async fn userinfo_active(&self, active: bool) {
        let mut body = answer("userinfo_get.json");
        body["has_active"] = json!(active);
        Mock::given(method("POST"))
            .and(path("/card/membercard/userinfo/get"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&self.server)
            .await;
    }

    /// `route` (POST) answers the documented success `file` from now on.
    pub async fn answer_ok(&self, route: &str, file: &str) {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer(file)))
            .with_priority(5)
            .mount(&self.server)
            .await;
    }

    /// The next `times` POSTs to `route` answer `code`.
    pub async fn answer_errcode(&self, route: &str, code: i64, times: u64) {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(errcode(code))
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// `/cgi-bin/ticket/getticket` answers `{type}-ticket` for each type (wx_card, jsapi), except
    /// with `refused_token`, which it answers 40001.
    pub async fn tickets_ok(&self, refused_token: Option<&str>) {
        for kind in ["wx_card", "jsapi"] {
            let mut body = answer("getticket_ok.json");
            body["ticket"] = json!(format!("{kind}-ticket"));
            Mock::given(method("GET"))
                .and(path("/cgi-bin/ticket/getticket"))
                .and(query_param("type", kind))
                .respond_with(ResponseTemplate::new(200).set_body_json(body))
                .with_priority(5)
                .mount(&self.server)
                .await;
        }
        if let Some(token) = refused_token {
            Mock::given(method("GET"))
                .and(path("/cgi-bin/ticket/getticket"))
                .and(query_param("access_token", token))
                .respond_with(errcode(40001))
                .with_priority(1)
                .mount(&self.server)
                .await;
        }
    }

    /// `/card/code/decrypt` turns `encrypt_code` into `code`.
    pub async fn code_decrypts(&self, encrypt_code: &str, code: &str) {
        let mut body = answer("code_decrypt_ok.json");
        body["code"] = json!(code);
        Mock::given(method("POST"))
            .and(path("/card/code/decrypt"))
            .and(body_partial_json(json!({ "encrypt_code": encrypt_code })))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&self.server)
            .await;
    }

    /// `/card/code/get` says `openid` holds `code` of `card_id`.
    pub async fn code_held_by(&self, card_id: &str, code: &str, openid: &str) {
        let mut body = answer("code_get_ok.json");
        body["openid"] = json!(openid);
        body["card"]["card_id"] = json!(card_id);
        Mock::given(method("POST"))
            .and(path("/card/code/get"))
            .and(body_partial_json(
                json!({ "card_id": card_id, "code": code }),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&self.server)
            .await;
    }

    /// `GET /sns/oauth2/access_token` exchanges the OAuth2 `code` for `openid`.
    pub async fn oauth_code(&self, code: &str, openid: &str) {
        let mut body = answer("sns_oauth2_access_token_ok.json");
        body["openid"] = json!(openid);
        Mock::given(method("GET"))
            .and(path("/sns/oauth2/access_token"))
            .and(query_param("code", code))
            .and(query_param("grant_type", "authorization_code"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&self.server)
            .await;
    }

    /// `GET /sns/oauth2/access_token` answers `errcode` for the OAuth2 `code` (40029, 40163).
    pub async fn oauth_code_errcode(&self, code: &str, errcode_value: i64) {
        Mock::given(method("GET"))
            .and(path("/sns/oauth2/access_token"))
            .and(query_param("code", code))
            .respond_with(errcode(errcode_value))
            .mount(&self.server)
            .await;
    }

    /// WeChat's authorize page (`/connect/oauth2/authorize`, `snsapi_base`: no consent screen): back
    /// to `redirect_uri` with `code` and the `state` it was given (reference 002).
    pub async fn authorize_gives(&self, code: &str) {
        let code = code.to_owned();
        Mock::given(method("GET"))
            .and(path("/connect/oauth2/authorize"))
            .respond_with(move |request: &wiremock::Request| {
                let query: std::collections::HashMap<String, String> =
                    request.url.query_pairs().into_owned().collect();
                let back = format!(
                    "{}?code={code}&state={}",
                    query.get("redirect_uri").cloned().unwrap_or_default(),
                    query.get("state").cloned().unwrap_or_default()
                );
                ResponseTemplate::new(302).insert_header("Location", back.as_str())
            })
            .mount(&self.server)
            .await;
    }

    /// `/card/membercard/userinfo/get` of `code`: its one-click form gave `mobile` (or no mobile).
    pub async fn form_gives(&self, code: &str, mobile: Option<&str>) {
        let mut body = answer("userinfo_get.json");
        body["has_active"] = json!(false);
        body["user_info"]["common_field_list"] = match mobile {
            Some(mobile) => json!([{"name": "USER_FORM_INFO_FLAG_MOBILE", "value": mobile}]),
            None => json!([{"name": "USER_FORM_INFO_FLAG_NAME", "value": "微信"}]),
        };
        Mock::given(method("POST"))
            .and(path("/card/membercard/userinfo/get"))
            .and(body_partial_json(json!({ "code": code })))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// `/card/membercard/activatetempinfo/get` (jump-style form): `ticket` gives `mobile`; any other
    /// ticket is refused as WeChat refuses a stale one (72012).
    pub async fn jump_form_gives(&self, ticket: &str, mobile: &str) {
        let body = json!({"errcode": 0, "errmsg": "ok", "info": {
            "common_field_list": [{"name": "USER_FORM_INFO_FLAG_MOBILE", "value": mobile}],
            "custom_field_list": []}});
        Mock::given(method("POST"))
            .and(path("/card/membercard/activatetempinfo/get"))
            .and(body_partial_json(json!({ "activate_ticket": ticket })))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .with_priority(1)
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path("/card/membercard/activatetempinfo/get"))
            .respond_with(errcode(72012))
            .with_priority(5)
            .mount(&self.server)
            .await;
    }

    /// JSON bodies of the POSTs to `route`.
    pub async fn bodies(&self, route: &str) -> Vec<Value> {
        self.requests_to(route)
            .await
            .into_iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    pub async fn requests_to(&self, route: &str) -> Vec<wiremock::Request> {
        let all = self.server.received_requests().await.unwrap_or_default();
        all.into_iter().filter(|r| r.url.path() == route).collect()
    }

    /// Activation calls: (JSON body, access_token used).
    pub async fn activate_requests(&self) -> Vec<(Value, String)> {
        self.requests_to("/card/membercard/activate")
            .await
            .into_iter()
            .map(|r| {
                let token = r
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                (serde_json::from_slice(&r.body).unwrap(), token)
            })
            .collect()
    }

    pub async fn token_requests(&self) -> Vec<wiremock::Request> {
        let mut all = self.requests_to("/cgi-bin/stable_token").await;
        all.extend(self.requests_to("/cgi-bin/token").await);
        all
    }
}
