//! What every page is built on: who is asking, what they may do, what they sent, and
//! how a handler's answer becomes the response.
//!
//! - [`visitor`]: [`Visitor`], the person asking (session or not, flash, request id)
//!   and the cookies and redirects their response carries.
//! - [`guards`]: the [`guards::admin`] filter, which yields an [`Admin`] or answers with
//!   the login redirect. A handler that changes anything takes an `Admin`, which only
//!   that filter can make, so a handler without the check does not compile.
//! - [`conditional`]: validators (`ETag`, `Last-Modified`) and the `304` of what readers
//!   share.
//! - [`client`]: the client's address (the peer, or what a trusted proxy forwarded).
//! - [`forms`]: request bodies of forms, and [`forms::csrf_form`], which yields a form
//!   only when its CSRF token is genuine.
//! - [`respond`]: [`respond::page`], which turns a handler's
//!   `Result<Response, PageError>` into the response, and [`respond::recover`], which
//!   answers the rejections of filters (no route, wrong method, login required, bad
//!   CSRF token).

pub mod client;
pub mod conditional;
pub mod forms;
pub mod guards;
pub mod respond;
pub mod visitor;

pub use guards::Admin;
pub use visitor::Visitor;
