use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Avatarium local API",
        description = "The /v1 API of the hosted avatar services, served offline on localhost. \
                       Responses use `{data, meta: {requestId}}`; errors `{error: {code, message}, meta}`.",
    ),
    servers((url = "http://127.0.0.1:8000", description = "Local server")),
    modifiers(&BearerAuth),
    tags(
        (name = "health"), (name = "auth"), (name = "api-keys"), (name = "avatars"),
        (name = "personas"), (name = "consumer-avatars"), (name = "public"), (name = "billing"),
        (name = "knowledge"), (name = "conversations"), (name = "models"), (name = "tts"), (name = "stt"),
        (name = "smarteravatar", description = "004's /api/* endpoints")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A user JWT, or an `av_live_` API key where the endpoint accepts keys",
                    ))
                    .build(),
            ),
        );
    }
}
