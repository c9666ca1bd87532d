//! The one admin: login check, session cookies, CSRF tokens and flash messages, keyed
//! by `SESSION_SECRET` with HMAC-SHA256.
//!
//! - A **session** lives on the server (posts-service's internal API, in MariaDB), so
//!   logging out ends it at once on every replica. Its id is 256 random bits, new at
//!   every login; the cookie carries `<id>.<mac>`, the MAC also covering the admin's
//!   user name and a digest of the password, so a made-up cookie is refused without a
//!   lookup and changing `ADMIN_USER`, `ADMIN_PASSWORD` (or the secret) ends every
//!   session. posts-service only ever sees the SHA-256 of the id ([`SessionId::key`]).
//! - A **CSRF token** is the MAC of the session id, so it is different for every login
//!   and needs no lookup to check. Before login, the login form's token is bound the
//!   same way to a random nonce in a short-lived cookie.
//! - A **flash** message ("New entry was successfully posted") rides a signed cookie
//!   across the redirect and is removed by the page that shows it.
//! - With `COOKIE_SECURE=true` every cookie is `Secure` and named with the `__Host-`
//!   prefix (so `Path=/` and no `Domain`: no sibling host can set or shadow it).
//!
//! Every MAC input is a domain tag plus length-prefixed fields, so no value made for one
//! purpose verifies as another.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Config;

type HmacSha256 = Hmac<Sha256>;

/// Cookie holding the admin's session.
pub const SESSION_COOKIE: &str = "blog_session";
/// Cookie carrying a flash message across one redirect.
pub const FLASH_COOKIE: &str = "blog_flash";
/// Cookie binding the login form's CSRF token to this browser before there is a session.
pub const LOGIN_COOKIE: &str = "blog_login";
/// The cookies' names with `COOKIE_SECURE=true`.
const SECURE_COOKIES: CookieNames = CookieNames {
    session: "__Host-blog_session",
    flash: "__Host-blog_flash",
    login: "__Host-blog_login",
};
const PLAIN_COOKIES: CookieNames = CookieNames {
    session: SESSION_COOKIE,
    flash: FLASH_COOKIE,
    login: LOGIN_COOKIE,
};

/// The names of the three cookies, which depend on `COOKIE_SECURE`.
#[derive(Debug, Clone, Copy)]
pub struct CookieNames {
    pub session: &'static str,
    pub flash: &'static str,
    pub login: &'static str,
}

/// A session id in the cookie: 32 bytes in unpadded base64url.
const SESSION_ID_CHARS: usize = 43;

/// How long a login form stays usable.
const LOGIN_FORM_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// A flash message is read right after the redirect that set it.
const FLASH_LIFETIME: Duration = Duration::from_secs(60);

/// Signs and checks everything the admin's browser carries.
#[derive(Clone)]
pub struct Auth {
    mac: HmacSha256,
    admin_user: String,
    admin_user_digest: [u8; 32],
    admin_password_digest: [u8; 32],
    session_lifetime: Duration,
    session_idle: Duration,
    cookie_secure: bool,
    names: CookieNames,
}

/// A session id from a cookie whose MAC is ours. Whether the session is still current
/// only posts-service can tell.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// The session's key at posts-service: SHA-256 of the id, in hex.
    pub fn key(&self) -> String {
        Sha256::digest(self.0.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The id opens the session: never in a log line.
        f.write_str("SessionId(***)")
    }
}

/// A current admin session (its id checked here, its expiry by posts-service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    id: SessionId,
}

impl Session {
    /// The session with this verified id.
    pub fn new(id: SessionId) -> Session {
        Session { id }
    }

    /// Its id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }
}

impl Auth {
    /// Keys and credentials from the configuration (which has checked the secret's length).
    pub fn new(config: &Config) -> Auth {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = <HmacSha256 as Mac>::new_from_slice(config.session_secret.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Auth {
            mac,
            admin_user: config.admin_user.clone(),
            admin_user_digest: Sha256::digest(config.admin_user.as_bytes()).into(),
            admin_password_digest: Sha256::digest(config.admin_password.expose().as_bytes()).into(),
            session_lifetime: config.session_lifetime(),
            session_idle: config.session_idle(),
            cookie_secure: config.cookie_secure,
            names: if config.cookie_secure {
                SECURE_COOKIES
            } else {
                PLAIN_COOKIES
            },
        }
    }

    /// The cookies' names (`__Host-` prefixed with `COOKIE_SECURE=true`).
    pub fn cookie_names(&self) -> CookieNames {
        self.names
    }

    /// How long a session lasts at most.
    pub fn session_lifetime(&self) -> Duration {
        self.session_lifetime
    }

    /// How long a session lasts without a request.
    pub fn session_idle(&self) -> Duration {
        self.session_idle
    }

    /// Whether `user` and `password` are the admin's. Both are compared, as fixed-length
    /// digests and in constant time, so the answer's timing tells nothing about which
    /// part was wrong or how much of it matched.
    pub fn check_credentials(&self, user: &str, password: &str) -> bool {
        let user_digest: [u8; 32] = Sha256::digest(user.as_bytes()).into();
        let password_digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let user_ok = user_digest.ct_eq(&self.admin_user_digest);
        let password_ok = password_digest.ct_eq(&self.admin_password_digest);
        (user_ok & password_ok).into()
    }

    /// A new session id (256 random bits) and the `Set-Cookie` value that stores it.
    /// The session exists once posts-service has stored its key.
    pub fn new_session_id(&self) -> Result<(SessionId, String), getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        let id = encode(&bytes);
        let mac = self.sign(&self.session_fields(&id));
        let value = format!("{id}.{}", encode(&mac));
        let cookie = self.cookie(self.names.session, &value, self.session_lifetime);
        Ok((SessionId(id), cookie))
    }

