//! Multi-row INSERTs whose SQL is built once per backend and row count, then given each batch's
//! values.
//!
//! sea-query builds a statement's SQL and its values together. For the writer's multi-row inserts
//! the SQL depends only on the row count, yet building it for every batch cost ~9k instructions a
//! push per table (callgrind, docs/PERFORMANCE.md).
//!
//! On SQLite the inserts are `INSERT OR FAIL`. Under the default `OR ABORT` a failing statement
//! undoes the rows it had already written, so SQLite keeps a statement journal of every page a
//! multi-row statement touches: 7.7% of the writer's instructions (docs/PERFORMANCE.md). `OR FAIL`
//! leaves those rows in place instead, and needs no journal. That is safe only because these
//! statements run in the writer's transactions, which are rolled back whole when any statement
//! fails (`WriterDb::write`; pinned by `tests/it/batch.rs`). `ON CONFLICT` clauses are not
//! affected: they resolve their own conflicts. A `DO UPDATE` still makes SQLite keep the journal
//! (its update runs under `OR ABORT`), hence `bindings::Batch::flush` inserts first.

use std::sync::Mutex;

use sea_orm::sea_query::{InsertStatement, SimpleExpr};
use sea_orm::{DbBackend, Statement, Value};

use super::StoreError;

/// The SQL of one INSERT template at each row count seen, per backend.
pub struct InsertShapes(Mutex<Vec<(DbBackend, usize, String)>>);

impl InsertShapes {
    pub const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// The INSERT of `rows`, each a row of values in the template's column order. `template` gives
    /// the table, the columns and any ON CONFLICT clause, without values; it is called only when
    /// this row count has not been built on `backend` yet. The SQL is kept only if sea-query bound
    /// exactly the given values, in order (so a shape that inlines a value is never reused).
    pub fn statement<const WIDTH: usize>(
        &self,
        backend: DbBackend,
        rows: Vec<[Value; WIDTH]>,
        template: impl FnOnce() -> InsertStatement,
    ) -> Result<Statement, StoreError> {
        let count = rows.len();
        let values: Vec<Value> = rows.into_iter().flatten().collect();
        if let Some(sql) = self.cached(backend, count) {
            return Ok(Statement::from_sql_and_values(backend, sql, values));
        }
        let mut insert = template();
        for row in values.chunks(WIDTH) {
            insert
                .values(row.iter().cloned().map(SimpleExpr::Value))
                .map_err(|e| StoreError::Encode(e.to_string()))?;
        }
        let mut built = backend.build(&insert);
        if backend == DbBackend::Sqlite {
            built.sql = or_fail(&built.sql)?;
        }
        if built.values.as_ref().is_some_and(|bound| bound.0 == values) {
            if let Ok(mut shapes) = self.0.lock() {
                shapes.push((backend, count, built.sql.clone()));
            }
        }
        Ok(built)
    }

    fn cached(&self, backend: DbBackend, count: usize) -> Option<String> {
        let shapes = self.0.lock().ok()?;
        shapes
            .iter()
            .find(|(b, n, _)| *b == backend && *n == count)
            .map(|(_, _, sql)| sql.clone())
    }
}

/// `sql`, an `INSERT INTO …`, as `INSERT OR FAIL INTO …`.
fn or_fail(sql: &str) -> Result<String, StoreError> {
    sql.strip_prefix("INSERT INTO ")
        .map(|rest| format!("INSERT OR FAIL INTO {rest}"))
        .ok_or_else(|| StoreError::Encode(format!("not a plain INSERT: {sql}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, OnConflict, Query};

    fn template() -> InsertStatement {
        Query::insert()
            .into_table(Alias::new("t"))
            .columns([Alias::new("a"), Alias::new("b")])
            .on_conflict(OnConflict::column(Alias::new("a")).do_nothing().to_owned())
            .to_owned()
    }

    fn row(a: &str, b: i64) -> [Value; 2] {
        [a.into(), b.into()]
    }

    #[test]
    fn a_shape_is_built_once_per_backend_and_row_count_and_gets_each_batchs_values() {
        let shapes = InsertShapes::new();
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let first = shapes
                .statement(backend, vec![row("x", 1), row("y", 2)], template)
                .unwrap();
            let again = shapes
                .statement(backend, vec![row("z", 3), row("w", 4)], || {
                    panic!("built twice")
                })
                .unwrap();
            // The same SQL as sea-query builds for these rows (on SQLite, OR FAIL), with this
            // batch's values.
            let mut direct = template();
            direct
                .values([Value::from("z").into(), Value::from(3i64).into()])
                .unwrap()
                .values([Value::from("w").into(), Value::from(4i64).into()])
                .unwrap();
            let expected = backend.build(&direct);
            assert_eq!(again.values, expected.values);
            match backend {
                DbBackend::Sqlite => assert_eq!(
                    again.sql,
                    expected.sql.replace("INSERT INTO", "INSERT OR FAIL INTO")
                ),
                _ => assert_eq!(again.sql, expected.sql),
            }
            assert_eq!(first.sql, again.sql);
            assert_ne!(first.values, again.values);
        }
        // Another row count is another shape.
        let one = shapes
            .statement(DbBackend::Sqlite, vec![row("v", 5)], template)
            .unwrap();
        assert_eq!(one.values.unwrap().0, vec![Value::from("v"), 5i64.into()]);
        assert_eq!(shapes.0.lock().unwrap().len(), 3);
    }

    #[test]
    fn only_a_plain_insert_becomes_or_fail() {
        assert_eq!(
            or_fail(r#"INSERT INTO "t" ("a") VALUES (?)"#).unwrap(),
            r#"INSERT OR FAIL INTO "t" ("a") VALUES (?)"#
        );
        assert!(or_fail(r#"REPLACE INTO "t" ("a") VALUES (?)"#).is_err());
    }
}
