"""The pairing page: the part of Frame.io's web app where a person enters a device's code.

``verification_uri`` (``/pair``) asks for the 6-digit code; ``verification_uri_complete``
(``/pair/<code>``, what a QR code opens) shows it pre-filled. Approve or decline does what the
control API's ``approve``/``deny`` do, so a person can pair a real hub against the emulator.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from c2c_hub.emulation.frameio.errors import ApiProblem
from c2c_hub.emulation.frameio.state import EmulatorState

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pair a device - C2C emulator</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
input{{font-size:2rem;letter-spacing:.4rem;width:10rem}}button{{font-size:1rem;margin:.5rem}}
.code{{font-size:2.5rem;letter-spacing:.5rem;font-weight:bold}}.msg{{padding:.5rem;background:#eef}}
</style></head><body><h1>Connect a device</h1>
<p>Project: <b>{project}</b></p>{body}</body></html>"""


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _page(request: Request, body: str, status: int = 200) -> HTMLResponse:
    project = escape(_state(request).project_name)
    return HTMLResponse(_PAGE.format(project=project, body=body), status_code=status)


async def enter_code(request: Request) -> Response:
    code = request.query_params.get("code", "").strip()
    if code:
        return RedirectResponse(f"/pair/{escape(code)}", status_code=303)
    return _page(
        request,
        '<form method="get" action="/pair"><p>Enter the code shown on your device:</p>'
        '<input name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autofocus>'
        "<button>Next</button></form>",
    )


async def confirm(request: Request) -> Response:
    user_code = request.path_params["user_code"]
    try:
        pending = _state(request).find_user_code(user_code)
    except ApiProblem as exc:
        return _page(request, f'<p class="msg">{escape(exc.detail)}</p>', exc.status)
    return _page(
        request,
        f"<p>Device <b>{escape(pending.client_id)}</b> wants to upload to this project.</p>"
        f'<p class="code">{escape(user_code)}</p>'
        f'<form method="post" action="/pair/{escape(user_code)}">'
        '<button name="action" value="approve">Connect</button>'
        '<button name="action" value="deny">Decline</button></form>',
    )


async def decide(request: Request) -> Response:
    user_code = request.path_params["user_code"]
    action = (await request.form()).get("action")
    state = _state(request)
    try:
        if action == "approve":
            state.approve(user_code)
            message = "Connected. The device finishes pairing on its next poll."
        elif action == "deny":
            state.deny(user_code)
            message = "Declined. The device was told no."
        else:
            return _page(request, '<p class="msg">Choose Connect or Decline.</p>', 400)
    except ApiProblem as exc:
        return _page(request, f'<p class="msg">{escape(exc.detail)}</p>', exc.status)
    return _page(request, f'<p class="msg">{message}</p>')


routes = [
    Route("/pair", enter_code, methods=["GET"]),
    Route("/pair/{user_code}", confirm, methods=["GET"]),
    Route("/pair/{user_code}", decide, methods=["POST"]),
]
