//! Moat's wire contract: the JSON types the API speaks, shared by the API, the MTA worker
//! and the SPA, plus the committed `openapi.json` (kept equal to the generated one by a test).

pub mod alerts;
pub mod archive;
pub mod diagnostics;
pub mod digests;
pub mod exchange;
pub mod features;
pub mod identity;
pub mod lists;
pub mod policy;
pub mod quarantine;
pub mod stats;
pub mod system_mail;
pub mod tenancy;
pub mod worker;

pub use alerts::*;
pub use archive::*;
pub use diagnostics::*;
pub use digests::*;
pub use exchange::*;
pub use features::*;
pub use identity::*;
pub use lists::*;
pub use policy::*;
pub use quarantine::*;
pub use stats::*;
pub use system_mail::*;
pub use tenancy::*;
pub use worker::*;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The one error shape every failing request answers with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable machine code, a human message, and the offending field if any.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ErrorDetail {
    /// Stable code such as `not_found`, `validation`, `conflict`, `unauthorized`.
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For CSV input: the offending line (the header is line 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// Paging parameters accepted by every list endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-based page number (default 1).
    pub page: Option<u32>,
    /// Items per page (default 50, at most 500).
    pub per_page: Option<u32>,
}

/// A page of a list with the total count: `{items, total, page, per_page}`. Searches count
/// exactly up to a limit (1,000): past it `total` is that limit and `total_capped` is true
/// ("at least"); lists that always count exactly leave `total_capped` out.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    /// True when there are more matches than `total` (searches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_capped: Option<bool>,
    pub page: u32,
    pub per_page: u32,
}

impl<T> Page<T> {
    /// A page of a list that counts exactly.
    pub fn new(items: Vec<T>, total: i64, page: u32, per_page: u32) -> Page<T> {
        Page { items, total, total_capped: None, page, per_page }
    }

    /// A page of a search, whose count may have stopped at its limit.
    pub fn of_search(items: Vec<T>, total: i64, capped: bool, page: u32, per_page: u32) -> Page<T> {
        Page { items, total, total_capped: Some(capped), page, per_page }
    }

    /// Whether the count stopped at its limit.
    pub fn is_capped(&self) -> bool {
        self.total_capped.unwrap_or(false)
    }
}

/// Whether an address is this machine, a link-local one, or a cloud metadata service: a
/// customer destination there would make Moat deliver mail into its own infrastructure. The
/// API refuses such destinations and the worker refuses to connect to them (unless an
/// operator allows it for development).
pub fn is_internal_address(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.octets() == [100, 100, 100, 200]
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_address(IpAddr::V4(v4));
            }
            let metadata = std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
            v6.is_loopback() || v6.is_unspecified() || v6.is_unicast_link_local() || v6 == metadata
        }
    }
}

#[cfg(test)]
mod page_tests {
    use super::Page;

    #[test]
    fn a_page_is_the_same_json_as_the_list_types_it_replaced() {
        let list = Page::new(vec![1, 2], 2, 1, 50);
        assert_eq!(serde_json::to_string(&list).unwrap(), r#"{"items":[1,2],"total":2,"page":1,"per_page":50}"#);
        let search = Page::of_search(vec![1], 1000, true, 2, 1);
        assert_eq!(
            serde_json::to_string(&search).unwrap(),
            r#"{"items":[1],"total":1000,"total_capped":true,"page":2,"per_page":1}"#
        );
        assert!(search.is_capped() && !list.is_capped());
        let read: Page<i32> = serde_json::from_str(r#"{"items":[],"total":0,"page":1,"per_page":50}"#).unwrap();
        assert!(!read.is_capped());
    }
}
