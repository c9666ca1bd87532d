//! `GET|POST /login` and `POST /logout`: the one admin's session.
//!
//! The login form has a CSRF token too (against login CSRF), bound to a random nonce in
//! a short-lived cookie because there is no session yet. Before the password is looked
//! at, the attempt must pass login throttling ([`crate::login_limit`]): else 429 with
//! `Retry-After`. A good login stores a new session at posts-service, sets its cookie
//! (a new id at every login) and goes back to the page that asked for it (`?next=`,
//! local paths only); a bad one is counted at posts-service, logged with the client's
//! address, and shows the form again with the user name kept and one message that does
//! not say which part was wrong. Logout deletes the session at posts-service, so a
//! copy of the cookie opens nothing afterwards, on any replica.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderValue, Method, StatusCode};
use posts_api::session::NewSession;
use serde::Deserialize;
use service_runtime::metrics::route;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::login_limit::{self, Refusal, Scope};
use crate::state::{with_state, AppState};
use crate::templates::{render, LoginPage};
use crate::web::client::client_address;
use crate::web::forms::{csrf_form, CsrfScope};
use crate::web::guards::admin_or_redirect;
use crate::web::respond::page;
use crate::web::visitor::visitor;
use crate::web::{Admin, Visitor};

/// The flash after logging in.
pub const LOGGED_IN_FLASH: &str = "You were logged in";
/// The flash after logging out.
pub const LOGGED_OUT_FLASH: &str = "You were logged out";

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let show = warp::path!("login")
        .and(route("/login", Method::GET))
        .and(with_state(state))
        .and(visitor(state))
        .and(warp::query::<LoginQuery>())
        .then(show_login);
    let login = warp::path!("login")
        .and(route("/login", Method::POST))
        .and(with_state(state))
        .and(visitor(state))
        .and(client_address(state))
        .and(csrf_form(state, CsrfScope::LoginForm))
        .then(submit_login);
    let logout = warp::path!("logout")
        .and(route("/logout", Method::POST))
        .and(with_state(state))
        // Nobody to log out: back to the blog.
        .and(admin_or_redirect(state, "/"))
        .and(csrf_form::<LogoutForm>(state, CsrfScope::Session))
        .then(submit_logout);
    page(&state.site, show)
        .or(page(&state.site, login))
        .unify()
        .or(page(&state.site, logout))
        .unify()
        .boxed()
}

/// `?next=/edit/3`: where to go after logging in.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    pub next: Option<String>,
}

/// The fields of the login form (its CSRF token is checked by [`csrf_form`]).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    pub next: String,
}

/// The logout form has nothing but its CSRF token.
#[derive(Debug, Default, Deserialize)]
pub struct LogoutForm {}

/// `next` when it is a path on this site, else `/`: never an open redirect.
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.bytes().all(|b| b.is_ascii_graphic())
        && next != "/logout"
        && !next.starts_with("/login");
    if local {
        next
    } else {
        "/"
    }
}

fn login_page(
    state: &AppState,
    mut visitor: Visitor,
    status: StatusCode,
    username: String,
    next: &str,
    error: Option<String>,
) -> Result<Response, PageError> {
    // Reuse the browser's login nonce if it has one, else start one.
    let nonce = match visitor.login_nonce.clone() {
        Some(nonce) => nonce,
        None => {
            let (nonce, set_cookie) = state.auth.start_login_form();
            visitor.set_cookie(set_cookie);
            nonce
        }
    };
    let csrf_token = state.auth.login_csrf_token(&nonce);
    let chrome = visitor.chrome(state, "Log in");
    let html = render(&LoginPage {
        chrome,
        username,
        next: safe_next(next).to_owned(),
        csrf_token,
        error,
    })?;
    Ok(visitor.page(status, html))
}

/// `GET /login`: the form (or straight on, when already logged in).
pub async fn show_login(
    state: Arc<AppState>,
    visitor: Visitor,
    query: LoginQuery,
) -> Result<Response, PageError> {
    let next = query.next.unwrap_or_default();
    if visitor.is_admin() {
        let location = safe_next(&next).to_owned();
        return Ok(visitor.redirect(&location));
    }
    login_page(&state, visitor, StatusCode::OK, String::new(), &next, None)
}

