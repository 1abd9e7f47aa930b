//! The card catalogue APIs (references 000, 001, 003; wechat-protocol.md "Images and cards", §4.5):
//! image upload, card create / get / update, stock, and the one-click activation form.

use serde::Deserialize;
use serde_json::Value;

use super::{ApiCallError, WechatApi};

/// An image to upload: its file name and bytes (a JPG or PNG of at most [`IMAGE_MAX_BYTES`]).
#[derive(Clone, Copy)]
pub struct Image<'a> {
    pub file_name: &'a str,
    pub content_type: &'static str,
    pub bytes: &'a [u8],
}

/// The largest image `/cgi-bin/media/uploadimg` takes.
pub const IMAGE_MAX_BYTES: usize = 1024 * 1024;

#[derive(Deserialize)]
struct Uploaded {
    url: String,
}

#[derive(Deserialize)]
struct Created {
    card_id: String,
}

#[derive(Deserialize)]
struct Fetched {
    card: Value,
}

#[derive(Deserialize)]
struct Empty {}

/// The most card ids one `/card/batchget` call returns.
const BATCH_GET_MAX: u32 = 50;

/// One page of `/card/batchget`: card ids, and how many the account has in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CardIdPage {
    #[serde(default)]
    pub card_id_list: Vec<String>,
    #[serde(default)]
    pub total_num: u64,
}

/// Which way `/card/modifystock` moves the stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    Increase(u64),
    Reduce(u64),
}

impl StockChange {
    /// The request body (reference 000: `increase_stock_value` or `reduce_stock_value`).
    pub fn body(self, card_id: &str) -> Value {
        match self {
            Self::Increase(n) => {
                serde_json::json!({ "card_id": card_id, "increase_stock_value": n })
            }
            Self::Reduce(n) => serde_json::json!({ "card_id": card_id, "reduce_stock_value": n }),
        }
    }
}

impl WechatApi {
    /// Upload an image for card use; its URL on WeChat's CDN. One `multipart/form-data` part named
    /// `media`, with the file name and content type.
    pub async fn upload_image(
        &self,
        access_token: &str,
        image: Image<'_>,
    ) -> Result<String, ApiCallError> {
        let part = reqwest::multipart::Part::bytes(image.bytes.to_vec())
            .file_name(image.file_name.to_owned())
            .mime_str(image.content_type)
            .map_err(|e| ApiCallError::Transport(e.without_url().to_string()))?;
        let form = reqwest::multipart::Form::new().part("media", part);
        let request = self
            .http
            .post(self.url("/cgi-bin/media/uploadimg"))
            .query(&[("access_token", access_token)])
            .multipart(form);
        let answer: Uploaded = self.call(request).await?;
        Ok(answer.url)
    }

    /// `/card/create` with `body` (`{"card": {…}}`); the new card_id.
    pub async fn create_card(
        &self,
        access_token: &str,
        body: &Value,
    ) -> Result<String, ApiCallError> {
        let answer: Created = self.post_json("/card/create", access_token, body).await?;
        Ok(answer.card_id)
    }

    /// `/card/get`: the card as WeChat has it (`{"card_type", "<type>": {"base_info": {…}}}`).
    pub async fn get_card(&self, access_token: &str, card_id: &str) -> Result<Value, ApiCallError> {
        let body = serde_json::json!({ "card_id": card_id });
        let answer: Fetched = self.post_json("/card/get", access_token, &body).await?;
        Ok(answer.card)
    }

    /// A page of the account's card ids (`/card/batchget`), of the statuses given (all when none).
    pub async fn card_ids(
        &self,
        access_token: &str,
        offset: u64,
        statuses: &[String],
    ) -> Result<CardIdPage, ApiCallError> {
        let mut body = serde_json::json!({ "offset": offset, "count": BATCH_GET_MAX });
        if !statuses.is_empty() {
            body["status_list"] = serde_json::json!(statuses);
        }
        self.post_json("/card/batchget", access_token, &body).await
    }

    /// `/card/update` with `body` (`{"card_id", "<type>": {…}}`).
    pub async fn update_card(&self, access_token: &str, body: &Value) -> Result<(), ApiCallError> {
        let _: Empty = self.post_json("/card/update", access_token, body).await?;
        Ok(())
    }

    pub async fn modify_stock(
        &self,
        access_token: &str,
        card_id: &str,
        change: StockChange,
    ) -> Result<(), ApiCallError> {
        let _: Empty = self
            .post_json("/card/modifystock", access_token, &change.body(card_id))
            .await?;
        Ok(())
    }

    /// `/card/membercard/activateuserform/set` with `body` (`card_id`, `required_form`, …: §4.5).
    pub async fn set_activate_form(
        &self,
        access_token: &str,
        body: &Value,
    ) -> Result<(), ApiCallError> {
        let _: Empty = self
            .post_json("/card/membercard/activateuserform/set", access_token, body)
            .await?;
        Ok(())
    }
}
