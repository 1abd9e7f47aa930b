//! `members import`: a CSV of the merchant's members checked line by line against what is stored. Pure:
//! the caller reads the stored members and writes the rows this returns, in one transaction.

use std::collections::HashMap;

use serde::Serialize;

use super::phone;
use crate::store::members::MemberRow;

/// The columns a file may have; `member_no` and `phone` it must.
const COLUMNS: [&str; 6] = ["member_no", "phone", "name", "bonus", "balance", "level"];

/// The `level` that clears a member's level (an empty cell keeps it, as every optional column).
pub const NO_LEVEL: &str = "-";

/// The longest level.
const LEVEL_MAX: usize = 64;

/// A file that cannot be imported at all (its header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the CSV has no header line")]
    NoHeader,
    #[error("the CSV header has no `{0}` column (it needs member_no and phone; name, bonus, balance and level are optional)")]
    MissingColumn(&'static str),
    #[error("the CSV header names `{0}`, which is not a member column (member_no, phone, name, bonus, balance, level)")]
    UnknownColumn(String),
    #[error("the CSV header names `{0}` twice")]
    RepeatedColumn(String),
    #[error("the CSV cannot be read: {0}")]
    Csv(String),
}

/// What an import did, as printed and as the admin API answers (DESIGN §4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: usize,
    /// Members bound to an activated card whose points or balance changed: their sync to WeChat is
    /// queued.
    pub syncs_queued: usize,
    /// Bound members whose level changed: their move to the new level's WeChat tag is queued
    /// (with `[[member_tags]]`).
    pub tags_queued: usize,
    /// Every refused line with its number in the file (the header is line 1) and why.
    pub rejected_lines: Vec<RejectedLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RejectedLine {
    pub line: u64,
    pub reason: String,
}

