"""Tests for :mod:`okta_magiclink_mw._tokens` (R5, R7, R14, R32; catalogue B6, B7, B8).

Tokens are minted locally: PyJWT for well-formed ones, and a raw RS256 signer for the ones
PyJWT refuses to produce (duplicate JSON members, NaN, HS256 with a PEM "secret", ...).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from okta_magiclink_mw._tokens import (
    Discovery,
    JWKSCache,
    TokenSet,
    freshness,
    parse_discovery,
    parse_token_response,
    read_kid,
    validate_id_token,
)
from okta_magiclink_mw.errors import (
    IdentityProviderError,
    InvalidIdToken,
    MagicLinkError,
    TokenExchangeError,
)

#: MAX_TOKEN_BYTES as a literal, not imported: a changed cap must fail these tests.
TOKEN_LIMIT = 16_384
ISSUER = "https://example.okta.com/oauth2/default"
CLIENT_ID = "0oa1eguv0090rji841d7"
NONCE = "n-0S6_WzA2Mj-fresh-nonce"
KID = "kid-2026-a"
NOW = 1_800_000_000.0
LEEWAY = 60.0
JSON = "application/json"

_DROP = object()  # marker: remove this claim / header


# --------------------------------------------------------------------------------------------
# Keys and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def weak_key() -> rsa.RSAPrivateKey:
    # Deliberately weak: the JWKS cache must refuse to trust it.
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def jwk(key: rsa.RSAPrivateKey, kid: object = KID, **extra: Any) -> dict[str, Any]:
    """A public RSA JWK as Okta publishes it; ``extra`` overrides/adds members (``_DROP``)."""
    numbers = key.public_key().public_numbers()
    out: dict[str, Any] = {
        "kty": "RSA",
        "alg": "RS256",
        "kid": kid,
        "use": "sig",
        "e": b64url_int(numbers.e),
        "n": b64url_int(numbers.n),
    }
    for name, value in {"kid": kid, **extra}.items():
        if value is _DROP:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def jwks_body(*keys: Any) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid Okta-like ID token payload at NOW, with overrides (``_DROP`` removes)."""
    out: dict[str, Any] = {
        "sub": "00u1egri51r4PYyfE1d7",
        "ver": 1,
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": int(NOW) - 5,
        "exp": int(NOW) + 3595,
        "jti": "ID.abc",
        "amr": ["email"],
        "nonce": NONCE,
        "email": "someone@example.com",
    }
    for name, value in overrides.items():
        if value is _DROP:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def mint(key: rsa.RSAPrivateKey, payload: dict[str, Any] | None = None, kid: str = KID) -> str:
    """A token signed by PyJWT the normal way."""
    return jwt.encode(payload or claims(), key, algorithm="RS256", headers={"kid": kid})


def raw_token(
    key: rsa.RSAPrivateKey | None, header: dict[str, Any] | str, payload: dict[str, Any] | str
) -> str:
    """A token built by hand: header/payload may be raw JSON text, signature RS256 or empty."""
    h = header if isinstance(header, str) else json.dumps(header)
    p = payload if isinstance(payload, str) else json.dumps(payload)
    signing_input = f"{b64url(h.encode())}.{b64url(p.encode())}"
    if key is None:
        return signing_input + "."
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(sig)}"


def hs256_with_public_pem(key: rsa.RSAPrivateKey, payload: dict[str, Any]) -> str:
    """The classic alg-confusion token (#69): HMAC keyed with the RSA public key PEM."""
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": KID}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def validate(token: str, key: Any, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "nonce": NONCE,
        "now": NOW,
        "leeway": LEEWAY,
    }
    options.update(kwargs)
    return validate_id_token(token, key, **options)


def assert_no_leak(exc: MagicLinkError, *secrets: str) -> None:
    """Neither the public message nor the log notes may contain token or body content."""
    texts = [str(exc), exc.public_message, *getattr(exc, "__notes__", [])]
    for secret in secrets:
        for text in texts:
            assert secret not in text


# --------------------------------------------------------------------------------------------
# validate_id_token / read_kid: the happy path
# --------------------------------------------------------------------------------------------


def test_valid_token_returns_claims(signing_key: rsa.RSAPrivateKey) -> None:
    token = mint(signing_key)
    assert read_kid(token) == KID
    result = validate(token, signing_key.public_key())
    assert result["sub"] == "00u1egri51r4PYyfE1d7"
    assert result["nonce"] == NONCE
    assert result["email"] == "someone@example.com"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": [CLIENT_ID]}, id="aud-single-element-list"),
        pytest.param({"azp": CLIENT_ID}, id="azp-equal-client"),
        pytest.param({"exp": int(NOW) - 30, "iat": int(NOW) - 300}, id="exp-30s-ago"),
        pytest.param({"exp": int(NOW) - 59, "iat": int(NOW) - 300}, id="exp-59s-ago"),
        pytest.param({"iat": int(NOW) + 60}, id="iat-at-future-leeway-edge"),
        pytest.param({"iat": int(NOW) - 660}, id="iat-at-max-age-edge"),
        pytest.param({"nbf": int(NOW) + 30}, id="nbf-within-leeway"),
        pytest.param({"nbf": int(NOW) - 5}, id="nbf-past"),
        pytest.param({"exp": NOW + 10.5, "iat": NOW - 0.5}, id="float-times"),
    ],
)
def test_accepted_edge_cases(signing_key: rsa.RSAPrivateKey, overrides: dict[str, Any]) -> None:
    result = validate(mint(signing_key, claims(**overrides)), signing_key.public_key())
    assert result["sub"] == "00u1egri51r4PYyfE1d7"


# --------------------------------------------------------------------------------------------
# validate_id_token: the rejection table (catalogue B6, #68-#77)
# --------------------------------------------------------------------------------------------

TokenFactory = Callable[[rsa.RSAPrivateKey, rsa.RSAPrivateKey], str]


def _c(**overrides: Any) -> TokenFactory:
    """Factory: correctly signed token whose claims are overridden."""
    return lambda key, _other: raw_token(key, {"alg": "RS256", "kid": KID}, claims(**overrides))


def _h(**header: Any) -> TokenFactory:
    """Factory: correctly signed token with extra/overridden header members."""

    def make(key: rsa.RSAPrivateKey, _other: rsa.RSAPrivateKey) -> str:
        full: dict[str, Any] = {"alg": "RS256", "kid": KID}
        for name, value in header.items():
            if value is _DROP:
                full.pop(name, None)
            else:
                full[name] = value
        return raw_token(key, full, claims())

    return make


def _tamper_payload(key: rsa.RSAPrivateKey, _other: rsa.RSAPrivateKey) -> str:
    head, _payload, sig = mint(key).split(".")
    forged = b64url(json.dumps(claims(sub="00uADMIN")).encode())
    return f"{head}.{forged}.{sig}"


def _embedded_jwk(key: rsa.RSAPrivateKey, other: rsa.RSAPrivateKey) -> str:
    # Attacker signs with their own key and ships the matching public key in the header.
    return raw_token(other, {"alg": "RS256", "kid": KID, "jwk": jwk(other)}, claims())


