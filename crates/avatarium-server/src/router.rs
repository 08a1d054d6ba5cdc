//! The route table: every endpoint the local server answers, in one place.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::handlers::{
    api_keys, auth, avatars, billing, consumer_avatars, conversations, health, knowledge, models,
    personas, public, public_chat, smarter, streaming, stt, tts, ui,
};
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::{auth as credentials, middleware};

fn api() -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(consumer_avatars::put_model))
        .layer(DefaultBodyLimit::max(consumer_avatars::MAX_MODEL_BYTES));
    let knowledge_uploads = OpenApiRouter::new()
        .routes(routes!(knowledge::create, knowledge::list))
        .layer(DefaultBodyLimit::max(knowledge::MAX_FILE_BYTES));

    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::get_root))
        .routes(routes!(health::get_v1))
        .routes(routes!(health::get_api))
        .routes(routes!(health::get_metrics))
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::me))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(avatars::list))
        .routes(routes!(avatars::get))
        .routes(routes!(avatars::get_model))
        .routes(routes!(avatars::get_asset))
        .routes(routes!(personas::list))
        .routes(routes!(personas::list_by_vertical))
        .routes(routes!(personas::get))
        .routes(routes!(consumer_avatars::list, consumer_avatars::create))
        .routes(routes!(
            consumer_avatars::get,
            consumer_avatars::update,
            consumer_avatars::replace,
            consumer_avatars::delete
        ))
        .routes(routes!(consumer_avatars::get_analytics))
        .merge(uploads)
        .merge(knowledge_uploads)
        .routes(routes!(knowledge::delete))
        .routes(routes!(conversations::create))
        .routes(routes!(conversations::get))
        .routes(routes!(conversations::create_message))
        .routes(routes!(conversations::end))
        .routes(routes!(conversations::ws))
        .routes(routes!(public_chat::chat))
        .routes(routes!(public_chat::end_session))
        .routes(routes!(public_chat::ws))
        .routes(routes!(models::list_models))
        .routes(routes!(models::list_providers))
        .routes(routes!(models::ai_chat))
        .routes(routes!(models::openai_completions))
        .routes(routes!(models::avatar_completions))
        .routes(routes!(streaming::create))
        .routes(routes!(streaming::start))
        .routes(routes!(streaming::stop))
        .routes(routes!(streaming::sessions))
        .routes(routes!(streaming::speak))
        .routes(routes!(streaming::speak_status))
        .routes(routes!(streaming::ws))
        .routes(routes!(streaming::access_token))
        .routes(routes!(smarter::chat))
        .routes(routes!(smarter::log))
        .routes(routes!(tts::synthesize))
        .routes(routes!(tts::voices))
        .routes(routes!(tts::preview))
        .routes(routes!(tts::elevenlabs))
        .routes(routes!(tts::groq))
        .routes(routes!(tts::deepgram))
        .routes(routes!(stt::providers))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(stt::transcribe))
                .layer(DefaultBodyLimit::max(stt::MAX_AUDIO_BYTES)),
        )
        .routes(routes!(public::get))
        .routes(routes!(public::create_session))
        .routes(routes!(public::get_model))
        .routes(routes!(billing::list_plans))
        .routes(routes!(billing::get_subscription))
        .routes(routes!(billing::create_checkout))
}

/// The OpenAPI document of every route above.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

pub fn router(state: AppState) -> Router {
    let (routes, doc) = api().split_for_parts();
    let doc = std::sync::Arc::new(doc);
    let cfg = &state.config;

    routes
        .route(
            "/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        // The web UI: pages, not API routes, so outside the OpenAPI document.
        .route("/", get(ui::index))
        .route("/assets/{*path}", get(ui::asset))
        .route("/a/{shortId}", get(ui::public_page))
        .route("/a/{shortId}/embed", get(ui::widget))
        // Dashboard routes for browsers; the JSON 404 for everything else.
        .fallback(ui::fallback)
        // Innermost first: credentials, body limit, CORS, and outermost the
        // request context (request id, host guard) that every envelope reads.
        .layer(from_fn_with_state(state.clone(), credentials::resolve))
        // A panicking handler becomes a 500 that the request context wraps in
        // the envelope, instead of a dropped connection.
        .layer(CatchPanicLayer::new())
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(tower::util::option_layer(cors_layer(&cfg.cors_origins)))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::request_context,
        ))
        .with_state(state)
}

/// 003's separate WebSocket port: only the session socket, behind the same
/// request context (host guard, request ids) as the API.
pub fn ws_router(state: AppState) -> Router {
    Router::new()
        .route("/ws/{session_id}", get(streaming::ws))
        .fallback(|| async {
            crate::ApiError::not_found(
                "This port serves only the session WebSocket: /ws/{session_id}?token=…",
            )
        })
        .layer(CatchPanicLayer::new())
        .layer(from_fn_with_state(
            state.clone(),
            middleware::request_context,
        ))
        .with_state(state)
}

/// CORS for the configured origins only. With none configured (the default:
/// the dashboard and embeds are same-origin) no layer runs at all.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("x-ratelimit-limit"),
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderName::from_static("x-ratelimit-reset"),
                header::RETRY_AFTER,
            ]),
    )
}
