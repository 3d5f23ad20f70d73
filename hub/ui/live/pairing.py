"""The pairing panel: the code in large digits with its QR code, or why the hub is not paired."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from c2c_hub.ui.live.format import (
    FINAL_PAIRING_STEPS,
    Status,
    big_digits,
    clean,
    qr_block,
    spaced_code,
)


def pairing_panel(status: Status, now: float, width: int, height: int, show_qr: bool) -> Panel:
    pairing = status.get("pairing") or {}
    flow = status.get("pairing_flow") or {}
    state = pairing.get("state")
    code = flow.get("user_code")
    step = flow.get("step")
    left: list[RenderableType] = []
    title = "Pair this hub with Frame.io"
    if code and step not in FINAL_PAIRING_STEPS:
        if width >= 44:
            left += [Text(big_digits(code), style="bold cyan", no_wrap=True), Text("")]
        left.append(Text.assemble("Code: ", (spaced_code(clean(code)), "bold cyan")))
        uri = clean(flow.get("verification_uri"))
        left.append(Text.assemble("Enter it at ", Text(uri, style=f"bold link {uri}")))
        complete = flow.get("verification_uri_complete")
        if complete:
            link = clean(complete)
            left.append(Text.assemble("or open ", Text(link, style=f"underline link {link}")))
        expires = flow.get("expires_at")
        if expires is not None:
            remaining = max(0, int(float(expires) - now))
            left.append(Text(f"Expires in {remaining // 60}:{remaining % 60:02d}", style="yellow"))
        message = {
            "slowed": f"Frame.io asked to poll less often: {clean(flow.get('message'))}",
            "expired": "That code expired; getting a fresh one …",
        }.get(step or "", "Waiting for the code to be entered in Frame.io …")
        left.append(Text(f"{message}  (Ctrl-C to cancel)", style="dim"))
    elif step in ("denied", "failed", "cancelled"):
        text = {
            "denied": "The code was declined in Frame.io.",
            "cancelled": "Pairing was cancelled.",
        }.get(step, "Pairing failed")
        left.append(Text(text, style="bold red"))
        if flow.get("message"):
            left.append(Text(clean(flow["message"]), style="red"))
    elif flow.get("running"):
        left.append(Text("Asking Frame.io for a pairing code …"))
    else:
        title = "Not paired"
        reason = pairing.get("reason") or pairing.get("last_error")
        what = "needs pairing again" if state == "needs_pairing" else "is not paired"
        left.append(Text(f"This hub {what} with a Frame.io project.", style="bold yellow"))
        if reason:
            left.append(Text(clean(reason), style="yellow"))
        left.append(Text("Pair it: run 'c2c-hub pair' in another terminal", style="bold"))
        url = (status.get("control") or {}).get("url")
        if url:
            page = clean(url)
            left.append(Text.assemble("or open ", Text(page, style=f"underline link {page}")))
    body: RenderableType = Group(*left)
    complete = flow.get("verification_uri_complete")
    if show_qr and code and complete and step not in FINAL_PAIRING_STEPS:
        qr = qr_block(clean(complete))
        qr_lines = qr.splitlines()
        qr_width = max(len(line) for line in qr_lines)
        if width >= 36 + qr_width + 7 and height >= len(qr_lines) + 2:
            grid = Table.grid(padding=(0, 2))
            grid.add_column(min_width=36)
            grid.add_column(width=qr_width, no_wrap=True)
            grid.add_row(body, Text(qr, no_wrap=True))
            body = grid
        elif height >= len(qr_lines) + len(left) + 3 and width >= qr_width + 4:
            body = Group(body, Text(qr, no_wrap=True))
    return Panel(body, title=Text(title, style="bold"), title_align="left", expand=False)