    /// The session id a cookie value carries, if we made it for this admin.
    pub fn session_id_of(&self, value: &str) -> Option<SessionId> {
        let (id, mac) = value.split_once('.')?;
        (id.len() == SESSION_ID_CHARS && self.verify(&self.session_fields(id), mac))
            .then(|| SessionId(id.to_owned()))
    }

    fn session_fields<'a>(&'a self, id: &'a str) -> [&'a [u8]; 4] {
        [
            b"session",
            self.admin_user.as_bytes(),
            // Changing ADMIN_PASSWORD ends every session made with the old one.
            &self.admin_password_digest,
            id.as_bytes(),
        ]
    }

    /// The `Set-Cookie` value that ends the session in the browser.
    pub fn end_session_cookie(&self) -> String {
        self.removal_cookie(self.names.session)
    }

    /// The CSRF token every form of this session carries.
    pub fn session_csrf_token(&self, session: &SessionId) -> String {
        encode(&self.sign(&[b"csrf", b"session", session.0.as_bytes()]))
    }

    /// The CSRF token of the session a cookie value names. No lookup: the form's route
    /// has the `admin` guard, which checks that the session is current.
    pub fn session_csrf_for(&self, session_cookie: &str) -> Option<String> {
        self.session_id_of(session_cookie)
            .map(|id| self.session_csrf_token(&id))
    }

    /// A fresh login-form nonce and its `Set-Cookie` value.
    pub fn start_login_form(&self) -> (String, String) {
        let nonce = random_nonce();
        let cookie = self.cookie(self.names.login, &nonce, LOGIN_FORM_LIFETIME);
        (nonce, cookie)
    }

    /// The `Set-Cookie` value that removes the login-form nonce.
    pub fn end_login_form_cookie(&self) -> String {
        self.removal_cookie(self.names.login)
    }

    /// The CSRF token of the login form bound to `nonce`.
    pub fn login_csrf_token(&self, nonce: &str) -> String {
        encode(&self.sign(&[b"csrf", b"login", nonce.as_bytes()]))
    }

    /// Whether a submitted token equals the expected one (constant time).
    pub fn csrf_matches(expected: &str, submitted: &str) -> bool {
        expected.len() == submitted.len()
            && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
    }

    /// The `Set-Cookie` value carrying `message` to the next page.
    pub fn flash_cookie(&self, message: &str) -> String {
        let mac = self.sign(&[b"flash", message.as_bytes()]);
        let value = format!("{}.{}", encode(message.as_bytes()), encode(&mac));
        self.cookie(self.names.flash, &value, FLASH_LIFETIME)
    }

    /// The message in a flash cookie, if we signed it.
    pub fn read_flash(&self, value: &str) -> Option<String> {
        let (message, mac) = value.split_once('.')?;
        let message = String::from_utf8(URL_SAFE_NO_PAD.decode(message).ok()?).ok()?;
        self.verify(&[b"flash", message.as_bytes()], mac)
            .then_some(message)
    }

    /// The `Set-Cookie` value that removes a shown flash message.
    pub fn clear_flash_cookie(&self) -> String {
        self.removal_cookie(self.names.flash)
    }

    /// The keyed MAC over `fields`, each length-prefixed so no two lists collide.
    fn mac_of(&self, fields: &[&[u8]]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac
    }

    fn sign(&self, fields: &[&[u8]]) -> [u8; 32] {
        self.mac_of(fields).finalize().into_bytes().into()
    }

    fn verify(&self, fields: &[&[u8]], encoded_mac: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(encoded_mac) else {
            return false;
        };
        self.mac_of(fields).verify_slice(&given).is_ok()
    }

    fn cookie(&self, name: &str, value: &str, max_age: Duration) -> String {
        format!(
            "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
            max_age.as_secs(),
            if self.cookie_secure { "; Secure" } else { "" }
        )
    }

    fn removal_cookie(&self, name: &str) -> String {
        self.cookie(name, "", Duration::ZERO)
    }
}

