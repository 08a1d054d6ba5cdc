//! 004's SmarterAvatar endpoints: `/api/chat` (with hybrid mode) and
//! `/api/conversations/log`. They act for the local owner, as the hosted
//! frontend calls them without user credentials.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use avatarium_core::model::AvatarRecord;
use avatarium_core::store::{NewConversation, NewMessage, Thread};
use avatarium_llm::Message;

use crate::engine;
use crate::error::{ApiError, ApiResult, Bare};
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiChatBody {
    message: Option<String>,
    session_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    history: Vec<Value>,
}

/// The avatar `/api/chat` speaks as: the configured one, else the owner's
/// newest active avatar, else the default preset.
async fn api_avatar(state: &AppState, owner_id: &str) -> ApiResult<Option<AvatarRecord>> {
    if let Some(short) = &state.config.api_avatar {
        return Ok(state.store.avatar_by_short_id(short).await?);
    }
    Ok(state
        .store
        .avatars(owner_id)
        .await?
        .into_iter()
        .find(|a| a.status == "active"))
}

fn history_messages(history: &[Value]) -> Vec<Message> {
    history
        .iter()
        .filter_map(|h| {
            let content = h["content"].as_str()?.to_string();
            match h["role"].as_str()? {
                "user" => Some(Message::user(content)),
                "assistant" => Some(Message::assistant(content)),
                _ => None,
            }
        })
        .collect()
}

/// Send a message, get a response with sources.
#[utoipa::path(post, path = "/api/chat", tag = "smarteravatar", request_body = ApiChatBody,
    responses((status = 200, description = "`{response, sources, sessionId}`"),
              (status = 400, description = "INVALID_REQUEST: missing message"),
              (status = 429, description = "Rate limited"), (status = 502, description = "PROVIDER_ERROR")))]
pub async fn chat(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ApiChatBody>,
) -> ApiResult<Response> {
    let rate = state.limiters.api_chat.check(&ip)?;
    let message = body
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad_request("Missing required field: message"))?;
    let message = engine::validate_user_text(message)?.to_string();

    if let Some(backend) = &state.config.chat_backend_url {
        let session_id = body
            .session_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let answer = forward(&state, backend, &message, &session_id, &body.history).await?;
        return Ok((
            rate,
            Bare(json!({
                "response": answer["response"],
                "sources": answer.get("sources").cloned().unwrap_or_else(|| json!([])),
                "sessionId": session_id,
            })),
        )
            .into_response());
    }

    let owner = state.store.owner().await?;
    let avatar = api_avatar(&state, &owner.id).await?;
    // Each /api session is a conversation of the owner's, so it shows up
    // with the rest and keeps its history server-side.
    let conversation = match &body.session_id {
        Some(id) => state.store.conversation(&owner.id, id).await?,
        None => None,
    };
    let (system_prompt, persona, consumer_id) = match &avatar {
        Some(a) => (
            a.system_prompt.clone(),
            Some(engine::persona_of(a)),
            Some(a.id.clone()),
        ),
        None => {
            let (p, prompt) = engine::preset_persona(avatarium_core::presets::DEFAULT_PRESET)
                .expect("the default preset ships");
            (prompt, Some(p), None)
        }
    };
    let chosen = match &avatar {
        Some(a) => state.choose_provider(
            a.settings.ai_provider.as_deref(),
            a.settings.ai_model.as_deref(),
            None,
        )?,
        None => state.choose_provider(None, None, None)?,
    };
    let conversation = match conversation {
        Some(c) => c,
        None => {
            state
                .store
                .create_conversation(NewConversation {
                    account_id: owner.id.clone(),
                    avatar_id: avatar.as_ref().map(|a| a.short_id.clone()),
                    consumer_avatar_id: consumer_id.clone(),
                    provider: chosen.id.clone(),
                    model: chosen.model.clone(),
                    system_prompt: system_prompt.clone(),
                    byok: false,
                    source: "smarteravatar".into(),
                    metadata: None,
                })
                .await?
        }
    };
    let thread = Thread::Conversation(conversation.id.clone());
    let history = if body.history.is_empty() {
        state.history(&thread).await?
    } else {
        history_messages(&body.history)
    };
    let knowledge = match &consumer_id {
        Some(id) => state.retrieve(id, &message).await?,
        None => Vec::new(),
    };
    let cited = engine::cited(&knowledge);
    let req = engine::build_request(
        &system_prompt,
        knowledge,
        history,
        &message,
        persona,
        Some(chosen.model.clone()),
    );
    let (_, reply) = state
        .store_user_while(&thread, message, &chosen.id, chosen.provider.complete(req))
        .await?;
    state
        .store
        .add_message(
            &thread,
            NewMessage {
                role: "assistant".into(),
                content: reply.trim().to_string(),
                ..Default::default()
            },
        )
        .await?;
    let mut sources: Vec<Value> = Vec::new();
    for p in &cited {
        if !sources.iter().any(|s| s["title"] == p.title.as_str()) {
            sources.push(json!({ "title": p.title, "url": Value::Null, "relevance": engine::round2(p.relevance) }));
        }
    }
    Ok((
        rate,
        Bare(json!({
            "response": reply.trim(),
            "sources": sources,
            "sessionId": conversation.id,
        })),
    )
        .into_response())
}

