//! `moat-frontend`: the Leptos web app. Not built yet: the SPA issue fills this crate.

fn main() {}
