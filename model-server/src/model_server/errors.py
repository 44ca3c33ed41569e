"""Errors a prediction request can end with, each with its HTTP status and counted reason."""

from __future__ import annotations

import math

from starlette.exceptions import HTTPException


class ApiError(HTTPException):
    """An error answered as JSON `{"error": reason, "detail": message}` and counted by reason."""

    status = 400
    reason = "bad_request"

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=self.status, detail=detail, headers=headers)


class EmptyUpload(ApiError):
    reason = "empty_upload"


class UploadTooLarge(ApiError):
    status = 413
    reason = "upload_too_large"


class NotAnImage(ApiError):
    reason = "not_an_image"


class CorruptImage(ApiError):
    reason = "corrupt_image"


class UnsupportedImageType(ApiError):
    status = 415
    reason = "unsupported_image_type"


class ImageTooLarge(ApiError):
    reason = "too_many_pixels"


class ExtremeAspectRatio(ApiError):
    reason = "extreme_aspect_ratio"


class QueueFull(ApiError):
    status = 503
    reason = "queue_full"


class QueueWaitTooLong(ApiError):
    """Refused at admission: the work already in the server would keep this request
    waiting longer than MAX_QUEUE_DELAY_MS."""

    status = 503
    reason = "queue_wait_too_long"


class DeadlineUnreachable(ApiError):
    """Dropped from the queue before the model: it could no longer be answered within
    REQUEST_TIMEOUT_SECONDS."""

    status = 503
    reason = "deadline_unreachable"


class ShuttingDown(ApiError):
    status = 503
    reason = "shutting_down"


class NotReady(ApiError):
    status = 503
    reason = "not_ready"


class DeadlineExceeded(ApiError):
    status = 504
    reason = "deadline_exceeded"


class InferenceFailed(ApiError):
    status = 500
    reason = "inference_failed"


# Errors raised by the framework rather than by us, counted under these reasons.
FRAMEWORK_REASONS = {422: "invalid_request"}


def retry_after(wait_s: float) -> dict[str, str]:
    """The Retry-After header of a refusal: the predicted wait in whole seconds, at least 1."""
    return {"Retry-After": str(max(1, math.ceil(wait_s)))}
