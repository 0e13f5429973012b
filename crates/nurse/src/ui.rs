//! The mesh dashboard: one HTML page (inline CSS, JS and SVG, no external
//! assets, works offline) embedded in the binary and served at `/ui` by every
//! nurse and by the lab. It reads only `/status` and `/check_all`.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

/// The dashboard page.
pub const DASHBOARD_HTML: &str = include_str!("../assets/dashboard.html");

/// Handler serving [`DASHBOARD_HTML`].
pub async fn dashboard() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        DASHBOARD_HTML,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained() {
        assert!(
            DASHBOARD_HTML.contains("fetch(\"check_all\")")
                && DASHBOARD_HTML.contains("fetch(\"status\")")
        );
        for external in ["http://", "https://", "//cdn", "<link "] {
            assert!(!DASHBOARD_HTML.contains(external), "{external} in the page");
        }
    }
}
