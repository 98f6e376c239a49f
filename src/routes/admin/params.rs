//! Reading the admin API's query strings and JSON bodies so that a mistake names the
//! parameter or field it is in (`limit`, `allowed_email_domains[1]`), as a 400.

use super::ApiError;
use crate::db::storable;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::{ready, Ready};

/// The query string as `T`; `?limit=abc` is a 400 with `"field": "limit"`.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Params<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = url::form_urlencoded::parse(req.query_string().as_bytes());
        if let Some((key, _)) = pairs.clone().find(|(k, v)| !storable(k) || !storable(v)) {
            return ready(Err(nul(req, &key)));
        }
        let parsed = serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs));
        ready(
            parsed
                .map(Params)
                .map_err(|e| invalid(req, ("query parameter", "query"), e)),
        )
    }
}

/// A JSON body as `T`, parsed after authorization (extractors run together, so a body
/// error could otherwise answer before a 401/403).
pub fn json_body<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(req, "body", format!("invalid JSON body: {e}")))?;
    if let Some(path) = unstorable(&value, String::new()) {
        return Err(nul(req, &path));
    }
    // Read from the text, not from `value`: a map keeps only the last of repeated keys,
    // and `{"enabled": false, "enabled": true}` must be refused, not guessed at.
    let mut text = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut text).map_err(|e| invalid(req, ("JSON body", "body"), e))
}

/// The path (`name`, `allowed_email_domains[1]`) of the first string or key under `at`
/// that holds a NUL character, which PostgreSQL cannot store.
fn unstorable(value: &Value, at: String) -> Option<String> {
    match value {
        Value::String(s) if !storable(s) => Some(at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| unstorable(v, format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if storable(k) {
                unstorable(v, here)
            } else {
                Some(here)
            }
        }),
        _ => None,
    }
}

fn nul(req: &HttpRequest, field: &str) -> ApiError {
    let field = field.replace('\0', "\\0");
    ApiError::invalid(
        req,
        &field,
        format!("{field} must not contain a NUL character"),
    )
}

/// The field is the path where deserializing failed; at the top level (an unknown or
/// missing field) it is the name serde quotes in backticks, else the whole `part`.
fn invalid<E: std::fmt::Display>(
    req: &HttpRequest,
    (what, part): (&str, &str),
    e: serde_path_to_error::Error<E>,
) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    let field = if path != "." {
        path
    } else {
        inner.split('`').nth(1).unwrap_or(part).to_owned()
    };
    ApiError::invalid(req, &field, format!("invalid {what}: {field}: {inner}"))
}
