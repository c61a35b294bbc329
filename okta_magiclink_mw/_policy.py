"""Who may enter which path: allow-lists and per-path rules, decided without I/O.

A request's path is matched against the rules as the app may route it. Servers and
frameworks disagree on paths such as ``/admin/../public`` or ``//admin``: uvicorn and
Starlette route the first to ``/admin/{rest:path}`` as it came, a proxy or a static file
server resolves it to ``/public``. So a path is read every way a server could read it (as
it came; with dot segments resolved and repeated slashes collapsed; the same with
backslashes read as slashes) and the person must be allowed under every reading. A path
trick can then only meet a stricter rule, never escape one. Matching is case-sensitive,
as Starlette's and Flask's routers are.

The hot path is two dict lookups and an ``&``: the rule each path needs is cached per
path (bounded), and the set of rules a person passes is cached on their
:class:`~okta_magiclink_mw.OktaUser` (one object per verified session).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .settings import Settings
    from .user import OktaUser

#: Paths whose rule is remembered; past it the cache starts again (a flood of random
#: paths costs recomputing, never memory).
_PATH_CACHE_SIZE = 4096
#: ASCII letters only: ``str.lower`` also folds look-alikes (the Kelvin sign ``K`` becomes
#: ``k``), which would let ``eve@\u212aodak.com`` pass for ``kodak.com``.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold(text: str) -> str:
    """Emails and domains compare case-insensitively, in ASCII letters only."""
    # On ASCII text str.lower changes exactly A-Z, and is ~20x faster than translate,
    # which a new person's rules would otherwise pay once per requirement.
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _names(value: object, what: str) -> tuple[str, ...]:
    """A sequence of non-empty strings (a lone string is a mistake: ``"admins"`` would be
    six one-letter groups)."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigurationError(f"{what} must be a list of strings, e.g. [{value!r}]")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name or not name.isprintable() or name != name.strip():
            raise ConfigurationError(f"{what}: {name!r} is not a valid entry")
    return names


def _emails(value: object, what: str) -> tuple[str, ...]:
    emails = _names(value, what)
    for email in emails:
        local, at, domain = email.rpartition("@")
        if not (at and local and domain) or " " in email:
            raise ConfigurationError(f"{what}: {email!r} is not an email address")
    return emails


def _domains(value: object, what: str) -> tuple[str, ...]:
    domains = _names(value, what)
    for domain in domains:
        if "@" in domain or " " in domain or domain.startswith(".") or "/" in domain:
            raise ConfigurationError(
                f"{what}: {domain!r} must be a domain such as 'example.com' (no '@')"
            )
    return domains