REJECTED_TOKENS: list[Any] = [
    # #68 alg none / empty signature
    pytest.param(
        lambda k, o: raw_token(None, {"alg": "none", "kid": KID}, claims()), id="alg-none"
    ),
    pytest.param(
        lambda k, o: raw_token(None, {"alg": "RS256", "kid": KID}, claims()), id="empty-sig"
    ),
    pytest.param(lambda k, o: jwt.encode(claims(), "", algorithm="none"), id="alg-none-pyjwt"),
    # #69 algorithm confusion and other algorithms
    pytest.param(lambda k, o: hs256_with_public_pem(k, claims()), id="hs256-public-pem"),
    pytest.param(
        lambda k, o: jwt.encode(claims(), k, algorithm="RS512", headers={"kid": KID}), id="rs512"
    ),
    pytest.param(
        lambda k, o: jwt.encode(claims(), k, algorithm="PS256", headers={"kid": KID}), id="ps256"
    ),
    pytest.param(_h(alg="rs256"), id="alg-lowercase"),
    pytest.param(_h(alg=["RS256"]), id="alg-array"),
    pytest.param(_h(alg=_DROP), id="alg-missing"),
    # #70 wrong key, key-supplying headers
    pytest.param(lambda k, o: mint(o), id="signed-by-other-key"),
    pytest.param(_embedded_jwk, id="embedded-jwk"),
    pytest.param(_h(jku="https://evil.example/jwks"), id="jku"),
    pytest.param(_h(x5u="https://evil.example/cert.pem"), id="x5u"),
    pytest.param(_h(x5c=["MIIB"]), id="x5c"),
    pytest.param(_tamper_payload, id="payload-tampered"),
    # #71 issuer
    pytest.param(_c(iss="https://evil.example/oauth2/default"), id="iss-wrong-host"),
    pytest.param(_c(iss="https://example.okta.com/oauth2"), id="iss-prefix"),
    pytest.param(_c(iss="https://example.okta.com/oauth2/def"), id="iss-truncated"),
    pytest.param(_c(iss=ISSUER + "/"), id="iss-trailing-slash"),
    pytest.param(_c(iss=ISSUER + "x"), id="iss-superstring"),
    pytest.param(_c(iss=ISSUER.upper()), id="iss-case"),
    pytest.param(_c(iss=[ISSUER]), id="iss-array"),
    pytest.param(_c(iss=_DROP), id="iss-missing"),
    # #72 audience / azp
    pytest.param(_c(aud="0oaOTHERCLIENT"), id="aud-other"),
    pytest.param(_c(aud=[CLIENT_ID, "0oaOTHER"]), id="aud-extra"),
    pytest.param(_c(aud=["0oaOTHER", CLIENT_ID]), id="aud-extra-first"),
    pytest.param(_c(aud=["0oaOTHER"]), id="aud-list-other"),
    pytest.param(_c(aud=[]), id="aud-empty-list"),
    pytest.param(_c(aud=_DROP), id="aud-missing"),
    pytest.param(_c(azp="0oaOTHER"), id="azp-other"),
    pytest.param(_c(azp=None), id="azp-null"),
    # #73 nonce
    pytest.param(_c(nonce=_DROP), id="nonce-missing"),
    pytest.param(_c(nonce="an-older-transactions-nonce"), id="nonce-different"),
    pytest.param(_c(nonce=NONCE.upper()), id="nonce-case"),
    pytest.param(_c(nonce=NONCE + " "), id="nonce-suffix"),
    pytest.param(_c(nonce=123), id="nonce-number"),
    pytest.param(_c(nonce=""), id="nonce-empty"),
    # #74 exp
    pytest.param(_c(exp=int(NOW) - 120, iat=int(NOW) - 300), id="exp-120s-ago"),
    pytest.param(_c(exp=int(NOW) - 60, iat=int(NOW) - 300), id="exp-exactly-leeway"),
    pytest.param(_c(exp=_DROP), id="exp-missing"),
    pytest.param(_c(exp="1900000000"), id="exp-string"),
    pytest.param(_c(exp=True), id="exp-bool"),
    # #75 iat
    pytest.param(_c(iat=int(NOW) + 600), id="iat-10min-future"),
    pytest.param(_c(iat=int(NOW) + 61), id="iat-just-beyond-leeway"),
    pytest.param(_c(iat=int(NOW) - 2 * 86400, exp=int(NOW) + 86400), id="iat-2-days-old"),
    pytest.param(_c(iat=int(NOW) - 661), id="iat-just-beyond-max-age"),
    pytest.param(_c(iat=_DROP), id="iat-missing"),
    pytest.param(_c(iat="now"), id="iat-string"),
    pytest.param(_c(iat=int(NOW) + 30, exp=int(NOW) + 20), id="iat-after-exp"),
    # nbf
    pytest.param(_c(nbf=int(NOW) + 61), id="nbf-future"),
    pytest.param(_c(nbf="soon"), id="nbf-string"),
    pytest.param(_c(nbf=None), id="nbf-null"),
    # sub
    pytest.param(_c(sub=_DROP), id="sub-missing"),
    pytest.param(_c(sub=""), id="sub-empty"),
    pytest.param(_c(sub=12345), id="sub-number"),
    # non-finite numbers (json accepts them; JSON does not)
    pytest.param(
        lambda k, o: raw_token(
            k,
            {"alg": "RS256", "kid": KID},
            json.dumps(claims(exp=0)).replace('"exp": 0', '"exp": Infinity'),
        ),
        id="exp-infinity",
    ),
    pytest.param(
        lambda k, o: raw_token(
            k,
            {"alg": "RS256", "kid": KID},
            json.dumps(claims(iat=0)).replace('"iat": 0', '"iat": NaN'),
        ),
        id="iat-nan",
    ),
    # #76 crit
    pytest.param(_h(crit=["x-unknown"]), id="crit-unknown"),
    pytest.param(_h(crit=["b64"], b64=True), id="crit-b64"),
    pytest.param(_h(crit=[]), id="crit-empty"),
    # kid
    pytest.param(_h(kid=_DROP), id="kid-missing"),
    pytest.param(_h(kid=""), id="kid-empty"),
    pytest.param(_h(kid=7), id="kid-number"),
    pytest.param(_h(kid="k" * 257), id="kid-too-long"),
    # malformed structure
    pytest.param(lambda k, o: raw_token(k, "[]", claims()), id="header-array"),
    pytest.param(lambda k, o: raw_token(k, "{not json", claims()), id="header-not-json"),
    pytest.param(
        lambda k, o: raw_token(k, '{"alg":"HS256","alg":"RS256","kid":"' + KID + '"}', claims()),
        id="header-duplicate-alg",
    ),
    pytest.param(lambda k, o: raw_token(k, {"alg": "RS256", "kid": KID}, "[]"), id="payload-array"),
    pytest.param(
        lambda k, o: raw_token(k, {"alg": "RS256", "kid": KID}, "garbage"), id="payload-garbage"
    ),
    pytest.param(lambda k, o: "", id="empty"),
    pytest.param(lambda k, o: "abc", id="one-segment"),
    pytest.param(lambda k, o: "a.b", id="two-segments"),
    pytest.param(lambda k, o: mint(k) + ".extra", id="four-segments"),
    pytest.param(lambda k, o: "a.b.c.d.e", id="jwe-shape"),
    pytest.param(lambda k, o: mint(k).replace(".", "..", 1), id="empty-segment"),
    pytest.param(lambda k, o: mint(k) + "=", id="padding"),
    pytest.param(lambda k, o: "!!!!." + mint(k).split(".", 1)[1], id="bad-header-chars"),
    pytest.param(lambda k, o: mint(k).rsplit(".", 1)[0] + ".abcde", id="sig-bad-length"),
    pytest.param(lambda k, o: "é" + mint(k), id="non-ascii"),
    pytest.param(lambda k, o: mint(k, claims(pad="x" * TOKEN_LIMIT)), id="oversized-token"),
    pytest.param(
        lambda k, o: raw_token(k, {"alg": "RS256", "kid": KID, "x": "y" * 1_000_000}, claims()),
        id="1mb-header",
    ),
]


