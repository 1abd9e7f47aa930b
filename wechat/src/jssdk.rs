//! JS-SDK signatures for the merchant's H5 pages (reference §8.5): `cardExt` for `wx.addCard`,
//! `cardSign` for `wx.chooseCard`, and the `wx.config` signature. The card signatures use the
//! card `api_ticket`, `wx.config` the `jsapi_ticket`: two tickets, two independent signatures.

use sha1::{Digest, Sha1};

use crate::signature::sign_string;

/// The signature inside `cardExt`: SHA-1 over the sorted values of api_ticket, timestamp,
/// card_id, code, openid and nonce_str; absent ones contribute nothing. `outer_str` and
/// `fixed_begintimestamp` are not signed.
pub fn card_ext_signature(
    api_ticket: &str,
    timestamp: &str,
    card_id: &str,
    code: Option<&str>,
    openid: Option<&str>,
    nonce_str: &str,
) -> String {
    sign_string(&[
        api_ticket,
        timestamp,
        card_id,
        code.unwrap_or(""),
        openid.unwrap_or(""),
        nonce_str,
    ])
}

/// What `wx.chooseCard` filters on; empty fields contribute nothing to `cardSign`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChooseCard<'a> {
    pub location_id: &'a str,
    pub card_id: &'a str,
    pub card_type: &'a str,
}

/// `cardSign`: SHA-1 over the sorted values of api_ticket, appid, location_id, timestamp,
/// nonce_str, card_id and card_type.
pub fn card_sign(
    api_ticket: &str,
    appid: &str,
    timestamp: &str,
    nonce_str: &str,
    choose: ChooseCard<'_>,
) -> String {
    sign_string(&[
        api_ticket,
        appid,
        choose.location_id,
        timestamp,
        nonce_str,
        choose.card_id,
        choose.card_type,
    ])
}

/// The `wx.config` signature: SHA-1 of `jsapi_ticket=…&noncestr=…&timestamp=…&url=…` (keys in
/// that sorted order), the page URL without its `#fragment`.
pub fn config_signature(jsapi_ticket: &str, noncestr: &str, timestamp: &str, url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let text =
        format!("jsapi_ticket={jsapi_ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}");
    hex::encode(Sha1::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_ext_reproduces_the_official_example() {
        // Reference §8.5: the official worked example.
        assert_eq!(
            card_ext_signature(
                "ojZ8YtyVyr30HheH3CM73y7h4jJE",
                "1404896688",
                "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
                Some("1434008071"),
                None,
                "123",
            ),
            "f137ab68b7f8112d20ee528ab6074564e2796250"
        );
    }

    #[test]
    fn card_ext_reproduces_the_wechatpy_vectors() {
        let ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
        let sign = |code, openid| {
            card_ext_signature(
                ticket,
                "1414587457",
                "random_card_id",
                code,
                openid,
                "Wm3WZYTPz0wzccnW",
            )
        };
        assert_eq!(sign(None, None), "22dce6bad4db532d4a2ef82ca2ca7bbe1e10ef28");
        assert_eq!(
            sign(Some("random_code"), None),
            "2e9c6d12952246e071717d7baeab20c30420b5cd"
        );
        assert_eq!(
            sign(None, Some("random_openid")),
            "ded860a5dd4467312764bd86e544ad0579cbfad0"
        );
        assert_eq!(
            sign(Some("random_code"), Some("random_openid")),
            "950dc1842852457ea573d4d6af34879c1ec093c8"
        );
    }

    #[test]
    fn config_reproduces_the_official_example_and_drops_the_fragment() {
        let ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
        let signed = |url| config_signature(ticket, "Wm3WZYTPz0wzccnW", "1414587457", url);
        assert_eq!(
            signed("http://mp.weixin.qq.com?params=value"),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
        assert_eq!(
            signed("http://mp.weixin.qq.com?params=value#section"),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
    }

    #[test]
    fn card_sign_is_the_sorted_sha1_of_its_seven_values() {
        // No published numeric example (reference §8.5): check against the definition, with the
        // values given in another order.
        let choose = ChooseCard {
            location_id: "",
            card_id: "pCARD",
            card_type: "MEMBER_CARD",
        };
        assert_eq!(
            card_sign("ticket", "wxAPP", "1414587457", "n0nce", choose),
            sign_string(&[
                "n0nce",
                "MEMBER_CARD",
                "wxAPP",
                "pCARD",
                "1414587457",
                "ticket"
            ])
        );
    }
}
