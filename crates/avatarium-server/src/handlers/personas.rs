//! Persona presets (001/002 "Personas").

use avatarium_core::personas::{self, Persona};

use crate::error::{ApiError, ApiResult, Envelope};
use crate::extract::ApiPath;

/// List all persona presets.
#[utoipa::path(get, path = "/v1/personas", tag = "personas",
    responses((status = 200, description = "All personas", body = [Persona])))]
pub async fn list() -> Envelope<&'static [Persona]> {
    Envelope(personas::all())
}

/// List personas of one vertical (sales, support, education, healthcare, …).
#[utoipa::path(get, path = "/v1/personas/{vertical}", tag = "personas",
    params(("vertical" = String, Path, description = "Industry vertical")),
    responses((status = 200, description = "Personas of the vertical", body = [Persona]),
              (status = 404, description = "Unknown vertical")))]
pub async fn list_by_vertical(
    ApiPath(vertical): ApiPath<String>,
) -> ApiResult<Envelope<Vec<&'static Persona>>> {
    let found: Vec<_> = personas::by_vertical(&vertical).collect();
    if found.is_empty() {
        return Err(ApiError::not_found(format!(
            "No personas in vertical '{vertical}'. Verticals: {}",
            personas::verticals().join(", ")
        )));
    }
    Ok(Envelope(found))
}

/// Get one persona preset by id.
#[utoipa::path(get, path = "/v1/personas/id/{id}", tag = "personas",
    params(("id" = String, Path, description = "Persona id, e.g. sales-rep")),
    responses((status = 200, description = "The persona", body = Persona), (status = 404, description = "Unknown persona")))]
pub async fn get(ApiPath(id): ApiPath<String>) -> ApiResult<Envelope<&'static Persona>> {
    personas::by_id(&id)
        .map(Envelope)
        .ok_or_else(|| ApiError::not_found(format!("Persona '{id}' not found")))
}
