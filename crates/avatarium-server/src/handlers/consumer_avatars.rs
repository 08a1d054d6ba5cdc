//! Consumer avatars (002 "Avatars"): the creator's own avatars.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use avatarium_core::model::{AVATAR_STATUSES, AvatarRecord, AvatarSettings, QUIZ_DIFFICULTIES};
use avatarium_core::store::{AnalyticsRows, AvatarUpdate, NewAvatar};
use avatarium_core::{personas, plans, presets, soul};

use crate::error::{ApiError, ApiResult, Bare, Created, Envelope};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, BaseUrl, ClientIp};
use crate::handlers::avatars::model_url;
use crate::state::AppState;

/// Largest custom model accepted (GLB/VRM).
pub const MAX_MODEL_BYTES: usize = 64 * 1024 * 1024;

/// The identity columns of an avatar; everything else is `AvatarSettings`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Identity {
    slug: Option<String>,
    name: Option<String>,
    status: Option<String>,
    is_public: Option<bool>,
}

const IDENTITY_KEYS: &[&str] = &["slug", "name", "status", "isPublic"];
/// Fields the server owns; a client sending them gets told so.
const READ_ONLY_KEYS: &[&str] = &[
    "id",
    "shortId",
    "systemPrompt",
    "viewCount",
    "conversationCount",
    "url",
    "embedUrl",
    "createdAt",
    "updatedAt",
];

fn parse<T: DeserializeOwned>(v: &Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        ApiError::bad_request(format!("Invalid field `{path}`: {}", e.into_inner()))
    })
}

fn as_object(body: &Value) -> ApiResult<&Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| ApiError::bad_request("Request body must be a JSON object"))
}

fn check_len(field: &str, v: &Option<String>, max: usize) -> ApiResult<()> {
    match v {
        Some(s) if s.chars().count() > max => Err(ApiError::bad_request(format!(
            "{field} must be at most {max} characters"
        ))),
        _ => Ok(()),
    }
}

