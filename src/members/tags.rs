//! Members in WeChat user tags (`[[member_tags]]`, reference 003: 按会员标签群发): each bound
//! member's OpenID goes under the tag of its level and out of the tag it was under before.
//! `member.wechat_tag` keeps the tag cardhook last put it under, so a run sends only what changed
//! and a member who left a level is taken out. `members tag` runs it for every member; a member
//! bound later, or whose level an import changes, gets a `tag_member` job that runs it for one.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::MembersError;
use crate::credentials::{TokenError, TokenProvider};
use crate::store::{members, Db};
use crate::wechat_api::tags::OPENIDS_PER_CALL;
use crate::wechat_api::{ApiCallError, Retry};

/// One member whose OpenID changes tag: out of `from`, under `to` (tag names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub member_no: String,
    pub openid: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The moves that put each bound member under the tag of its level (`tag_of_level`), and no other.
pub fn moves(
    members: &[entity::member::Model],
    tag_of_level: &HashMap<String, String>,
) -> Vec<Move> {
    members
        .iter()
        .filter_map(|m| {
            let openid = m.openid.clone()?;
            let to = m.level.as_ref().and_then(|l| tag_of_level.get(l)).cloned();
            (to != m.wechat_tag).then(|| Move {
                member_no: m.member_no.clone(),
                openid,
                from: m.wechat_tag.clone(),
                to,
            })
        })
        .collect()
}

/// What a tagging run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TagReport {
    /// Members whose tag changes.
    pub moves: usize,
    /// Tags created at WeChat (dry: that would be).
    pub tags_created: Vec<String>,
    /// OpenIDs put under a tag, and taken out of one.
    pub tagged: usize,
    pub untagged: usize,
    /// batchtagging and batchuntagging calls.
    pub calls: usize,
    /// OpenIDs WeChat refused to (un)tag (e.g. no longer following): left for the next run.
    pub failed: usize,
    pub dry_run: bool,
}

/// Carry out `moves` in `appid`: create the tags missing at WeChat, take OpenIDs out of their old
/// tags, put them under their new ones, 50 a call, each call's members' `wechat_tag` stored after it.
pub async fn apply(
    db: &Db,
    tokens: &TokenProvider,
    appid: &str,
    moves: &[Move],
    dry_run: bool,
    now: i64,
) -> Result<TagReport, MembersError> {
    let mut report = TagReport {
        moves: moves.len(),
        dry_run,
        ..TagReport::default()
    };
    if moves.is_empty() {
        return Ok(report);
    }
    let api = tokens.api();
    let mut ids: HashMap<String, i64> = tokens
        .with_token(appid, now, |token| async move { api.tags(&token).await })
        .await?
        .into_iter()
        .map(|tag| (tag.name, tag.id))
        .collect();
    let mut missing: Vec<&String> = moves
        .iter()
        .filter_map(|m| m.to.as_ref())
        .filter(|name| !ids.contains_key(*name))
        .collect();
    missing.sort();
    missing.dedup();
    for name in missing {
        report.tags_created.push(name.clone());
        if !dry_run {
            let tag = tokens
                .with_token(appid, now, |token| async move {
                    api.create_tag(&token, name).await
                })
                .await?;
            ids.insert(tag.name, tag.id);
        }
    }
    if dry_run {
        report.untagged = moves.iter().filter(|m| m.from.is_some()).count();
        report.tagged = moves.iter().filter(|m| m.to.is_some()).count();
        return Ok(report);
    }
    // Out of the old tags first: a member is never under two of its levels' tags at once.
    for (tagged, by_tag) in [
        (false, group(moves, |m| &m.from)),
        (true, group(moves, |m| &m.to)),
    ] {
        for (name, members) in by_tag {
            // A tag deleted at WeChat meanwhile holds nobody any more.
            let Some(&tag_id) = ids.get(name) else {
                continue;
            };
            let now_under = tagged.then_some(name.as_str());
            for chunk in members.chunks(OPENIDS_PER_CALL) {
                let call = Call {
                    tokens,
                    appid,
                    tag_id,
                    tagged,
                    now,
                };
                // WeChat refuses a whole batch for one OpenID it will not take: then one by one.
                let done = match call.send(chunk, &mut report).await? {
                    true => chunk.to_vec(),
                    false if chunk.len() == 1 => Vec::new(),
                    false => {
                        let mut done = Vec::new();
                        for one in chunk {
                            if call.send(std::slice::from_ref(one), &mut report).await? {
                                done.push(*one);
                            }
                        }
                        done
                    }
                };
                let numbers: Vec<&str> = done.iter().map(|m| m.member_no.as_str()).collect();
                members::set_wechat_tag(db, appid, &numbers, now_under, now).await?;
                match tagged {
                    true => report.tagged += done.len(),
                    false => report.untagged += done.len(),
                }
            }
        }
    }
    if report.calls > 0 {
        tracing::info!(
            appid,
            tagged = report.tagged,
            untagged = report.untagged,
            "member tags moved"
        );
    }
    Ok(report)
}

