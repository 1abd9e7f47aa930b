//! WeChat user tags (用户标签管理), for mass sends to a member level (reference 003, 按会员标签
//! 群发): list and create tags, put OpenIDs under a tag and take them out, at most 50 a call.

use serde::Deserialize;

use super::{ApiCallError, WechatApi};

/// The most OpenIDs one batchtagging / batchuntagging call takes.
pub const OPENIDS_PER_CALL: usize = 50;

/// A user tag of the account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tag {
    pub id: i64,
    pub name: String,
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Created {
    tag: Tag,
}

#[derive(Deserialize)]
struct Empty {}

impl WechatApi {
    /// The account's tags (`/cgi-bin/tags/get`).
    pub async fn tags(&self, access_token: &str) -> Result<Vec<Tag>, ApiCallError> {
        let tags: Tags = self.get_json("/cgi-bin/tags/get", access_token).await?;
        Ok(tags.tags)
    }

    /// The id of the account's tag `name`, if it has one.
    pub async fn tag_id(
        &self,
        access_token: &str,
        name: &str,
    ) -> Result<Option<i64>, ApiCallError> {
        let tags = self.tags(access_token).await?;
        Ok(tags.into_iter().find(|t| t.name == name).map(|t| t.id))
    }

    /// Create the tag `name` (at most 30 bytes).
    pub async fn create_tag(&self, access_token: &str, name: &str) -> Result<Tag, ApiCallError> {
        let body = serde_json::json!({ "tag": { "name": name } });
        let created: Created = self
            .post_json("/cgi-bin/tags/create", access_token, &body)
            .await?;
        Ok(created.tag)
    }

    /// Put `openids` (at most [`OPENIDS_PER_CALL`]) under tag `tag_id`, or take them out of it.
    pub async fn tag_users(
        &self,
        access_token: &str,
        tag_id: i64,
        openids: &[String],
        tagged: bool,
    ) -> Result<(), ApiCallError> {
        let path = match tagged {
            true => "/cgi-bin/tags/members/batchtagging",
            false => "/cgi-bin/tags/members/batchuntagging",
        };
        let body = serde_json::json!({ "openid_list": openids, "tagid": tag_id });
        let _: Empty = self.post_json(path, access_token, &body).await?;
        Ok(())
    }
}