/// Whether a login-form cookie value has the shape of our nonces.
pub fn is_nonce(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// 122 random bits from the operating system's generator, as 32 hex digits.
fn random_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_with(secret: &str, user: &str) -> Auth {
        let config = Config::new("http://posts:8081", "token", user, "correct horse", secret);
        Auth::new(&config)
    }

    fn auth() -> Auth {
        auth_with("0123456789abcdef0123456789abcdef", "admin")
    }

    fn cookie_value(set_cookie: &str) -> &str {
        let pair = set_cookie.split(';').next().unwrap();
        pair.split_once('=').unwrap().1
    }

    #[test]
    fn only_the_admins_credentials_pass() {
        let auth = auth();
        assert!(auth.check_credentials("admin", "correct horse"));
        assert!(!auth.check_credentials("admin", "correct horse "));
        assert!(!auth.check_credentials("Admin", "correct horse"));
        assert!(!auth.check_credentials("", ""));
    }

    #[test]
    fn session_cookie_carries_a_new_256_bit_id_each_time() {
        let auth = auth();
        let (first, set_cookie) = auth.new_session_id().unwrap();
        assert!(set_cookie.starts_with("blog_session="), "{set_cookie}");
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
        assert!(!set_cookie.contains("Secure"), "{set_cookie}");
        let value = cookie_value(&set_cookie);
        assert_eq!(auth.session_id_of(value), Some(first.clone()));
        let (second, _) = auth.new_session_id().unwrap();
        assert_ne!(first, second);
        assert_ne!(first.key(), second.key());
        assert_eq!(first.key().len(), 64);
    }

    #[test]
    fn tampered_or_foreign_session_is_refused() {
        let auth = auth();
        let (_, set_cookie) = auth.new_session_id().unwrap();
        let value = cookie_value(&set_cookie);
        let (id, mac) = value.split_once('.').unwrap();
        // Change the first character: it carries six whole bits of the id, so
        // the forged id always differs (the last one carries padding bits too).
        let replacement = if id.starts_with('A') { 'B' } else { 'A' };
        let other_id = format!("{replacement}{}", &id[1..]);
        assert_ne!(other_id, id);
        let forged = format!("{other_id}.{mac}");
        assert_eq!(auth.session_id_of(&forged), None);
        assert_eq!(auth.session_id_of("garbage"), None);
        assert_eq!(auth.session_id_of("1.2.3.4"), None);

        let other_secret = auth_with("another-secret-another-secret-xx", "admin");
        assert_eq!(other_secret.session_id_of(value), None);
        let other_admin = auth_with("0123456789abcdef0123456789abcdef", "root");
        assert_eq!(other_admin.session_id_of(value), None);
    }

    #[test]
    fn changing_the_admin_password_ends_existing_sessions() {
        let secret = "0123456789abcdef0123456789abcdef";
        let before = Auth::new(&Config::new(
            "http://p",
            "t",
            "admin",
            "old password",
            secret,
        ));
        let (_, set_cookie) = before.new_session_id().unwrap();
        let value = cookie_value(&set_cookie);
        assert!(before.session_id_of(value).is_some());
        let after = Auth::new(&Config::new(
            "http://p",
            "t",
            "admin",
            "new password",
            secret,
        ));
        assert_eq!(after.session_id_of(value), None);
    }

    #[test]
    fn secure_cookies_are_host_prefixed() {
        let mut config = Config::new("http://p", "t", "admin", "pw", "s".repeat(32));
        config.cookie_secure = true;
        let auth = Auth::new(&config);
        let (_, set_cookie) = auth.new_session_id().unwrap();
        assert!(
            set_cookie.starts_with("__Host-blog_session="),
            "{set_cookie}"
        );
        assert!(set_cookie.ends_with("; Secure"), "{set_cookie}");
        assert!(set_cookie.contains("; Path=/;"), "{set_cookie}");
        assert!(!set_cookie.contains("Domain"), "{set_cookie}");
        assert!(auth.flash_cookie("hi").starts_with("__Host-blog_flash="));
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_purpose() {
        let auth = auth();
        let (first, first_cookie) = auth.new_session_id().unwrap();
        let (second, _) = auth.new_session_id().unwrap();
        let token = auth.session_csrf_token(&first);
        assert!(Auth::csrf_matches(&token, &auth.session_csrf_token(&first)));
        assert_eq!(
            auth.session_csrf_for(cookie_value(&first_cookie)),
            Some(token.clone())
        );
        assert!(!Auth::csrf_matches(
            &token,
            &auth.session_csrf_token(&second)
        ));
        assert!(!Auth::csrf_matches(&token, ""));
        assert_ne!(auth.login_csrf_token(&first.0), token);
    }

    #[test]
    fn flash_messages_are_signed() {
        let auth = auth();
        let set_cookie = auth.flash_cookie("New entry was successfully posted");
        let value = cookie_value(&set_cookie);
        assert_eq!(
            auth.read_flash(value).as_deref(),
            Some("New entry was successfully posted")
        );
        let forged = format!(
            "{}.{}",
            encode(b"You won!"),
            value.split_once('.').unwrap().1
        );
        assert_eq!(auth.read_flash(&forged), None);
    }
}
