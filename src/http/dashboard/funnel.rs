//! The funnel page's figures, pure: the period asked for, each channel's counters summed over it
//! (largest `got` first), and the daily `got` of the top channels.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use entity::channel_day;

use crate::store::channel_day::Counts;
use crate::wechat::ids::OuterId;

/// The periods offered as links: the last 7, 30 or 90 days.
pub const PERIODS: [u32; 3] = [7, 30, 90];
/// The longest period a from–to may span, in days.
pub const MAX_DAYS: i64 = 366;
/// How many channels the trend chart draws.
pub const TREND_CHANNELS: usize = 5;

/// Days, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// The period of `days` days that ends `today`.
    pub fn last(days: u32, today: NaiveDate) -> Self {
        let from = today
            .checked_sub_days(Days::new(u64::from(days.max(1)) - 1))
            .unwrap_or(today);
        Self { from, to: today }
    }

    /// From–to as typed (YYYY-MM-DD), refused with a reason to show.
    pub fn between(from: &str, to: &str) -> Result<Self, String> {
        let day = |name: &str, text: &str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| format!("{name} must be a date YYYY-MM-DD"))
        };
        let (from, to) = (day("from", from)?, day("to", to)?);
        if from > to {
            return Err("from is after to".to_owned());
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(format!("a period spans at most {MAX_DAYS} days"));
        }
        Ok(Self { from, to })
    }

    /// Every day of the period, in order, as `channel_day.day` spells them.
    pub fn days(&self) -> Vec<String> {
        self.from
            .iter_days()
            .take_while(|d| *d <= self.to)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect()
    }
}

/// A channel as the statistics count it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChannelKey {
    pub appid: String,
    pub card_id: String,
    pub outer_id: OuterId,
    pub outer_str: String,
}

/// One channel's counters over the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelFunnel {
    pub key: ChannelKey,
    /// Its registered name, else its OuterStr, else its scene value.
    pub label: String,
    pub counts: Counts,
}

/// The funnel of a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funnel {
    /// Largest `got` first, then by label.
    pub channels: Vec<ChannelFunnel>,
    pub totals: Counts,
    pub days: Vec<String>,
    /// The daily `got` of the top channels (by `got`), each with its label.
    pub trend: Vec<(String, Vec<i64>)>,
}

/// How a channel is shown when it has no registered name.
pub fn label(name: Option<String>, key: &ChannelKey) -> String {
    name.filter(|n| !n.is_empty()).unwrap_or_else(|| {
        if !key.outer_str.is_empty() {
            key.outer_str.clone()
        } else if !key.outer_id.is_zero() {
            format!("场景值 {}", key.outer_id)
        } else {
            "未标记渠道".to_owned()
        }
    })
}

