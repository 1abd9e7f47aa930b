//! The operator's dashboard (issue 35): the funnel's `bound` counter (codes bound to a member, by
//! the channel the code came through and the day of the binding), filled in for the members bound
//! before it from `member.bound_at` at +08:00 (the default `stats.utc_offset`: a migration does not
//! read the configuration), and the indexes the dashboard reads through: members imported by day
//! (per account), the bound members' points on both sides, and the job queue by state and kind
//! (without reading the done jobs).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 3] = [
    (
        "idx_member_created",
        "CREATE INDEX idx_member_created ON member (appid, created_at)",
    ),
    (
        "idx_job_state_kind",
        "CREATE INDEX idx_job_state_kind ON job (state, kind)",
    ),
    // The bound members' points and balance on both sides: in sync or drifted, from the index alone.
    (
        "idx_member_sync",
        "CREATE INDEX idx_member_sync ON member (appid, bonus, balance, wechat_bonus, wechat_balance, code) \
         WHERE code IS NOT NULL",
    ),
];

/// The rows the backfill made, and nothing else, before `bound` goes.
const UNDO_BACKFILL: &str =
    "DELETE FROM channel_day WHERE bound > 0 AND got = 0 AND from_friend = 0 \
     AND restored = 0 AND deleted = 0 AND consumed = 0 AND activated = 0 AND revoked = 0";

/// One row per channel and day of the members bound so far; `{day}` is the bind's day at +08:00.
const BACKFILL: &str = "INSERT INTO channel_day (appid, card_id, outer_id, outer_str, day, \
     got, from_friend, restored, deleted, consumed, activated, revoked, bound) \
     SELECT m.appid, m.card_id, COALESCE(b.outer_id, '0'), COALESCE(b.outer_str, ''), {day}, \
     0, 0, 0, 0, 0, 0, 0, COUNT(*) \
     FROM member m LEFT JOIN card_binding b \
     ON b.appid = m.appid AND b.card_id = m.card_id AND b.code = m.code \
     WHERE m.code IS NOT NULL AND m.bound_at IS NOT NULL \
     GROUP BY m.appid, m.card_id, COALESCE(b.outer_id, '0'), COALESCE(b.outer_str, ''), {day} \
     ON CONFLICT (appid, card_id, outer_id, outer_str, day) DO UPDATE SET bound = excluded.bound";

// async_trait's expansion needs the elided lifetime that rust_2018_idioms warns about.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("channel_day")
                    .add_column(big_integer("bound").default(0))
                    .to_owned(),
            )
            .await?;
        let day = match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "to_char(to_timestamp(m.bound_at + 28800) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
            }
            _ => "strftime('%Y-%m-%d', m.bound_at + 28800, 'unixepoch')",
        };
        let db = manager.get_connection();
        db.execute_unprepared(&BACKFILL.replace("{day}", day))
            .await?;
        for (_, index) in INDEXES {
            db.execute_unprepared(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        db.execute_unprepared(UNDO_BACKFILL).await?;
        manager
            .alter_table(
                Table::alter()
                    .table("channel_day")
                    .drop_column("bound")
                    .to_owned(),
            )
            .await
    }
}