@pytest.mark.parametrize("factory", REJECTED_TOKENS)
def test_rejected_tokens(
    signing_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, factory: TokenFactory
) -> None:
    token = factory(signing_key, other_key)
    with pytest.raises(InvalidIdToken) as info:
        validate(token, signing_key.public_key())
    exc = info.value
    assert exc.status == 403
    assert exc.code == "invalid_id_token"
    assert exc.public_message == InvalidIdToken.public_message
    assert exc.__notes__, "a secret-free reason must be attached for the logs"
    assert_no_leak(exc, NONCE, "00u1egri51r4PYyfE1d7", *[s for s in token.split(".") if len(s) > 8])


@pytest.mark.parametrize("header", ["jwk", "jku", "x5u", "x5c"])
def test_key_supplying_headers_refused_even_when_signed_by_the_trusted_key(
    signing_key: rsa.RSAPrivateKey, header: str
) -> None:
    """#70, each rule on its own: the token is otherwise valid and signed by the very key we
    trust, so only the key-supplying-header rule can refuse it."""
    values: dict[str, Any] = {
        "jwk": jwk(signing_key),  # even the trusted key's own public JWK
        "jku": "https://example.okta.com/oauth2/default/v1/keys",
        "x5u": "https://example.okta.com/cert.pem",
        "x5c": ["MIIB"],
    }
    plain = raw_token(signing_key, {"alg": "RS256", "kid": KID}, claims())
    assert validate(plain, signing_key.public_key())["sub"]  # the control: accepted
    token = raw_token(signing_key, {"alg": "RS256", "kid": KID, header: values[header]}, claims())
    for check in (read_kid, lambda t: validate(t, signing_key.public_key())):
        with pytest.raises(InvalidIdToken) as info:
            check(token)
        assert info.value.__notes__ == ["id_token: key-supplying header present"]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("x" * (TOKEN_LIMIT + 1), id="just-over-cap"),
        pytest.param("a." * 3_000_000, id="5mb"),
    ],
)
def test_read_kid_rejects_oversized_before_parsing(token: str) -> None:
    with pytest.raises(InvalidIdToken) as info:
        read_kid(token)
    assert info.value.__notes__ == ["id_token: too large"]


def test_read_kid_rejects_non_string() -> None:
    with pytest.raises(InvalidIdToken):
        read_kid(b"a.b.c")  # type: ignore[arg-type]


def test_read_kid_accepts_cap_sized_token(signing_key: rsa.RSAPrivateKey) -> None:
    token = mint(signing_key, claims(pad=""))
    filler = TOKEN_LIMIT - len(token)
    # Grow the payload so the whole token is exactly TOKEN_LIMIT long.
    for size in range(filler * 3 // 4 - 4, filler * 3 // 4 + 4):
        candidate = mint(signing_key, claims(pad="x" * size))
        if len(candidate) == TOKEN_LIMIT:
            assert read_kid(candidate) == KID
            assert validate(candidate, signing_key.public_key())["pad"] == "x" * size
            return
    pytest.fail("could not build a token of exactly TOKEN_LIMIT bytes")  # pragma: no cover


@pytest.mark.parametrize(
    "leeway_case",
    [
        # (exp offset, leeway, accepted?) -- catalogue #74 exactly
        (-120, 60, False),
        (-30, 60, True),
        (-30, 0, False),
        (1, 0, True),
        (0, 0, False),
    ],
)
def test_exp_leeway_table(
    signing_key: rsa.RSAPrivateKey, leeway_case: tuple[int, int, bool]
) -> None:
    offset, leeway, accepted = leeway_case
    token = mint(signing_key, claims(exp=int(NOW) + offset, iat=int(NOW) - 300))
    if accepted:
        assert validate(token, signing_key.public_key(), leeway=leeway)["exp"] == int(NOW) + offset
    else:
        with pytest.raises(InvalidIdToken):
            validate(token, signing_key.public_key(), leeway=leeway)


def test_now_is_injected_not_read_from_the_wall_clock(signing_key: rsa.RSAPrivateKey) -> None:
    # A token from 2027 validates at "2027" and fails at "2027 + 2 hours", whatever today is.
    token = mint(signing_key)
    assert validate(token, signing_key.public_key(), now=NOW)["iss"] == ISSUER
    with pytest.raises(InvalidIdToken):
        validate(token, signing_key.public_key(), now=NOW + 7200)


def test_max_age_is_configurable(signing_key: rsa.RSAPrivateKey) -> None:
    token = mint(signing_key, claims(iat=int(NOW) - 1000))
    with pytest.raises(InvalidIdToken):
        validate(token, signing_key.public_key())
    assert validate(token, signing_key.public_key(), max_age=3600)["sub"]


@pytest.mark.parametrize(
    "bad_key",
    [
        pytest.param(lambda k: k, id="private-key"),
        pytest.param(
            lambda k: k.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            id="pem-bytes",
        ),
        pytest.param(lambda k: "secret", id="str"),
        pytest.param(lambda k: None, id="none"),
        pytest.param(lambda k: ec.generate_private_key(ec.SECP256R1()).public_key(), id="ec-key"),
    ],
)
def test_only_rsa_public_keys_are_used(
    signing_key: rsa.RSAPrivateKey, bad_key: Callable[[rsa.RSAPrivateKey], Any]
) -> None:
    with pytest.raises(InvalidIdToken):
        validate(mint(signing_key), bad_key(signing_key))


def test_hs256_confusion_rejected_even_with_pem_key(signing_key: rsa.RSAPrivateKey) -> None:
    """#69 the way the CVEs happened: the verifier is handed the PEM as the key."""
    pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidIdToken):
        validate(hs256_with_public_pem(signing_key, claims()), pem)


def test_empty_expected_nonce_rejects(signing_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidIdToken):
        validate(mint(signing_key, claims(nonce="")), signing_key.public_key(), nonce="")