/// Sum `rows` (of the period) per channel and day; `name` gives a channel's registered name.
pub fn funnel(
    rows: &[channel_day::Model],
    period: &Period,
    name: impl Fn(&ChannelKey) -> Option<String>,
) -> Funnel {
    let days = period.days();
    let index: BTreeMap<&str, usize> = days
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let mut by_channel: BTreeMap<ChannelKey, (Counts, Vec<i64>)> = BTreeMap::new();
    for row in rows {
        let Some(&day) = index.get(row.day.as_str()) else {
            continue;
        };
        let key = ChannelKey {
            appid: row.appid.clone(),
            card_id: row.card_id.clone(),
            outer_id: crate::store::outer_id_of(&row.outer_id),
            outer_str: row.outer_str.clone(),
        };
        let (counts, daily) = by_channel
            .entry(key)
            .or_insert_with(|| (Counts::default(), vec![0; days.len()]));
        counts.add(&Counts::of(row));
        daily[day] += row.got;
    }
    let mut totals = Counts::default();
    // Each channel's label, looked up once; how many channels share it.
    let labels: Vec<String> = by_channel.keys().map(|key| label(name(key), key)).collect();
    let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
    for label in &labels {
        *shown.entry(label.as_str()).or_default() += 1;
    }
    let mut channels: Vec<(ChannelFunnel, Vec<i64>)> = by_channel
        .into_iter()
        .zip(&labels)
        .map(|((key, (counts, daily)), label)| {
            totals.add(&counts);
            // One channel's codes of several cards: each card's line says which.
            let label = match shown.get(label.as_str()) {
                Some(&n) if n > 1 => format!("{label} · {}", key.card_id),
                _ => label.clone(),
            };
            (ChannelFunnel { key, label, counts }, daily)
        })
        .collect();
    channels.sort_by(|(a, _), (b, _)| {
        b.counts
            .got
            .cmp(&a.counts.got)
            .then_with(|| a.label.cmp(&b.label))
            .then_with(|| a.key.cmp(&b.key))
    });
    let trend = channels
        .iter()
        .filter(|(c, _)| c.counts.got > 0)
        .take(TREND_CHANNELS)
        .map(|(c, daily)| (c.label.clone(), daily.clone()))
        .collect();
    Funnel {
        channels: channels.into_iter().map(|(c, _)| c).collect(),
        totals,
        days,
        trend,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(outer_str: &str, day: &str, got: i64, bound: i64) -> channel_day::Model {
        channel_day::Model {
            appid: "wxA".into(),
            card_id: "pC".into(),
            outer_id: "0".into(),
            outer_str: outer_str.into(),
            day: day.into(),
            got,
            from_friend: 0,
            restored: 0,
            deleted: 0,
            consumed: 0,
            activated: got,
            revoked: 0,
            bound,
        }
    }

    #[test]
    fn channels_sum_over_the_period_largest_first_with_their_daily_got() {
        let period = Period::between("2026-12-01", "2026-12-03").unwrap();
        let rows = [
            row("shop", "2026-12-01", 2, 1),
            row("shop", "2026-12-03", 3, 0),
            row("poster", "2026-12-02", 9, 4),
            row("", "2026-12-02", 1, 0),
            row("poster", "2026-11-30", 100, 0), // outside: not counted
        ];
        let f = funnel(&rows, &period, |k| {
            (k.outer_str == "poster").then(|| "门店12号桌".to_owned())
        });
        let labels: Vec<&str> = f.channels.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["门店12号桌", "shop", "未标记渠道"]);
        assert_eq!(
            (f.channels[0].counts.got, f.channels[0].counts.bound),
            (9, 4)
        );
        assert_eq!(
            (f.channels[1].counts.got, f.channels[1].counts.bound),
            (5, 1)
        );
        assert_eq!(
            (f.totals.got, f.totals.bound, f.totals.activated),
            (15, 5, 15)
        );
        assert_eq!(f.days, ["2026-12-01", "2026-12-02", "2026-12-03"]);
        assert_eq!(f.trend[0], ("门店12号桌".to_owned(), vec![0, 9, 0]));
        assert_eq!(f.trend[1], ("shop".to_owned(), vec![2, 0, 3]));
    }

    #[test]
    fn a_channel_of_several_cards_says_which_card_on_each_line() {
        let period = Period::between("2026-12-01", "2026-12-01").unwrap();
        let mut other = row("shop", "2026-12-01", 1, 0);
        other.card_id = "pD".into();
        let rows = [
            row("shop", "2026-12-01", 2, 0),
            other,
            row("poster", "2026-12-01", 1, 0),
        ];
        let f = funnel(&rows, &period, |_| None);
        let labels: Vec<&str> = f.channels.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["shop · pC", "poster", "shop · pD"]);
    }

    #[test]
    fn periods_end_today_or_are_typed() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(Period::last(7, today).days().first().unwrap(), "2026-12-01");
        assert_eq!(Period::last(1, today).days(), ["2026-12-07"]);
        assert!(Period::between("2026-12-08", "2026-12-07").is_err());
        assert!(Period::between("2025-01-01", "2026-12-07").is_err());
        assert!(Period::between("12/07", "2026-12-07").is_err());
        let label_of = |outer_id: i64, outer_str: &str| {
            label(
                None,
                &ChannelKey {
                    appid: "a".into(),
                    card_id: "c".into(),
                    outer_id: OuterId::from(outer_id),
                    outer_str: outer_str.into(),
                },
            )
        };
        assert_eq!(label_of(42, ""), "场景值 42");
        assert_eq!(label_of(42, "s"), "s");
    }
}
