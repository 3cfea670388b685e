//! Answering a WebSocket upgrade by hand (RFC 6455 §4.2.1), so that the client's bytes can be
//! read through [`super::text_frames::TextAsBinary`] before tungstenite sees them.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};

/// Whether a header holds `value` among its comma-separated tokens (any case).
fn header_has(headers: &HeaderMap, name: header::HeaderName, value: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(value))))
}

/// A WebSocket upgrade request (RFC 6455 §4.2.1, HTTP/1.1): its key and the pending upgrade;
/// otherwise the status and text that refuse it.
pub(super) fn upgrade_of(
    req: &mut Request,
) -> Result<(HeaderValue, hyper::upgrade::OnUpgrade), (StatusCode, &'static str)> {
    let h = req.headers();
    if req.method() != Method::GET
        || !header_has(h, header::CONNECTION, "upgrade")
        || !header_has(h, header::UPGRADE, "websocket")
    {
        return Err((StatusCode::BAD_REQUEST, "expected a WebSocket upgrade"));
    }
    if !header_has(h, header::SEC_WEBSOCKET_VERSION, "13") {
        return Err((StatusCode::UPGRADE_REQUIRED, "Sec-WebSocket-Version must be 13"));
    }
    let key = h
        .get(header::SEC_WEBSOCKET_KEY)
        .cloned()
        .ok_or((StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing"))?;
    let on_upgrade = req
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or((StatusCode::UPGRADE_REQUIRED, "connection cannot be upgraded"))?;
    Ok((key, on_upgrade))
}