/// `POST /login`: throttles, then checks the credentials (the CSRF token was checked
/// by the route).
pub async fn submit_login(
    state: Arc<AppState>,
    mut visitor: Visitor,
    client: IpAddr,
    form: LoginForm,
) -> Result<Response, PageError> {
    let limiter = &state.login_limiter;
    let key = login_limit::throttle_key(client);
    // This replica's own bound first: a flood from one address never reaches posts-service.
    if let Err(refusal) = limiter.check_address(key) {
        return too_many_attempts(&state, visitor, client, refusal, form);
    }
    let client_text = key.to_string();
    let counts = state
        .posts
        .login_failures(&client_text, &visitor.request_id)
        .await?;
    if let Some(refusal) = login_limit::refusal(&counts) {
        return too_many_attempts(&state, visitor, client, refusal, form);
    }
    if !state.auth.check_credentials(&form.username, &form.password) {
        // Counted before answering: a failure that cannot be counted is not answered.
        let counts = state
            .posts
            .record_login_failure(&client_text, &visitor.request_id)
            .await?;
        tracing::warn!(
            client = %client,
            client_failures_last_minute = counts.client_last_minute,
            account_failures_last_hour = counts.account_last_hour,
            "failed login attempt"
        );
        let error = "That user name and password do not match. Please try again.".to_owned();
        return login_page(
            &state,
            visitor,
            StatusCode::UNAUTHORIZED,
            form.username,
            &form.next,
            Some(error),
        );
    }
    let (id, session_cookie) = state
        .auth
        .new_session_id()
        .map_err(|err| PageError::Internal(format!("no random session id: {err}")))?;
    let new = NewSession {
        key: id.key(),
        idle_secs: seconds(state.auth.session_idle()),
        lifetime_secs: seconds(state.auth.session_lifetime()),
    };
    state
        .posts
        .create_session(&new, &visitor.request_id)
        .await?;
    tracing::info!(client = %client, "admin logged in");
    visitor.set_cookie(session_cookie);
    visitor.set_cookie(state.auth.end_login_form_cookie());
    Ok(visitor.redirect_with_flash(&state.auth, safe_next(&form.next), LOGGED_IN_FLASH))
}

/// The 429 answer: the login form again, with `Retry-After`. The password is not
/// looked at.
fn too_many_attempts(
    state: &AppState,
    visitor: Visitor,
    client: IpAddr,
    refusal: Refusal,
    form: LoginForm,
) -> Result<Response, PageError> {
    state.login_limiter.count_refusal(refusal.scope);
    // Whole seconds, rounded up: never tell a client to come back too early.
    let retry_after = refusal
        .retry_after
        .as_secs()
        .saturating_add(u64::from(refusal.retry_after.subsec_nanos() > 0))
        .max(1);
    tracing::warn!(
        client = %client,
        scope = refusal.scope.as_str(),
        retry_after,
        "login refused: too many wrong passwords"
    );
    let error = match refusal.scope {
        Scope::Address => {
            "Too many attempts from your address. Please wait a minute and try again."
        }
        Scope::Account => "Too many wrong passwords for this account. Please try again later.",
    };
    let mut response = login_page(
        state,
        visitor,
        StatusCode::TOO_MANY_REQUESTS,
        form.username,
        &form.next,
        Some(error.to_owned()),
    )?;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    Ok(response)
}

fn seconds(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

/// `POST /logout`: ends the session at posts-service, then in the browser (with a
/// valid CSRF token, so no other site can log the admin out).
pub async fn submit_logout(
    state: Arc<AppState>,
    admin: Admin,
    _form: LogoutForm,
) -> Result<Response, PageError> {
    let mut visitor = admin.into_visitor();
    if let Some(session) = &visitor.session {
        state
            .posts
            .delete_session(&session.id().key(), &visitor.request_id)
            .await?;
    }
    tracing::info!("admin logged out");
    visitor.set_cookie(state.auth.end_session_cookie());
    Ok(visitor.redirect_with_flash(&state.auth, "/", LOGGED_OUT_FLASH))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_only_goes_to_local_paths() {
        assert_eq!(safe_next("/edit/3"), "/edit/3");
        assert_eq!(safe_next("/"), "/");
        assert_eq!(safe_next(""), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next("/a b"), "/");
        assert_eq!(safe_next("/logout"), "/");
        assert_eq!(safe_next("/login?next=/add"), "/");
    }
}
