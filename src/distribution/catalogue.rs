//! The card catalogue (issue 25, references 000, 001, 003): images uploaded, cards created from a
//! JSON file kept in version control (its local image files uploaded first), refreshed from WeChat,
//! updated, their stock and one-click activation form set.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::{required, Distribution, DistributionError};
use crate::store::cards::{self, CardFacts, CardView};
use crate::wechat_api::catalogue::{Image, StockChange, IMAGE_MAX_BYTES};

/// The keys of a card body whose values are images: a local file there is uploaded first.
const IMAGE_KEYS: [&str; 4] = [
    "logo_url",
    "background_pic_url",
    "icon_url_list",
    "image_url",
];

/// A card WeChat created: its id, and the `[[cards]]` block that runs it (member cards).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedCard {
    pub card_id: String,
    #[serde(skip)]
    pub config_block: Option<String>,
}

/// The file at `path`, read up to one byte past `limit`: a larger file (or a device that never
/// ends) is not read whole, and [`image`] refuses it for its size.
fn read_at_most(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The image in `bytes` (read from `file_name`), if it is a JPG or PNG WeChat takes.
pub fn image<'a>(file_name: &'a str, bytes: &'a [u8]) -> Result<Image<'a>, String> {
    let content_type = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else {
        return Err(format!("{file_name} is not a JPG or PNG image"));
    };
    if bytes.len() > IMAGE_MAX_BYTES {
        return Err(format!(
            "{file_name} is larger than WeChat takes: images of at most 1 MB ({IMAGE_MAX_BYTES} bytes)"
        ));
    }
    Ok(Image {
        file_name,
        content_type,
        bytes,
    })
}

/// What a `/card/create` body says of its card: type, title, stock. The body must be
/// `{"card": {"card_type": T, "<t>": {"base_info": {…}}}}` as WeChat documents it.
pub fn facts_of(body: &Value) -> Result<CardFacts, String> {
    let card = body
        .get("card")
        .ok_or("the body needs a top-level \"card\" object: {\"card\": {\"card_type\": …}}")?;
    let card_type = card["card_type"].as_str().ok_or(
        "card.card_type is missing (MEMBER_CARD, GROUPON, CASH, DISCOUNT, GIFT, GENERAL_COUPON)",
    )?;
    let key = card_type.to_ascii_lowercase();
    let base_info = card[key.as_str()]["base_info"]
        .as_object()
        .ok_or_else(|| format!("card.{key}.base_info is missing"))?;
    Ok(CardFacts {
        card_type: card_type.to_owned(),
        title: base_info
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        quantity: base_info
            .get("sku")
            .and_then(|sku| sku["quantity"].as_i64()),
    })
}

/// What `/card/get` answers of a card: its facts and review status.
fn facts_of_fetched(card: &Value) -> (CardFacts, String) {
    let card_type = card["card_type"].as_str().unwrap_or_default();
    let base_info = &card[card_type.to_ascii_lowercase().as_str()]["base_info"];
    let facts = CardFacts {
        card_type: card_type.to_owned(),
        title: base_info["title"].as_str().unwrap_or_default().to_owned(),
        quantity: base_info["sku"]["quantity"].as_i64(),
    };
    let status = base_info["status"].as_str().unwrap_or_default().to_owned();
    (facts, status)
}

/// The image fields of `body` that name a local file: (JSON pointer, file).
pub fn local_images(body: &Value) -> Vec<(String, String)> {
    fn walk(value: &Value, pointer: &str, image: bool, found: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    let is_image = IMAGE_KEYS.contains(&key.as_str());
                    walk(child, &format!("{pointer}/{escaped}"), is_image, found);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{pointer}/{i}"), image, found);
                }
            }
            Value::String(text) if image && !is_url(text) && !text.is_empty() => {
                found.push((pointer.to_owned(), text.clone()));
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(body, "", false, &mut found);
    found
}

fn is_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// The `[[cards]]` block that runs a member card the way its body activates it.
fn config_block(card_id: &str, body: &Value) -> Option<String> {
    let member_card = body["card"].get("member_card")?;
    let activation = if member_card.get("activate_url").is_some() {
        "h5"
    } else if member_card["wx_activate"] == true {
        "on_submit"
    } else if member_card["auto_activate"] == true {
        "none"
    } else {
        "on_get"
    };
    let binding = if matches!(activation, "h5" | "on_submit") {
        "bind_by = \"phone\"\nunknown_member = \"create\"\n"
    } else {
        ""
    };
    Some(format!(
        "[[cards]]\ncard_id = \"{card_id}\"\nactivation = \"{activation}\"\n{binding}membership_number = \"{{code}}\"\n"
    ))
}

/// The card catalogue, as an operator works on it (`Distribution::catalogue`).
pub struct Catalogue<'a> {
    pub(super) op: &'a Distribution,
}

