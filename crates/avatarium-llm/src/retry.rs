//! The one timeout, retry and error policy every wire client shares.
//!
//! An avatar starts speaking as soon as the first delta arrives, so a reply
//! that has begun can never be replayed: retries only happen before the first
//! delta, and everything after it is passed through with an idle watchdog.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::{ProviderConfig, ProviderError, TextStream};

/// Upper bound on any wait between attempts, whatever the server asks for:
/// a user is waiting for the avatar to answer.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// Per-request cap for streaming replies. It overrides a total timeout the
/// shared client may carry (which would cut long replies short); the real
/// limits are `first_token_timeout` and `idle_timeout`.
pub(crate) const STREAM_REQUEST_CAP: Duration = Duration::from_secs(15 * 60);

/// Upstream error texts can be whole HTML pages.
const MAX_MESSAGE_CHARS: usize = 500;

/// What one server-sent event means to the caller.
pub(crate) enum Step {
    Delta(String),
    /// Pings, role-only chunks, usage reports, blocks we do not speak.
    Skip,
    /// The protocol's explicit end of the reply.
    Done,
    Fail(ProviderError),
}

pub(crate) type Parse = fn(&Event) -> Step;

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// A failed attempt, with the wait the server asked for if it said so.
struct Failure {
    error: ProviderError,
    retry_after: Option<Duration>,
}

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

enum Opened {
    /// The server ended the reply before saying anything.
    Empty,
    Started {
        first: String,
        events: Events,
    },
}

/// Sends a streaming request (built afresh for every attempt) and returns the
/// reply as text deltas.
///
/// `terminated`: the protocol marks the end of a reply (`[DONE]`,
/// `message_stop`), so a clean EOF without it means the connection was cut.
pub(crate) async fn open_stream(
    cfg: &ProviderConfig,
    build: impl Fn() -> RequestBuilder,
    parse: Parse,
    terminated: bool,
) -> Result<TextStream, ProviderError> {
    let opened = with_retries(cfg, || {
        let request = build()
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(STREAM_REQUEST_CAP);
        open_attempt(request, parse, terminated)
    })
    .await?;
    Ok(match opened {
        Opened::Empty => Box::pin(futures::stream::empty()),
        Opened::Started { first, events } => rest_of_stream(
            first,
            events,
            parse,
            terminated,
            cfg.idle_timeout,
            cfg.api_key.clone(),
        ),
    })
}

/// Sends a plain JSON request with the same retry policy; the whole exchange
/// must fit in `first_token_timeout`.
pub(crate) async fn send_json(
    cfg: &ProviderConfig,
    build: impl Fn() -> RequestBuilder,
) -> Result<Value, ProviderError> {
    with_retries(cfg, || json_attempt(build())).await
}

async fn with_retries<T, Fut>(
    cfg: &ProviderConfig,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, ProviderError>
where
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut retries = 0u32;
    loop {
        let outcome = match tokio::time::timeout(cfg.first_token_timeout, attempt()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::from(ProviderError::Timeout)),
        };
        let failure = match outcome {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        let error = redact(failure.error, cfg.api_key.as_deref());
        if !error.is_retryable() || retries >= cfg.max_retries {
            return Err(error);
        }
        let delay = failure
            .retry_after
            .unwrap_or_else(|| backoff(cfg.retry_base_delay, retries))
            .min(MAX_RETRY_DELAY);
        tracing::warn!(provider = %cfg.id, attempt = retries + 1, ?delay, error = %error, "retrying the provider");
        tokio::time::sleep(delay).await;
        retries += 1;
    }
}

fn backoff(base: Duration, retries: u32) -> Duration {
    base.saturating_mul(1u32 << retries.min(16))
}

async fn open_attempt(
    request: RequestBuilder,
    parse: Parse,
    terminated: bool,
) -> Result<Opened, Failure> {
    let response = request
        .send()
        .await
        .map_err(|e| Failure::from(transport_error(&e)))?;
    let response = check_status(response).await?;
    if is_json(response.headers()) {
        // Some proxies and servers answer 200 with a JSON error instead of a
        // stream; an SSE parser would see nothing and report a cut stream.
        let body = response.text().await.unwrap_or_default();
        let message = error_message(&body).unwrap_or_else(|| snippet(&body));
        return Err(
            ProviderError::Protocol(format!("expected an event stream, got: {message}")).into(),
        );
    }
    let mut events: Events = Box::pin(response.bytes_stream().eventsource());
    loop {
        let Some(item) = events.next().await else {
            return if terminated {
                Err(ended_early().into())
            } else {
                Ok(Opened::Empty)
            };
        };
        match classify(item, parse) {
            Step::Skip => {}
            Step::Delta(first) => return Ok(Opened::Started { first, events }),
            Step::Done => return Ok(Opened::Empty),
            Step::Fail(error) => return Err(error.into()),
        }
    }
}

