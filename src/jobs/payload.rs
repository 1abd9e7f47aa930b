//! The payload of every job kind: versioned, tagged JSON, frozen when the job is queued (an old
//! payload must still parse), its kind and the key that keeps it unique.

use serde::{Deserialize, Serialize};

use crate::store::push::NewJob;
use crate::wechat_api::membercard::MemberActivation;

/// A queued job's payload: versioned, tagged JSON, frozen at enqueue time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum JobPayload {
    ActivateMemberCardV1 {
        appid: String,
        openid: String,
        request: MemberActivation,
    },
    /// A one-click form submitted for a card bound by phone: read the form's mobile number, bind the
    /// member with it, and queue the activation (`members::bind`).
    BindMemberV1 {
        appid: String,
        openid: String,
        card_id: String,
        code: String,
    },
    /// Send a bound member's points and balance to WeChat (`/card/membercard/updateuser`). One job per
    /// member: the values are read when it runs, so updates made before it runs share one call.
    UpdateMemberV1 { appid: String, member_no: String },
    /// Send a card in a customer-service message to who followed or scanned a follow QR code
    /// (reference 000), its cardExt naming the scene as outer_str so the get counts in its channel.
    /// One per (account, OpenID, scene, card): a second scan sends nothing more.
    SendCardV1 {
        appid: String,
        openid: String,
        card_id: String,
        outer_str: String,
    },
    /// Put a bound member's OpenID under the WeChat tag of its level (`[[member_tags]]`), and out of
    /// the one it was under. One job per member: the level is read when it runs.
    TagMemberV1 { appid: String, member_no: String },
    /// Take an OpenID out of a WeChat tag cardhook put it under (its member's card was taken back).
    UntagOpenidV1 {
        appid: String,
        openid: String,
        tag: String,
    },
}

impl JobPayload {
    pub const ACTIVATE_KIND: &'static str = "activate_member_card";
    pub const BIND_KIND: &'static str = "bind_member";
    pub const UPDATE_KIND: &'static str = "update_member";
    pub const SEND_KIND: &'static str = "send_card";
    pub const TAG_KIND: &'static str = "tag_member";
    pub const UNTAG_KIND: &'static str = "untag_openid";

    /// The job that sends `member`'s points and balance to WeChat.
    pub fn update_member(member: &entity::member::Model) -> Self {
        Self::UpdateMemberV1 {
            appid: member.appid.clone(),
            member_no: member.member_no.clone(),
        }
    }

    /// Jobs are unique per kind and (appid, card_id, code): a redelivered push never enqueues twice.
    pub fn dedup_key(&self) -> String {
        match self {
            Self::ActivateMemberCardV1 { appid, request, .. } => {
                format!("activate|{appid}|{}|{}", request.card_id, request.code)
            }
            Self::BindMemberV1 {
                appid,
                card_id,
                code,
                ..
            } => format!("bind|{appid}|{card_id}|{code}"),
            Self::UpdateMemberV1 { appid, member_no } => format!("update|{appid}|{member_no}"),
            Self::SendCardV1 {
                appid,
                openid,
                card_id,
                outer_str,
            } => format!("send|{appid}|{openid}|{outer_str}|{card_id}"),
            Self::TagMemberV1 { appid, member_no } => format!("tag|{appid}|{member_no}"),
            Self::UntagOpenidV1 { appid, openid, tag } => format!("untag|{appid}|{openid}|{tag}"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::ActivateMemberCardV1 { .. } => Self::ACTIVATE_KIND,
            Self::BindMemberV1 { .. } => Self::BIND_KIND,
            Self::UpdateMemberV1 { .. } => Self::UPDATE_KIND,
            Self::SendCardV1 { .. } => Self::SEND_KIND,
            Self::TagMemberV1 { .. } => Self::TAG_KIND,
            Self::UntagOpenidV1 { .. } => Self::UNTAG_KIND,
        }
    }

    /// The prefix of every dedup key of an account's activation jobs.
    pub fn account_prefix(appid: &str) -> String {
        format!("activate|{appid}|")
    }

    /// The `job` row of this payload.
    pub fn to_job(&self) -> NewJob {
        NewJob {
            kind: self.kind(),
            dedup_key: self.dedup_key(),
            // A payload of strings and integers always serializes.
            payload: serde_json::to_string(self).unwrap_or_default(),
        }
    }
}
