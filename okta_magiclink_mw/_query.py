"""Strict parsing of the query strings the middleware acts on (R9, R16)."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from .errors import BadRequest

MAX_QUERY_BYTES = 4096
MAX_FIELDS = 16

#: Our own states are 43 URL-safe characters; accept a little more, nothing exotic.
STATE = re.compile(r"[A-Za-z0-9_.~-]{8,128}")
#: Okta sends 6 digits, or up to 10 letters and digits in the alphanumeric variant.
OTP = re.compile(r"[A-Za-z0-9]{6,10}")
#: Printable ASCII without spaces; form-encoded as one value when redeemed (#25).
INTERACTION_CODE = re.compile(r"[\x21-\x7e]{1,1024}")
ERROR_CODE = re.compile(r"[a-z_]{1,64}")


def parse_query(query_string: str) -> dict[str, str]:
    """Parse ``a=1&b=2`` with ``&`` as the only separator (CVE-2021-23336).

    :raises BadRequest: for an oversized query, too many fields, or any
        parameter given twice (RFC 6749 §3.1).
    """
    if len(query_string) > MAX_QUERY_BYTES:
        raise BadRequest(code="query_too_long")
    fields: dict[str, str] = {}
    if not query_string:
        return fields
    pairs = query_string.split("&")
    if len(pairs) > MAX_FIELDS:
        raise BadRequest(code="too_many_fields")
    for pair in pairs:
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        name = unquote_plus(raw_name)
        if name in fields:
            raise BadRequest(code="duplicate_parameter")
        fields[name] = unquote_plus(raw_value)
    return fields


def valid(pattern: re.Pattern[str], value: str | None) -> bool:
    return value is not None and pattern.fullmatch(value) is not None