def _rule_path(path: object) -> str:
    """A rule's path: absolute and clean (no empty, dot or encoded-looking segment, no
    query, backslash or control character), so it can mean one thing only. A trailing
    ``/`` is dropped: rules match on segment boundaries anyway."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigurationError(
            f"access rule path {path!r} must be an absolute path such as '/admin'"
        )
    if path == "/":
        return path
    trimmed = path[:-1] if path.endswith("/") else path
    segments = trimmed.split("/")[1:]
    if (
        any(ch in path for ch in "?#%\\")
        or not path.isprintable()
        or any(ch.isspace() for ch in path)
        or any(seg in ("", ".", "..") for seg in segments)
    ):
        raise ConfigurationError(
            f"access rule path {path!r} must be a clean absolute path such as '/admin': "
            "no empty, '.' or '..' segments, no '?', '#', '%' or '\\'"
        )
    return trimmed


@dataclass(frozen=True, slots=True)
class Requirement:
    """Who passes: a person whose verified email is listed, or whose verified email's
    domain is listed, or who is in one of the groups. All empty: anyone signed in."""

    emails: frozenset[str] = frozenset()  # folded
    domains: frozenset[str] = frozenset()  # folded
    groups: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        emails: object = (),
        domains: object = (),
        groups: object = (),
        *,
        where: str = "",
    ) -> Requirement:
        """Validated; ``where`` prefixes the error messages (``"allowed_"`` names the
        settings, ``"guard "`` a guard's arguments)."""
        return cls(
            frozenset(fold(e) for e in _emails(emails, f"{where}emails")),
            frozenset(fold(d) for d in _domains(domains, f"{where}domains")),
            frozenset(_names(groups, f"{where}groups")),
        )

    @property
    def everyone(self) -> bool:
        return not (self.emails or self.domains or self.groups)

    def allows(self, user: OktaUser) -> bool:
        """Whether ``user`` passes. Only a verified email counts (``user.email``)."""
        if not (self.emails or self.domains or self.groups):
            return True
        email = user.email
        if email is not None:
            folded = fold(email)
            if folded in self.emails or folded.rpartition("@")[2] in self.domains:
                return True
        return not self.groups.isdisjoint(user.groups)

    def describe(self) -> str:
        """``emails ada@example.com; groups admins``: for log lines (no user data)."""
        parts = [
            f"{name} {', '.join(sorted(values))}"
            for name, values in (
                ("emails", self.emails),
                ("domains", self.domains),
                ("groups", self.groups),
            )
            if values
        ]
        return "; ".join(parts) or "anyone signed in"


@dataclass(frozen=True, slots=True)
class AccessRule:
    """Who may enter under one path prefix.

    ``path`` matches itself and everything below it, on segment boundaries: ``/admin``
    matches ``/admin`` and ``/admin/users``, not ``/administrator``; ``/`` matches every
    path. It is a path the app routes on (like ``public_paths``), and case-sensitive.

    A person passes when their verified email is in ``emails``, or its domain is in
    ``domains`` (exactly: ``example.com`` does not cover ``eu.example.com``), or one of
    their groups (the ID token's ``groups`` claim) is in ``groups``. Emails and domains
    compare case-insensitively, groups exactly. A rule with all three empty lets anyone
    signed in through: a carve-out from a broader rule after it.

    .. code-block:: python

        AccessRule("/admin", groups=["admins"])
        AccessRule("/reports", domains=["example.com"], emails=["auditor@partner.example"])
    """

    path: str
    emails: Sequence[str] = ()
    domains: Sequence[str] = ()
    groups: Sequence[str] = ()
    requirement: Requirement = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"access rule {self.path!r}: "
        set_ = object.__setattr__
        set_(self, "path", _rule_path(self.path))
        set_(self, "emails", _emails(self.emails, f"{where}emails"))
        set_(self, "domains", _domains(self.domains, f"{where}domains"))
        set_(self, "groups", _names(self.groups, f"{where}groups"))
        set_(self, "requirement", Requirement.of(self.emails, self.domains, self.groups))


def covers(prefix: str, path: str) -> bool:
    """Whether rule path ``prefix`` matches ``path`` (on segment boundaries)."""
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def check_rules(rules: Sequence[AccessRule], where: str = "access_rules") -> None:
    """A rule after one that matches everything it would can never decide: refuse the
    order (the first match decides, so the more specific rule must come first)."""
    for i, later in enumerate(rules):
        for earlier in rules[:i]:
            if covers(earlier.path, later.path):
                raise ConfigurationError(
                    f"{where}: {later.path!r} comes after {earlier.path!r}, which already "
                    "matches every path it would: put the more specific rule first"
                )


def resolved(path: str, *, backslashes: bool = False) -> str:
    """``path`` with dot segments resolved and repeated slashes collapsed (and, with
    ``backslashes``, ``\\`` read as ``/``); always absolute, without a trailing slash."""
    if backslashes:
        path = path.replace("\\", "/")
    kept: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
            continue
        kept.append(segment)
    return "/" + "/".join(kept)


def readings(path: str) -> set[str]:
    """Every way a server could route ``path`` (see the module's docstring)."""
    found = {path, resolved(path)}
    if "\\" in path:
        found.add(resolved(path, backslashes=True))
    return found


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a signed-in person may not have a path."""

    #: The path asked for (the path the app routes on).
    path: str
    #: What would have let them in.
    requirement: Requirement
    #: The access rule that refused, or None (the ``allowed_*`` settings, or a guard).
    rule: AccessRule | None = None
    #: Who refused, for the log: ``access rule '/admin'``, ``allowed_* settings``, ``guard``.
    source: str = "allowed_* settings"


class Policy:
    """The compiled ``access_rules`` and ``allowed_*`` settings.

    The first rule whose path matches decides; with none, the ``allowed_*`` lists do;
    with neither, everyone signed in is allowed (:attr:`everyone`, and then nothing is
    computed per request).
    """

    def __init__(
        self,
        rules: Sequence[AccessRule] = (),
        *,
        emails: Sequence[str] = (),
        domains: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> None:
        check_rules(rules)
        self.rules = tuple(rules)
        self._global = Requirement.of(emails, domains, groups, where="allowed_")
        #: One requirement per bit: the rules in order, then the allowed_* lists.
        self._requirements = (*(r.requirement for r in self.rules), self._global)
        self._global_bit = 0 if self._global.everyone else 1 << len(self.rules)
        #: Nobody is ever refused: no rule and no list (a carve-out rule alone refuses none).
        self.everyone = all(r.everyone for r in self._requirements)
        #: Some rule or list names groups: the ID token must carry a ``groups`` claim.
        self.uses_groups = any(r.groups for r in self._requirements)
        self._paths: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            settings.access_rules,
            emails=settings.allowed_emails,
            domains=settings.allowed_domains,
            groups=settings.allowed_groups,
        )

    def denial(self, user: OktaUser, path: str) -> Denial | None:
        """None when ``user`` may have ``path`` (the path the app routes on), else why not.
        The hot path: two cached lookups."""
        need = self._paths.get(path)
        if need is None:
            need = self._learn_path(path)
        if not need:
            return None
        cached = user._access
        passed = cached[1] if cached is not None and cached[0] is self else self._learn(user)
        refused = need & ~passed
        if not refused:
            return None
        return self._denial(path, (refused & -refused).bit_length() - 1)

    def requirements_of(self, path: str) -> list[Requirement]:
        """What ``path`` asks of a person: every requirement they must pass."""
        need = self._paths.get(path)
        if need is None:
            need = self._learn_path(path)
        return [r for i, r in enumerate(self._requirements) if need >> i & 1]

    def _learn_path(self, path: str) -> int:
        need = 0
        for reading in readings(path):
            need |= self._bit_of(reading)
        paths = self._paths
        if len(paths) >= _PATH_CACHE_SIZE:
            # A new dict, not an eviction loop: readers on other threads never see a dict
            # change size under them.
            paths = self._paths = {}
        paths[path] = need
        return need

    def _bit_of(self, path: str) -> int:
        for i, rule in enumerate(self.rules):
            if covers(rule.path, path):
                return 0 if rule.requirement.everyone else 1 << i
        return self._global_bit

    def _learn(self, user: OktaUser) -> int:
        passed = 0
        for i, requirement in enumerate(self._requirements):
            if requirement.allows(user):
                passed |= 1 << i
        user._access = (self, passed)
        return passed

    def _denial(self, path: str, index: int) -> Denial:
        if index < len(self.rules):
            rule = self.rules[index]
            return Denial(path, rule.requirement, rule, f"access rule {rule.path!r}")
        return Denial(path, self._global)


_RULE_KEYS = frozenset({"path", "emails", "domains", "groups"})


def rule_of(entry: object, where: str = "access_rules") -> AccessRule:
    """An :class:`AccessRule`, or one written as a mapping (the JSON of
    ``OKTA_MW_ACCESS_RULES``): ``{"path": "/admin", "groups": ["admins"]}``. Unknown keys
    are refused, so a misspelt ``"group"`` never leaves a rule open to everyone."""
    if isinstance(entry, AccessRule):
        return entry
    if not isinstance(entry, dict):
        raise ConfigurationError(
            f'{where}: each rule must be an AccessRule or an object like {{"path": "/admin", '
            f'"groups": ["admins"]}}, not {type(entry).__name__}'
        )
    unknown = sorted(str(k) for k in entry if k not in _RULE_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key {unknown[0]!r} in a rule (known: path, emails, domains, groups)"
        )
    if "path" not in entry:
        raise ConfigurationError(f'{where}: every rule needs a "path"')
    return AccessRule(**entry)


def rules_of(value: object, where: str = "access_rules") -> tuple[AccessRule, ...]:
    """``access_rules`` as given (a sequence of rules or mappings), validated."""
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        raise ConfigurationError(f"{where} must be a list of AccessRule")
    rules: list[AccessRule] = []
    for entry in value:
        try:
            rules.append(rule_of(entry, where))
        except ConfigurationError as exc:
            if str(exc).startswith(where):
                raise
            raise ConfigurationError(f"{where}: {exc}") from None  # name the variable
    check_rules(rules, where)
    return tuple(rules)