/// The rows to write (new and changed members, in file order) and the report.
pub fn plan(
    csv: &[u8],
    stored: &HashMap<String, MemberRow>,
) -> Result<(Vec<MemberRow>, ImportReport), ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(csv);
    let header = reader
        .headers()
        .map_err(|e| ImportError::Csv(e.to_string()))?
        .clone();
    if header.is_empty() || header.iter().all(str::is_empty) {
        return Err(ImportError::NoHeader);
    }
    let mut index = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim_start_matches('\u{feff}').to_ascii_lowercase();
        let Some(known) = COLUMNS.iter().find(|c| **c == name) else {
            return Err(ImportError::UnknownColumn(name));
        };
        if index.insert(*known, i).is_some() {
            return Err(ImportError::RepeatedColumn(name));
        }
    }
    for required in ["member_no", "phone"] {
        if !index.contains_key(required) {
            return Err(ImportError::MissingColumn(required));
        }
    }
    // Who holds each phone, as the file is applied line by line.
    let mut phone_owner: HashMap<String, String> = stored
        .values()
        .map(|m| (m.phone.clone(), m.member_no.clone()))
        .collect();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut rows = Vec::new();
    let mut report = ImportReport::default();
    for record in reader.records() {
        let record = record.map_err(|e| ImportError::Csv(e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |column: &str| {
            index
                .get(column)
                .and_then(|&i| record.get(i))
                .filter(|v| !v.is_empty())
        };
        let row =
            read_line(&cell, &seen, stored).and_then(|row| match phone_owner.get(&row.phone) {
                Some(owner) if *owner != row.member_no => Err(format!(
                    "duplicate phone: the number belongs to member {owner}"
                )),
                _ => Ok(row),
            });
        let row = match row {
            Ok(row) => row,
            Err(reason) => {
                report.rejected_lines.push(RejectedLine { line, reason });
                continue;
            }
        };
        seen.insert(row.member_no.clone(), line);
        match stored.get(&row.member_no) {
            Some(old) if row == *old => {
                report.unchanged += 1;
                continue;
            }
            Some(old) => {
                phone_owner.remove(&old.phone);
                report.updated += 1;
            }
            None => report.inserted += 1,
        }
        phone_owner.insert(row.phone.clone(), row.member_no.clone());
        rows.push(row);
    }
    report.rejected = report.rejected_lines.len();
    Ok((rows, report))
}

/// One line as a member row: optional columns missing or empty keep what is stored (a new member
/// gets none and 0).
fn read_line<'a>(
    cell: &impl Fn(&str) -> Option<&'a str>,
    seen: &HashMap<String, u64>,
    stored: &HashMap<String, MemberRow>,
) -> Result<MemberRow, String> {
    let member_no = cell("member_no").ok_or("missing member_no")?.to_owned();
    if let Some(first) = seen.get(&member_no) {
        return Err(format!("member_no {member_no} is already on line {first}"));
    }
    let phone = phone::normalise(cell("phone").unwrap_or_default())
        .map_err(|e| format!("bad phone: {e}"))?;
    let old = stored.get(&member_no);
    let integer = |column: &'static str, kept: Option<i64>| -> Result<i64, String> {
        let Some(text) = cell(column) else {
            return Ok(kept.unwrap_or(0));
        };
        let value: i64 = text
            .parse()
            .map_err(|_| format!("non-integer {column}: `{text}`"))?;
        crate::config::check_member_value(value)
            .map_err(|reason| format!("{column} {reason}, got {value}"))?;
        Ok(value)
    };
    let level = match cell("level") {
        None => old.and_then(|m| m.level.clone()),
        Some(NO_LEVEL) => None,
        Some(level) if level.len() > LEVEL_MAX => {
            return Err(format!("level longer than {LEVEL_MAX} bytes"))
        }
        Some(level) => Some(level.to_owned()),
    };
    Ok(MemberRow {
        level,
        bonus: integer("bonus", old.map(|m| m.bonus))?,
        balance: integer("balance", old.map(|m| m.balance))?,
        name: cell("name")
            .map(str::to_owned)
            .or_else(|| old.and_then(|m| m.name.clone())),
        member_no,
        phone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(member_no: &str, phone: &str, bonus: i64) -> (String, MemberRow) {
        (
            member_no.to_owned(),
            MemberRow {
                member_no: member_no.into(),
                phone: phone.into(),
                name: Some("老王".into()),
                bonus,
                balance: 500,
                level: None,
            },
        )
    }

    #[test]
    fn new_changed_and_unchanged_members_are_told_apart() {
        let db: HashMap<_, _> = [
            stored("M1", "13800000001", 10),
            stored("M2", "13800000002", 20),
        ]
        .into();
        let csv = "member_no,phone,name,bonus,balance\n\
                   M1,13800000001,老王,10,500\n\
                   M2,+86 138 0000 0002,老王,25,500\n\
                   M3,13800000003,,0,0\n";
        let (rows, report) = plan(csv.as_bytes(), &db).unwrap();
        assert_eq!(
            (
                report.inserted,
                report.updated,
                report.unchanged,
                report.rejected
            ),
            (1, 1, 1, 0)
        );
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].member_no.as_str(), rows[0].bonus), ("M2", 25));
        assert_eq!(
            (rows[1].member_no.as_str(), rows[1].name.as_deref()),
            ("M3", None)
        );
    }

    #[test]
    fn bad_lines_are_refused_with_their_number_and_reason() {
        let db: HashMap<_, _> = [stored("M1", "13800000001", 10)].into();
        let csv = "member_no,phone,bonus\n\
                   ,13800000009,1\n\
                   M2,12345,1\n\
                   M3,13800000001,1\n\
                   M4,13800000004,ten\n\
                   M5,13800000005,5\n\
                   M5,13800000006,6\n\
                   M6,13800000005,1\n";
        let (rows, report) = plan(csv.as_bytes(), &db).unwrap();
        let lines: Vec<(u64, &str)> = report
            .rejected_lines
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert_eq!(lines[0], (2, "missing member_no"));
        assert!(lines[1].0 == 3 && lines[1].1.starts_with("bad phone"));
        assert!(lines[2].0 == 4 && lines[2].1.contains("duplicate phone"));
        assert_eq!(lines[3], (5, "non-integer bonus: `ten`"));
        assert!(lines[4].0 == 7 && lines[4].1.contains("already on line 6"));
        assert!(lines[5].0 == 8 && lines[5].1.contains("duplicate phone"));
        assert_eq!(rows.len(), 1);
        assert_eq!(report.rejected, 6);
    }

    #[test]
    fn negative_or_huge_points_and_balances_are_refused() {
        let csv = "member_no,phone,bonus,balance\n\
                   M1,13800000001,-5,0\n\
                   M2,13800000002,0,-1\n\
                   M3,13800000003,2147483648,0\n\
                   M4,13800000004,2147483647,2147483647\n";
        let (rows, report) = plan(csv.as_bytes(), &HashMap::new()).unwrap();
        let reasons: Vec<&str> = report
            .rejected_lines
            .iter()
            .map(|r| r.reason.as_str())
            .collect();
        assert_eq!(
            reasons,
            [
                "bonus must be between 0 and 2147483647, got -5",
                "balance must be between 0 and 2147483647, got -1",
                "bonus must be between 0 and 2147483647, got 2147483648"
            ]
        );
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn a_missing_optional_column_keeps_what_is_stored() {
        let db: HashMap<_, _> = [stored("M1", "13800000001", 10)].into();
        let (rows, report) = plan(b"phone,member_no\n13800000011,M1\n", &db).unwrap();
        assert_eq!(report.updated, 1);
        assert_eq!((rows[0].bonus, rows[0].balance), (10, 500));
        assert_eq!(rows[0].name.as_deref(), Some("老王"));
    }

    #[test]
    fn a_phone_moved_to_another_member_within_the_file_is_free_for_it() {
        let db: HashMap<_, _> = [stored("M1", "13800000001", 10)].into();
        let csv = "member_no,phone\nM1,13800000099\nM2,13800000001\n";
        let (rows, report) = plan(csv.as_bytes(), &db).unwrap();
        assert_eq!(
            (report.updated, report.inserted, report.rejected),
            (1, 1, 0)
        );
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn headers_are_checked_first() {
        let empty = HashMap::new();
        assert_eq!(
            plan(b"member_no,name\nM1,x\n", &empty).unwrap_err(),
            ImportError::MissingColumn("phone")
        );
        assert_eq!(
            plan(b"member_no,phone,tier\n", &empty).unwrap_err(),
            ImportError::UnknownColumn("tier".into())
        );
        assert_eq!(
            plan(b"member_no,phone,phone\n", &empty).unwrap_err(),
            ImportError::RepeatedColumn("phone".into())
        );
        assert!(plan(b"", &empty).is_err());
        // A byte-order mark, as spreadsheet programs write, is not part of the first column's name.
        assert!(plan("\u{feff}member_no,phone\n".as_bytes(), &empty).is_ok());
    }
}
