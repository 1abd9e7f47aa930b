//! What a dashboard page's query asks for, pure: the period (7, 30 or 90 days ending today, or a
//! from–to), the account and the card, each checked with a reason to show.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::Deserialize;

use super::funnel::Period;
use crate::store::channel_day::{GroupBy, StatsQuery};

/// The longest card_id a filter takes (WeChat's are 28 characters).
pub const CARD_ID_MAX: usize = 64;

/// The account/card filter and the period of a page, as a query string (escaped for an attribute).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub appid: Option<String>,
    pub card_id: Option<String>,
    /// 7, 30 or 90 when the period is one of those; None for a from–to.
    pub days: Option<u32>,
}

impl Filter {
    pub fn query(&self, period: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("period", period);
        if let Some(appid) = &self.appid {
            query.append_pair("appid", appid);
        }
        if let Some(card_id) = &self.card_id {
            query.append_pair("card_id", card_id);
        }
        query.finish()
    }

    pub fn range_query(&self, period: &Period) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("from", &period.from.to_string());
        query.append_pair("to", &period.to.to_string());
        if let Some(appid) = &self.appid {
            query.append_pair("appid", appid);
        }
        if let Some(card_id) = &self.card_id {
            query.append_pair("card_id", card_id);
        }
        query.finish()
    }
}

/// A page's period and filter, as its query names them.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub appid: Option<String>,
    pub card_id: Option<String>,
}

/// A page's period, its filter, and the statistics query of both.
pub struct Asked {
    pub period: Period,
    pub filter: Filter,
    pub query: StatsQuery,
}

impl PageParams {
    /// The query string of a request, or why it cannot be read.
    pub fn parse(query: &str) -> Result<Self, String> {
        actix_web::web::Query::<Self>::from_query(query)
            .map(actix_web::web::Query::into_inner)
            .map_err(|e| format!("the query: {e}"))
    }

    /// The period, filter and query asked for, `today` being the last day of a 7/30/90-day period.
    pub fn read(&self, today: NaiveDate) -> Result<Asked, String> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let (period, days) = match (given(&self.from), given(&self.to)) {
            (Some(from), Some(to)) => (Period::between(&from, &to)?, None),
            (None, None) => {
                let days = match given(&self.period).as_deref() {
                    None | Some("7") => 7,
                    Some("30") => 30,
                    Some("90") => 90,
                    Some(_) => return Err("period must be 7, 30 or 90".to_owned()),
                };
                (Period::last(days, today), Some(days))
            }
            _ => return Err("from and to go together".to_owned()),
        };
        let card_id = given(&self.card_id);
        if card_id.as_ref().is_some_and(|c| c.len() > CARD_ID_MAX) {
            return Err(format!("card_id is at most {CARD_ID_MAX} characters"));
        }
        let filter = Filter {
            appid: given(&self.appid),
            card_id,
            days,
        };
        let query = StatsQuery {
            appid: filter.appid.clone(),
            card_id: filter.card_id.clone(),
            from: Some(period.from),
            to: Some(period.to),
            by: GroupBy::Channel,
        };
        Ok(Asked {
            period,
            filter,
            query,
        })
    }
}

/// The day `now` is in, in `offset`.
pub fn today(now: i64, offset: FixedOffset) -> NaiveDate {
    DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .with_timezone(&offset)
        .date_naive()
}

/// When `day` starts in `offset`, unix seconds.
pub fn day_start(day: NaiveDate, offset: FixedOffset) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(offset).single())
        .map_or(0, |t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_reads_its_period_and_filter_or_says_what_is_wrong() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let params = |query: &str| PageParams::parse(query).unwrap().read(today);
        let asked = params("appid=+").unwrap();
        assert_eq!(asked.period.from.to_string(), "2026-12-01");
        assert_eq!((asked.filter.days, asked.filter.appid), (Some(7), None));
        let asked = params("period=30").unwrap();
        assert_eq!(asked.period.from.to_string(), "2026-11-08");
        let asked = params("period=7&from=2026-01-01&to=2026-01-31").unwrap();
        assert_eq!((asked.period.days().len(), asked.filter.days), (31, None));
        assert_eq!(asked.query.from, NaiveDate::from_ymd_opt(2026, 1, 1));
        assert!(params("period=8").is_err());
        assert!(params("from=2026-01-01").is_err());
        assert!(params(&format!("card_id={}", "p".repeat(65))).is_err());
        assert!(
            PageParams::parse("period=7&period=30").is_err(),
            "a key twice"
        );
    }

    #[test]
    fn days_start_at_local_midnight() {
        let offset = FixedOffset::east_opt(8 * 3600).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        // 2026-12-01 00:00 +08:00 is 2026-11-30 16:00 UTC.
        assert_eq!(day_start(day, offset), 1_796_054_400);
        assert_eq!(today(1_796_054_400, offset), day);
        assert_eq!(today(1_796_054_399, offset), day.pred_opt().unwrap());
    }
}
