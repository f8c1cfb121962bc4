//! The dashboard: one static page (`dashboard/index.html`, `app.js`,
//! `app.css`), embedded in the binary and served at `/dashboard`, that
//! calls the JSON APIs this process already serves (projects, keys, org,
//! Query API) with the key the user signs in with.
//!
//! Invariants:
//! - Nothing is loaded from anywhere but this origin: the
//!   `Content-Security-Policy` allows scripts, styles and requests from
//!   `'self'` only, no inline script or style, no framing.
//! - The key lives in the tab's `sessionStorage` and travels only in the
//!   `Authorization` header of the page's API calls: never in a URL, a
//!   cookie or a log. With no cookie there is no ambient credential, so no
//!   CSRF to defend against.
//! - The page decides nothing: what a role may do is enforced by the APIs;
//!   the page only hides what they would refuse (`GET /v1/me`).

use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Scripts, styles and API calls from this origin only; nothing framed,
/// no forms posted anywhere, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

const INDEX: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/app.css");

/// The dashboard's routes, documented.
pub fn router() -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(page))
        .routes(routes!(script))
        .routes(routes!(style))
}

/// `body` with its type and the headers every asset carries.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

#[utoipa::path(get, path = "/dashboard", tag = "dashboard",
    summary = "The dashboard (sign in with an owner, admin or member key).",
    responses((status = 200, description = "The page.", content_type = "text/html")))]
async fn page() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX)
}

#[utoipa::path(get, path = "/dashboard/app.js", tag = "dashboard",
    summary = "The dashboard's script.",
    responses((status = 200, description = "The script.", content_type = "text/javascript")))]
async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

#[utoipa::path(get, path = "/dashboard/app.css", tag = "dashboard",
    summary = "The dashboard's styles.",
    responses((status = 200, description = "The styles.", content_type = "text/css")))]
async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_route_is_served_as_documented() {
        crate::http::served::assert_served_as_documented(
            router(),
            &[
                ("/dashboard", &["GET"]),
                ("/dashboard/app.js", &["GET"]),
                ("/dashboard/app.css", &["GET"]),
            ],
        )
        .await;
    }

    /// The page loads only what the policy allows: its own two assets, no
    /// inline script or style, no other origin.
    #[test]
    fn the_page_needs_nothing_the_policy_refuses() {
        assert!(INDEX.contains(r#"<script src="/dashboard/app.js" defer></script>"#));
        assert!(INDEX.contains(r#"<link rel="stylesheet" href="/dashboard/app.css">"#));
        assert_eq!(INDEX.matches("<script").count(), 1, "one script, external");
        assert!(!INDEX.contains("<style"), "no inline style element");
        assert!(!INDEX.contains(" style="), "no inline style attribute");
        let attributes = INDEX.split([' ', '\n']).filter(|w| w.contains('='));
        for attribute in attributes {
            assert!(
                !attribute.starts_with("on"),
                "an inline handler: {attribute}"
            );
        }
        // The one absolute URL: the SVG namespace, a name, never fetched.
        let script = SCRIPT.replace("\"http://www.w3.org/2000/svg\"", "");
        for asset in [INDEX, script.as_str(), STYLE] {
            assert!(!asset.contains("http://") && !asset.contains("https://"));
            assert!(!asset.contains("//cdn"), "nothing from a CDN");
        }
        assert!(
            !SCRIPT.contains("innerHTML"),
            "text is set as text, never parsed"
        );
        assert!(
            !SCRIPT.contains("localStorage"),
            "the key is kept for the tab only"
        );
    }
}
