//! The one admin: login check, session cookies, CSRF tokens and flash messages.
//!
//! Everything here is stateless and keyed by `SESSION_SECRET` with HMAC-SHA256, so any
//! replica can verify what another issued and nothing is stored server-side:
//!
//! - A **session** cookie is `<expires>.<nonce>.<mac>`; the MAC also covers the admin's
//!   user name and a digest of the password, so changing `ADMIN_USER`, `ADMIN_PASSWORD`
//!   (or the secret) ends every session. Logging out
//!   removes the cookie; a copied cookie stays valid until it expires
//!   (`SESSION_LIFETIME_SECS`).
//! - A **CSRF token** is the MAC of the session's nonce, so it is different for every
//!   login and useless to anyone without the secret. Before login, the login form's
//!   token is bound the same way to a random nonce in a short-lived cookie.
//! - A **flash** message ("New entry was successfully posted") rides a signed cookie
//!   across the redirect and is removed by the page that shows it.
//!
//! Every MAC input is a domain tag plus length-prefixed fields, so no value made for one
//! purpose verifies as another.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    cookie_secure: bool,
}

/// A verified admin session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    nonce: String,
    expires: u64,
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
            cookie_secure: config.cookie_secure,
        }
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

    /// A new session starting now, and the `Set-Cookie` value that stores it.
    pub fn start_session(&self, now: SystemTime) -> (Session, String) {
        let session = Session {
            nonce: random_nonce(),
            expires: unix_seconds(now).saturating_add(self.session_lifetime.as_secs()),
        };
        let mac = self.sign(&[
            b"session",
            self.admin_user.as_bytes(),
            // Changing ADMIN_PASSWORD ends every session made with the old one.
            &self.admin_password_digest,
            session.expires.to_string().as_bytes(),
            session.nonce.as_bytes(),
        ]);
        let value = format!("{}.{}.{}", session.expires, session.nonce, encode(&mac));
        let cookie = self.cookie(SESSION_COOKIE, &value, self.session_lifetime);
        (session, cookie)
    }

    /// The session a cookie value proves, if it is genuine and not expired.
    pub fn verify_session(&self, value: &str, now: SystemTime) -> Option<Session> {
        let mut parts = value.split('.');
        let (expires, nonce, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expires_at: u64 = expires.parse().ok()?;
        let genuine = self.verify(
            &[
                b"session",
                self.admin_user.as_bytes(),
                &self.admin_password_digest,
                expires.as_bytes(),
                nonce.as_bytes(),
            ],
            mac,
        );
        (genuine && unix_seconds(now) < expires_at).then(|| Session {
            nonce: nonce.to_owned(),
            expires: expires_at,
        })
    }

    /// The `Set-Cookie` value that ends the session in the browser.
    pub fn end_session_cookie(&self) -> String {
        self.removal_cookie(SESSION_COOKIE)
    }

    /// The CSRF token every form of this session carries.
    pub fn session_csrf_token(&self, session: &Session) -> String {
        encode(&self.sign(&[b"csrf", b"session", session.nonce.as_bytes()]))
    }

    /// The CSRF token of the session a cookie value proves, if it is current.
    pub fn session_csrf_for(&self, session_cookie: &str) -> Option<String> {
        self.verify_session(session_cookie, SystemTime::now())
            .map(|session| self.session_csrf_token(&session))
    }

    /// A fresh login-form nonce and its `Set-Cookie` value.
    pub fn start_login_form(&self) -> (String, String) {
        let nonce = random_nonce();
        let cookie = self.cookie(LOGIN_COOKIE, &nonce, LOGIN_FORM_LIFETIME);
        (nonce, cookie)
    }

    /// The `Set-Cookie` value that removes the login-form nonce.
    pub fn end_login_form_cookie(&self) -> String {
        self.removal_cookie(LOGIN_COOKIE)
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
        self.cookie(FLASH_COOKIE, &value, FLASH_LIFETIME)
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
        self.removal_cookie(FLASH_COOKIE)
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

impl Session {
    /// When the session ends, in seconds since the Unix epoch.
    pub fn expires(&self) -> u64 {
        self.expires
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

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
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
    fn session_cookie_round_trips_until_it_expires() {
        let auth = auth();
        let now = SystemTime::now();
        let (session, set_cookie) = auth.start_session(now);
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
        assert!(!set_cookie.contains("Secure"), "{set_cookie}");
        let value = cookie_value(&set_cookie);
        assert_eq!(auth.verify_session(value, now), Some(session));
        let later = now + Duration::from_secs(12 * 60 * 60 + 1);
        assert_eq!(auth.verify_session(value, later), None);
    }

    #[test]
    fn tampered_or_foreign_session_is_refused() {
        let auth = auth();
        let now = SystemTime::now();
        let (_, set_cookie) = auth.start_session(now);
        let value = cookie_value(&set_cookie);
        let (expires, rest) = value.split_once('.').unwrap();
        let extended = format!("{}.{rest}", expires.parse::<u64>().unwrap() + 1000);
        assert_eq!(auth.verify_session(&extended, now), None);
        assert_eq!(auth.verify_session("garbage", now), None);
        assert_eq!(auth.verify_session("1.2.3.4", now), None);

        let other_secret = auth_with("another-secret-another-secret-xx", "admin");
        assert_eq!(other_secret.verify_session(value, now), None);
        let other_admin = auth_with("0123456789abcdef0123456789abcdef", "root");
        assert_eq!(other_admin.verify_session(value, now), None);
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
        let now = SystemTime::now();
        let (_, set_cookie) = before.start_session(now);
        let value = cookie_value(&set_cookie);
        assert!(before.verify_session(value, now).is_some());
        let after = Auth::new(&Config::new(
            "http://p",
            "t",
            "admin",
            "new password",
            secret,
        ));
        assert_eq!(after.verify_session(value, now), None);
    }

    #[test]
    fn secure_flag_follows_the_configuration() {
        let mut config = Config::new("http://p", "t", "admin", "pw", "s".repeat(32));
        config.cookie_secure = true;
        let (_, set_cookie) = Auth::new(&config).start_session(SystemTime::now());
        assert!(set_cookie.ends_with("; Secure"), "{set_cookie}");
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_purpose() {
        let auth = auth();
        let (first, _) = auth.start_session(SystemTime::now());
        let (second, _) = auth.start_session(SystemTime::now());
        let token = auth.session_csrf_token(&first);
        assert!(Auth::csrf_matches(&token, &auth.session_csrf_token(&first)));
        assert!(!Auth::csrf_matches(
            &token,
            &auth.session_csrf_token(&second)
        ));
        assert!(!Auth::csrf_matches(&token, ""));
        assert_ne!(
            auth.login_csrf_token(&first.nonce),
            auth.session_csrf_token(&first)
        );
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