# --------------------------------------------------------------------------------------------
# JWKS cache (R32, catalogue B7)
# --------------------------------------------------------------------------------------------


def fetched(cache: JWKSCache, body: bytes, now: float, cache_control: str | None = None) -> None:
    """One fetch as OktaConversation makes it: begin (must lead), update, finish."""
    fetch = cache.begin("any-unknown-kid", now)
    assert fetch is not None
    assert fetch.leader
    try:
        cache.update(200, JSON, body, now, cache_control)
    finally:
        cache.finish(fetch)


def test_fresh_cache_fetches_then_serves_from_memory(signing_key: rsa.RSAPrivateKey) -> None:
    cache = JWKSCache()
    assert cache.kids == frozenset()
    assert cache.key_for(KID) is None
    fetch = cache.begin(KID, NOW)
    assert fetch is not None
    assert fetch.leader
    cache.update(200, JSON, jwks_body(jwk(signing_key)), NOW)
    cache.finish(fetch)
    assert cache.kids == {KID}
    assert cache.begin(KID, NOW + 1) is None
    key = cache.key_for(KID)
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.public_numbers() == signing_key.public_key().public_numbers()
    # And the cached key verifies a real token end to end.
    assert validate(mint(signing_key), key)["sub"]


def test_rotation_one_second_after_a_fetch_is_fetched_at_once(
    signing_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    """#78 / issue 17: no 30 s window in which a freshly rotated key is refused."""
    cache = JWKSCache()
    fetched(cache, jwks_body(jwk(signing_key)), NOW)
    fetch = cache.begin("kid-2026-b", NOW + 1)
    assert fetch is not None
    assert fetch.leader
    cache.update(200, JSON, jwks_body(jwk(other_key, kid="kid-2026-b")), NOW + 1)
    cache.finish(fetch)
    # The rotated set now contains the new key; the old one is dropped.
    assert cache.kids == {"kid-2026-b"}
    assert cache.key_for(KID) is None
    assert validate(mint(other_key, kid="kid-2026-b"), cache.key_for("kid-2026-b"))["sub"]


def test_forged_kid_flood_is_rate_limited(signing_key: rsa.RSAPrivateKey) -> None:
    """#79: a flood of unknown kids costs Okta ``burst`` fetches, then one per ``refill``."""
    cache = JWKSCache(burst=3, refill=5.0)
    fetched(cache, jwks_body(jwk(signing_key)), NOW)  # the first sign-in: one token spent
    fetches = 0
    # 100 forged kids a second for a minute, each fetch answered at once.
    for i in range(6000):
        now = NOW + i * 0.01
        fetch = cache.begin(f"forged-{i}", now)
        if fetch is not None:
            assert fetch.leader
            fetches += 1
            cache.finish(fetch)
    assert fetches == 2 + 11  # the rest of the burst, then one every 5 s
    # A known kid is served from memory throughout, and needs no token.
    assert cache.begin(KID, NOW + 60) is None
    assert cache.key_for(KID) is not None


def test_unknown_kid_joins_the_fetch_in_flight(
    signing_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    """Single flight: a second sign-in with the new kid rides on the first one's fetch
    (the adapters share the GET) instead of being refused while the key is on its way."""
    cache = JWKSCache(burst=1, refill=60.0)
    leader = cache.begin("kid-2026-b", NOW)
    assert leader is not None
    assert leader.leader
    joiner = cache.begin("kid-2026-b", NOW + 0.1)
    assert joiner is not None
    assert not joiner.leader
    assert joiner.started == NOW
    other = cache.begin("kid-2026-c", NOW + 0.2)  # any unknown kid joins: one fetch in flight
    assert other is not None
    assert not other.leader
    body = jwks_body(jwk(signing_key), jwk(other_key, kid="kid-2026-b"))
    cache.update(200, JSON, body, NOW + 0.3)
    cache.update(200, JSON, body, NOW + 0.3)  # the joiner applies the same answer
    cache.finish(joiner)
    cache.finish(other)
    # A joiner finishing does not end the leader's flight.
    assert not cache.begin("kid-2026-d", NOW + 0.4).leader  # type: ignore[union-attr]
    cache.finish(leader)
    assert cache.key_for("kid-2026-b") is not None
    # Joiners spent no token, but the leader did: the bucket (of one) is empty now.
    assert cache.begin("kid-2026-d", NOW + 0.5) is None


def test_known_stale_kid_does_not_wait_for_a_flight(signing_key: rsa.RSAPrivateKey) -> None:
    cache = JWKSCache()
    fetched(cache, jwks_body(jwk(signing_key)), NOW, "max-age=600")
    leader = cache.begin("kid-new", NOW + 700)
    assert leader is not None
    # Its key is good until a new set says otherwise.
    assert cache.begin(KID, NOW + 700) is None
    assert cache.key_for(KID) is not None


def test_abandoned_flight_expires(signing_key: rsa.RSAPrivateKey) -> None:
    """A leader that never calls finish() (a crashed worker thread) cannot block fetching,
    nor make every later caller a "joiner" outside the rate limit."""
    cache = JWKSCache(flight_timeout=10.0)
    stuck = cache.begin(KID, NOW)
    assert stuck is not None
    assert not cache.begin(KID, NOW + 9.9).leader  # type: ignore[union-attr]
    fresh = cache.begin(KID, NOW + 10)
    assert fresh is not None
    assert fresh.leader
    cache.finish(stuck)  # too late: it no longer owns the flight
    assert not cache.begin(KID, NOW + 11).leader  # type: ignore[union-attr]
    cache.finish(fresh)
    assert cache.begin(KID, NOW + 12).leader  # type: ignore[union-attr]


def test_failed_fetch_is_retried_at_once(signing_key: rsa.RSAPrivateKey) -> None:
    """No cooldown is armed by a failure: the next sign-in tries again."""
    cache = JWKSCache()
    fetch = cache.begin(KID, NOW)
    assert fetch is not None
    with pytest.raises(IdentityProviderError):
        cache.update(503, "text/html", b"<html>", NOW)
    cache.finish(fetch)
    retry = cache.begin(KID, NOW + 0.5)
    assert retry is not None
    assert retry.leader
    cache.update(200, JSON, jwks_body(jwk(signing_key)), NOW + 0.5)
    cache.finish(retry)
    assert cache.key_for(KID) is not None


def test_clock_stepping_back_keeps_the_bucket(signing_key: rsa.RSAPrivateKey) -> None:
    cache = JWKSCache(burst=2, refill=5.0)
    fetched(cache, jwks_body(jwk(signing_key)), NOW)
    fetched(cache, jwks_body(jwk(signing_key)), NOW - 3600)  # the wall clock stepped back
    assert cache.begin("forged", NOW - 3600) is None  # two of two spent
    assert cache.begin("forged", NOW - 3595) is not None  # refills from the new reading


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, 3600.0),
        ("", 3600.0),
        ("no-cache", 3600.0),
        ("max-age=86400, must-revalidate", 86400.0),
        ("public, MAX-AGE = 7200", 7200.0),
        ('max-age="120"', 120.0),
        ("max-age=5", 60.0),  # at least a minute
        ("max-age=99999999", 7 * 24 * 3600.0),  # at most a week
        ("s-maxage=10, xmax-age=7", 3600.0),
    ],
)
def test_keys_freshness_from_cache_control(header: str | None, seconds: float) -> None:
    assert freshness(header) == seconds


