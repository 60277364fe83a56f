//! HTML the API writes itself (system mail, digest link pages): escaping of text.

/// Text made safe inside HTML elements and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}
