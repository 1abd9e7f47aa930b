//! The CLI's tables: aligned columns for people (`--format table`), one function per listing.

use entity::job;

use crate::members::import::ImportReport;
use crate::members::reconcile::{Drift, Reconciled};
use crate::report::{header, numbers, records};
use crate::store::bindings::BindingView;
use crate::store::cards::CardView;
use crate::store::channel_day::{GroupBy, StatsReport};
use crate::store::mass::MassSendView;
use crate::store::members::MemberView;

/// An aligned text table with a totals line.
pub fn stats_table(stats: &StatsReport, by: GroupBy) -> String {
    let head: Vec<String> = header(by).into_iter().map(str::to_owned).collect();
    let mut rows = records(stats, by);
    let mut total = vec![
        "TOTAL".to_owned(),
        String::new(),
        String::new(),
        String::new(),
    ];
    if by == GroupBy::Day {
        total.push(String::new());
    }
    total.extend(numbers(&stats.totals.counts, stats.totals.users));
    rows.push(total);
    table(&head, &rows)
}

/// Bindings as an aligned table.
pub fn bindings_table(rows: &[BindingView]) -> String {
    let head: Vec<String> = [
        "appid",
        "card_id",
        "code",
        "openid",
        "status",
        "outer_id",
        "outer_str",
        "got_day",
        "from_friend",
        "old_code",
        "membership_number",
        "member_no",
    ]
    .map(str::to_owned)
    .to_vec();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|view| {
            let b = &view.binding;
            vec![
                b.appid.clone(),
                b.card_id.clone(),
                b.code.clone(),
                b.openid.clone(),
                b.status.clone(),
                b.outer_id.to_string(),
                b.outer_str.clone(),
                b.got_day.clone(),
                b.from_friend.to_string(),
                b.old_code.clone().unwrap_or_default(),
                b.membership_number.clone().unwrap_or_default(),
                view.member_no.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(&head, &body)
}

/// A time in seconds since the epoch, as RFC 3339 (UTC).
pub fn time(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

/// Pushes with fields that could not be read, one line per field.
pub fn unparsed_table(rows: &[crate::store::events::UnparsedField]) -> String {
    let head: Vec<String> = ["id", "appid", "event", "field", "reason", "received_at"]
        .map(str::to_owned)
        .to_vec();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|u| {
            vec![
                u.id.to_string(),
                u.appid.clone(),
                u.event.clone().unwrap_or_default(),
                u.field.clone(),
                u.reason.clone(),
                time(u.received_at),
            ]
        })
        .collect();
    table(&head, &body)
}

/// Registered channels as an aligned table.
pub fn channels_table(rows: &[crate::store::channel::Channel]) -> String {
    let head: Vec<String> = [
        "id",
        "appid",
        "card_id",
        "outer_id",
        "outer_str",
        "name",
        "kind",
        "url",
    ]
    .map(str::to_owned)
    .to_vec();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.appid.clone(),
                c.card_id.clone(),
                c.outer_id.to_string(),
                c.outer_str.clone(),
                c.name.clone(),
                c.kind.clone(),
                c.qr_url
                    .clone()
                    .or(c.landing_url.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(&head, &body)
}

/// Jobs as an aligned table (no payload: `jobs show` has it).
pub fn jobs_table(rows: &[job::Model]) -> String {
    let head: Vec<String> = [
        "id",
        "state",
        "attempts",
        "run_at",
        "dedup_key",
        "last_error",
    ]
    .map(str::to_owned)
    .to_vec();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|j| {
            let run_at = time(j.run_at);
            let error: String = j
                .last_error
                .clone()
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect();
            vec![
                j.id.to_string(),
                j.state.clone(),
                j.attempts.to_string(),
                run_at,
                j.dedup_key.clone(),
                error,
            ]
        })
        .collect();
    table(&head, &body)
}

/// What `members import` did, for people: the counts, then each rejected line.
pub fn import_report(report: &ImportReport) -> String {
    let mut out = format!(
        "inserted {} / updated {} / unchanged {} / rejected {}\n",
        report.inserted, report.updated, report.unchanged, report.rejected
    );
    if report.syncs_queued > 0 {
        out.push_str(&format!(
            "points or balance of {} activated member card(s) queued for WeChat\n",
            report.syncs_queued
        ));
    }
    if report.tags_queued > 0 {
        out.push_str(&format!(
            "{} bound member(s) changed level: their WeChat tag is queued\n",
            report.tags_queued
        ));
    }
    for line in &report.rejected_lines {
        out.push_str(&format!("line {}: {}\n", line.line, line.reason));
    }
    out
}

/// What `members reconcile` found: each member that differs (ours against WeChat's), each card that
/// could not be read, and with --fix what still differs.
pub fn reconcile_report(outcome: &Reconciled) -> String {
    let drift_table = |drift: &[Drift]| {
        let head: Vec<String> = [
            "member_no",
            "card_id",
            "bonus",
            "wechat_bonus",
            "balance",
            "wechat_balance",
        ]
        .map(str::to_owned)
        .to_vec();
        let body: Vec<Vec<String>> = drift
            .iter()
            .map(|d| {
                vec![
                    d.member_no.clone(),
                    d.card_id.clone(),
                    d.bonus.to_string(),
                    d.wechat_bonus.to_string(),
                    d.balance.to_string(),
                    d.wechat_balance.to_string(),
                ]
            })
            .collect();
        table(&head, &body)
    };
    let found = &outcome.found;
    let mut out = format!(
        "checked {} / differ {} / unread {}\n",
        found.checked,
        found.drift.len(),
        found.unread.len()
    );
    if !found.drift.is_empty() {
        out.push_str(&drift_table(&found.drift));
        out.push('\n');
    }
    for unread in &found.unread {
        out.push_str(&format!(
            "{}: not read: {}\n",
            unread.member_no, unread.error
        ));
    }
    if let Some(fixed) = &outcome.fixed {
        out.push_str(&format!(
            "fixed: {} update(s) sent / still differ {}\n",
            fixed.queued,
            fixed.still_differ.len()
        ));
        if !fixed.still_differ.is_empty() {
            out.push_str(&drift_table(&fixed.still_differ));
            out.push('\n');
        }
    }
    out
}

/// Cards of the catalogue as an aligned table.
pub fn cards_table(cards: &[CardView]) -> String {
    let head: Vec<String> = [
        "appid",
        "card_id",
        "card_type",
        "title",
        "status",
        "quantity",
        "refuse_reason",
    ]
    .map(str::to_owned)
    .to_vec();
    let body: Vec<Vec<String>> = cards
        .iter()
        .map(|c| {
            vec![
                c.appid.clone(),
                c.card_id.clone(),
                c.card_type.clone(),
                c.title.clone(),
                c.status.clone(),
                c.quantity.map(|q| q.to_string()).unwrap_or_default(),
                c.refuse_reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(&head, &body) + "\n"
}

/// Mass sends as an aligned table.
pub fn mass_table(sends: &[MassSendView]) -> String {
    let head: Vec<String> = [
        "id", "card_id", "name", "target", "msg_ids", "status", "total", "sent", "errors",
    ]
    .map(str::to_owned)
    .to_vec();
    let body: Vec<Vec<String>> = sends
        .iter()
        .map(|s| {
            let msg_ids: Vec<String> = s.msg_ids.iter().map(i64::to_string).collect();
            vec![
                s.id.to_string(),
                s.card_id.clone(),
                s.name.clone(),
                s.target.clone(),
                msg_ids.join(","),
                s.status.clone(),
                s.total.to_string(),
                s.sent.to_string(),
                s.errors.to_string(),
            ]
        })
        .collect();
    table(&head, &body) + "\n"
}

/// Members as an aligned table.
pub fn members_table(members: &[MemberView]) -> String {
    let head: Vec<String> = [
        "appid",
        "member_no",
        "phone",
        "name",
        "bonus",
        "balance",
        "card_id",
        "code",
        "bound_at",
        "activated",
        "synced",
    ]
    .map(str::to_owned)
    .to_vec();
    let body: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            vec![
                m.appid.clone(),
                m.member_no.clone(),
                m.phone.clone(),
                m.name.clone().unwrap_or_default(),
                m.bonus.to_string(),
                m.balance.to_string(),
                m.card_id.clone().unwrap_or_default(),
                m.code.clone().unwrap_or_default(),
                m.bound_at.map(|t| t.to_string()).unwrap_or_default(),
                m.activated.to_string(),
                m.synced.to_string(),
            ]
        })
        .collect();
    table(&head, &body)
}

/// Webhook endpoints as an aligned table.
pub fn webhooks_table(rows: &[crate::webhooks::EndpointView]) -> String {
    let head: Vec<String> = [
        "name",
        "url",
        "types",
        "state",
        "cursor",
        "lag",
        "tries",
        "next_attempt_at",
        "last_error",
    ]
    .map(str::to_owned)
    .to_vec();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|w| {
            vec![
                w.name.clone(),
                w.url.clone(),
                if w.types.is_empty() {
                    "all".to_owned()
                } else {
                    w.types.join(",")
                },
                serde_json::to_value(w.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                w.cursor.map(|c| c.to_string()).unwrap_or_default(),
                w.lag.to_string(),
                w.attempts.to_string(),
                w.next_attempt_at.map(time).unwrap_or_default(),
                w.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(&head, &body)
}

/// Columns two spaces apart, each as wide as its widest cell as a terminal shows it (a Chinese
/// character takes two columns: comfy-table measures display width), no borders.
fn table(head: &[String], rows: &[Vec<String>]) -> String {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(head)
        .add_rows(rows);
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    let lines: Vec<String> = table.lines().map(|l| l.trim_end().to_owned()).collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::channel_day::Totals;

    #[test]
    fn columns_line_up_as_a_terminal_shows_chinese() {
        use unicode_width::UnicodeWidthStr;
        let head = ["outer_str", "got", "channel_name"]
            .map(str::to_owned)
            .to_vec();
        let rows = vec![
            ["门店12号桌", "3", "收银台海报"]
                .map(str::to_owned)
                .to_vec(),
            ["t1", "10", "Store 12"].map(str::to_owned).to_vec(),
        ];
        let text = table(&head, &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        // Where each cell starts, in terminal columns: the same for every line.
        let starts = |line: &str, cells: [&str; 3]| -> Vec<usize> {
            cells
                .iter()
                .map(|cell| line[..line.find(cell).unwrap()].width())
                .collect()
        };
        let header = starts(lines[0], ["outer_str", "got", "channel_name"]);
        assert_eq!(
            starts(lines[1], ["门店12号桌", "3", "收银台海报"]),
            header,
            "{text}"
        );
        assert_eq!(starts(lines[2], ["t1", "10", "Store 12"]), header, "{text}");
        // "门店12号桌" is 10 columns wide: the next column starts two spaces after it.
        assert_eq!(header, [0, 12, 17], "{text}");
    }

    #[test]
    fn the_statistics_table_ends_with_its_totals() {
        let report = StatsReport {
            rows: Vec::new(),
            totals: Totals::default(),
        };
        assert!(stats_table(&report, GroupBy::Channel).contains("TOTAL"));
    }
}
