"""The lines at the top once paired: the project and who authorized it, the socket,
Frame.io's pause and the operator's; and the web page with its login code."""

from __future__ import annotations

from rich.text import Text

from c2c_hub.ui.live.format import Status, clean, duration_text, spaced_code
from c2c_hub.ui.live.layout import label, one_line
from c2c_hub.ui.live.network import network_line


def header_lines(status: Status, now: float, width: int) -> list[Text]:
    pairing = status.get("pairing") or {}
    socket = status.get("socket") or {}
    uploads = status.get("uploads") or {}
    lines: list[Text] = []
    project = one_line(
        label("Project"),
        (clean(pairing.get("project_name")), "bold cyan"),
        "  ",
        (clean(pairing.get("project_id")), "dim"),
    )
    user = clean(pairing.get("authorized_by"))
    if project.cell_len + len(user) + 18 <= width:
        project.append_text(Text.assemble("   authorized by ", (user, "bold")))
        lines.append(project)
    else:
        lines.append(project)
        lines.append(one_line(label("User"), (user, "bold")))

    state = clean(socket.get("state"))
    if state == "joined":
        sock: Text = Text.assemble(("joined", "bold green"))
        if socket.get("connected_since"):
            sock.append(f" {duration_text(now - float(socket['connected_since']))}", "green")
    elif state in ("connecting",):
        sock = Text("connecting …", style="yellow")
    else:
        sock = Text(state, style="bold red")
        if state == "backoff" and socket.get("next_attempt_at"):
            sock.append(f", retry in {duration_text(socket['next_attempt_at'] - now)}")
    if state != "joined" and socket.get("last_error"):
        sock.append(f" ({clean(socket['last_error'])})", style="red")
    paused = status.get("paused")
    if paused is None:
        pause = Text("unknown", style="dim")
    elif paused:
        pause = Text("PAUSED", style="bold reverse yellow")
    else:
        pause = Text("no", style="green")
    if uploads.get("paused_reason"):
        mine = Text("PAUSED", style="bold reverse yellow")
    elif uploads.get("running") is False:
        mine = Text("stopped", style="red")
    elif uploads.get("running"):
        mine = Text(
            f"on ({clean(uploads.get('mode'))}{', parallel' if uploads.get('parallel') else ''})",
            style="green",
        )
    else:
        mine = Text("-", style="dim")
    lines.append(
        one_line(
            label("Socket"),
            sock,
            ("   Frame.io paused ", "bold"),
            pause,
            ("   Uploads ", "bold"),
            mine,
        )
    )
    lines.append(network_line(status))
    return lines


def web_line(status: Status) -> Text | None:
    """Where the web page is, and the login code that lets a browser in (this screen only)."""
    url = (status.get("control") or {}).get("url")
    code = status.get("login_code")
    if not url or not code:
        return None
    return one_line(
        label("Web page"),
        (clean(url), "bold"),
        "  login code ",
        (spaced_code(clean(code)), "bold cyan"),
    )
