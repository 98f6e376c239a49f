//! Reading the admin API's query strings and JSON bodies so that a mistake names the
//! parameter or field it is in (`limit`, `profile_defaults.locale`), as a 400.

use super::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use std::future::{ready, Ready};

/// The query string as `T`; `?limit=abc` is a 400 with `"field": "limit"`.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Params<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = url::form_urlencoded::parse(req.query_string().as_bytes());
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
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| invalid(req, ("JSON body", "body"), e))?;
    de.end()
        .map_err(|e| ApiError::invalid(req, "body", format!("invalid JSON body: {e}")))?;
    Ok(value)
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
