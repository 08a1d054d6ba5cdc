//! An avatar's knowledge base (002): text, URLs and files, chunked and
//! indexed for retrieval.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use avatarium_core::model::KnowledgeItem;
use avatarium_core::store::{NewChunk, NewKnowledgeItem};
use avatarium_knowledge::{self as kb, Extracted, FetchPolicy, KnowledgeError};

use crate::error::{ApiError, ApiResult, Created, Envelope};
use crate::extract::{ApiJson, ApiPath, AuthUser};
use crate::state::AppState;

/// Largest file accepted for the knowledge base.
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;
const MAX_TEXT_CHARS: usize = 2_000_000;
const CHUNK_CHARS: usize = 800;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgeBody {
    /// text | url (files are sent as multipart/form-data).
    #[serde(rename = "type")]
    kind: String,
    title: Option<String>,
    /// The text, for `type: text` (`text` is accepted too).
    #[serde(alias = "text")]
    content: Option<String>,
    url: Option<String>,
}

pub(crate) fn item_json(i: &KnowledgeItem) -> Value {
    json!({
        "id": i.id,
        "type": i.kind,
        "title": i.title,
        "source": i.source,
        "mime": i.mime,
        "chars": i.chars,
        "chunkCount": i.chunk_count,
        "status": "ready",
        "createdAt": i.created_at,
    })
}

fn kb_error(e: KnowledgeError) -> ApiError {
    match e {
        KnowledgeError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
        KnowledgeError::Fetch(_) | KnowledgeError::Timeout => ApiError::Provider(e.to_string()),
        other => ApiError::bad_request(other.to_string()),
    }
}

async fn owned_avatar_id(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<String> {
    state
        .store
        .avatar(&user.account_id, id)
        .await?
        .map(|a| a.id)
        .ok_or_else(|| ApiError::not_found("Avatar not found"))
}

/// Add knowledge: JSON `{type: "text", title, content}` or `{type: "url",
/// title?, url}`, or multipart with a `file` (txt, md, html, pdf) and an
/// optional `title`.
#[utoipa::path(post, path = "/v1/consumer-avatars/{id}/knowledge", tag = "knowledge", security(("bearer" = [])),
    params(("id" = String, Path, description = "Avatar id")), request_body = KnowledgeBody,
    responses((status = 201, description = "The indexed item"), (status = 400, description = "Empty, unsupported or refused source"),
              (status = 404, description = "Not your avatar"), (status = 413, description = "Too large"),
              (status = 502, description = "The URL could not be fetched")))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    req: Request,
) -> ApiResult<Created<Value>> {
    let avatar_id = owned_avatar_id(&state, &user, &id).await?;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (kind, source, title, extracted) = if is_multipart {
        from_multipart(
            Multipart::from_request(req, &state)
                .await
                .map_err(|e| ApiError::bad_request(e.body_text()))?,
        )
        .await?
    } else {
        let ApiJson(body) = ApiJson::<KnowledgeBody>::from_request(req, &state).await?;
        match body.kind.as_str() {
            "text" => {
                let content = body
                    .content
                    .filter(|c| !c.trim().is_empty())
                    .ok_or_else(|| ApiError::bad_request("content is required for type text"))?;
                if content.chars().count() > MAX_TEXT_CHARS {
                    return Err(ApiError::PayloadTooLarge("content is too long".into()));
                }
                let title = body.title.clone();
                (
                    "text",
                    None,
                    title,
                    Extracted {
                        title: None,
                        text: content,
                        mime: "text/plain".into(),
                    },
                )
            }
            "url" => {
                let url = body
                    .url
                    .ok_or_else(|| ApiError::bad_request("url is required for type url"))?;
                let policy = FetchPolicy {
                    allow_private: state.config.allow_private_urls,
                    ..FetchPolicy::default()
                };
                let extracted = kb::fetch_url(&url, &policy).await.map_err(kb_error)?;
                ("url", Some(url), body.title, extracted)
            }
            "file" => {
                return Err(ApiError::bad_request(
                    "files are uploaded as multipart/form-data with a `file` field",
                ));
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "type must be text, url or file, not '{other}'"
                )));
            }
        }
    };
    let text = kb::normalize_text(&extracted.text);
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "No text could be extracted from this source",
        ));
    }
    let title = title
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .or(extracted.title)
        .or_else(|| source.clone())
        .unwrap_or_else(|| "Untitled".into());
    if title.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "title must be at most 200 characters",
        ));
    }
    let pieces = kb::chunk(&text, CHUNK_CHARS);
    let texts: Vec<String> = pieces.iter().map(|c| c.text.clone()).collect();
    let mut embeddings = state.embed_texts(&texts).await.map(Vec::into_iter);
    let chunks: Vec<NewChunk> = pieces
        .into_iter()
        .map(|c| {
            // The title is indexed with every chunk: "pricing" should find
            // the chunks of "Pricing FAQ" even when they never say it.
            let indexed = format!(
                "{title}\n{}\n{}",
                c.heading.as_deref().unwrap_or(""),
                c.text
            );
            NewChunk {
                fts_doc: avatarium_llm::text::fts_document(&indexed),
                heading: c.heading,
                text: c.text,
                embedding: embeddings.as_mut().and_then(Iterator::next),
            }
        })
        .collect();
    let item = state
        .store
        .add_knowledge(
            NewKnowledgeItem {
                avatar_id,
                kind: kind.into(),
                title,
                source,
                mime: Some(extracted.mime),
                chars: text.chars().count() as i64,
            },
            chunks,
        )
        .await?;
    Ok(Created(item_json(&item)))
}