fn one_of(field: &str, v: &Option<String>, allowed: &[&str]) -> ApiResult<()> {
    match v {
        Some(s) if !allowed.contains(&s.as_str()) => Err(ApiError::bad_request(format!(
            "{field} must be one of: {}",
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

fn validate_slug(slug: &str) -> ApiResult<()> {
    let ok = (2..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "slug must be 2-64 lowercase letters, digits or dashes, not starting or ending with a dash",
        ))
    }
}

fn validate_name(name: &str) -> ApiResult<()> {
    let n = name.trim().chars().count();
    if (1..=100).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::bad_request("name must be 1 to 100 characters"))
    }
}

fn validate_settings(s: &AvatarSettings) -> ApiResult<()> {
    check_len("tagline", &s.tagline, 200)?;
    check_len("personality", &s.personality, 2000)?;
    check_len("greeting", &s.greeting, 500)?;
    check_len("tone", &s.tone, 50)?;
    check_len("customInstructions", &s.custom_instructions, 8000)?;
    check_len("language", &s.language, 50)?;
    check_len("voiceId", &s.voice_id, 200)?;
    check_len("aiModel", &s.ai_model, 200)?;
    one_of("quizDifficulty", &s.quiz_difficulty, QUIZ_DIFFICULTIES)?;
    one_of(
        "voiceGender",
        &s.voice_gender,
        &["female", "male", "neutral"],
    )?;
    one_of("avatarBody", &s.avatar_body, &["F", "M"])?;
    one_of(
        "avatarType",
        &s.avatar_type,
        &["interactive", "presenter", "3d"],
    )?;
    if let Some(p) = &s.avatar_preset
        && presets::by_id(p).is_none()
    {
        return Err(ApiError::bad_request(format!(
            "avatarPreset '{p}' is not a shipped preset (see GET /v1/avatars)"
        )));
    }
    if let Some(p) = &s.persona_id
        && personas::by_id(p).is_none()
    {
        return Err(ApiError::bad_request(format!(
            "personaId '{p}' is not a persona preset (see GET /v1/personas)"
        )));
    }
    if let Some(url) = &s.avatar_model_url {
        let ok = url.len() <= 2048
            && (url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'));
        if !ok {
            return Err(ApiError::bad_request(
                "avatarModelUrl must be an http(s) URL or a path on this server",
            ));
        }
    }
    if let Some(c) = &s.background_color {
        let hex = c.strip_prefix('#').unwrap_or("");
        if !(hex.len() == 6 || hex.len() == 3) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad_request(
                "backgroundColor must be #RGB or #RRGGBB",
            ));
        }
    }
    if let Some(traits) = &s.traits
        && (traits.len() > 20
            || traits
                .iter()
                .any(|t| t.trim().is_empty() || t.chars().count() > 40))
    {
        return Err(ApiError::bad_request(
            "traits must be at most 20 non-empty words of up to 40 characters",
        ));
    }
    if s.avatar_model_url.is_none() && s.avatar_preset.is_none() {
        return Err(ApiError::bad_request(format!(
            "avatarModelUrl is required (or avatarPreset, one of: {})",
            presets::all()
                .iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// Absolute URL of the avatar's model, wherever it lives.
fn resolved_model_url(base: &str, s: &AvatarSettings) -> Option<String> {
    match (&s.avatar_model_url, &s.avatar_preset) {
        (Some(u), _) if u.starts_with('/') => Some(format!("{base}{u}")),
        (Some(u), _) => Some(u.clone()),
        (None, Some(p)) => presets::by_id(p).map(|p| model_url(base, p)),
        (None, None) => None,
    }
}

fn background(s: &AvatarSettings) -> String {
    s.background_color
        .clone()
        .or_else(|| {
            s.avatar_preset
                .as_deref()
                .and_then(presets::by_id)
                .map(|p| p.background_color.clone())
        })
        .unwrap_or_else(|| "#0A0A0F".into())
}

pub(crate) fn page_url(base: &str, short_id: &str) -> String {
    format!("{base}/a/{short_id}")
}

/// The owner's full view of an avatar.
pub(crate) fn avatar_json(base: &str, r: &AvatarRecord) -> Value {
    let mut v = serde_json::to_value(&r.settings).expect("settings serialize");
    let s = &r.settings;
    let o = v.as_object_mut().expect("settings are an object");
    let mut put = |k: &str, val: Value| {
        o.insert(k.into(), val);
    };
    put("id", json!(r.id));
    put("shortId", json!(r.short_id));
    put("slug", json!(r.slug));
    put("name", json!(r.name));
    put("status", json!(r.status));
    put("isPublic", json!(r.is_public));
    put(
        "avatarType",
        json!(s.avatar_type.as_deref().unwrap_or("interactive")),
    );
    put("avatarModelUrl", json!(resolved_model_url(base, s)));
    put("backgroundColor", json!(background(s)));
    put("traits", json!(s.traits.clone().unwrap_or_default()));
    put(
        "voiceChatEnabled",
        json!(s.voice_chat_enabled.unwrap_or(false)),
    );
    put("allowEmbedding", json!(s.allow_embedding.unwrap_or(true)));
    put("quizMode", json!(s.quiz_mode.unwrap_or(false)));
    put("viewCount", json!(r.view_count));
    put("conversationCount", json!(r.conversation_count));
    put("systemPrompt", json!(r.system_prompt));
    put("url", json!(page_url(base, &r.short_id)));
    put(
        "embedUrl",
        json!(format!("{}/embed", page_url(base, &r.short_id))),
    );
    put("createdAt", json!(r.created_at));
    put("updatedAt", json!(r.updated_at));
    v
}

/// What a visitor may see: no prompt, no account, no counts.
pub(crate) fn public_avatar_json(base: &str, r: &AvatarRecord) -> Value {
    let s = &r.settings;
    json!({
        "shortId": r.short_id,
        "name": r.name,
        "tagline": s.tagline,
        "avatarModelUrl": resolved_model_url(base, s),
        "avatarPreset": s.avatar_preset,
        "avatarBody": s.avatar_body,
        "avatarType": s.avatar_type.as_deref().unwrap_or("interactive"),
        "backgroundColor": background(s),
        "greeting": s.greeting,
        "voiceGender": s.voice_gender,
        "voiceId": s.voice_id,
        "ttsProvider": s.tts_provider,
        "voiceChatEnabled": s.voice_chat_enabled.unwrap_or(false),
        "allowEmbedding": s.allow_embedding.unwrap_or(true),
        "url": page_url(base, &r.short_id),
        "embedUrl": format!("{}/embed", page_url(base, &r.short_id)),
    })
}

/// Fills soul fields the creator left empty from the chosen persona, so
/// "start from a persona" gives a complete avatar.
fn apply_persona(s: &mut AvatarSettings) {
    let Some(p) = s.persona_id.as_deref().and_then(personas::by_id) else {
        return;
    };
    s.personality.get_or_insert_with(|| p.personality.clone());
    s.greeting.get_or_insert_with(|| p.greeting.clone());
    s.traits.get_or_insert_with(|| p.traits.clone());
    s.tone.get_or_insert_with(|| p.tone.clone());
    s.voice_gender.get_or_insert_with(|| p.voice_gender.clone());
    if s.avatar_model_url.is_none() {
        s.avatar_preset
            .get_or_insert_with(|| p.suggested_avatar.clone());
    }
}

async fn owned(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<AvatarRecord> {
    state
        .store
        .avatar(&user.account_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Avatar not found"))
}

/// List the account's avatars.
#[utoipa::path(get, path = "/v1/consumer-avatars", tag = "consumer-avatars", security(("bearer" = [])),
    responses((status = 200, description = "`{data: [...], hasAccount: true}`"), (status = 401, description = "No or bad token")))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    BaseUrl(base): BaseUrl,
) -> ApiResult<Bare> {
    let avatars = state.store.avatars(&user.account_id).await?;
    Ok(Bare(json!({
        "data": avatars.iter().map(|a| avatar_json(&base, a)).collect::<Vec<_>>(),
        "hasAccount": true,
    })))
}

/// Create an avatar. Requires slug, name and avatarModelUrl (or avatarPreset).
#[utoipa::path(post, path = "/v1/consumer-avatars", tag = "consumer-avatars", security(("bearer" = [])),
    request_body = AvatarSettings,
    responses((status = 201, description = "Created"), (status = 400, description = "Invalid fields"),
              (status = 403, description = "Plan's avatar limit reached"), (status = 409, description = "Slug taken"),
              (status = 429, description = "Too many avatars created from this address")))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    BaseUrl(base): BaseUrl,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let rate = state.limiters.avatar_create.check(&ip)?;
    as_object(&body)?;
    let id: Identity = parse(&body)?;
    let mut settings: AvatarSettings = parse(&body)?;
    let slug = id
        .slug
        .ok_or_else(|| ApiError::bad_request("slug is required"))?;
    let name = id
        .name
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    validate_slug(&slug)?;
    validate_name(&name)?;
    let status = id.status.unwrap_or_else(|| "active".into());
    one_of("status", &Some(status.clone()), AVATAR_STATUSES)?;
    apply_persona(&mut settings);
    validate_settings(&settings)?;

    let account = state
        .store
        .account(&user.account_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("This account no longer exists"))?;
    let plan = plans::by_id(&account.plan_id).unwrap_or(&plans::PLANS[0]);
    if let Some(limit) = plan.avatar_limit
        && state.store.count_avatars(&account.id).await? >= i64::from(limit)
    {
        return Err(ApiError::forbidden(format!(
            "Your {} plan allows {limit} avatar(s); delete one or upgrade your plan",
            plan.name
        )));
    }
    let name = name.trim().to_string();
    let system_prompt = soul::build_system_prompt(&name, &settings);
    let rec = state
        .store
        .create_avatar(NewAvatar {
            account_id: account.id,
            slug,
            name,
            status,
            is_public: id.is_public.unwrap_or(true),
            settings,
            system_prompt,
        })
        .await?;
    Ok((rate, Created(avatar_json(&base, &rec))).into_response())
}

/// Get full details for one avatar.
#[utoipa::path(get, path = "/v1/consumer-avatars/{id}", tag = "consumer-avatars", security(("bearer" = [])),
    params(("id" = String, Path, description = "Avatar id")),
    responses((status = 200, description = "The avatar"), (status = 404, description = "Not found (or not yours)")))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    BaseUrl(base): BaseUrl,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Envelope<Value>> {
    let rec = owned(&state, &user, &id).await?;
    let mut v = avatar_json(&base, &rec);
    let items = state.store.knowledge_items(&rec.id).await?;
    v["knowledge"] = json!(
        items
            .iter()
            .map(crate::handlers::knowledge::item_json)
            .collect::<Vec<_>>()
    );
    Ok(Envelope(v))
}

/// Partially update an avatar; soul fields regenerate the system prompt.
/// A field set to null is cleared.
#[utoipa::path(patch, path = "/v1/consumer-avatars/{id}", tag = "consumer-avatars", security(("bearer" = [])),
    params(("id" = String, Path, description = "Avatar id")), request_body = AvatarSettings,
    responses((status = 200, description = "Updated avatar"), (status = 400, description = "Invalid fields"),
              (status = 404, description = "Not found"), (status = 409, description = "Slug taken")))]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    BaseUrl(base): BaseUrl,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Envelope<Value>> {
    let patch = as_object(&body)?;
    if let Some(k) = patch.keys().find(|k| READ_ONLY_KEYS.contains(&k.as_str())) {
        let hint = if k == "systemPrompt" {
            "; it is generated from the soul fields — use customInstructions to add your own"
        } else {
            ""
        };
        return Err(ApiError::bad_request(format!(
            "{k} cannot be changed{hint}"
        )));
    }
    let ident: Identity = parse(&body)?;
    let rec = owned(&state, &user, &id).await?;

    let mut merged = serde_json::to_value(&rec.settings).expect("settings serialize");
    let obj = merged.as_object_mut().expect("settings are an object");
    for (k, v) in patch {
        if IDENTITY_KEYS.contains(&k.as_str()) {
            continue;
        }
        if v.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
    let settings: AvatarSettings = parse(&merged)?;
    validate_settings(&settings)?;

    let slug = ident.slug.unwrap_or(rec.slug);
    validate_slug(&slug)?;
    let name = ident.name.map(|n| n.trim().to_string()).unwrap_or(rec.name);
    validate_name(&name)?;
    let status = ident.status.unwrap_or(rec.status);
    one_of("status", &Some(status.clone()), AVATAR_STATUSES)?;

    let system_prompt = soul::build_system_prompt(&name, &settings);
    let updated = state
        .store
        .update_avatar(
            &user.account_id,
            &id,
            AvatarUpdate {
                slug,
                name,
                status,
                is_public: ident.is_public.unwrap_or(rec.is_public),
                settings,
                system_prompt,
            },
        )
        .await?
        .ok_or_else(|| ApiError::not_found("Avatar not found"))?;
    Ok(Envelope(avatar_json(&base, &updated)))
}

/// Same as PATCH, for clients that update with PUT.
#[utoipa::path(put, path = "/v1/consumer-avatars/{id}", tag = "consumer-avatars", security(("bearer" = [])),
    params(("id" = String, Path, description = "Avatar id")), request_body = AvatarSettings,
    responses((status = 200, description = "Updated avatar"), (status = 400, description = "Invalid fields"),
              (status = 404, description = "Not found"), (status = 409, description = "Slug taken")))]