def test_stale_keys_are_refetched_and_a_dropped_key_stops_being_trusted(
    signing_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    cache = JWKSCache(burst=2, refill=60.0)
    fetched(cache, jwks_body(jwk(signing_key)), NOW, "max-age=600")
    assert cache.begin(KID, NOW + 599) is None
    fetch = cache.begin(KID, NOW + 600)
    assert fetch is not None
    assert fetch.leader
    cache.update(200, JSON, jwks_body(jwk(other_key, kid="kid-2026-b")), NOW + 601)
    cache.finish(fetch)
    assert cache.key_for(KID) is None


def test_stale_known_kid_keeps_its_key_when_fetching_is_rate_limited(
    signing_key: rsa.RSAPrivateKey,
) -> None:
    cache = JWKSCache(burst=1, refill=600.0)
    fetched(cache, jwks_body(jwk(signing_key)), NOW, "max-age=60")
    assert cache.begin(KID, NOW + 61) is None  # stale, but no token: use what we have
    assert cache.key_for(KID) is not None


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        pytest.param(500, "text/html", b"<html>oops</html>", id="500-html"),
        pytest.param(503, JSON, b'{"keys": []}', id="503"),
        pytest.param(302, JSON, b"", id="redirect"),
        pytest.param(200, "text/html", b'{"keys": []}', id="200-html-type"),
        pytest.param(200, JSON, b"<html>", id="200-not-json"),
        pytest.param(200, JSON, b"[]", id="json-array"),
        pytest.param(200, JSON, b'{"keys": {}}', id="keys-not-list"),
        pytest.param(200, JSON, b'{"nokeys": []}', id="keys-missing"),
        pytest.param(200, JSON, b'{"keys": []}', id="keys-empty"),
        pytest.param(200, JSON, b"\xff\xfe", id="not-utf8"),
        pytest.param(200, JSON, b'{"keys": [], "keys": []}', id="duplicate-member"),
        pytest.param(200, JSON, b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
        pytest.param(200, JSON, b" " * 1_048_577, id="over-size-cap"),
    ],
)
def test_jwks_failure_keeps_last_known_good(
    signing_key: rsa.RSAPrivateKey, status: int, content_type: str, body: bytes
) -> None:
    """#80: a failed refresh raises 503 and the previous keys keep working."""
    cache = JWKSCache()
    cache.update(200, JSON, jwks_body(jwk(signing_key)), NOW)
    with pytest.raises(IdentityProviderError) as info:
        cache.update(status, content_type, body, NOW + 60)
    assert info.value.status == 503
    assert_no_leak(info.value, "oops", "<html>")
    assert cache.kids == {KID}
    assert cache.key_for(KID) is not None
    assert cache.begin(KID, NOW + 61) is None  # still fresh: the failure changed nothing


def test_jwks_failure_without_cache(signing_key: rsa.RSAPrivateKey) -> None:
    cache = JWKSCache()
    fetch = cache.begin(KID, NOW)
    assert fetch is not None
    with pytest.raises(IdentityProviderError) as info:
        cache.update(500, "text/html", b"<html>", NOW)
    cache.finish(fetch)
    assert info.value.status == 503
    assert cache.kids == frozenset()
    # No successful fetch yet: the next sign-in may try again.
    assert cache.begin(KID, NOW + 1) is not None


def _jwk_variants(key: rsa.RSAPrivateKey, weak: rsa.RSAPrivateKey) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {
        "use-enc": jwk(key, use="enc"),
        "alg-rs512": jwk(key, alg="RS512"),
        "alg-none": jwk(key, alg="none"),
        "alg-hs256": jwk(key, alg="HS256"),
        "kty-ec": {"kty": "EC", "kid": KID, "crv": "P-256", "x": "AA", "y": "AA"},
        "kty-oct": {"kty": "oct", "kid": KID, "k": b64url(b"secret")},
        "kty-missing": jwk(key, kty=_DROP),
        "kid-missing": jwk(key, kid=_DROP),
        "kid-empty": jwk(key, kid=""),
        "kid-number": jwk(key, kid=1),
        "kid-too-long": jwk(key, kid="k" * 257),
        "n-missing": jwk(key, n=_DROP),
        "e-number": jwk(key, e=65537),
        "n-bad-base64": jwk(key, n="!!!!"),
        "e-even": jwk(key, e=b64url_int(2)),
        "n-padded": jwk(key, n=b64url_int(numbers.n) + "="),
        "rsa-1024": jwk(weak),
        "not-an-object": "RSA",
    }


@pytest.mark.parametrize(
    "variant",
    [
        "use-enc",
        "alg-rs512",
        "alg-none",
        "alg-hs256",
        "kty-ec",
        "kty-oct",
        "kty-missing",
        "kid-missing",
        "kid-empty",
        "kid-number",
        "kid-too-long",
        "n-missing",
        "e-number",
        "n-bad-base64",
        "e-even",
        "n-padded",
        "rsa-1024",
        "not-an-object",
    ],
)
def test_unusable_keys_are_ignored(
    signing_key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    weak_key: rsa.RSAPrivateKey,
    variant: str,
) -> None:
    """#81: alone, an unusable key means "no usable key"; beside a good one it is skipped."""
    bad = _jwk_variants(signing_key, weak_key)[variant]
    alone = JWKSCache()
    with pytest.raises(IdentityProviderError):
        alone.update(200, JSON, jwks_body(bad), NOW)
    assert alone.kids == frozenset()

    mixed = JWKSCache()
    mixed.update(200, JSON, jwks_body(bad, jwk(other_key, kid="good")), NOW)
    assert mixed.kids == {"good"}


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"use": _DROP}, id="use-absent"),
        pytest.param({"alg": _DROP}, id="alg-absent"),
        pytest.param({"use": _DROP, "alg": _DROP}, id="both-absent"),
        pytest.param({"x5c": ["MIIB"], "x5t": "abc"}, id="extra-members"),
    ],
)
def test_optional_jwk_members(signing_key: rsa.RSAPrivateKey, overrides: dict[str, Any]) -> None:
    cache = JWKSCache()
    cache.update(200, JSON, jwks_body(jwk(signing_key, **overrides)), NOW)
    assert cache.kids == {KID}


def test_private_parameters_never_yield_a_private_key(signing_key: rsa.RSAPrivateKey) -> None:
    d = signing_key.private_numbers().d
    cache = JWKSCache()
    cache.update(200, JSON, jwks_body(jwk(signing_key, d=b64url_int(d))), NOW)
    key = cache.key_for(KID)
    assert isinstance(key, rsa.RSAPublicKey)
    assert not isinstance(key, rsa.RSAPrivateKey)


