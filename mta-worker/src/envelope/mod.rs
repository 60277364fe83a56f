//! The envelope stage: MAIL FROM and RCPT TO — routing to a `Target`, lists, greylisting,
//! bounce address tags and back-scatter protection.

pub mod backscatter;
pub mod batv;
pub mod greylist;
pub mod outbound;
pub mod routing;
