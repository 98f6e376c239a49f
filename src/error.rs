//! One table from error kinds to HTTP status and a plain-words page.
//!
//! A client's mistake is a 4xx page that says what happened and offers to start again
//! (never an automatic redirect back to the provider). A server-side failure is a 5xx page
//! that carries no internal cause; the cause goes to the log with the request id.

use crate::db::DbError;
use crate::oidc::OidcError;
use crate::routes::pages;
use crate::service::signin::Refusal;
use crate::service::tenants::AdminError;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use std::fmt;

#[derive(Debug)]
pub enum ErrorKind {
    UnknownTenant,
    /// A malformed request, explained in plain words.
    BadRequest(&'static str),
    /// Missing, unknown, expired or forged sign-in state.
    BadState(&'static str),
    /// The same, from a browser already signed in to this tenant: link to the app.
    AlreadySignedIn(String),
    /// The provider redirected back with `error=...`.
    ProviderSaid(String),
    /// The token endpoint refused the code (replayed or expired).
    CodeRefused,
    /// The ID token failed validation.
    TokenRejected,
    Refused(Refusal),
    ProviderUnreachable,
    ProviderMisconfigured,
    DatabaseUnavailable,
    Internal,
}

/// An error on a browser route. `tenant` is used to offer "start again".
#[derive(Debug)]
pub struct AppError {
    pub kind: ErrorKind,
    pub tenant: Option<String>,
    /// A cookie that ends the sign-in flow this error ends (set on the error page).
    pub flow_over: Option<Box<Cookie<'static>>>,
}

impl ErrorKind {
    /// The outcome label for metrics (bounded; no user data).
    pub fn metric_label(&self) -> String {
        match self {
            ErrorKind::Refused(r) => format!("refused_{}", r.code()),
            ErrorKind::UnknownTenant => "unknown_tenant".into(),
            ErrorKind::BadRequest(_) => "bad_request".into(),
            ErrorKind::BadState(_) => "bad_state".into(),
            ErrorKind::AlreadySignedIn(_) => "already_signed_in".into(),
            ErrorKind::ProviderSaid(_) => "provider_error".into(),
            ErrorKind::CodeRefused => "code_refused".into(),
            ErrorKind::TokenRejected => "token_rejected".into(),
            ErrorKind::ProviderUnreachable => "provider_unreachable".into(),
            ErrorKind::ProviderMisconfigured => "provider_misconfigured".into(),
            ErrorKind::DatabaseUnavailable => "database_unavailable".into(),
            ErrorKind::Internal => "internal_error".into(),
        }
    }
}

impl AppError {
    pub fn new(kind: ErrorKind) -> Self {
        AppError {
            kind,
            tenant: None,
            flow_over: None,
        }
    }
    pub fn for_tenant(mut self, slug: &str) -> Self {
        self.tenant = Some(slug.to_owned());
        self
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(m) => {
                log::warn!("database unavailable: {m}");
                AppError::new(ErrorKind::DatabaseUnavailable)
            }
            other => {
                log::error!("database error: {other}");
                AppError::new(ErrorKind::Internal)
            }
        }
    }
}

impl From<OidcError> for AppError {
    fn from(e: OidcError) -> Self {
        log::warn!("sign-in failed at the provider step: {e}");
        AppError::new(match e {
            OidcError::Unreachable(_) => ErrorKind::ProviderUnreachable,
            OidcError::Misconfigured(_) => ErrorKind::ProviderMisconfigured,
            OidcError::CodeRefused { .. } => ErrorKind::CodeRefused,
            OidcError::TokenRejected(_) => ErrorKind::TokenRejected,
        })
    }
}

impl From<AdminError> for AppError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::UnknownTenant(_) => AppError::new(ErrorKind::UnknownTenant),
            AdminError::Db(db) => db.into(),
            other => {
                log::error!("unexpected admin error on a browser route: {other}");
                AppError::new(ErrorKind::Internal)
            }
        }
    }
}

