"""The sign-in conversations of the pytest plugin, sans-IO.

A conversation is a generator: it yields the next HTTP request to make (to the app under
test as a browser, or to Okta as the Sign-In Widget), receives the :class:`Reply`, and
returns what it signed in. It decides everything; the drivers of ``_drivers`` only carry
requests to a test client (sync or async) and back. It touches ``FakeOkta`` directly only
where a test stands in for the person: creating the user, reading the outbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlencode, urlsplit

if TYPE_CHECKING:
    from ._app import FakeOkta
    from ._model import FakeUser
    from ._outbox import EmailMessage

T = TypeVar("T")

#: What a browser sends when a person opens a page (the middleware redirects such a request
#: to sign in; an API call would get a 401).
NAVIGATION = (
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-dest", "document"),
)
_IDX = {"accept": "application/json; okta-version=1.0.0"}
# The middleware's login page: new OktaSignIn(Object.assign({el: "#..."}, {config JSON})).
_WIDGET_CONFIG = re.compile(r"Object\.assign\(\{el:\s*\"[^\"]*\"\},\s*(?=\{)")
_OBJECT = re.compile(r"\{\s*\"")


@dataclass(frozen=True)
class AppRequest:
    """A browser's request to the app under test; ``browser="other"`` is a second browser
    that has none of the first one's cookies."""

    path: str
    browser: Literal["main", "other"] = "main"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = NAVIGATION


@dataclass(frozen=True)
class OktaRequest:
    """A request to Okta, as the Sign-In Widget (``origin``) or a browser following the
    email's magic link makes it."""

    url: str
    method: str = "POST"
    form: Mapping[str, str] | None = None
    json: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """An answer: status, headers with lower-case names, the body as text."""

    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None


Step = AppRequest | OktaRequest
Conversation = Generator[Step, Reply, T]


class SignInError(AssertionError):
    """A step of a test sign-in failed: says which, and what the app or Okta answered.

    ``step`` names the step, ``status`` and ``body`` are the answer's (None when no
    request failed, e.g. FakeOkta refused to issue a code). An :class:`AssertionError`,
    so pytest shows it as a failed test with the message.
    """

    def __init__(self, step: str, problem: str, reply: Reply | None = None) -> None:
        self.step = step
        self.problem = problem
        self.status = reply.status if reply is not None else None
        self.body = reply.text if reply is not None else None
        message = f"sign-in failed at {step}: {problem}"
        if reply is not None:
            location = reply.headers.get("location")
            message += f"\n  answer: {reply.status}" + (f" to {location}" if location else "")
            excerpt = " ".join(reply.text.split())[:600]
            if excerpt:
                message += f"\n  body: {excerpt}"
        super().__init__(message)


@dataclass(frozen=True)
class MagicLinkSignIn:
    """What :func:`sign_in_with_magic_link` did: who signed in, the email FakeOkta sent,
    and (``same_browser=False``) the page the other browser got from the magic link."""

    user: FakeUser
    email: EmailMessage
    other_browser_page: str | None = None


# -- the two conversations ------------------------------------------------------------------


def sign_in_conversation(
    fake: FakeOkta,
    *,
    email: str,
    next: str,
    name: str | None,
    groups: Sequence[str] | None,
) -> Conversation[FakeUser]:
    """The middleware's own pages, a code FakeOkta issues for that very sign-in (what the
    widget would get), and the callback: the middleware redeems it at FakeOkta's token
    endpoint, with its PKCE verifier, and starts a session as after any sign-in."""
    user = ensure_user(fake, email, name=name, groups=groups)
    config = yield from open_login(next)
    try:
        code = fake.issue_interaction_code(
            str(config["clientId"]),
            user,
            str(config["codeChallenge"]),
            state=str(config["state"]),
            nonce=config.get("nonce"),
            redirect_uri=str(config["redirectUri"]),
            scopes=list(config.get("scopes", ())),
        )
    except KeyError as exc:
        raise SignInError("Okta", f"the app's client id is not FakeOkta's app: {exc}") from None
    except PermissionError as exc:
        raise SignInError("Okta", f"Okta refuses this sign-in: {exc}") from None
    yield from finish(config, code)
    return user