pub async fn replace(
    state: State<AppState>,
    user: AuthUser,
    base: BaseUrl,
    id: ApiPath<String>,
    body: ApiJson<Value>,
) -> ApiResult<Envelope<Value>> {
    update(state, user, base, id, body).await
}

/// Delete an avatar with its knowledge, sessions, messages and custom model.
#[utoipa::path(delete, path = "/v1/consumer-avatars/{id}", tag = "consumer-avatars", security(("bearer" = [])),
    params(("id" = String, Path, description = "Avatar id")),
    responses((status = 200, description = "`{success: true}`"), (status = 404, description = "Not found")))]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Bare> {
    if !state.store.delete_avatar(&user.account_id, &id).await? {
        return Err(ApiError::not_found("Avatar not found"));
    }
    let dir = state.config.models_dir().join(&id);
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %dir.display(), error = %e, "could not remove avatar model files");
    }
    // 002 documents a bare `{success: true}`; `data` keeps the 001 envelope.
    Ok(Bare(
        json!({ "success": true, "data": { "success": true, "id": id } }),
    ))
}

/// Upload a custom GLB/VRM model for the avatar; it is served at
/// `/v1/public/avatar/{shortId}/model` and becomes the avatar's model.
#[utoipa::path(put, path = "/v1/consumer-avatars/{id}/model", tag = "consumer-avatars", security(("bearer" = [])),
    params(("id" = String, Path, description = "Avatar id")),
    request_body(content = Vec<u8>, content_type = "model/gltf-binary"),
    responses((status = 200, description = "Updated avatar"), (status = 400, description = "Not a glTF 2.0 binary"),
              (status = 413, description = "Larger than 64 MiB")))]
