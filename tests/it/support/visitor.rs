//! A customer's browser at HTTP level: follows no redirect by itself, keeps the cookies it is given
//! (as `Set-Cookie` says, attributes kept for the tests to check), sends them back.

use std::collections::HashMap;

pub struct Visitor {
    http: reqwest::Client,
    /// name → (value, the whole Set-Cookie line)
    pub cookies: HashMap<String, (String, String)>,
    /// Sent with every request (a proxy's X-Forwarded-For, say).
    pub headers: Vec<(String, String)>,
}

impl Visitor {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            headers: Vec::new(),
        }
    }

    /// A visitor whose requests carry `name: value` (as a proxy in front would add it).
    pub fn with_header(name: &str, value: &str) -> Self {
        let mut visitor = Self::new();
        visitor.headers.push((name.to_owned(), value.to_owned()));
        visitor
    }

    fn request(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        self.headers.iter().fold(
            request.header("Cookie", self.cookie_header()),
            |r, (n, v)| r.header(n.as_str(), v.as_str()),
        )
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, (value, _))| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for line in response.headers().get_all("set-cookie") {
            let line = line.to_str().unwrap().to_owned();
            let (pair, _) = line.split_once(';').unwrap_or((&line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || line.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies
                    .insert(name.to_owned(), (value.to_owned(), line.clone()));
            }
        }
    }

    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let response = self.request(self.http.get(url)).send().await.unwrap();
        self.keep(&response);
        response
    }

    /// POST to `url` what a form of `page` would: its hidden fields (card_id, encrypt_code, csrf),
    /// then `more`.
    pub async fn post_page(
        &mut self,
        url: &str,
        page: &str,
        more: &[(&str, &str)],
    ) -> reqwest::Response {
        let hidden_fields =
            ["card_id", "encrypt_code", "csrf"].map(|name| (name, hidden(page, name)));
        let mut fields: Vec<(&str, &str)> = hidden_fields
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        fields.extend_from_slice(more);
        self.post_form(url, &fields).await
    }

    pub async fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .request(self.http.post(url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }
}

/// The `Location` of a redirect.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location: {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `state` of the WeChat authorize page a redirect points at.
pub fn oauth_state(to_wechat: &reqwest::Response) -> String {
    location(to_wechat)
        .split("state=")
        .nth(1)
        .unwrap_or_else(|| panic!("no state in {}", location(to_wechat)))
        .trim_end_matches("#wechat_redirect")
        .to_owned()
}

/// The value of the hidden field `name` of a page's form.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}