def magic_link_conversation(
    fake: FakeOkta,
    *,
    email: str,
    next: str,
    same_browser: bool,
    name: str | None = None,
    groups: Sequence[str] | None = None,
) -> Conversation[MagicLinkSignIn]:
    """The whole magic-link sign-in as a person and the widget make it (protocol.md §6)."""
    user = ensure_user(fake, email, name=name, groups=groups)
    config = yield from open_login(next)
    widget = Widget(config)
    yield from widget.start(email)
    sent = len(fake.outbox)
    yield from widget.idx(
        "challenge",
        {"authenticator": {"id": fake.info.email_authenticator_id, "methodType": "email"}},
        step="Okta: send the email",
    )
    message = next_email(fake, email, sent)
    hop = yield OktaRequest(message.magic_link, method="GET")
    if hop.status not in (302, 303) or "location" not in hop.headers:
        raise SignInError("Okta: the email's magic link", "Okta did not send it to the app", hop)
    link = relative(hop.headers["location"])
    other_page: str | None = None
    if same_browser:
        click = yield AppRequest(link)
        if click.status not in (302, 303) or "location" not in click.headers:
            raise SignInError("the magic link in the same browser", "no redirect", click)
        tab = yield AppRequest(relative(click.headers["location"]))
        config = widget_config(tab, "the magic link's login page")  # a new tab's widget
        otp = config.get("otp")
        if otp is None:
            raise SignInError("the magic link's login page", "the widget got no code", tab)
        widget = Widget(config, widget.interaction_handle)
        yield from widget.resume()
    else:
        page = yield AppRequest(link, browser="other")
        if page.status != 200 or message.otp not in page.text:
            raise SignInError("the magic link in another browser", "no page showing the code", page)
        other_page, otp = page.text, message.otp  # the person types it in the first tab
    answer = yield from widget.idx(
        "challenge/answer", {"credentials": {"passcode": otp}}, step="Okta: the code"
    )
    yield from finish(config, interaction_code(answer))
    return MagicLinkSignIn(user, message, other_page)


# -- the steps ------------------------------------------------------------------------------


def ensure_user(
    fake: FakeOkta, email: str, *, name: str | None, groups: Sequence[str] | None
) -> FakeUser:
    """The person in FakeOkta: created if new (``ada@example.com`` is there already), with
    ``groups`` and ``name`` when given."""
    user = fake.find_user(email)
    if user is None:
        return fake.add_user(email=email, name=name or "", groups=groups or ())
    if name is not None:
        user.name = name
    if groups is not None:
        fake.set_groups(email, groups)
    return user


def open_login(next: str) -> Conversation[dict[str, Any]]:
    """Open ``next`` as a browser without a session, follow to the login page; return the
    widget's configuration on it."""
    if not next.startswith("/") or next.startswith("//"):
        raise ValueError(f"next must be a path of the app, like '/', not {next!r}")
    first = yield AppRequest(next)
    if first.status not in (302, 303) or "location" not in first.headers:
        raise SignInError(
            f"opening {next}",
            "the middleware did not send this browser to sign in: is the page public, or the "
            "client signed in already?",
            first,
        )
    login = yield AppRequest(relative(first.headers["location"]))
    return widget_config(login, "the login page")


def widget_config(page: Reply, step: str) -> dict[str, Any]:
    if page.status != 200:
        raise SignInError(step, "no page", page)
    config = _config_in(page.text)
    if not isinstance(config, dict) or "codeChallenge" not in config:
        raise SignInError(step, "no Sign-In Widget configuration on it", page)
    return config


def _config_in(text: str) -> Any:
    """The widget's configuration object: where the middleware's page puts it, else the
    first JSON object with a ``codeChallenge`` (a custom login page's)."""
    match = _WIDGET_CONFIG.search(text)
    starts = [match.end()] if match else [m.start() for m in _OBJECT.finditer(text)]
    decoder = json.JSONDecoder()
    for start in starts:
        try:
            found, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(found, dict) and "codeChallenge" in found:
            return found
    return None


