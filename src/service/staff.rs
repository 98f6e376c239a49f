//! Support staff tokens: created once (printed once), stored as a hash, revocable,
//! compared in constant time.

use crate::crypto::{constant_time_eq, random_token};
use crate::db::audit::{self, NewAuditEvent};
use crate::db::staff::{self, StaffTokenRow};
use crate::db::{now_millis, write_transaction, Db, DbError};
use crate::service::tenants::AdminError;
use serde_json::json;
use sha2::{Digest, Sha256};

const PREFIX: &str = "jss_";

/// Who is calling the admin API.
#[derive(Debug, Clone)]
pub struct Staff {
    pub token_id: String,
    pub name: String,
    pub read_only: bool,
}

fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates a token and returns it in full: the only time it can be seen.
pub async fn create(db: &Db, name: &str, read_only: bool) -> Result<String, AdminError> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.len() > 100 {
        return Err(AdminError::Invalid {
            field: "name",
            message: "a token needs a name of 1-100 characters".into(),
        });
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = random_token(32);
    let token = format!("{PREFIX}{id}_{secret}");
    let secret_hash = hash(&secret);
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            staff::insert(conn, &id, &name, &secret_hash, read_only, now_millis())
                .map_err(DbError::from)?;
            audit::insert(
                conn,
                &NewAuditEvent {
                    tenant_id: None,
                    kind: "staff_token_created",
                    actor: "cli",
                    profile_id: None,
                    request_id: None,
                    details: json!({ "token_id": id, "name": name, "read_only": read_only }),
                },
            )
            .map_err(DbError::from)?;
            Ok::<_, AdminError>(())
        })
    })
    .await?;
    Ok(token)
}

pub async fn revoke(db: &Db, who: &str) -> Result<usize, DbError> {
    let who = who.to_owned();
    db.run(move |conn| Ok(staff::revoke(conn, &who, now_millis())?))
        .await
}

pub async fn list(db: &Db) -> Result<Vec<StaffTokenRow>, DbError> {
    db.run(|conn| Ok(staff::list(conn)?)).await
}

/// The staff member a presented token belongs to, if it is valid and not revoked.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Option<Staff>, DbError> {
    let Some((id, secret)) = presented
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let (id, presented_hash) = (id.to_owned(), hash(secret));
    db.run(move |conn| {
        let Some(row) = staff::find_active(conn, &id)? else {
            return Ok(None);
        };
        if !constant_time_eq(row.secret_hash.as_bytes(), presented_hash.as_bytes()) {
            return Ok(None);
        }
        staff::touch(conn, &row.id, now_millis())?;
        Ok(Some(Staff {
            token_id: row.id,
            name: row.name,
            read_only: row.read_only,
        }))
    })
    .await
}
