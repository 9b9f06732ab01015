//! One module per kind of work an operator does.

pub mod auth;
pub mod completions;
pub mod contexts;
pub mod dead_letters;
pub mod deliveries;
pub mod demo;
pub mod departments;
pub mod health;
pub mod inputs;
pub mod people;
pub mod projects;
pub mod proposals;
pub mod report;
pub mod settings;

/// Lists every page of a keyset-paginated call, up to `limit` items.
macro_rules! all_pages {
    ($limit:expr, |$token:ident| $page:expr, $items:ident) => {{
        let limit: usize = $limit;
        let mut items = Vec::new();
        let mut $token = String::new();
        loop {
            let page = $page;
            items.extend(page.$items);
            if page.next_page_token.is_empty() || items.len() >= limit {
                break;
            }
            $token = page.next_page_token;
        }
        items.truncate(limit);
        items
    }};
}
pub(crate) use all_pages;
