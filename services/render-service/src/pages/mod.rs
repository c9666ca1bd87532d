//! The pages, one module each. A page module has a `routes(&state)` function (its paths,
//! methods, metrics labels and guards: one row of the table of pages) and its
//! handlers, which return `Result<Response, PageError>`.

pub mod admin;
pub mod assets;
pub mod delete;
pub mod editor;
pub mod feed;
pub mod health;
pub mod index;
pub mod link_card;
pub mod post;
pub mod search;
pub mod session;
pub mod sitemap;
pub mod tags;