async fn json_attempt(request: RequestBuilder) -> Result<Value, Failure> {
    let response = request
        .send()
        .await
        .map_err(|e| Failure::from(transport_error(&e)))?;
    let response = check_status(response).await?;
    let body = response
        .bytes()
        .await
        .map_err(|e| Failure::from(transport_error(&e)))?;
    serde_json::from_slice(&body)
        .map_err(|e| ProviderError::Protocol(format!("the reply is not JSON: {e}")).into())
}

fn rest_of_stream(
    first: String,
    mut events: Events,
    parse: Parse,
    terminated: bool,
    idle: Duration,
    key: Option<String>,
) -> TextStream {
    Box::pin(async_stream::stream! {
        yield Ok(first);
        loop {
            // Every event counts as a sign of life, pings included.
            let item = match tokio::time::timeout(idle, events.next()).await {
                Err(_) => {
                    yield Err(ProviderError::Timeout);
                    break;
                }
                Ok(None) => {
                    if terminated {
                        yield Err(ended_early());
                    }
                    break;
                }
                Ok(Some(item)) => item,
            };
            match classify(item, parse) {
                Step::Skip => {}
                Step::Delta(text) => yield Ok(text),
                Step::Done => break,
                Step::Fail(error) => {
                    yield Err(redact(error, key.as_deref()));
                    break;
                }
            }
        }
    })
}

fn classify(item: Result<Event, EventStreamError<reqwest::Error>>, parse: Parse) -> Step {
    match item {
        Ok(event) => parse(&event),
        Err(EventStreamError::Transport(e)) => Step::Fail(transport_error(&e)),
        Err(e) => Step::Fail(ProviderError::Protocol(e.to_string())),
    }
}

fn ended_early() -> ProviderError {
    ProviderError::Protocol("stream ended early".into())
}

/// Turns a non-2xx response into the matching error, reading the provider's
/// own explanation from the body.
async fn check_status(response: Response) -> Result<Response, Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let body = response.text().await.unwrap_or_default();
    Err(Failure {
        error: status_error(status, &body),
        retry_after,
    })
}

pub(crate) fn status_error(status: StatusCode, body: &str) -> ProviderError {
    let message = error_message(body).unwrap_or_else(|| {
        let reason = status.canonical_reason().unwrap_or("error").to_owned();
        match snippet(body) {
            s if s.is_empty() => reason,
            s => format!("{reason}: {s}"),
        }
    });
    if gemini_auth_failure(body) {
        // Gemini answers a bad key with 400 INVALID_ARGUMENT.
        return ProviderError::Unauthorized(message);
    }
    error_for_code(status.as_u16(), message)
}

/// The error a status code stands for; also used for errors reported inside
/// a stream, which carry a code but no HTTP status.
pub(crate) fn error_for_code(code: u16, message: String) -> ProviderError {
    match code {
        401 | 403 => ProviderError::Unauthorized(message),
        429 => ProviderError::RateLimited(message),
        408 => ProviderError::Timeout,
        400..=499 => ProviderError::BadRequest(message),
        _ => ProviderError::Upstream {
            status: code,
            message,
        },
    }
}

