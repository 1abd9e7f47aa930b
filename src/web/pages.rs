//! The H5 pages, server-rendered: small, in Chinese, readable on a phone, with no external assets
//! (the styles are inline). Pure: each function returns the HTML of one page; every value put in
//! the page is escaped.

const STYLE: &str = "body{margin:0;font-family:-apple-system,'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC',sans-serif;\
background:#f5f5f5;color:#222}main{max-width:28rem;margin:0 auto;padding:2rem 1.25rem}\
h1{font-size:1.4rem;margin:0 0 1rem}p{line-height:1.6}label{display:block;margin:1.25rem 0 .5rem}\
input[type=tel],input[type=text]{box-sizing:border-box;width:100%;font-size:1.2rem;padding:.75rem;\
border:1px solid #ccc;border-radius:.5rem}button,a.button{display:block;box-sizing:border-box;width:100%;margin-top:1.25rem;\
padding:.85rem;font-size:1.1rem;border:0;border-radius:.5rem;background:#07c160;color:#fff;\
text-align:center;text-decoration:none}button.secondary{background:#fff;color:#07c160;\
border:1px solid #07c160}.error{color:#c0392b}.number{font-size:1.6rem;font-weight:bold}";

use crate::html::escape;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        title = escape(title)
    )
}

/// The activation form: the customer's phone number, then the SMS code sent to it, with the
/// hidden fields both POSTs need. Works without script: each button is a plain form POST.
pub struct Form<'a> {
    /// `/h5/{appid}` (the forms post to `…/sms` and `…/activate`).
    pub base: &'a str,
    pub card_id: &'a str,
    pub encrypt_code: &'a str,
    pub csrf: &'a str,
    /// Set once a code was asked for this phone: the code field and the binding button show.
    pub code_sent_to: Option<&'a str>,
    /// Why the last step was refused (or what happened), shown above the fields.
    pub message: Option<&'a str>,
}

pub fn form(form: &Form<'_>) -> String {
    let message = form
        .message
        .map(|m| format!("<p class=\"error\" id=\"message\">{}</p>", escape(m)))
        .unwrap_or_default();
    let hidden = format!(
        "<input type=\"hidden\" name=\"card_id\" value=\"{card_id}\">\
         <input type=\"hidden\" name=\"encrypt_code\" value=\"{encrypt_code}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">",
        card_id = escape(form.card_id),
        encrypt_code = escape(form.encrypt_code),
        csrf = escape(form.csrf),
    );
    let phone_field = |value: &str| {
        format!(
            "<label for=\"phone\">手机号</label>\
             <input type=\"tel\" id=\"phone\" name=\"phone\" inputmode=\"numeric\" autocomplete=\"tel\" \
             placeholder=\"11 位手机号\" value=\"{}\" required>",
            escape(value)
        )
    };
    let base = escape(form.base);
    let body = match form.code_sent_to {
        None => format!(
            "<p>请输入您在本店登记的手机号，我们将发送短信验证码，验证后为您绑定会员并开通会员卡。</p>{message}\
             <form method=\"post\" action=\"{base}/sms\">{hidden}{phone}\
             <button type=\"submit\" id=\"send-code\">获取验证码</button></form>",
            phone = phone_field(""),
        ),
        Some(phone) => format!(
            "<p>验证码已发送至您的手机，请查看短信并在有效期内填写。</p>{message}\
             <form method=\"post\" action=\"{base}/activate\">{hidden}{phone_input}\
             <label for=\"sms_code\">短信验证码</label>\
             <input type=\"text\" id=\"sms_code\" name=\"sms_code\" inputmode=\"numeric\" \
             autocomplete=\"one-time-code\" maxlength=\"6\" placeholder=\"6 位数字\" required>\
             <button type=\"submit\" id=\"submit\">绑定并开通</button></form>\
             <form method=\"post\" action=\"{base}/sms\">{hidden}\
             <input type=\"hidden\" name=\"phone\" value=\"{phone_value}\">\
             <button type=\"submit\" class=\"secondary\" id=\"resend\">重新获取验证码</button></form>",
            phone_input = phone_field(phone),
            phone_value = escape(phone),
        ),
    };
    page("开通会员卡", &format!("<h1>开通会员卡</h1>{body}"))
}

/// The card is bound to the member and its activation is on its way.
pub fn bound(member_no: &str, already: bool) -> String {
    let lead = if already {
        "这张会员卡已绑定会员，无需重复提交。"
    } else {
        "绑定成功，会员卡正在开通，稍后即可在微信卡包中查看。"
    };
    page(
        "开通成功",
        &format!(
            "<h1 id=\"result\">开通成功</h1><p>{lead}</p><p>会员号</p>\
             <p class=\"number\" id=\"member-no\">{}</p>",
            escape(member_no)
        ),
    )
}

/// A page that tells the customer what happened, with a link to start again when that helps.
pub fn notice(title: &str, message: &str, again: Option<&str>) -> String {
    let again = again
        .map(|href| {
            format!(
                "<a class=\"button\" href=\"{}\" id=\"again\">重新打开</a>",
                escape(href)
            )
        })
        .unwrap_or_default();
    page(
        title,
        &format!(
            "<h1 id=\"result\">{}</h1><p id=\"message\">{}</p>{again}",
            escape(title),
            escape(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let html = form(&Form {
            base: "/h5/wx",
            card_id: "p\"><script>",
            encrypt_code: "a+b/c=",
            csrf: "1.ab",
            code_sent_to: Some("138<i>"),
            message: Some("<b>"),
        });
        assert!(!html.contains("<script>") && !html.contains("<b>") && !html.contains("<i>"));
        assert!(html.contains("p&quot;&gt;&lt;script&gt;"));
        assert!(html.contains("name=\"phone\"") && html.contains("name=\"sms_code\""));
        assert!(
            html.contains("action=\"/h5/wx/sms\"") && html.contains("action=\"/h5/wx/activate\"")
        );
        let first = form(&Form {
            base: "/h5/wx",
            card_id: "p",
            encrypt_code: "e",
            csrf: "c",
            code_sent_to: None,
            message: None,
        });
        assert!(first.contains("action=\"/h5/wx/sms\"") && !first.contains("sms_code"));
        assert!(notice("x", "<i>", Some("/a?b=\"c")).contains("/a?b=&quot;c"));
    }

    #[test]
    fn pages_are_phone_sized_and_self_contained() {
        let html = bound("M001", false);
        assert!(html.contains("width=device-width"));
        assert!(html.contains("lang=\"zh-CN\""));
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
    }
}
