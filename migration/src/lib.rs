//! The schema of cardhook, as sea-orm migrations. A released migration is never edited: a change is a new file.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_tables;
mod m20261125_000002_card_sequence;
mod m20261125_000003_drop_event_code_index;
mod m20261125_000004_channel_registry;
mod m20261126_000005_job_attempts_bigint;
mod m20261202_000006_member;
mod m20261202_000007_card;
mod m20261202_000008_mass_send;
mod m20261207_000009_trust_at_the_edges;
mod m20261207_000010_events_out;
mod m20261207_000011_till;
mod m20261207_000012_card_life;
mod m20261207_000013_dashboard;
mod m20261207_000014_stats_users_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_tables::Migration),
            Box::new(m20261125_000002_card_sequence::Migration),
            Box::new(m20261125_000003_drop_event_code_index::Migration),
            Box::new(m20261125_000004_channel_registry::Migration),
            Box::new(m20261126_000005_job_attempts_bigint::Migration),
            Box::new(m20261202_000006_member::Migration),
            Box::new(m20261202_000007_card::Migration),
            Box::new(m20261202_000008_mass_send::Migration),
            Box::new(m20261207_000009_trust_at_the_edges::Migration),
            Box::new(m20261207_000010_events_out::Migration),
            Box::new(m20261207_000011_till::Migration),
            Box::new(m20261207_000012_card_life::Migration),
            Box::new(m20261207_000013_dashboard::Migration),
            Box::new(m20261207_000014_stats_users_index::Migration),
        ]
    }
}
