//! Transactions: the write transaction (BEGIN IMMEDIATE on SQLite), savepoints that turn a
//! uniqueness conflict into "already there".

use super::{is_unique_violation, AnyConnection, DbError};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::result::Error as DieselError;

/// Runs `f` in a transaction that takes the write lock up front on SQLite
/// (`BEGIN IMMEDIATE`, so concurrent writers queue instead of failing) and a plain
/// transaction on PostgreSQL. Nested `conn.transaction(..)` calls inside become savepoints.
pub fn write_transaction<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<DbError>,
{
    writing(conn, f, |e| E::from(e.into()))
}

/// [`write_transaction`] for query functions (diesel's errors), and nestable: inside a
/// transaction it is a savepoint. On SQLite a transaction that reads before it writes must
/// be this one: a deferred one fails at once with "database is locked" when another writer
/// committed after its read, whatever the busy timeout.
pub fn write_query_transaction<T, F>(conn: &mut AnyConnection, f: F) -> QueryResult<T>
where
    F: FnOnce(&mut AnyConnection) -> QueryResult<T>,
{
    writing(conn, f, |e| e)
}

fn writing<T, E, F>(conn: &mut AnyConnection, f: F, lift: impl Fn(DieselError) -> E) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
{
    type Manager = <AnyConnection as Connection>::TransactionManager;
    let nested = Manager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .map_err(&lift)?
        .is_some();
    let begun = match conn {
        AnyConnection::Sqlite(c) if !nested => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
        _ => Manager::begin_transaction(conn),
    };
    begun.map_err(&lift)?;
    match f(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn).map_err(&lift)?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback) = Manager::rollback_transaction(conn) {
                log::warn!("rollback failed: {rollback}");
            }
            Err(err)
        }
    }
}

/// Runs `f` inside a savepoint; a uniqueness conflict rolls the savepoint back and yields
/// `Ok(None)` ("already there"), so the caller can read what the other writer made.
pub fn insert_tolerating_conflict<T, F>(
    conn: &mut AnyConnection,
    f: F,
) -> Result<Option<T>, DbError>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, DieselError>,
{
    conflict_as_none(conn.transaction(f))
}

/// A uniqueness conflict as `Ok(None)` ("already there"), any other error as it is.
pub fn conflict_as_none<T>(result: QueryResult<T>) -> Result<Option<T>, DbError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
