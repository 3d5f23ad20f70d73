"""The redacting log filter: registered secrets and bearer-shaped values never reach a log."""

from __future__ import annotations

import io
import logging

from c2c_hub.logs import REDACTED, RedactingFilter, redact, register_secret


def _capture() -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return logger, stream, handler


def test_registered_secret_is_redacted_in_message_args_and_tracebacks() -> None:
    secret = "client-secret-abcdef-123456"
    register_secret(secret)
    logger, stream, handler = _capture()
    try:
        logger.info("secret is %s", secret)
        logger.info(f"inline {secret}")
        try:
            raise ValueError(f"boom {secret}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert secret not in text
    assert text.count(REDACTED) >= 3


def test_bearer_shaped_values_are_redacted_even_if_never_registered() -> None:
    samples = [
        "GET /devices/websocket?Authorization=Bearer%20abc.def-ghi HTTP/1.1",
        "Authorization: Bearer abcdefghijkl",
        '{"access_token": "zzzzzzzzzzzz", "refresh_token": "yyyyyyyyyyyy"}',
        "refresh_token=xxxxxxxxxx&client_id=unit",
    ]
    for sample in samples:
        cleaned = redact(sample)
        for value in ("abc.def-ghi", "abcdefghijkl", "zzzzzzzzzzzz", "yyyyyyyyyyyy", "xxxxxxxxxx"):
            assert value not in cleaned, cleaned
    assert "client_id=unit" in redact(samples[3])


def test_ordinary_messages_pass_unchanged() -> None:
    assert redact("uploaded 3 parts of A001_C002.wav") == "uploaded 3 parts of A001_C002.wav"