pub async fn put_model(
    State(state): State<AppState>,
    user: AuthUser,
    BaseUrl(base): BaseUrl,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Envelope<Value>> {
    let rec = owned(&state, &user, &id).await?;
    check_glb(&body)?;
    let dir = state.config.models_dir().join(&rec.id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(anyhow::Error::from)?;
    // Write then rename, so a failed upload never replaces a good model.
    let tmp = dir.join("model.glb.part");
    tokio::fs::write(&tmp, &body)
        .await
        .map_err(anyhow::Error::from)?;
    tokio::fs::rename(&tmp, dir.join("model.glb"))
        .await
        .map_err(anyhow::Error::from)?;

    let mut settings = rec.settings.clone();
    settings.avatar_model_url = Some(format!("/v1/public/avatar/{}/model", rec.short_id));
    let updated = state
        .store
        .update_avatar(
            &user.account_id,
            &id,
            AvatarUpdate {
                system_prompt: rec.system_prompt.clone(),
                slug: rec.slug,
                name: rec.name,
                status: rec.status,
                is_public: rec.is_public,
                settings,
            },
        )
        .await?
        .ok_or_else(|| ApiError::not_found("Avatar not found"))?;
    Ok(Envelope(avatar_json(&base, &updated)))
}

/// GLB header: magic, version 2, and a total length that matches the upload.
fn check_glb(bytes: &[u8]) -> ApiResult<()> {
    let bad = || ApiError::bad_request("The model must be a binary glTF 2.0 file (.glb or .vrm)");
    if bytes.len() < 20 || &bytes[..4] != b"glTF" {
        return Err(bad());
    }
    let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    if word(4) != 2 || word(8) as usize != bytes.len() || &bytes[16..20] != b"JSON" {
        return Err(bad());
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct AnalyticsQuery {
    days: Option<String>,
}

/// Views, conversations, daily stats and session durations.
#[utoipa::path(get, path = "/v1/consumer-avatars/{id}/analytics", tag = "consumer-avatars", security(("bearer" = [])),
    params(("id" = String, Path, description = "Avatar id"), ("days" = Option<u32>, Query, description = "7, 30 or 90 (default 30)")),
    responses((status = 200, description = "Analytics"), (status = 400, description = "days not 7, 30 or 90"),
              (status = 404, description = "Not found")))]
pub async fn get_analytics(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Envelope<Value>> {
    let days: i64 = match q.days.as_deref() {
        None => 30,
        Some("7") => 7,
        Some("30") => 30,
        Some("90") => 90,
        Some(_) => return Err(ApiError::bad_request("days must be 7, 30 or 90")),
    };
    let rec = owned(&state, &user, &id).await?;
    let today = Utc::now().date_naive();
    let first = today - Duration::days(days - 1);
    let since = format!("{first}T00:00:00.000Z");
    let rows = state.store.analytics(&rec.id, &since).await?;
    let mut body = analytics_json(first, today, &rows);
    body["avatarId"] = json!(rec.id);
    body["days"] = json!(days);
    body["allTime"] = json!({ "views": rec.view_count, "conversations": rec.conversation_count });
    Ok(Envelope(body))
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

fn secs(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |m| json!((m as f64 / 100.0).round() / 10.0))
}

/// Fills every day of the range (days without activity are zeros) and
/// summarises session durations.
pub(crate) fn analytics_json(first: NaiveDate, last: NaiveDate, rows: &AnalyticsRows) -> Value {
    let views: BTreeMap<&str, i64> = rows
        .views_by_day
        .iter()
        .map(|(d, n)| (d.as_str(), *n))
        .collect();
    let sessions: BTreeMap<&str, i64> = rows
        .sessions_by_day
        .iter()
        .map(|(d, n)| (d.as_str(), *n))
        .collect();
    let messages: BTreeMap<&str, i64> = rows
        .messages_by_day
        .iter()
        .map(|(d, n)| (d.as_str(), *n))
        .collect();
    let mut durations_by_day: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (d, ms) in &rows.durations {
        durations_by_day.entry(d.as_str()).or_default().push(*ms);
    }
    let mut daily = Vec::new();
    let mut day = first;
    while day <= last {
        let key = day.to_string();
        let ds = durations_by_day.get(key.as_str());
        let avg = ds.map(|v| v.iter().sum::<i64>() / v.len() as i64);
        daily.push(json!({
            "date": key,
            "views": views.get(key.as_str()).copied().unwrap_or(0),
            "conversations": sessions.get(key.as_str()).copied().unwrap_or(0),
            "messages": messages.get(key.as_str()).copied().unwrap_or(0),
            "avgDurationSec": secs(avg),
        }));
        day += Duration::days(1);
    }
    let mut all: Vec<i64> = rows.durations.iter().map(|(_, ms)| *ms).collect();
    all.sort_unstable();
    let total: i64 = all.iter().sum();
    let mut lat = rows.latencies.clone();
    lat.sort_unstable();
    json!({
        "totals": {
            "views": views.values().sum::<i64>(),
            "conversations": sessions.values().sum::<i64>(),
            "messages": messages.values().sum::<i64>(),
        },
        "latency": {
            "count": lat.len(),
            "p50": percentile(&lat, 50.0),
            "p95": percentile(&lat, 95.0),
            "avg": (!lat.is_empty()).then(|| lat.iter().sum::<i64>() / lat.len() as i64),
        },
        "daily": daily,
        "sessionDurations": {
            "count": all.len(),
            "totalSec": secs(Some(total)),
            "avgSec": secs((!all.is_empty()).then(|| total / all.len() as i64)),
            "p50Sec": secs(percentile(&all, 50.0)),
            "p95Sec": secs(percentile(&all, 95.0)),
            "maxSec": secs(all.last().copied()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytics_fill_every_day_and_summarise_durations() {
        let first = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let last = NaiveDate::from_ymd_opt(2026, 1, 7).unwrap();
        let rows = AnalyticsRows {
            views_by_day: vec![("2026-01-02".into(), 4), ("2026-01-07".into(), 1)],
            sessions_by_day: vec![("2026-01-02".into(), 2)],
            durations: vec![
                ("2026-01-02".into(), 60_000),
                ("2026-01-02".into(), 120_000),
            ],
            messages_by_day: vec![("2026-01-02".into(), 6)],
            latencies: vec![300, 100, 200],
        };
        let v = analytics_json(first, last, &rows);
        let daily = v["daily"].as_array().unwrap();
        assert_eq!(daily.len(), 7);
        assert_eq!(daily[1]["views"], 4);
        assert_eq!(daily[1]["conversations"], 2);
        assert_eq!(daily[1]["avgDurationSec"], 90.0);
        assert_eq!(daily[0]["avgDurationSec"], Value::Null);
        assert_eq!(v["totals"]["views"], 5);
        assert_eq!(daily[1]["messages"], 6);
        assert_eq!(v["latency"]["p50"], 200);
        assert_eq!(v["latency"]["avg"], 200);
        assert_eq!(v["sessionDurations"]["p50Sec"], 60.0);
        assert_eq!(v["sessionDurations"]["maxSec"], 120.0);
        assert_eq!(daily[1]["messages"], 6);
        assert_eq!(v["latency"]["p50"], 200);
        assert_eq!(v["latency"]["avg"], 200);
    }

    #[test]
    fn glb_header_is_checked() {
        let mut glb = b"glTF".to_vec();
        glb.extend(2u32.to_le_bytes());
        glb.extend(20u32.to_le_bytes());
        glb.extend(0u32.to_le_bytes());
        glb.extend(b"JSON");
        assert!(check_glb(&glb).is_ok());
        glb[4] = 1;
        assert!(check_glb(&glb).is_err());
        assert!(check_glb(b"{\"asset\":{}}").is_err());
    }

    #[test]
    fn slugs() {
        for ok in ["my-avatar", "a1", "support-bot-2"] {
            assert!(validate_slug(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "My-Avatar", "-x", "x-", "a b", "ünï"] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
    }
}
