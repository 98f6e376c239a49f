//! The support staff API, `/admin/v1` (JSON), authenticated by staff bearer tokens.
//!
//! Routes and their OpenAPI document come from one list (`admin_routes!`), so a route
//! cannot exist without being documented.

mod handlers;
pub mod page;
mod params;

use super::{AppState, RequestId};
use crate::db::DbError;
use crate::service::staff::{self, Staff};
use crate::service::tenants::AdminError;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;

/// A JSON error: `{"error": code, "message", "field"?, "request_id"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    request_id: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.code)
    }
}

fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

impl ApiError {
    pub fn new(
        req: &HttpRequest,
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            request_id: request_id(req),
        }
    }

    pub fn invalid(req: &HttpRequest, field: &str, message: impl Into<String>) -> Self {
        let mut e = ApiError::new(req, StatusCode::BAD_REQUEST, "invalid", message);
        e.field = Some(field.to_owned());
        e
    }

    /// Maps a service error; the cause of a 5xx goes to the log, not to the client.
    pub fn from_admin(req: &HttpRequest, e: AdminError) -> Self {
        match e {
            AdminError::Invalid { field, message } => {
                ApiError::invalid(req, field, format!("{field}: {message}"))
            }
            AdminError::UnknownTenant(slug) => ApiError::new(
                req,
                StatusCode::NOT_FOUND,
                "unknown_tenant",
                format!("no tenant named {slug:?}"),
            ),
            AdminError::UnknownProfile => ApiError::new(
                req,
                StatusCode::NOT_FOUND,
                "unknown_profile",
                "no such profile in this tenant",
            ),
            AdminError::Duplicate(slug) => {
                let mut e = ApiError::new(
                    req,
                    StatusCode::CONFLICT,
                    "duplicate",
                    format!("a tenant named {slug:?} already exists"),
                );
                e.field = Some("slug".into());
                e
            }
            AdminError::Db(db) => ApiError::from_db(req, db),
        }
    }

    pub fn from_db(req: &HttpRequest, e: DbError) -> Self {
        let rid = request_id(req);
        match e {
            DbError::Unavailable(m) => {
                log::warn!("admin request_id={rid}: database unavailable: {m}");
                ApiError::new(
                    req,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is not answering; try again",
                )
            }
            other => {
                log::error!("admin request_id={rid}: {other}");
                ApiError::new(
                    req,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side",
                )
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body =
            json!({ "error": self.code, "message": self.message, "request_id": self.request_id });
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        let mut resp = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="jit-sso admin""#));
        }
        resp.insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body)
    }
}

/// The staff member behind a valid `Authorization: Bearer` token.
pub struct StaffAuth(pub Staff);

/// A staff member whose token may write; read-only tokens get 403 before the body is read.
pub struct WriterAuth(pub Staff);

impl WriterAuth {
    pub fn actor(&self) -> String {
        format!("staff:{}", self.0.name)
    }
}

impl FromRequest for WriterAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let staff = StaffAuth::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let StaffAuth(staff) = staff.await?;
            if staff.read_only {
                return Err(ApiError::new(
                    &req,
                    StatusCode::FORBIDDEN,
                    "read_only",
                    "this token may only read",
                ));
            }
            Ok(WriterAuth(staff))
        })
    }
}

impl FromRequest for StaffAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let unauthorized =
                |m: &str| ApiError::new(&req, StatusCode::UNAUTHORIZED, "unauthorized", m);
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                // The scheme name is case-insensitive (RFC 9110 11.1).
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .ok_or_else(|| {
                    unauthorized("send a staff token as Authorization: Bearer <token>")
                })?;
            let app = req
                .app_data::<web::Data<AppState>>()
                .expect("app state is registered")
                .clone();
            match staff::authenticate(&app.db, token).await {
                Ok(Some(staff)) => Ok(StaffAuth(staff)),
                Ok(None) => Err(unauthorized("the token is unknown or revoked")),
                Err(e) => Err(ApiError::from_db(&req, e)),
            }
        })
    }
}

/// One documented endpoint.
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub writes: bool,
}

