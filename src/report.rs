//! The channel statistics as rows of text, and as CSV: the admin API serves it, `cardhook stats`
//! prints it (the CLI's tables are `cli::tables`).

use crate::store::channel_day::{Counts, GroupBy, StatsReport};

const COUNTER_COLUMNS: [&str; 7] = [
    "got",
    "from_friend",
    "restored",
    "deleted",
    "consumed",
    "activated",
    "users",
];

/// The statistics' column names, grouped `by` channel or by day.
pub fn header(by: GroupBy) -> Vec<&'static str> {
    let mut h = vec!["appid", "card_id", "outer_id", "outer_str"];
    if by == GroupBy::Day {
        h.push("day");
    }
    h.extend(COUNTER_COLUMNS);
    // Last, so scripts that read columns by position keep working.
    h.push("channel_name");
    h
}

/// A row's counters and users, as text.
pub fn numbers(c: &Counts, users: i64) -> [String; 7] {
    [
        c.got,
        c.from_friend,
        c.restored,
        c.deleted,
        c.consumed,
        c.activated,
        users,
    ]
    .map(|n| n.to_string())
}

/// Every row of `stats`, as text, in the order of [`header`].
pub fn records(stats: &StatsReport, by: GroupBy) -> Vec<Vec<String>> {
    stats
        .rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.appid.clone(),
                r.card_id.clone(),
                r.outer_id.to_string(),
                r.outer_str.clone(),
            ];
            if by == GroupBy::Day {
                cells.push(r.day.clone().unwrap_or_default());
            }
            cells.extend(numbers(&r.counts, r.users));
            cells.push(r.channel_name.clone().unwrap_or_default());
            cells
        })
        .collect()
}

/// CSV with a header row (RFC 4180 quoting).
pub fn stats_csv(stats: &StatsReport, by: GroupBy) -> String {
    let mut out = header(by).join(",");
    for record in records(stats, by) {
        out.push('\n');
        let cells: Vec<String> = record.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&cells.join(","));
    }
    out
}

/// A cell as CSV: quoted when it must be (RFC 4180), and a text a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@`, a tab or a return first; a channel's OuterStr or name can be
/// anyone's) prefixed with `'` so that it reads as text. Integers are left as they are.
fn csv_cell(cell: &str) -> String {
    let formula =
        cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<i128>().is_err();
    let cell = if formula {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    };
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::channel_day::{StatsRow, Totals};

    #[test]
    fn a_cell_a_spreadsheet_would_run_reads_as_text() {
        for (cell, csv) in [
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("+1+1", "'+1+1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-2+3", "'-2+3"),
            ("-5", "-5"),
            ("门店12号桌", "门店12号桌"),
            ("a-b", "a-b"),
        ] {
            assert_eq!(csv_cell(cell), csv, "{cell}");
        }
    }

    #[test]
    fn csv_quotes_and_has_a_header() {
        let report = StatsReport {
            rows: vec![StatsRow {
                appid: "wxA".into(),
                card_id: "c".into(),
                outer_id: 0.into(),
                outer_str: "a,\"b\"".into(),
                day: None,
                counts: Counts {
                    got: 2,
                    ..Counts::default()
                },
                users: 1,
                channel_name: Some("Store 12".into()),
            }],
            totals: Totals::default(),
        };
        let csv = stats_csv(&report, GroupBy::Channel);
        assert_eq!(
            csv,
            "appid,card_id,outer_id,outer_str,got,from_friend,restored,deleted,consumed,activated,users,channel_name\nwxA,c,0,\"a,\"\"b\"\"\",2,0,0,0,0,0,1,Store 12"
        );
    }
}
