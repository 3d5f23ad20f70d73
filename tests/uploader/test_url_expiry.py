"""When a part's presigned URL expires: ``X-Amz-Date`` + ``X-Amz-Expires``, read from the URL.

A resumed file keeps its asset only while its stored URLs have not expired; a wrong expiry
either re-creates assets for nothing or sends parts to URLs S3 refuses.
"""

from __future__ import annotations

import calendar

from c2c_hub.uploader.transfer import url_expiry

SIGNED = (
    "https://bucket.s3.amazonaws.com/upload/abc/part/17?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20261202%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20261202T174000Z&X-Amz-Expires=86400"
    "&X-Amz-SignedHeaders=content-type%3Bhost%3Bx-amz-acl&X-Amz-Signature=" + "a" * 64
)


def test_a_signed_url_expires_its_lifetime_after_it_was_signed() -> None:
    signed_at = calendar.timegm((2026, 12, 2, 17, 40, 0, 0, 0, 0))
    assert url_expiry(SIGNED) == float(signed_at + 86400)


def test_a_url_without_a_whole_signature_time_has_no_known_expiry() -> None:
    assert url_expiry("https://bucket.s3.amazonaws.com/upload/abc/part/17") is None
    assert url_expiry(SIGNED.replace("X-Amz-Expires=86400", "X-Amz-Expires=")) is None
    assert url_expiry(SIGNED.replace("20261202T174000Z", "yesterday")) is None
    assert url_expiry(SIGNED.replace("X-Amz-Expires=86400", "X-Amz-Expires=soon")) is None
