//! When a failed job or webhook delivery is tried again: the configured schedule, spread by jitter;
//! past its end, never.

use rand::Rng;

/// The run time of the next attempt after `attempts` attempts, or `None` when the schedule is
/// exhausted (the job is then dead).
pub fn next_run(
    now: i64,
    attempts: i64,
    schedule: &[u64],
    jitter: f64,
    rng: &mut impl Rng,
) -> Option<i64> {
    let index = usize::try_from(attempts.max(1) - 1).ok()?;
    let base = *schedule.get(index)? as f64;
    let spread = if jitter > 0.0 {
        rng.gen_range(-jitter..=jitter)
    } else {
        0.0
    };
    Some(now + (base * (1.0 + spread)).round().max(1.0) as i64)
}

/// The next midnight in `offset` after `now`: WeChat's daily quotas reset at 00:00 Beijing time.
pub fn next_day(now: i64, offset: chrono::FixedOffset) -> i64 {
    let secs = i64::from(offset.local_minus_utc());
    let local = now + secs;
    (local.div_euclid(86_400) + 1) * 86_400 - secs
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn schedule_then_dead() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let schedule = [10, 60, 300];
        assert_eq!(next_run(1000, 1, &schedule, 0.0, &mut rng), Some(1010));
        assert_eq!(next_run(1000, 3, &schedule, 0.0, &mut rng), Some(1300));
        assert_eq!(next_run(1000, 4, &schedule, 0.0, &mut rng), None);
        for _ in 0..100 {
            let at = next_run(1000, 2, &schedule, 0.2, &mut rng).unwrap();
            assert!((1048..=1072).contains(&at), "{at}");
        }
    }

    #[test]
    fn next_day_in_beijing_time() {
        let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        // 2024-04-30T16:30:00Z = 2024-05-01 00:30 CST → next midnight 2024-05-02 00:00 CST = 2024-05-01T16:00Z.
        assert_eq!(next_day(1_714_494_600, cst), 1_714_579_200);
    }
}