def test_duplicate_kid_is_ambiguous_and_dropped(
    signing_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    cache = JWKSCache()
    body = jwks_body(jwk(signing_key), jwk(other_key), jwk(signing_key), jwk(other_key, kid="fine"))
    cache.update(200, JSON, body, NOW)
    assert cache.kids == {"fine"}
    with pytest.raises(IdentityProviderError):
        JWKSCache().update(200, JSON, jwks_body(jwk(signing_key), jwk(other_key)), NOW)


def test_max_keys(signing_key: rsa.RSAPrivateKey) -> None:
    cache = JWKSCache(max_keys=2)
    cache.update(200, JSON, jwks_body(*(jwk(signing_key, kid=f"k{i}") for i in range(5))), NOW)
    assert cache.kids == {"k0", "k1"}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/jwk-set+json",
    ],
)
def test_jwks_content_types(signing_key: rsa.RSAPrivateKey, content_type: str) -> None:
    cache = JWKSCache()
    cache.update(200, content_type, jwks_body(jwk(signing_key)), NOW)
    assert cache.kids == {KID}


@pytest.mark.parametrize(
    "kwargs",
    [{"burst": 0}, {"refill": 0.0}, {"refill": -1.0}, {"flight_timeout": 0.0}, {"max_keys": 0}],
)
def test_cache_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="burst"):
        JWKSCache(**kwargs)


# --------------------------------------------------------------------------------------------
# Token endpoint responses (R14, catalogue B8)
# --------------------------------------------------------------------------------------------


def token_json(**overrides: Any) -> bytes:
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": 3600,
        "access_token": "eyJ.access.token",
        "scope": "openid email profile",
        "id_token": "eyJ.id.token",
    }
    for name, value in overrides.items():
        if value is _DROP:
            body.pop(name, None)
        else:
            body[name] = value
    return json.dumps(body).encode()


def test_token_response_ok() -> None:
    result = parse_token_response(200, "application/json;charset=UTF-8", token_json())
    assert result == TokenSet(
        id_token="eyJ.id.token",
        access_token="eyJ.access.token",
        token_type="Bearer",
        scope="openid email profile",
        expires_in=3600,
    )


@pytest.mark.parametrize("token_type", ["bearer", "BEARER", "Bearer"])
def test_token_type_is_case_insensitive(token_type: str) -> None:
    assert (
        parse_token_response(200, JSON, token_json(token_type=token_type)).token_type == token_type
    )


def test_optional_token_fields_absent() -> None:
    result = parse_token_response(200, JSON, token_json(scope=_DROP, expires_in=_DROP))
    assert result.scope is None
    assert result.expires_in is None


SECRET_BODY = "SECRET-UPSTREAM-BODY"

IDP_FAULTS: list[Any] = [
    # #84 5xx with HTML
    pytest.param(500, "text/html", f"<html>{SECRET_BODY}</html>".encode(), id="500-html"),
    pytest.param(502, "text/html", b"<html>Bad Gateway</html>", id="502-html"),
    pytest.param(503, JSON, b'{"error": "temporarily_unavailable"}', id="503-json"),
    pytest.param(504, "text/plain", b"timeout", id="504"),
    # #85 malformed JSON / wrong type
    pytest.param(200, JSON, f"{{{SECRET_BODY}".encode(), id="200-malformed-json"),
    pytest.param(200, "text/html", token_json(), id="200-text-html"),
    pytest.param(200, "", token_json(), id="200-no-content-type"),
    pytest.param(200, "application/jsonx", token_json(), id="200-jsonx"),
    pytest.param(200, JSON, b"[]", id="200-array"),
    pytest.param(200, JSON, b"\xff", id="200-not-utf8"),
    pytest.param(200, JSON, token_json()[:-1] + b', "id_token": "x"}', id="200-duplicate"),
    pytest.param(200, JSON, token_json(expires_in=0).replace(b": 0", b": NaN"), id="200-nan"),
    pytest.param(200, JSON, token_json(extra=0).replace(b": 0", b": Infinity"), id="200-infinity"),
    pytest.param(200, JSON, b" " * 1_048_577, id="200-over-cap"),
    # #86 missing fields / not Bearer
    pytest.param(200, JSON, token_json(id_token=_DROP), id="no-id-token"),
    pytest.param(200, JSON, token_json(id_token=""), id="empty-id-token"),
    pytest.param(200, JSON, token_json(id_token=None), id="null-id-token"),
    pytest.param(200, JSON, token_json(access_token=_DROP), id="no-access-token"),
    pytest.param(200, JSON, token_json(access_token=5), id="access-token-number"),
    pytest.param(200, JSON, token_json(token_type=_DROP), id="no-token-type"),
    pytest.param(200, JSON, token_json(token_type="DPoP"), id="dpop"),
    pytest.param(200, JSON, token_json(token_type="mac"), id="mac"),
    pytest.param(200, JSON, token_json(token_type=["Bearer"]), id="token-type-array"),
    pytest.param(200, JSON, token_json(scope=["openid"]), id="scope-array"),
    pytest.param(200, JSON, token_json(expires_in="3600"), id="expires-in-string"),
    pytest.param(200, JSON, token_json(expires_in=-1), id="expires-in-negative"),
    pytest.param(200, JSON, token_json(expires_in=True), id="expires-in-bool"),
    pytest.param(200, JSON, token_json(expires_in=3600.5), id="expires-in-float"),
    pytest.param(200, JSON, b'{"error": "invalid_grant"}', id="200-with-error"),
    # #90 redirects are never followed
    pytest.param(302, "text/html", b"", id="302"),
    pytest.param(301, JSON, token_json(), id="301-with-json"),
    pytest.param(307, JSON, b"", id="307"),
    # other statuses / 4xx that are not OAuth errors
    pytest.param(204, JSON, b"", id="204"),
    pytest.param(403, JSON, b'{"error": "invalid_grant"}', id="403"),
    pytest.param(429, JSON, b'{"error": "too_many"}', id="429"),
    pytest.param(400, "text/html", f"<html>{SECRET_BODY}</html>".encode(), id="400-html"),
    pytest.param(400, JSON, b"{}", id="400-no-error"),
    pytest.param(400, JSON, b'{"error": 42}', id="400-error-number"),
    pytest.param(400, JSON, b"not json", id="400-not-json"),
    pytest.param(401, "text/plain", b"invalid_client", id="401-text"),
]


@pytest.mark.parametrize(("status", "content_type", "body"), IDP_FAULTS)
def test_token_response_upstream_faults(status: int, content_type: str, body: bytes) -> None:
    with pytest.raises(IdentityProviderError) as info:
        parse_token_response(status, content_type, body)
    exc = info.value
    assert type(exc) is IdentityProviderError
    assert exc.status == 502
    assert exc.public_message == IdentityProviderError.public_message
    assert_no_leak(exc, SECRET_BODY, "eyJ")