macro_rules! admin_routes {
    ($( $method:ident $path:literal $writes:literal $summary:literal => $handler:path; )*) => {
        pub const ENDPOINTS: &[Endpoint] = &[
            $( Endpoint { method: stringify!($method), path: $path, summary: $summary, writes: $writes }, )*
        ];

        pub fn scope() -> actix_web::Scope {
            web::scope("/admin/v1")
                .app_data(web::PayloadConfig::new(64 * 1024))
                $( .route($path, web::$method().to($handler)) )*
                .route("/openapi.json", web::get().to(openapi))
                .default_service(web::to(no_route))
        }
    };
}

admin_routes! {
    get "/tenants" false "List tenants" => handlers::list_tenants;
    post "/tenants" true "Register a tenant (JIT starts off)" => handlers::create_tenant;
    get "/tenants/{slug}" false "Read a tenant (the client secret is never returned)" => handlers::get_tenant;
    patch "/tenants/{slug}" true "Update a tenant's settings" => handlers::update_tenant;
    put "/tenants/{slug}/jit" true "Switch just-in-time provisioning on or off, with a reason" => handlers::set_jit;
    get "/tenants/{slug}/profiles" false "Search the roster (q, created_via, created_after, created_before, cursor, limit)" => handlers::list_profiles;
    get "/tenants/{slug}/profiles/{id}" false "Read a profile with its identity links" => handlers::get_profile;
    post "/tenants/{slug}/profiles/{id}/deactivate" true "Deactivate a profile, with a reason" => handlers::deactivate_profile;
    post "/tenants/{slug}/profiles/{id}/reactivate" true "Reactivate a profile, with a reason" => handlers::reactivate_profile;
    post "/tenants/{slug}/profiles/{id}/unlink" true "Remove a profile's identity links, with a reason (its next sign-in links again by verified email)" => handlers::unlink_profile;
    get "/tenants/{slug}/audit" false "Read the audit trail (kind, profile, since, until, cursor, limit)" => handlers::list_audit;
    post "/tenants/{slug}/check" false "Check the tenant's provider integration, item by item" => handlers::check_tenant;
}

/// The OpenAPI 3 document, generated from `ENDPOINTS`.
pub fn openapi_document() -> serde_json::Value {
    let mut paths = serde_json::Map::new();
    for e in ENDPOINTS {
        let params: Vec<serde_json::Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut responses = json!({
            "200": { "description": "OK" },
            "400": { "description": "Invalid input; `field` names the culprit", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            "401": { "description": "No or unknown token" },
            "404": { "description": "Unknown tenant or profile" }
        });
        if e.writes {
            responses["403"] = json!({ "description": "Read-only token" });
        }
        let mut op = json!({ "summary": e.summary, "parameters": params, "responses": responses, "security": [{ "staffToken": [] }] });
        if matches!(e.method, "post" | "put" | "patch") && !e.path.ends_with("/check") {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "type": "object" } } } });
        }
        let entry = paths
            .entry(format!("/admin/v1{}", e.path))
            .or_insert_with(|| json!({}));
        entry[e.method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "jit-sso support staff API", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "securitySchemes": { "staffToken": { "type": "http", "scheme": "bearer", "description": "jit-sso token create --name <who>" } },
            "schemas": { "Error": { "type": "object", "required": ["error", "message", "request_id"], "properties": {
                "error": { "type": "string" }, "message": { "type": "string" }, "field": { "type": "string" }, "request_id": { "type": "string" } } } }
        }
    })
}

/// No route took the request: 405 with `Allow` when the path exists for other methods,
/// else 404, both as JSON errors like the rest of the API.
async fn no_route(req: HttpRequest) -> HttpResponse {
    let path = req.path().strip_prefix("/admin/v1").unwrap_or_default();
    let allowed: Vec<String> = ENDPOINTS
        .iter()
        .map(|e| (e.method, e.path))
        .chain([("get", "/openapi.json")])
        .filter(|(_, pattern)| actix_web::dev::ResourceDef::new(*pattern).is_match(path))
        .flat_map(|(method, _)| match method {
            "get" => vec!["GET", "HEAD"],
            other => vec![other],
        })
        .map(str::to_ascii_uppercase)
        .collect();
    if allowed.is_empty() {
        return ApiError::new(
            &req,
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API route",
        )
        .error_response();
    }
    let allow = allowed.join(", ");
    let message = format!("this route answers {allow}");
    let mut resp = ApiError::new(
        &req,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        message,
    )
    .error_response();
    if let Ok(value) = header::HeaderValue::from_str(&allow) {
        resp.headers_mut().insert(header::ALLOW, value);
    }
    resp
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}
