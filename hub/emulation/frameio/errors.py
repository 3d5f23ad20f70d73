"""Frame.io's two error shapes and S3's XML errors, as the emulator answers them."""

from __future__ import annotations

from xml.sax.saxutils import escape

from starlette.responses import JSONResponse, Response

from c2c_hub.emulation.errors import EmulationError

TITLES = {
    400: "Bad Request",
    401: "Not Authorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class ApiProblem(EmulationError):
    """Raised by a handler to answer in Frame.io's detailed error shape."""

    def __init__(self, status: int, detail: str, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or TITLES.get(status, "Error")

    def response(self) -> JSONResponse:
        return detailed(self.status, self.detail, self.title)


class OAuthProblem(EmulationError):
    """Raised by an auth handler to answer ``400 {"error": code}``."""

    def __init__(self, code: str, status: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.status = status

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code}, status_code=self.status)


def detailed(status: int, detail: str, title: str | None = None) -> JSONResponse:
    title = title or TITLES.get(status, "Error")
    body = {
        "code": status,
        "errors": [{"code": status, "detail": detail, "status": status, "title": title}],
        "message": title,
    }
    return JSONResponse(body, status_code=status)


def not_authorized() -> ApiProblem:
    return ApiProblem(401, "You are not allowed to access that resource", "Not Authorized")


def channel_paused() -> ApiProblem:
    return ApiProblem(
        409, "The channel you're uploading from is currently paused.", "Channel Paused"
    )


def s3_error(status: int, code: str, message: str, resource: str = "") -> Response:
    """An S3-style XML error body."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>c2c-emulator</RequestId></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")