def test_invalid_grant_is_start_again() -> None:
    """#87 (and #24): expired, used, or PKCE mismatch -> 400 "start again"."""
    body = json.dumps(
        {"error": "invalid_grant", "error_description": f"{SECRET_BODY} code invalid"}
    ).encode()
    with pytest.raises(TokenExchangeError) as info:
        parse_token_response(400, JSON, body)
    exc = info.value
    assert exc.status == 400
    assert exc.code == "token_exchange_failed"
    assert exc.public_message == "This sign-in has expired or was already used. Please start again."
    assert_no_leak(exc, SECRET_BODY)


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (401, "invalid_client", "invalid_client"),  # #88
        (400, "unauthorized_client", "unauthorized_client"),
        (400, "invalid_request", "invalid_request"),
        (400, "unsupported_grant_type", "unsupported_grant_type"),
        (400, "invalid_scope", "invalid_scope"),
        (400, "invalid_dpop_proof", "invalid_dpop_proof"),
        (400, "<script>alert(1)</script>", "token_error"),
        (400, "INVALID_GRANT", "token_error"),
        (401, "", "token_error"),
    ],
)
def test_other_oauth_errors_are_configuration_problems(status: int, error: str, code: str) -> None:
    body = json.dumps({"error": error, "error_description": SECRET_BODY}).encode()
    with pytest.raises(TokenExchangeError) as info:
        parse_token_response(status, "application/json; charset=utf-8", body)
    exc = info.value
    assert exc.status == 502
    assert exc.code == code
    assert "configuration" in exc.public_message
    assert_no_leak(exc, SECRET_BODY, "<script>")


# --------------------------------------------------------------------------------------------
# Discovery (R5)
# --------------------------------------------------------------------------------------------


def discovery_json(**overrides: Any) -> bytes:
    doc: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/v1/authorize",
        "token_endpoint": f"{ISSUER}/v1/token",
        "jwks_uri": f"{ISSUER}/v1/keys",
        "end_session_endpoint": f"{ISSUER}/v1/logout",
        "response_types_supported": ["code"],
    }
    for name, value in overrides.items():
        if value is _DROP:
            doc.pop(name, None)
        else:
            doc[name] = value
    return json.dumps(doc).encode()


def test_discovery_ok() -> None:
    result = parse_discovery(200, JSON, discovery_json(), expected_issuer=ISSUER)
    assert result == Discovery(
        issuer=ISSUER,
        token_endpoint=f"{ISSUER}/v1/token",
        jwks_uri=f"{ISSUER}/v1/keys",
        end_session_endpoint=f"{ISSUER}/v1/logout",
        authorization_response_iss_parameter_supported=False,
    )


def test_discovery_optional_fields() -> None:
    body = discovery_json(
        end_session_endpoint=_DROP, authorization_response_iss_parameter_supported=True
    )
    result = parse_discovery(200, JSON, body, expected_issuer=ISSUER)
    assert result.end_session_endpoint is None
    assert result.authorization_response_iss_parameter_supported is True
    nulled = parse_discovery(
        200, JSON, discovery_json(end_session_endpoint=None), expected_issuer=ISSUER
    )
    assert nulled.end_session_endpoint is None


@pytest.mark.parametrize(
    "base",
    ["http://localhost:8080/oauth2/default", "http://127.0.0.1:9000", "http://[::1]:9000"],
)
def test_discovery_allows_http_on_loopback(base: str) -> None:
    body = discovery_json(
        issuer=base,
        token_endpoint=f"{base}/v1/token",
        jwks_uri=f"{base}/v1/keys",
        end_session_endpoint=f"{base}/v1/logout",
    )
    assert parse_discovery(200, JSON, body, expected_issuer=base).jwks_uri == f"{base}/v1/keys"


@pytest.mark.parametrize(
    "issuer",
    [
        pytest.param("https://evil.example/oauth2/default", id="other-host"),
        pytest.param(ISSUER + "/", id="trailing-slash"),
        pytest.param("https://example.okta.com/oauth2", id="prefix"),
        pytest.param(ISSUER.upper(), id="case"),
        pytest.param([ISSUER], id="array"),
        pytest.param(None, id="null"),
        pytest.param(_DROP, id="missing"),
    ],
)
def test_discovery_issuer_must_match_exactly(issuer: Any) -> None:
    with pytest.raises(IdentityProviderError) as info:
        parse_discovery(200, JSON, discovery_json(issuer=issuer), expected_issuer=ISSUER)
    assert info.value.status == 502


BAD_URLS = [
    pytest.param("http://example.okta.com/oauth2/default/v1/token", id="http-remote"),
    pytest.param("http://localhost.evil.example/token", id="http-localhost-suffix"),
    pytest.param("ftp://example.okta.com/token", id="ftp"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("/v1/token", id="relative"),
    pytest.param("https:///v1/token", id="no-host"),
    pytest.param("https://user:pw@example.okta.com/token", id="userinfo"),
    pytest.param("https://user@example.okta.com/token", id="username-only"),
    pytest.param("https://:pw@example.okta.com/token", id="password-only"),
    pytest.param("https://@example.okta.com/token", id="empty-userinfo"),
    pytest.param("https://example.okta.com/token#frag", id="fragment"),
    pytest.param("https://example.okta.com/to ken", id="space"),
    pytest.param("https://example.okta.com\\@evil.example/", id="backslash"),
    pytest.param("https://example.okta.com:99999/token", id="bad-port"),
    pytest.param("https://[::1/token", id="bad-ipv6"),
    pytest.param("https://exämple.okta.com/token", id="non-ascii"),
    pytest.param("", id="empty"),
    pytest.param(42, id="number"),
    pytest.param(None, id="null"),
    pytest.param(_DROP, id="missing"),
]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("field", ["token_endpoint", "jwks_uri"])
def test_discovery_endpoints_must_be_https(field: str, url: Any) -> None:
    with pytest.raises(IdentityProviderError) as info:
        parse_discovery(200, JSON, discovery_json(**{field: url}), expected_issuer=ISSUER)
    assert info.value.status == 502


@pytest.mark.parametrize("url", [p for p in BAD_URLS if p.values[0] not in (None, _DROP)])
def test_discovery_bad_end_session_endpoint(url: Any) -> None:
    with pytest.raises(IdentityProviderError) as info:
        parse_discovery(200, JSON, discovery_json(end_session_endpoint=url), expected_issuer=ISSUER)
    assert info.value.__notes__ == ["discovery: bad end_session_endpoint"]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://user@example.okta.com/oauth2/default/v1/token", id="username"),
        pytest.param("https://user:pw@example.okta.com/oauth2/default/v1/token", id="user-pw"),
        pytest.param("https://:pw@example.okta.com/oauth2/default/v1/token", id="password"),
    ],
)
@pytest.mark.parametrize("field", ["token_endpoint", "jwks_uri", "end_session_endpoint"])
def test_discovery_endpoint_with_userinfo_is_refused(field: str, url: str) -> None:
    """Same host as the issuer, so the origin check alone would pass: the userinfo rule must
    refuse it (a mutation survivor: ``user@`` alone was never tested)."""
    with pytest.raises(IdentityProviderError) as info:
        parse_discovery(200, JSON, discovery_json(**{field: url}), expected_issuer=ISSUER)
    assert info.value.status == 502
    assert info.value.__notes__ == [f"discovery: bad {field}"]


