//! API errors as the API server returns them: a `Status` object with the
//! HTTP code, a reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`,
//! `BadRequest`, `Expired`, `MethodNotAllowed`, `ServiceUnavailable`) and the
//! API server's message wording.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::store::Resource;

/// An API error, rendered as a `Status` object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `reason` field.
    pub reason: String,
    /// `message` field.
    pub message: String,
    /// `details` field, when the error concerns one object.
    pub details: Option<Value>,
}

fn kind_group(plural: &str) -> &str {
    plural
}

impl ApiError {
    /// 404: `pods "x" not found`.
    pub fn not_found(plural: &str, name: &str) -> Self {
        Self {
            code: 404,
            reason: "NotFound".into(),
            message: format!("{plural} \"{name}\" not found"),
            details: Some(json!({"name": name, "kind": kind_group(plural)})),
        }
    }

    /// 409: create of an existing name.
    pub fn already_exists(plural: &str, name: &str) -> Self {
        Self {
            code: 409,
            reason: "AlreadyExists".into(),
            message: format!("{plural} \"{name}\" already exists"),
            details: Some(json!({"name": name, "kind": kind_group(plural)})),
        }
    }

    /// 409: stale resourceVersion on update.
    pub fn conflict(plural: &str, name: &str) -> Self {
        Self {
            code: 409,
            reason: "Conflict".into(),
            message: format!(
                "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
            details: Some(json!({"name": name, "kind": kind_group(plural)})),
        }
    }

    /// 422: an invalid object.
    pub fn invalid(r: Resource, name: &str, what: &str) -> Self {
        Self {
            code: 422,
            reason: "Invalid".into(),
            message: format!("{} \"{name}\" is invalid: {what}", r.kind),
            details: Some(json!({"name": name, "kind": r.kind})),
        }
    }

    /// 400.
    pub fn bad_request(message: String) -> Self {
        Self {
            code: 400,
            reason: "BadRequest".into(),
            message,
            details: None,
        }
    }

    /// 410: a watch from a resourceVersion older than the history.
    pub fn expired(from: u64, now: u64) -> Self {
        Self {
            code: 410,
            reason: "Expired".into(),
            message: format!("too old resource version: {from} ({now})"),
            details: None,
        }
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self {
            code: 405,
            reason: "MethodNotAllowed".into(),
            message: "the server does not allow this method on the requested resource".into(),
            details: None,
        }
    }

    /// 415: a patch type the simulation does not implement.
    pub fn unsupported_media(content_type: &str) -> Self {
        Self {
            code: 415,
            reason: "UnsupportedMediaType".into(),
            message: format!("the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {content_type})"),
            details: None,
        }
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(self.to_status())).into_response()
    }
}