impl Catalogue<'_> {
    /// Upload a local JPG or PNG (at most 1 MB, checked before sending); its URL.
    pub async fn upload_image(
        &self,
        appid: Option<&str>,
        path: &Path,
    ) -> Result<String, DistributionError> {
        let appid = self.op.appid(appid)?;
        self.upload_file(&appid, path).await
    }

    async fn upload_file(&self, appid: &str, path: &Path) -> Result<String, DistributionError> {
        let bytes = read_at_most(path, IMAGE_MAX_BYTES).map_err(|e| {
            DistributionError::Invalid(format!("cannot read {}: {e}", path.display()))
        })?;
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("image")
            .to_owned();
        // Checked before anything is sent.
        let image = image(&file_name, &bytes).map_err(DistributionError::Invalid)?;
        let api = self.op.tokens.api();
        Ok(self
            .op
            .tokens
            .with_token(appid, self.op.now(), |token| async move {
                api.upload_image(&token, image).await
            })
            .await?)
    }

    /// Create a card from `body` (`/card/create`'s body). With `files_in`, an image field naming a
    /// local file (relative to that directory) is uploaded first and replaced by its URL; without,
    /// every image must already be a URL (the admin API).
    pub async fn create_card(
        &self,
        appid: Option<&str>,
        mut body: Value,
        files_in: Option<&Path>,
    ) -> Result<CreatedCard, DistributionError> {
        let facts = facts_of(&body).map_err(DistributionError::Invalid)?;
        let appid = self.op.appid(appid)?;
        let local = local_images(&body);
        let Some(dir) = files_in.or(local.is_empty().then_some(Path::new("."))) else {
            let named: Vec<String> = local
                .iter()
                .map(|(pointer, file)| format!("{pointer} ({file:?})"))
                .collect();
            return Err(DistributionError::Invalid(format!(
                "images must be URLs here (upload each first: cardhook media uploadimg): {}",
                named.join(", ")
            )));
        };
        for (pointer, file) in local {
            let path: PathBuf = dir.join(&file);
            let url = self.upload_file(&appid, &path).await?;
            if let Some(slot) = body.pointer_mut(&pointer) {
                *slot = Value::String(url);
            }
        }
        let api = self.op.tokens.api();
        let sent = &body;
        let card_id = self
            .op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.create_card(&token, sent).await
            })
            .await?;
        let text = serde_json::to_string(&body)
            .map_err(|e| DistributionError::Invalid(format!("card body: {e}")))?;
        cards::created(
            &self.op.db,
            (&appid, &card_id),
            &facts,
            &text,
            self.op.now(),
        )
        .await?;
        Ok(CreatedCard {
            config_block: config_block(&card_id, &body),
            card_id,
        })
    }

    /// The catalogue, newest first.
    pub async fn cards(&self, appid: Option<&str>) -> Result<Vec<CardView>, DistributionError> {
        let rows = cards::list(&self.op.db, appid).await?;
        Ok(rows.into_iter().map(CardView::from).collect())
    }

    /// A card as WeChat has it now (`/card/get`), stored.
    pub async fn card(
        &self,
        appid: Option<&str>,
        card_id: &str,
    ) -> Result<CardView, DistributionError> {
        required("card_id", card_id)?;
        let appid = self.op.appid(appid)?;
        let (facts, status) = self.fetch(&appid, card_id).await?;
        let row = cards::refreshed(
            &self.op.db,
            (&appid, card_id),
            &facts,
            &status,
            self.op.now(),
        )
        .await?;
        Ok(row.into())
    }

    /// What WeChat says of a card now (`/card/get`): its facts and its status.
    pub(super) async fn fetch(
        &self,
        appid: &str,
        card_id: &str,
    ) -> Result<(CardFacts, String), DistributionError> {
        let api = self.op.tokens.api();
        let fetched = self
            .op
            .tokens
            .with_token(appid, self.op.now(), |token| async move {
                api.get_card(&token, card_id).await
            })
            .await?;
        Ok(facts_of_fetched(&fetched))
    }

    /// `/card/update` with `patch` (`{"<type>": {"base_info": {…}}}`; its card_id is set here).
    pub async fn update_card(
        &self,
        appid: Option<&str>,
        card_id: &str,
        mut patch: Value,
    ) -> Result<CardView, DistributionError> {
        required("card_id", card_id)?;
        let Some(fields) = patch.as_object_mut() else {
            return Err(DistributionError::Invalid(
                "the patch must be a JSON object such as {\"member_card\": {\"base_info\": {…}}}"
                    .to_owned(),
            ));
        };
        fields.insert("card_id".to_owned(), Value::String(card_id.to_owned()));
        let appid = self.op.appid(appid)?;
        let api = self.op.tokens.api();
        let sent = &patch;
        self.op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.update_card(&token, sent).await
            })
            .await?;
        self.card(Some(&appid), card_id).await
    }

    /// Increase or reduce the stock (`/card/modifystock`); the card as WeChat then has it.
    pub async fn change_stock(
        &self,
        appid: Option<&str>,
        card_id: &str,
        change: StockChange,
    ) -> Result<CardView, DistributionError> {
        required("card_id", card_id)?;
        if matches!(change, StockChange::Increase(0) | StockChange::Reduce(0)) {
            return Err(DistributionError::Invalid(
                "the stock change must be at least 1".to_owned(),
            ));
        }
        let appid = self.op.appid(appid)?;
        let api = self.op.tokens.api();
        self.op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.modify_stock(&token, card_id, change).await
            })
            .await?;
        self.card(Some(&appid), card_id).await
    }

    /// Set the stock to `quantity` (after a deposit: reference 001 step 3, the stock may not exceed
    /// the codes deposited); the change made, if any.
    pub async fn set_stock(
        &self,
        appid: &str,
        card_id: &str,
        quantity: i64,
    ) -> Result<Option<StockChange>, DistributionError> {
        let now_shown = self.card(Some(appid), card_id).await?;
        let current = now_shown.quantity.unwrap_or(0);
        let change = match quantity - current {
            0 => return Ok(None),
            more if more > 0 => StockChange::Increase(more.unsigned_abs()),
            less => StockChange::Reduce(less.unsigned_abs()),
        };
        // change_stock stores the stock as /card/get then reports it.
        self.change_stock(Some(appid), card_id, change).await?;
        Ok(Some(change))
    }

    /// Jump-style one-click activation (跳转型一键激活): after the card's form, WeChat sends the
    /// customer to cardhook's `/h5/{appid}/activated` (`/card/update` with
    /// `wx_activate_after_submit` and its URL). The URL, which carries no secret.
    pub async fn set_jump_activation(
        &self,
        appid: Option<&str>,
        card_id: &str,
        public_url: &str,
    ) -> Result<String, DistributionError> {
        let appid = self.op.appid(appid)?;
        let url = format!("{}/h5/{appid}/activated", public_url.trim_end_matches('/'));
        let patch = serde_json::json!({ "member_card": {
            "wx_activate": true,
            "wx_activate_after_submit": true,
            "wx_activate_after_submit_url": url,
        }});
        self.update_card(Some(&appid), card_id, patch).await?;
        Ok(url)
    }

    /// Delete a card (`/card/delete`): nobody can get it any more and the codes handed out cannot be
    /// used; the catalogue marks it `CARD_STATUS_DELETE`.
    pub async fn delete_card(
        &self,
        appid: Option<&str>,
        card_id: &str,
    ) -> Result<(), DistributionError> {
        required("card_id", card_id)?;
        let appid = self.op.appid(appid)?;
        let api = self.op.tokens.api();
        self.op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.delete_card(&token, card_id).await
            })
            .await?;
        cards::deleted(&self.op.db, (&appid, card_id), self.op.now()).await?;
        tracing::info!(appid = %appid, card_id = %card_id, "card deleted");
        Ok(())
    }

    /// The one-click activation form (`/card/membercard/activateuserform/set`, §4.5): `form` holds
    /// `required_form` / `optional_form` (and `service_statement`, `bind_old_card`); its card_id is
    /// set here.
    pub async fn set_activate_form(
        &self,
        appid: Option<&str>,
        card_id: &str,
        mut form: Value,
    ) -> Result<(), DistributionError> {
        required("card_id", card_id)?;
        let Some(fields) = form.as_object_mut() else {
            return Err(DistributionError::Invalid(
                "the form must be a JSON object with required_form and/or optional_form".to_owned(),
            ));
        };
        if !fields.contains_key("required_form") && !fields.contains_key("optional_form") {
            return Err(DistributionError::Invalid(
                "the form needs required_form or optional_form (common_field_id_list such as USER_FORM_INFO_FLAG_MOBILE)"
                    .to_owned(),
            ));
        }
        fields.insert("card_id".to_owned(), Value::String(card_id.to_owned()));
        let appid = self.op.appid(appid)?;
        let api = self.op.tokens.api();
        let sent = &form;
        self.op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.set_activate_form(&token, sent).await
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_are_jpg_or_png_of_at_most_1_mb() {
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        assert_eq!(image("a.png", &png).unwrap().content_type, "image/png");
        let jpg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        assert_eq!(image("a.jpg", &jpg).unwrap().content_type, "image/jpeg");
        let gif = b"GIF89a".to_vec();
        assert_eq!(
            image("a.gif", &gif).err().unwrap(),
            "a.gif is not a JPG or PNG image"
        );
        let mut big = vec![0xFF, 0xD8, 0xFF];
        big.resize(IMAGE_MAX_BYTES + 1, 0);
        assert!(image("big.jpg", &big)
            .err()
            .unwrap()
            .contains("at most 1 MB"));
    }

    #[test]
    fn local_image_fields_are_found_and_urls_left_alone() {
        let body = json!({"card": {"card_type": "MEMBER_CARD", "member_card": {
            "background_pic_url": "bg.jpg",
            "base_info": {"logo_url": "img/logo.png", "title": "会员卡", "sku": {"quantity": 100},
                          "description": "not an image.png"},
            "advanced_info": {"abstract": {"icon_url_list": ["https://mmbiz.qpic.cn/a/0", "icon.png"]},
                              "text_image_list": [{"image_url": "t1.jpg", "text": "x"}]}
        }}});
        let mut found = local_images(&body);
        found.sort();
        assert_eq!(
            found,
            [
                (
                    "/card/member_card/advanced_info/abstract/icon_url_list/1".to_owned(),
                    "icon.png".to_owned()
                ),
                (
                    "/card/member_card/advanced_info/text_image_list/0/image_url".to_owned(),
                    "t1.jpg".to_owned()
                ),
                (
                    "/card/member_card/background_pic_url".to_owned(),
                    "bg.jpg".to_owned()
                ),
                (
                    "/card/member_card/base_info/logo_url".to_owned(),
                    "img/logo.png".to_owned()
                ),
            ]
        );
        assert_eq!(
            facts_of(&body).unwrap(),
            CardFacts {
                card_type: "MEMBER_CARD".to_owned(),
                title: "会员卡".to_owned(),
                quantity: Some(100)
            }
        );
    }

    #[test]
    fn a_body_not_shaped_as_wechat_documents_it_is_named() {
        assert!(facts_of(&json!({"card_type": "GROUPON"}))
            .unwrap_err()
            .contains("\"card\""));
        assert!(facts_of(&json!({"card": {}}))
            .unwrap_err()
            .contains("card.card_type"));
        assert_eq!(
            facts_of(&json!({"card": {"card_type": "GROUPON", "member_card": {}}})).unwrap_err(),
            "card.groupon.base_info is missing"
        );
    }

    #[test]
    fn the_config_block_follows_the_activation_the_card_asks_for() {
        let card = |extra: Value| {
            let mut body =
                json!({"card": {"card_type": "MEMBER_CARD", "member_card": {"base_info": {}}}});
            for (k, v) in extra.as_object().unwrap() {
                body["card"]["member_card"][k] = v.clone();
            }
            config_block("pX", &body).unwrap()
        };
        assert!(card(json!({"wx_activate": true}))
            .contains("activation = \"on_submit\"\nbind_by = \"phone\""));
        assert!(card(json!({"activate_url": "https://h"})).contains("activation = \"h5\""));
        assert!(card(json!({})).contains("activation = \"on_get\""));
        assert!(config_block(
            "pY",
            &json!({"card": {"card_type": "GROUPON", "groupon": {}}})
        )
        .is_none());
    }
}
