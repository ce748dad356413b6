//! The CDN side, at the root of the emulator's address (as `cdn.discordapp.com` is beside
//! `discord.com/api`): message attachments at `/attachments/{channel}/{id}/{filename}` and
//! avatars at `/avatars/{user}/{hash}.{png|webp|jpg|jpeg|gif}`. Every request is logged and
//! every successful download counted per path.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::{Inner, Shared};

/// Image extensions the avatar route answers (Discord converts; the emulator serves the PNG
/// it was given whatever the extension).
const AVATAR_EXTENSIONS: [&str; 5] = ["png", "webp", "jpg", "jpeg", "gif"];

/// Logs a CDN request and counts it as a download when it succeeded.
fn log(inner: &mut Inner, path: &str, query: Option<&str>, status: StatusCode) {
    let shown = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    inner.cdn_log.push((shown, status.as_u16()));
    if status == StatusCode::OK {
        *inner.cdn_downloads.entry(path.to_owned()).or_default() += 1;
    }
}

/// `?size=` must be a power of two from 16 to 4096, as on Discord's CDN.
fn size_ok(query: Option<&str>) -> bool {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.strip_prefix("size="))
        .all(|v| {
            v.parse::<u32>()
                .is_ok_and(|n| n.is_power_of_two() && (16..=4096).contains(&n))
        })
}

/// `GET /attachments/{channel}/{id}/{filename}`.
pub async fn attachment(
    State(shared): State<Arc<Shared>>,
    Path((channel, id, filename)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let path = format!("/attachments/{channel}/{id}/{filename}");
    let mut inner = shared.lock();
    let found = id
        .parse::<u64>()
        .ok()
        .and_then(|id| inner.attachments.get_mut(&id))
        .filter(|a| a.filename == filename && a.bytes.is_some());
    let Some(a) = found else {
        log(&mut inner, &path, query.as_deref(), StatusCode::NOT_FOUND);
        return StatusCode::NOT_FOUND.into_response();
    };
    a.downloads += 1;
    let bytes = a.bytes.clone().unwrap_or_default();
    let content_type = a.content_type.clone().unwrap_or_else(|| {
        if filename.ends_with(".wasm") {
            "application/wasm".to_owned()
        } else {
            "application/octet-stream".to_owned()
        }
    });
    log(&mut inner, &path, query.as_deref(), StatusCode::OK);
    ([("content-type", content_type)], bytes).into_response()
}

/// `GET /avatars/{user}/{hash}.{ext}`.
pub async fn avatar(
    State(shared): State<Arc<Shared>>,
    Path((user, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let path = format!("/avatars/{user}/{file}");
    let mut inner = shared.lock();
    if !size_ok(query.as_deref()) {
        log(&mut inner, &path, query.as_deref(), StatusCode::BAD_REQUEST);
        return StatusCode::BAD_REQUEST.into_response();
    }
    let bytes = file
        .rsplit_once('.')
        .filter(|(_, ext)| AVATAR_EXTENSIONS.contains(ext))
        .and_then(|(hash, _)| {
            let (known, bytes) = inner.avatars.get(&user.parse::<u64>().ok()?)?;
            (known == hash).then(|| bytes.clone())
        });
    match bytes {
        Some(bytes) => {
            log(&mut inner, &path, query.as_deref(), StatusCode::OK);
            ([("content-type", "image/png")], bytes).into_response()
        }
        None => {
            log(&mut inner, &path, query.as_deref(), StatusCode::NOT_FOUND);
            StatusCode::NOT_FOUND.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert!(size_ok(None));
        assert!(size_ok(Some("size=128")));
        assert!(!size_ok(Some("size=100")));
        assert!(!size_ok(Some("size=8192")));
    }
}