def finish(config: Mapping[str, Any], code: str) -> Conversation[None]:
    """Where the widget navigates with its interaction code: the app's callback."""
    query = urlencode({"interaction_code": code, "state": config["state"]})
    landing = yield AppRequest(f"{relative(str(config['redirectUri']))}?{query}")
    if landing.status not in (302, 303):
        raise SignInError("the callback", "the middleware did not sign this browser in", landing)


def next_email(fake: FakeOkta, email: str, sent: int) -> EmailMessage:
    for message in reversed(fake.outbox[sent:]):
        if message.to.lower() == email.lower():
            return message
    raise SignInError("Okta: send the email", f"no email to {email} in FakeOkta's outbox")


def interaction_code(answer: Reply) -> str:
    document = answer.json() or {}
    fields = document.get("successWithInteractionCode", {}).get("value", [])
    for item in fields:
        if item.get("name") == "interaction_code":
            return str(item["value"])
    raise SignInError("Okta: the code", "Okta gave no interaction code", answer)


def relative(url: str) -> str:
    """A URL of the app as a path and query, for a test client of that app."""
    parts = urlsplit(url)
    path = "/" + parts.path.lstrip("/")  # "//host/x" would be another host's URL
    return path + (f"?{parts.query}" if parts.query else "")


def okta_messages(reply: Reply) -> str:
    document = reply.json()
    if not isinstance(document, dict):
        return ""
    values = document.get("messages", {}).get("value", [])
    return "; ".join(str(m.get("message", "")) for m in values if isinstance(m, dict))


class Widget:
    """The requests the Sign-In Widget makes to Okta from the app's login page."""

    def __init__(self, config: Mapping[str, Any], interaction_handle: str = "") -> None:
        self.config = config
        issuer = urlsplit(str(config["issuer"]))
        self.org = f"{issuer.scheme}://{issuer.netloc}"
        app = urlsplit(str(config["redirectUri"]))
        self.origin = f"{app.scheme}://{app.netloc}"
        self.interaction_handle = interaction_handle
        self.state_handle = ""

    def start(self, identifier: str) -> Conversation[None]:
        """interact, introspect, identify."""
        c = self.config
        interact = yield OktaRequest(
            f"{c['issuer']}/v1/interact",
            form={
                "client_id": c["clientId"],
                "scope": " ".join(c["scopes"]),
                "redirect_uri": c["redirectUri"],
                "code_challenge": c["codeChallenge"],
                "code_challenge_method": c["codeChallengeMethod"],
                "state": c["state"],
                "nonce": c.get("nonce", ""),
            },
            headers={"origin": self.origin},
        )
        handle = (interact.json() or {}).get("interaction_handle")
        if interact.status != 200 or not handle:
            raise SignInError("Okta: interact", "Okta would not start a sign-in", interact)
        self.interaction_handle = str(handle)
        yield from self.resume()
        yield from self.idx("identify", {"identifier": identifier}, step="Okta: identify")

    def resume(self) -> Conversation[None]:
        """introspect: where a widget (a new one in the magic link's tab) picks up."""
        yield from self.idx(
            "introspect", {"interactionHandle": self.interaction_handle}, step="Okta: introspect"
        )

    def idx(self, path: str, body: Mapping[str, Any], *, step: str) -> Conversation[Reply]:
        if path != "introspect":
            body = {**body, "stateHandle": self.state_handle}
        reply = yield OktaRequest(
            f"{self.org}/idp/idx/{path}",
            json=body,
            headers={**_IDX, "origin": self.origin},
        )
        if reply.headers.get("access-control-allow-origin") != self.origin:
            raise SignInError(step, f"a browser would block it: {self.origin} is not trusted")
        document = reply.json()
        if reply.status != 200 or not isinstance(document, dict):
            said = okta_messages(reply)
            raise SignInError(step, f"Okta refused: {said}" if said else "Okta refused", reply)
        self.state_handle = str(document.get("stateHandle", self.state_handle))
        return reply