/// Status, title and explanation for each kind.
fn describe(kind: &ErrorKind) -> (StatusCode, &'static str, String) {
    use ErrorKind::*;
    match kind {
        UnknownTenant => (
            StatusCode::NOT_FOUND,
            "Unknown company",
            "We do not know this company's sign-in address. Check the link you followed.".into(),
        ),
        BadRequest(why) => (
            StatusCode::BAD_REQUEST,
            "We could not start signing you in",
            (*why).to_owned(),
        ),
        AlreadySignedIn(_) => (
            StatusCode::BAD_REQUEST,
            "This sign-in link was already used",
            "You are already signed in, so there is nothing more to do here.".into(),
        ),
        BadState(why) => (
            StatusCode::BAD_REQUEST,
            "This sign-in link is no longer valid",
            format!("{why} Please start signing in again."),
        ),
        ProviderSaid(code) => (
            if code == "access_denied" { StatusCode::FORBIDDEN } else { StatusCode::BAD_REQUEST },
            "Your company's sign-in did not complete",
            format!("Your identity provider answered \u{201c}{code}\u{201d}. If you cancelled, you can try again; otherwise ask your administrator whether this application is assigned to you."),
        ),
        CodeRefused => (
            StatusCode::BAD_REQUEST,
            "This sign-in was already used or has expired",
            "The one-time sign-in code was refused by your identity provider. Please start signing in again.".into(),
        ),
        TokenRejected => (
            StatusCode::UNAUTHORIZED,
            "We could not verify your identity",
            "The identity token from your company's provider did not pass our checks, so we did not sign you in. Please try again; if it keeps happening, tell your administrator.".into(),
        ),
        Refused(r) => (StatusCode::FORBIDDEN, refusal_title(r), refusal_text(r)),
        ProviderUnreachable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Your company's identity provider is not answering",
            "We could not reach your company's sign-in service. Please try again in a few minutes.".into(),
        ),
        ProviderMisconfigured => (
            StatusCode::BAD_GATEWAY,
            "Your company's sign-in is not set up correctly",
            "The identity provider's settings do not match what we have on file. Please tell your administrator; our support staff can help.".into(),
        ),
        DatabaseUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "We are having trouble right now",
            "The service is temporarily unavailable. Nothing was changed. Please try again in a minute.".into(),
        ),
        Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side",
            "Nothing was changed. Please try again; if it keeps happening, contact support and mention the time it happened.".into(),
        ),
    }
}

pub fn refusal_title(r: &Refusal) -> &'static str {
    match r {
        Refusal::NoAccount => "You do not have an account yet",
        Refusal::EmailUnverified => "Your email address is not verified",
        Refusal::MissingEmail(_) | Refusal::InvalidEmail => {
            "Your sign-in did not include a usable email address"
        }
        Refusal::DomainNotAllowed => "This email domain is not allowed",
        Refusal::Deactivated => "Your account is deactivated",
        Refusal::IdentityConflict => "This account belongs to someone else",
    }
}

fn refusal_text(r: &Refusal) -> String {
    match r {
        Refusal::NoAccount => "Your company has not given you an account in this application yet. Please contact your administrator to request access.".into(),
        Refusal::EmailUnverified => "Your identity provider did not confirm that your email address is verified, so we cannot use it to find or create your account. Please ask your administrator to verify it.".into(),
        Refusal::MissingEmail(claim) => format!("We need your email address to find your account, but your company's identity provider did not send it. Please ask your administrator to add the \u{201c}{claim}\u{201d} claim to this application's sign-in token."),
        Refusal::InvalidEmail => "The email address your identity provider sent is not a valid address. Please ask your administrator to correct it.".into(),
        Refusal::DomainNotAllowed => "Your company allows only certain email domains in this application, and yours is not one of them. Please contact your administrator.".into(),
        Refusal::Deactivated => "Your account in this application has been deactivated. Please contact your administrator if you need access again.".into(),
        Refusal::IdentityConflict => "The email address you signed in with is already linked to a different person's account. For your safety we did not sign you in. Please contact your administrator.".into(),
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        describe(&self.kind).0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, title, text) = describe(&self.kind);
        let mut response = if let ErrorKind::AlreadySignedIn(target) = &self.kind {
            pages::error_page_with_link(status, title, &text, target, "Continue to the application")
        } else {
            let retry = self
                .tenant
                .as_deref()
                .filter(|_| !matches!(self.kind, ErrorKind::UnknownTenant))
                .map(|slug| format!("/t/{slug}/login"));
            pages::error_page(status, title, &text, retry.as_deref())
        };
        if let Some(cookie) = &self.flow_over {
            response.add_cookie(cookie).ok();
        }
        response
    }
}
