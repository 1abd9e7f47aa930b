//! Fixtures sealed exactly as WeChat sends them (`wechat::seal`), and POSTed to the real server.

use cardhook::wechat::seal::SealedPush;
use cardhook::wechat::Mode;
use rand::Rng;

use super::{account_for, TestApp};

pub fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/push/{name}.xml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every event fixture's name.
pub fn all_fixture_names() -> Vec<String> {
    let dir = format!("{}/fixtures/push", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".xml")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// A `user_get_card` push for tests that need many distinct ones.
pub fn get_card_xml(
    openid: &str,
    create_time: i64,
    card_id: &str,
    code: &str,
    outer_id: i64,
    outer_str: &str,
) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_get_card]]></Event>\
         <CardId><![CDATA[{card_id}]]></CardId><IsGiveByFriend>0</IsGiveByFriend><UserCardCode><![CDATA[{code}]]></UserCardCode>\
         <FriendUserName><![CDATA[]]></FriendUserName><OuterId>{outer_id}</OuterId><OldUserCardCode><![CDATA[]]></OldUserCardCode>\
         <OuterStr><![CDATA[{outer_str}]]></OuterStr><IsRestoreMemberCard>0</IsRestoreMemberCard></xml>"
    )
}

/// An event about an existing code (`user_del_card`, `user_consume_card`, …).
pub fn code_event_xml(
    event: &str,
    openid: &str,
    create_time: i64,
    card_id: &str,
    code: &str,
) -> String {
    format!(
        "<xml><ToUserName>gh_test</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>{create_time}</CreateTime>\
         <MsgType>event</MsgType><Event>{event}</Event><CardId>{card_id}</CardId><UserCardCode>{code}</UserCardCode></xml>"
    )
}

impl TestApp {
    /// Seal `xml` for the test account of `mode`, stamped now.
    pub fn seal(&self, xml: &str, mode: Mode) -> SealedPush {
        let (appid, _) = account_for(mode);
        let account = self.accounts.get(appid).expect("test account");
        let mut rng = rand::thread_rng();
        let random: [u8; 16] = rng.gen();
        let nonce = rng.gen_range(100_000_000u32..999_999_999).to_string();
        account
            .sealer()
            .seal(xml, mode, chrono::Utc::now().timestamp(), &nonce, &random)
            .expect("seal")
    }

    pub async fn push_sealed(&self, sealed: &SealedPush, mode: Mode) -> reqwest::Response {
        self.push_raw(account_for(mode).0, &sealed.query, sealed.body.clone())
            .await
    }

    pub async fn push_xml(&self, xml: &str, mode: Mode) -> reqwest::Response {
        let sealed = self.seal(xml, mode);
        self.push_sealed(&sealed, mode).await
    }

    pub async fn push_fixture(&self, name: &str, mode: Mode) -> reqwest::Response {
        self.push_xml(&fixture(name), mode).await
    }
}

/// Assert the WeChat acknowledgement.
pub async fn assert_success(response: reqwest::Response) {
    let status = response.status();
    let body = response.text().await.expect("body");
    assert_eq!((status.as_u16(), body.as_str()), (200, "success"));
}