async fn from_multipart(
    mut mp: Multipart,
) -> ApiResult<(&'static str, Option<String>, Option<String>, Extracted)> {
    let mut title = None;
    let mut file: Option<(String, Option<String>, Vec<u8>)> = None;
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?
    {
        match field.name() {
            Some("title") => {
                title = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| ApiError::bad_request(e.body_text()))?,
                )
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("upload").to_string();
                let ctype = field.content_type().map(str::to_owned);
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| ApiError::bad_request(e.body_text()))?;
                file = Some((name, ctype, bytes.to_vec()));
            }
            _ => {}
        }
    }
    let (name, ctype, bytes) =
        file.ok_or_else(|| ApiError::bad_request("multipart body needs a `file` field"))?;
    // PDF parsing is CPU-bound; keep it off the async workers.
    let file_name = name.clone();
    let extracted =
        tokio::task::spawn_blocking(move || kb::extract_file(&file_name, ctype.as_deref(), &bytes))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(kb_error)?;
    Ok(("file", Some(name), title, extracted))
}

/// List the avatar's knowledge items.
#[utoipa::path(get, path = "/v1/consumer-avatars/{id}/knowledge", tag = "knowledge", security(("bearer" = [])),
    params(("id" = String, Path, description = "Avatar id")),
    responses((status = 200, description = "Items, newest first"), (status = 404, description = "Not your avatar")))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Envelope<Vec<Value>>> {
    let avatar_id = owned_avatar_id(&state, &user, &id).await?;
    let items = state.store.knowledge_items(&avatar_id).await?;
    Ok(Envelope(items.iter().map(item_json).collect()))
}

/// Delete one knowledge item and its index entries.
#[utoipa::path(delete, path = "/v1/consumer-avatars/{id}/knowledge/{itemId}", tag = "knowledge", security(("bearer" = [])),
    params(("id" = String, Path, description = "Avatar id"), ("itemId" = String, Path, description = "Knowledge item id")),
    responses((status = 200, description = "`{success: true}`"), (status = 404, description = "Not found")))]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, item_id)): ApiPath<(String, String)>,
) -> ApiResult<Envelope<Value>> {
    let avatar_id = owned_avatar_id(&state, &user, &id).await?;
    if !state
        .store
        .delete_knowledge_item(&avatar_id, &item_id)
        .await?
    {
        return Err(ApiError::not_found("Knowledge item not found"));
    }
    Ok(Envelope(json!({ "success": true, "id": item_id })))
}