/// The message in the providers' documented error bodies: OpenAI
/// `{error:{message}}`, Anthropic `{type:"error", error:{type, message}}`,
/// Gemini `{error:{code, message, status}}` (sometimes inside an array),
/// and the `{error:"..."}` of Ollama and llama.cpp.
pub(crate) fn error_message(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let value = match value {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    let message = value
        .pointer("/error/message")
        .or_else(|| value.get("error").filter(|e| e.is_string()))
        .or_else(|| value.get("message"))
        .or_else(|| value.get("detail"))
        .and_then(Value::as_str)?;
    let message = message.trim();
    (!message.is_empty()).then(|| truncate(message))
}

fn gemini_auth_failure(body: &str) -> bool {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let error = match &value {
        Value::Array(items) => items.first().and_then(|v| v.get("error")),
        other => other.get("error"),
    };
    let Some(error) = error else {
        return false;
    };
    let status = error
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key_invalid = error
        .get("details")
        .and_then(Value::as_array)
        .is_some_and(|details| {
            details
                .iter()
                .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
        });
    key_invalid || status == "UNAUTHENTICATED" || status == "PERMISSION_DENIED"
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    // OpenAI sends the precise value in milliseconds next to the standard one.
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    // HTTP-date values are ignored: the backoff is a good enough guess.
    text("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}

fn transport_error(e: &reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        return ProviderError::Timeout;
    }
    // reqwest's own text ("error sending request") hides the useful part,
    // e.g. "Connection refused", in its source chain.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    ProviderError::Network(message)
}

fn snippet(body: &str) -> String {
    truncate(body.trim())
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Removes the API key from anything an upstream echoed back (some do, in
/// "invalid key sk-…" messages), so it cannot reach logs or the UI.
pub(crate) fn redact(error: ProviderError, key: Option<&str>) -> ProviderError {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return error;
    };
    let clean = |s: String| {
        if s.contains(key) {
            s.replace(key, "***")
        } else {
            s
        }
    };
    match error {
        ProviderError::Unauthorized(m) => ProviderError::Unauthorized(clean(m)),
        ProviderError::RateLimited(m) => ProviderError::RateLimited(clean(m)),
        ProviderError::BadRequest(m) => ProviderError::BadRequest(clean(m)),
        ProviderError::Upstream { status, message } => ProviderError::Upstream {
            status,
            message: clean(message),
        },
        ProviderError::Network(m) => ProviderError::Network(clean(m)),
        ProviderError::Protocol(m) => ProviderError::Protocol(clean(m)),
        ProviderError::NotConfigured(m) => ProviderError::NotConfigured(clean(m)),
        other @ (ProviderError::Timeout | ProviderError::Unsupported(_)) => other,
    }
}

/// Joins a base URL and a path without doubling or dropping the slash.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Header value that reqwest and hyper keep out of Debug output.
pub(crate) fn secret_header(value: &str) -> Result<reqwest::header::HeaderValue, ProviderError> {
    let mut header = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
        ProviderError::NotConfigured("the API key contains characters a header cannot carry".into())
    })?;
    header.set_sensitive(true);
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_error_bodies_give_their_message() {
        let openai = r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let anthropic =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let gemini =
            r#"[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}]"#;
        let ollama = r#"{"error":"model \"nope\" not found"}"#;
        assert_eq!(error_message(openai).as_deref(), Some("Incorrect API key"));
        assert_eq!(error_message(anthropic).as_deref(), Some("Overloaded"));
        assert_eq!(error_message(gemini).as_deref(), Some("Quota exceeded"));
        assert_eq!(
            error_message(ollama).as_deref(),
            Some("model \"nope\" not found")
        );
        assert_eq!(error_message("<html>bad gateway</html>"), None);
    }

    #[test]
    fn statuses_map_to_errors() {
        assert!(matches!(
            status_error(StatusCode::UNAUTHORIZED, ""),
            ProviderError::Unauthorized(_)
        ));
        assert!(matches!(
            status_error(StatusCode::FORBIDDEN, ""),
            ProviderError::Unauthorized(_)
        ));
        assert!(matches!(
            status_error(StatusCode::TOO_MANY_REQUESTS, ""),
            ProviderError::RateLimited(_)
        ));
        assert!(matches!(
            status_error(StatusCode::NOT_FOUND, ""),
            ProviderError::BadRequest(_)
        ));
        assert!(matches!(
            status_error(StatusCode::UNPROCESSABLE_ENTITY, ""),
            ProviderError::BadRequest(_)
        ));
        let overloaded = StatusCode::from_u16(529).unwrap();
        assert!(matches!(
            status_error(overloaded, ""),
            ProviderError::Upstream { status: 529, .. }
        ));
        let bad_key = r#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT",
            "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
        assert!(matches!(
            status_error(StatusCode::BAD_REQUEST, bad_key),
            ProviderError::Unauthorized(_)
        ));
    }

    #[test]
    fn retry_after_prefers_milliseconds_and_ignores_dates() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&dated), None);
    }

    #[test]
    fn backoff_doubles_and_saturates() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 0), Duration::from_millis(100));
        assert_eq!(backoff(base, 3), Duration::from_millis(800));
        assert!(backoff(Duration::MAX, 40) == Duration::MAX);
    }

    #[test]
    fn redaction_covers_every_message() {
        let e = redact(
            ProviderError::Upstream {
                status: 500,
                message: "bad key sk-123 here".into(),
            },
            Some("sk-123"),
        );
        assert_eq!(
            e.to_string(),
            "the provider failed with status 500: bad key *** here"
        );
        assert!(!format!("{e:?}").contains("sk-123"));
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        assert_eq!(truncate(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