OTHER_ORIGINS = [
    pytest.param("https://evil.example/oauth2/default/v1/x", id="other-host"),
    pytest.param("https://example.okta.com.evil.example/oauth2/default/v1/x", id="suffix-host"),
    pytest.param("https://sub.example.okta.com/oauth2/default/v1/x", id="subdomain"),
    pytest.param("https://okta.com/oauth2/default/v1/x", id="parent-domain"),
    pytest.param("https://example.okta.com:8443/oauth2/default/v1/x", id="other-port"),
    pytest.param("https://93.184.216.34/oauth2/default/v1/x", id="ip-address"),
]


@pytest.mark.parametrize("url", OTHER_ORIGINS)
@pytest.mark.parametrize("field", ["token_endpoint", "jwks_uri", "end_session_endpoint"])
def test_discovery_endpoints_must_be_on_the_issuers_origin(field: str, url: str) -> None:
    """Issue 10: the right ``issuer`` with an endpoint elsewhere is a configuration error
    that names the endpoint; the verifier, secret, keys or logout never go there."""
    with pytest.raises(IdentityProviderError) as info:
        parse_discovery(200, JSON, discovery_json(**{field: url}), expected_issuer=ISSUER)
    exc = info.value
    assert exc.status == 502
    assert exc.public_message == IdentityProviderError.public_message  # generic page
    assert exc.__notes__ == [f"discovery: {field} not on the issuer's origin"]


@pytest.mark.parametrize(
    ("issuer", "endpoint"),
    [
        pytest.param(ISSUER, "https://EXAMPLE.okta.com/oauth2/default/v1/token", id="host-case"),
        pytest.param(ISSUER, "https://example.okta.com:443/oauth2/default/v1/token", id="port-443"),
        pytest.param(ISSUER, "https://example.okta.com/oauth2/v1/token", id="org-as-path"),
        pytest.param(
            "https://example.okta.com", "https://example.okta.com/oauth2/v1/keys", id="org-as"
        ),
        pytest.param(
            "https://example.okta.com:443/oauth2/default",
            "https://example.okta.com/oauth2/default/v1/token",
            id="issuer-port-443",
        ),
        pytest.param(
            "http://localhost:8080/oauth2/default",
            "http://localhost:8080/oauth2/default/v1/token",
            id="loopback",
        ),
    ],
)
def test_same_origin_endpoints_are_accepted(issuer: str, endpoint: str) -> None:
    """Org and custom authorization servers both serve under https://{org}/oauth2/..."""
    body = discovery_json(
        issuer=issuer, token_endpoint=endpoint, jwks_uri=endpoint, end_session_endpoint=endpoint
    )
    result = parse_discovery(200, JSON, body, expected_issuer=issuer)
    assert result.token_endpoint == result.jwks_uri == result.end_session_endpoint == endpoint


@pytest.mark.parametrize(
    ("issuer", "endpoint"),
    [
        pytest.param(
            "http://localhost:8080", "https://localhost:8080/oauth2/v1/token", id="scheme-differs"
        ),
        pytest.param("http://localhost:8080", "http://localhost:9090/oauth2/v1/token", id="port"),
        pytest.param("http://localhost:8080", "http://127.0.0.1:8080/oauth2/v1/token", id="host"),
        pytest.param("http://localhost", "http://localhost:8080/oauth2/v1/token", id="port-80"),
    ],
)
def test_loopback_origin_is_exact_too(issuer: str, endpoint: str) -> None:
    body = discovery_json(issuer=issuer, token_endpoint=endpoint)
    with pytest.raises(IdentityProviderError) as info:
        parse_discovery(200, JSON, body, expected_issuer=issuer)
    assert info.value.__notes__ == ["discovery: token_endpoint not on the issuer's origin"]


@pytest.mark.parametrize(
    "issuer",
    [
        pytest.param("urn:example:issuer", id="not-a-url"),
        pytest.param("https://example.okta.com:99999/oauth2/default", id="bad-port"),
        pytest.param("ftp://example.okta.com/oauth2/default", id="ftp"),
    ],
)
def test_discovery_with_an_unusable_issuer_fails_closed(issuer: str) -> None:
    """Settings refuse such issuers; called directly, parse_discovery still does not guess."""
    body = discovery_json(issuer=issuer)
    with pytest.raises(IdentityProviderError) as info:
        parse_discovery(200, JSON, body, expected_issuer=issuer)
    assert info.value.__notes__ == ["discovery: issuer is not an absolute URL"]


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected_status"),
    [
        pytest.param(500, JSON, discovery_json(), 503, id="500"),
        pytest.param(503, "text/html", b"<html>", 503, id="503"),
        pytest.param(404, JSON, b"{}", 502, id="404"),
        pytest.param(301, JSON, discovery_json(), 502, id="redirect"),
        pytest.param(200, "text/html", discovery_json(), 502, id="html-type"),
        pytest.param(200, JSON, b"<html>", 502, id="not-json"),
        pytest.param(200, JSON, b"[]", 502, id="array"),
        pytest.param(
            200,
            JSON,
            discovery_json(authorization_response_iss_parameter_supported="yes"),
            502,
            id="iss-flag-not-bool",
        ),
    ],
)
def test_discovery_faults(
    status: int, content_type: str, body: bytes, expected_status: int
) -> None:
    with pytest.raises(IdentityProviderError) as info:
        parse_discovery(status, content_type, body, expected_issuer=ISSUER)
    assert info.value.status == expected_status


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"iss": "https://example.okta.com/oauth2"}, id="iss-substring"),
        pytest.param({"iss": [ISSUER]}, id="iss-array"),
        pytest.param({"aud": "0oaOTHER"}, id="aud-other"),
        pytest.param({"aud": [CLIENT_ID, "0oaOTHER"]}, id="aud-extra"),
    ],
)
def test_own_checks_survive_a_pyjwt_regression(
    monkeypatch: pytest.MonkeyPatch, signing_key: rsa.RSAPrivateKey, overrides: dict[str, Any]
) -> None:
    """Defence in depth: if PyJWT's iss/aud checks regress (CVE-2024-53861 compared ``iss``
    with ``in``), our exact comparisons still reject."""
    real_decode = jwt.decode

    def lax_decode(token: str, key: Any, **kwargs: Any) -> Any:
        kwargs["options"] = {**kwargs["options"], "verify_iss": False, "verify_aud": False}
        return real_decode(token, key, **kwargs)

    monkeypatch.setattr(jwt, "decode", lax_decode)
    token = raw_token(signing_key, {"alg": "RS256", "kid": KID}, claims(**overrides))
    with pytest.raises(InvalidIdToken) as info:
        validate(token, signing_key.public_key())
    assert info.value.__notes__[0] in ("id_token: iss mismatch", "id_token: aud mismatch")
    # The same patched decoder still accepts a good token, so the rejection is ours.
    assert validate(mint(signing_key), signing_key.public_key())["sub"]
