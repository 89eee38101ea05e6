//! The schema, as SQL files embedded in the binary and applied in order when a [`super::PgStore`] connects.
//!
//! Applied versions are recorded in `gatehouse_migrations`. Every process takes one PostgreSQL advisory lock (a
//! session lock on one pooled connection) before looking at that table, so processes starting together apply each
//! migration exactly once: the others wait, then find it recorded. A migration and its record commit together.

use deadpool_postgres::{Object, Pool};

use super::support::{pg_error, pool_error};
use crate::StoreResult;

/// One schema change.
pub(super) struct Migration {
    /// Its number: migrations apply in this order, each once.
    pub(super) version: i32,
    pub(super) sql: &'static str,
}

/// Every migration, oldest first. A released migration is never edited: a change is a new file.
pub(super) const MIGRATIONS: &[Migration] =
    &[Migration { version: 1, sql: include_str!("../../migrations/0001_init.sql") }];

/// The advisory lock serializing migrations: "gatehous" in ASCII.
const LOCK_KEY: i64 = 0x6761_7465_686f_7573;

/// Applies the migrations this database lacks.
pub(super) async fn migrate(pool: &Pool) -> StoreResult<()> {
    let doing = "migrating the database";
    let mut client = pool.get().await.map_err(|e| pool_error(doing, e))?;
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY]).await.map_err(|e| pg_error(doing, &e))?;
    let applied = apply(&mut client).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]).await;
    if unlocked.is_err() {
        // The lock belongs to this connection's session: closing the connection releases it, so it must not go back
        // to the pool holding it.
        drop(Object::take(client));
    }
    applied?;
    unlocked.map(drop).map_err(|e| pg_error("releasing the migration lock", &e))
}

async fn apply(client: &mut Object) -> StoreResult<()> {
    client
        .batch_execute(
            // Without the table only: CREATE TABLE IF NOT EXISTS would send a NOTICE on every start, which the
            // driver logs.
            "DO $$ BEGIN
                IF to_regclass('gatehouse_migrations') IS NULL THEN
                    CREATE TABLE gatehouse_migrations (
                        version    integer PRIMARY KEY,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    );
                END IF;
            END $$",
        )
        .await
        .map_err(|e| pg_error("creating the migrations table", &e))?;
    let rows = client
        .query("SELECT version FROM gatehouse_migrations", &[])
        .await
        .map_err(|e| pg_error("reading applied migrations", &e))?;
    let applied = rows.iter().map(|row| row.try_get::<_, i32>(0)).collect::<Result<Vec<i32>, _>>();
    let applied = applied.map_err(|e| pg_error("reading applied migrations", &e))?;
    for migration in MIGRATIONS.iter().filter(|migration| !applied.contains(&migration.version)) {
        let doing = format!("applying migration {}", migration.version);
        let transaction = client.transaction().await.map_err(|e| pg_error(&doing, &e))?;
        transaction.batch_execute(migration.sql).await.map_err(|e| pg_error(&doing, &e))?;
        transaction
            .execute("INSERT INTO gatehouse_migrations (version) VALUES ($1)", &[&migration.version])
            .await
            .map_err(|e| pg_error(&doing, &e))?;
        transaction.commit().await.map_err(|e| pg_error(&doing, &e))?;
    }
    Ok(())
}
