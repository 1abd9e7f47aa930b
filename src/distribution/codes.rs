//! Custom-code deposit and check (reference §8.3): at most 100 codes per call (40109 beyond),
//! progress kept in `code_deposit` so an interrupted deposit resumes without sending a code WeChat
//! already took, then a verification with `getdepositcount` and `checkcode`.

use std::collections::HashSet;

use serde::Serialize;

use super::{required, Distribution, DistributionError};
use crate::store::deposits::{self, DepositState};
use crate::wechat_api::distribution::CODES_PER_CALL;

/// The codes of a file: one per line, surrounding blanks trimmed, blank lines skipped, repeats
/// dropped (first one kept). Returns the codes and how many lines repeated an earlier code.
pub fn parse_codes(text: &str) -> Result<(Vec<String>, usize), DistributionError> {
    let mut seen = HashSet::new();
    let mut codes = Vec::new();
    let mut repeated = 0;
    for (n, line) in text.lines().enumerate() {
        let code = line.trim();
        if code.is_empty() {
            continue;
        }
        if code.chars().any(char::is_whitespace) {
            return Err(DistributionError::Invalid(format!(
                "line {}: a code cannot contain blanks: {code:?}",
                n + 1
            )));
        }
        if seen.insert(code) {
            codes.push(code.to_owned());
        } else {
            repeated += 1;
        }
    }
    if codes.is_empty() {
        return Err(DistributionError::Invalid("no codes given".to_owned()));
    }
    Ok((codes, repeated))
}

/// What a deposit did, and what WeChat holds afterwards.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct DepositReport {
    pub card_id: String,
    /// Distinct codes given.
    pub codes: usize,
    /// Codes an earlier run already deposited (not sent again).
    pub already_deposited: usize,
    /// Accepted by this run (`succ_code`).
    pub deposited: usize,
    /// WeChat already had them (`duplicate_code`).
    pub duplicate: usize,
    /// Refused by WeChat (`fail_code`); a later run sends them again.
    pub failed: Vec<String>,
    /// `/card/code/deposit` calls made.
    pub calls: usize,
    /// `/card/code/getdepositcount` after the deposit.
    pub deposit_count: i64,
    /// Given codes `/card/code/checkcode` says WeChat does not have.
    pub missing: Vec<String>,
}

/// Which of the given codes WeChat has.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CheckReport {
    pub card_id: String,
    pub codes: usize,
    pub exist: usize,
    pub not_exist: Vec<String>,
}

/// Custom codes deposited with WeChat and checked (`Distribution::codes`).
pub struct Codes<'a> {
    pub(super) op: &'a Distribution,
}

impl Codes<'_> {
    /// Deposit `codes` (distinct) for `card_id`, resuming where an earlier run stopped;
    /// `progress(done, total)` after each call.
    pub async fn deposit(
        &self,
        appid: Option<&str>,
        card_id: &str,
        codes: &[String],
        progress: &dyn Fn(usize, usize),
    ) -> Result<DepositReport, DistributionError> {
        required("card_id", card_id)?;
        let appid = self.op.appid(appid)?;
        deposits::stage(&self.op.db, &appid, card_id, codes, self.op.now()).await?;
        let states = deposits::states(&self.op.db, &appid, card_id, codes).await?;
        let (done, todo): (Vec<&String>, Vec<&String>) = codes
            .iter()
            .partition(|c| states.get(*c).is_some_and(|s| s.is_done()));
        let already_deposited = done.len();
        let todo: Vec<String> = todo.into_iter().cloned().collect();
        let mut report = DepositReport {
            card_id: card_id.to_owned(),
            codes: codes.len(),
            already_deposited,
            ..DepositReport::default()
        };
        let api = self.op.tokens.api();
        for chunk in todo.chunks(CODES_PER_CALL) {
            let answer = self
                .op
                .tokens
                .with_token(&appid, self.op.now(), |token| async move {
                    api.deposit_codes(&token, card_id, chunk).await
                })
                .await
                .map_err(|source| DistributionError::DepositInterrupted {
                    done: already_deposited + report.deposited + report.duplicate,
                    total: codes.len(),
                    source,
                })?;
            report.calls += 1;
            let (succ, duplicate, fail) = match answer.named() {
                Some(lists) => lists,
                // Only counts came back: ask WeChat which of the chunk it holds now.
                None => {
                    let checked = self.check(Some(&appid), card_id, chunk).await?;
                    let held = chunk
                        .iter()
                        .filter(|c| !checked.not_exist.contains(c))
                        .cloned()
                        .collect();
                    (held, Vec::new(), checked.not_exist)
                }
            };
            let now = self.op.now();
            for (list, state) in [
                (&succ, DepositState::Deposited),
                (&duplicate, DepositState::Duplicate),
                (&fail, DepositState::Failed),
            ] {
                deposits::mark(&self.op.db, &appid, card_id, list, state, now).await?;
            }
            report.deposited += succ.len();
            report.duplicate += duplicate.len();
            report.failed.extend(fail);
            let done =
                already_deposited + report.deposited + report.duplicate + report.failed.len();
            progress(done, codes.len());
        }
        report.deposit_count = self
            .op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.deposit_count(&token, card_id).await
            })
            .await?;
        report.missing = self.check(Some(&appid), card_id, codes).await?.not_exist;
        Ok(report)
    }

    /// Ask WeChat which of `codes` it holds for `card_id`, 100 at a time.
    pub async fn check(
        &self,
        appid: Option<&str>,
        card_id: &str,
        codes: &[String],
    ) -> Result<CheckReport, DistributionError> {
        required("card_id", card_id)?;
        let appid = self.op.appid(appid)?;
        let api = self.op.tokens.api();
        let mut report = CheckReport {
            card_id: card_id.to_owned(),
            codes: codes.len(),
            ..CheckReport::default()
        };
        for chunk in codes.chunks(CODES_PER_CALL) {
            let checked = self
                .op
                .tokens
                .with_token(&appid, self.op.now(), |token| async move {
                    api.check_codes(&token, card_id, chunk).await
                })
                .await?;
            report.exist += checked.exist_code.len();
            report.not_exist.extend(checked.not_exist_code);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deposit_answer_names_its_codes_or_only_counts_them() {
        use crate::wechat_api::distribution::Deposited;
        let named: Deposited = serde_json::from_str(
            r#"{"errcode":0,"succ_code":["1","2"],"duplicate_code":["3"],"fail_code":[]}"#,
        )
        .unwrap();
        assert_eq!(
            named.named(),
            Some((
                vec!["1".to_owned(), "2".to_owned()],
                vec!["3".to_owned()],
                vec![]
            ))
        );
        // Reference 001's own sample: counts.
        let counted: Deposited = serde_json::from_str(
            r#"{"errcode":0,"errmsg":"ok","succ_code":3,"duplicate_code":0,"fail_code":0}"#,
        )
        .unwrap();
        assert_eq!(counted.named(), None);
    }

    #[test]
    fn a_code_file_is_one_code_per_line() {
        let (codes, repeated) = parse_codes("  111 \n\n222\r\n111\n333").unwrap();
        assert_eq!(codes, ["111", "222", "333"]);
        assert_eq!(repeated, 1);
        assert!(parse_codes("\n  \n").is_err());
        let err = parse_codes("111\n22 2\n").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