/// One tag's batch call.
struct Call<'a> {
    tokens: &'a TokenProvider,
    appid: &'a str,
    tag_id: i64,
    tagged: bool,
    now: i64,
}

impl Call<'_> {
    /// (Un)tag `moves`' OpenIDs: true when WeChat took them, false when it refused (counted failed
    /// for a single OpenID); other failures stop the run.
    async fn send(&self, moves: &[&Move], report: &mut TagReport) -> Result<bool, MembersError> {
        let api = self.tokens.api();
        let openids: Vec<String> = moves.iter().map(|m| m.openid.clone()).collect();
        let (openids, tag_id, tagged) = (&openids, self.tag_id, self.tagged);
        let sent = self
            .tokens
            .with_token(self.appid, self.now, |token| async move {
                api.tag_users(&token, tag_id, openids, tagged).await
            })
            .await;
        report.calls += 1;
        match sent {
            Ok(()) => Ok(true),
            // A refusal of what was sent (not "busy", not the day's quota: those stop the run).
            Err(TokenError::Api(e))
                if matches!(e, ApiCallError::Api { .. })
                    && matches!(e.retry(), Retry::Never | Retry::Unknown) =>
            {
                tracing::warn!(appid = self.appid, error.message = %e, openids = moves.len(), "WeChat refused a tag batch");
                if moves.len() == 1 {
                    report.failed += 1;
                }
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The moves by the tag `side` names, in tag order.
fn group<'a>(
    moves: &'a [Move],
    side: impl Fn(&'a Move) -> &'a Option<String>,
) -> BTreeMap<&'a String, Vec<&'a Move>> {
    let mut groups: BTreeMap<&String, Vec<&Move>> = BTreeMap::new();
    for m in moves {
        if let Some(name) = side(m) {
            groups.entry(name).or_default().push(m);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(
        no: &str,
        openid: Option<&str>,
        level: Option<&str>,
        tag: Option<&str>,
    ) -> entity::member::Model {
        entity::member::Model {
            appid: "wxA".into(),
            member_no: no.into(),
            phone: "13800000000".into(),
            name: None,
            bonus: 0,
            balance: 0,
            openid: openid.map(str::to_owned),
            card_id: None,
            code: None,
            bound_at: None,
            activated_at: None,
            wechat_bonus: None,
            wechat_balance: None,
            revision: 0,
            record_bonus: None,
            record_balance: None,
            echo_bonus: None,
            echo_balance: None,
            created_at: 0,
            updated_at: 0,
            level: level.map(str::to_owned),
            wechat_tag: tag.map(str::to_owned),
        }
    }

    #[test]
    fn each_bound_member_moves_to_its_levels_tag_and_only_then() {
        let map: HashMap<String, String> = [("gold", "金卡会员"), ("silver", "银卡会员")]
            .map(|(l, t)| (l.to_owned(), t.to_owned()))
            .into();
        let members = [
            // (member, expected move: from → to)
            (
                member("new", Some("o1"), Some("gold"), None),
                Some((None, Some("金卡会员"))),
            ),
            (
                member("same", Some("o2"), Some("gold"), Some("金卡会员")),
                None,
            ),
            (
                member("moved", Some("o3"), Some("silver"), Some("金卡会员")),
                Some((Some("金卡会员"), Some("银卡会员"))),
            ),
            (
                member("left", Some("o4"), None, Some("银卡会员")),
                Some((Some("银卡会员"), None)),
            ),
            (member("unmapped", Some("o5"), Some("bronze"), None), None),
            (member("unbound", None, Some("gold"), None), None),
        ];
        let all: Vec<_> = members.iter().map(|(m, _)| m.clone()).collect();
        let got = moves(&all, &map);
        let expected: Vec<(String, Option<&str>, Option<&str>)> = members
            .iter()
            .filter_map(|(m, e)| e.map(|(from, to)| (m.member_no.clone(), from, to)))
            .collect();
        let got: Vec<(String, Option<&str>, Option<&str>)> = got
            .iter()
            .map(|m| (m.member_no.clone(), m.from.as_deref(), m.to.as_deref()))
            .collect();
        assert_eq!(got, expected);
    }
}
