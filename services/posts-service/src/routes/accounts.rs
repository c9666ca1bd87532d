//! Handlers for the accounts of the internal API (`/internal/v1/logins`,
//! `/internal/v1/users`), and who a write acts for ([`acting_user`]).
//!
//! Every call needs the API token. A call that names no acting user (`X-Acting-User`)
//! is the service's own and may do anything, as every call could before accounts; one
//! that names a user may manage accounts only when that user is an enabled owner, and
//! a user may change their own password (with the current one).

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use posts_api::account::{
    display_name_problem, password_problems, username_problem, LoginRequest, NewUser,
    PasswordChange, Role, User, UserChanges, USERNAME_MAX_CHARS,
};
use warp::reply::Response;

use super::reply::json;
use super::request::{self, Authorized};
use crate::error::ApiError;
use crate::passwords;
use crate::state::AppState;

/// The header that names the signed-in user a write is made for.
pub const ACTING_USER: &str = "x-acting-user";

/// The user named by `X-Acting-User`, or `None` without the header. A header that is
/// not an id is a 400; an id of no account, or of a disabled one, a 403.
pub async fn acting_user(headers: &HeaderMap, state: &AppState) -> Result<Option<User>, ApiError> {
    let Some(value) = headers.get(ACTING_USER) else {
        return Ok(None);
    };
    let id = value
        .to_str()
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| ApiError::BadRequest("X-Acting-User must be a user id.".into()))?;
    match state.users.by_id(id).await? {
        Some(record) if record.user.enabled => Ok(Some(record.user)),
        _ => Err(ApiError::Forbidden(
            "X-Acting-User names no enabled account.".into(),
        )),
    }
}

/// Refuses a call acted for a user who is not an owner.
fn require_owner(acting: Option<&User>) -> Result<(), ApiError> {
    match acting {
        Some(user) if user.role != Role::Owner => Err(ApiError::Forbidden(
            "Only an owner may manage accounts.".into(),
        )),
        _ => Ok(()),
    }
}

/// `POST /internal/v1/logins`: the account if the password is its own and it is
/// enabled; otherwise one 401 whatever the reason, after the same work.
pub async fn login(
    _: Authorized,
    headers: HeaderMap,
    body: Result<Bytes, ApiError>,
    state: AppState,
) -> Result<Response, ApiError> {
    let login = request::json::<LoginRequest>(&headers, body)?;
    let username = login.username.to_ascii_lowercase();
    // Usernames are ASCII (their column too): another name cannot be one, and is not
    // asked for (MariaDB refuses to compare it with the column).
    let record = if username.is_ascii() && username.len() <= USERNAME_MAX_CHARS {
        state.users.by_username(&username).await?
    } else {
        None
    };
    let Some(record) = record else {
        passwords::verify_dummy(login.password).await?;
        return Err(ApiError::LoginFailed);
    };
    let matches = passwords::verify(login.password, record.password_hash).await?;
    if !matches || !record.user.enabled {
        tracing::info!("login refused");
        return Err(ApiError::LoginFailed);
    }
    tracing::info!(user_id = record.user.id, "login accepted");
    Ok(json(StatusCode::OK, &record.user))
}

/// `GET /internal/v1/users`: every account, by id.
pub async fn list_users(
    _: Authorized,
    headers: HeaderMap,
    state: AppState,
) -> Result<Response, ApiError> {
    require_owner(acting_user(&headers, &state).await?.as_ref())?;
    let users = state.users.list().await?;
    Ok(json(StatusCode::OK, &users))
}

/// `POST /internal/v1/users`: a new enabled account; 409 when the username is taken.
pub async fn create_user(
    _: Authorized,
    headers: HeaderMap,
    body: Result<Bytes, ApiError>,
    state: AppState,
) -> Result<Response, ApiError> {
    let acting = acting_user(&headers, &state).await?;
    require_owner(acting.as_ref())?;
    let new = request::json::<NewUser>(&headers, body)?;
    let mut problems = Vec::new();
    problems.extend(username_problem(&new.username));
    problems.extend(display_name_problem(&new.display_name));
    problems.extend(password_problems("password", &new.username, &new.password));
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let hash = passwords::hash(new.password).await?;
    let user = state
        .users
        .create(&new.username, new.display_name.trim(), new.role, &hash)
        .await?
        .ok_or_else(|| ApiError::Conflict("An account with this username exists.".into()))?;
    tracing::info!(
        user_id = user.id,
        role = user.role.as_str(),
        "account created"
    );
    Ok(json(StatusCode::CREATED, &user))
}

/// `PATCH /internal/v1/users/{id}`: enable or disable, a new role, a new display name.
pub async fn update_user(
    id: String,
    _: Authorized,
    headers: HeaderMap,
    body: Result<Bytes, ApiError>,
    state: AppState,
) -> Result<Response, ApiError> {
    let id = request::post_id(&id)?;
    let acting = acting_user(&headers, &state).await?;
    require_owner(acting.as_ref())?;
    let changes = request::json::<UserChanges>(&headers, body)?;
    if let Some(display_name) = &changes.display_name {
        if let Some(problem) = display_name_problem(display_name) {
            return Err(ApiError::Validation(vec![problem]));
        }
    }
    let demotes = changes.enabled == Some(false) || changes.role.is_some_and(|r| r != Role::Owner);
    if demotes && acting.as_ref().is_some_and(|user| user.id == id) {
        return Err(ApiError::Conflict(
            "An owner cannot disable their own account or give up their own role.".into(),
        ));
    }
    let user = state
        .users
        .update(
            id,
            changes.enabled,
            changes.role,
            changes.display_name.map(|name| name.trim().to_owned()),
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(
        user_id = user.id,
        role = user.role.as_str(),
        enabled = user.enabled,
        "account changed"
    );
    Ok(json(StatusCode::OK, &user))
}

/// `PUT /internal/v1/users/{id}/password`: users change their own (giving the current
/// one); an owner, or the service, sets anyone's.
pub async fn set_password(
    id: String,
    _: Authorized,
    headers: HeaderMap,
    body: Result<Bytes, ApiError>,
    state: AppState,
) -> Result<Response, ApiError> {
    let id = request::post_id(&id)?;
    let acting = acting_user(&headers, &state).await?;
    let change = request::json::<PasswordChange>(&headers, body)?;
    let own = acting.as_ref().is_some_and(|user| user.id == id);
    if !own {
        require_owner(acting.as_ref())?;
    }
    let target = state.users.by_id(id).await?.ok_or(ApiError::NotFound)?;
    let problems = password_problems("new_password", &target.user.username, &change.new_password);
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    if own {
        let Some(current) = change.current_password else {
            return Err(ApiError::Validation(vec![posts_api::FieldError {
                field: "current_password".into(),
                message: "current_password is required to change your own password".into(),
            }]));
        };
        if !passwords::verify(current, target.password_hash).await? {
            return Err(ApiError::Forbidden(
                "current_password is not this account's password.".into(),
            ));
        }
    }
    let hash = passwords::hash(change.new_password).await?;
    if !state.users.set_password(id, &hash).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(user_id = id, "password changed");
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