/// Hybrid mode: the user's own backend answers; we pass its answer through.
async fn forward(
    state: &AppState,
    url: &str,
    message: &str,
    session_id: &str,
    history: &[Value],
) -> ApiResult<Value> {
    let res = state
        .http
        .post(url)
        .timeout(Duration::from_secs(30))
        .json(&json!({ "message": message, "sessionId": session_id, "context": { "history": history } }))
        .send()
        .await
        .map_err(|e| ApiError::Provider(format!("The chat backend is unreachable: {}", e.without_url())))?;
    if !res.status().is_success() {
        return Err(ApiError::Provider(format!(
            "The chat backend answered {}",
            res.status()
        )));
    }
    let v: Value = res.json().await.map_err(|_| {
        ApiError::Provider("The chat backend sent something other than JSON".into())
    })?;
    if !v["response"].is_string() {
        return Err(ApiError::Provider(
            "The chat backend's answer has no `response` string".into(),
        ));
    }
    Ok(v)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogBody {
    session_id: Option<String>,
    #[schema(value_type = Vec<Object>)]
    messages: Vec<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// Log a conversation that happened elsewhere, for analytics.
#[utoipa::path(post, path = "/api/conversations/log", tag = "smarteravatar", request_body = LogBody,
    responses((status = 200, description = "`{success: true, conversationId}`"), (status = 400, description = "INVALID_REQUEST")))]
pub async fn log(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LogBody>,
) -> ApiResult<Bare> {
    if body.messages.is_empty() {
        return Err(ApiError::bad_request("Missing required field: messages"));
    }
    let mut messages = Vec::with_capacity(body.messages.len());
    for (i, m) in body.messages.iter().enumerate() {
        let role = m["role"]
            .as_str()
            .filter(|r| ["user", "assistant", "system"].contains(r));
        let content = m["content"].as_str();
        match (role, content) {
            (Some(role), Some(content)) => messages.push(NewMessage {
                role: role.into(),
                content: content.chars().take(engine::MAX_MESSAGE_CHARS).collect(),
                ..Default::default()
            }),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "messages[{i}] needs a role (user, assistant or system) and a content string"
                )));
            }
        }
    }
    if messages.len() > 1000 {
        return Err(ApiError::bad_request("At most 1000 messages per log"));
    }
    let owner = state.store.owner().await?;
    let mut metadata = body.metadata.unwrap_or_else(|| json!({}));
    if let Some(sid) = &body.session_id {
        metadata["sessionId"] = json!(sid);
    }
    let conv = state
        .store
        .log_conversation(
            NewConversation {
                account_id: owner.id,
                avatar_id: None,
                consumer_avatar_id: None,
                provider: "external".into(),
                model: "external".into(),
                system_prompt: String::new(),
                byok: false,
                source: "log".into(),
                metadata: Some(metadata.to_string()),
            },
            messages,
        )
        .await?;
    Ok(Bare(json!({ "success": true, "conversationId": conv.id })))
}
