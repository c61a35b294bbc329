"""Login transactions: the sign-ins this browser has started, keyed by ``state``.

They live in one signed cookie (SameSite=Lax), which is what makes "same browser"
mean same browser for the magic link (R1, R15, R17). Several tabs may sign in at
once: each transaction has its own TTL, at most ``max_transactions`` are kept and
the oldest goes first (R35).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

from ._cookies import CookieCodec, delete_cookie_header, fits, set_cookie_header


@dataclass(frozen=True, slots=True)
class Transaction:
    """One sign-in in progress."""

    state: str
    #: PKCE verifier; never leaves the server except towards Okta's token endpoint (R2).
    code_verifier: str
    nonce: str
    #: Where to send the person afterwards: a relative path, already validated.
    return_to: str
    created_at: float

    @classmethod
    def start(cls, return_to: str, now: float) -> Transaction:
        # 32 random bytes each: 256 bits of state (R1) and a 43-character verifier
        # (R2, RFC 7636 §7.1).
        return cls(
            state=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            return_to=return_to,
            created_at=now,
        )

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def expired(self, now: float, ttl: float) -> bool:
        return not (self.created_at - 60 <= now < self.created_at + ttl)


class TransactionJar:
    """The transactions of one browser, read from and written back to its cookie."""

    __slots__ = ("_codec", "_max", "_secure", "_ttl")

    def __init__(self, codec: CookieCodec, *, ttl: float, max_count: int, secure: bool) -> None:
        self._codec = codec
        self._ttl = ttl
        self._max = max_count
        self._secure = secure

    @property
    def cookie_name(self) -> str:
        return self._codec.name

    def load(self, values: Iterable[str], now: float) -> dict[str, Transaction]:
        """Every transaction found in the cookie values, expired ones included.

        Expired ones are kept so the callback can tell "took too long" from "not
        this browser"; :meth:`find` and :meth:`dump` drop them.
        """
        found: dict[str, Transaction] = {}
        for value in values:
            loaded = self._codec.loads(value, max_age=int(self._ttl) + 120)
            if loaded is None or not isinstance(loaded[0], list):
                continue
            for item in loaded[0]:
                txn = _decode(item)
                if txn is not None:
                    found[txn.state] = txn
        return found

    def find(self, held: dict[str, Transaction], state: str, now: float) -> Transaction | None:
        """The unexpired transaction for ``state``, compared in constant time (R1)."""
        for candidate_state, txn in held.items():
            if hmac.compare_digest(candidate_state.encode(), state.encode()):
                return None if txn.expired(now, self._ttl) else txn
        return None

    def dump(self, held: dict[str, Transaction], now: float) -> str:
        """The ``Set-Cookie`` value holding ``held``: expired ones dropped, the newest
        ``max_count`` kept, then the oldest evicted until the cookie fits (R25)."""
        live = sorted(
            (t for t in held.values() if not t.expired(now, self._ttl)),
            key=lambda t: t.created_at,
        )[-self._max :]
        while True:
            if not live:
                return delete_cookie_header(self._codec.name, secure=self._secure)
            value = self._codec.dumps([_encode(t) for t in live])
            header = set_cookie_header(
                self._codec.name, value, max_age=int(self._ttl), secure=self._secure
            )
            if fits(header):
                return header
            live = live[1:]


class SpentStates:
    """The ``state`` of every sign-in redeemed in this process, until it could not be
    redeemed anyway (R1, catalogue #26).

    Single use is otherwise enforced only by the browser dropping the transaction: a
    copy of the old cookie sent again would make one token request per replay. Bounded:
    past ``max_entries`` the oldest go first (they are the closest to expiring), so a
    flood costs memory, never correctness for the sign-ins still in flight.
    """

    __slots__ = ("_lock", "_max", "_spent", "_ttl")

    def __init__(self, *, ttl: float, max_entries: int = 100_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._spent: dict[str, float] = {}
        self._lock = threading.Lock()

    def spend(self, state: str, now: float) -> bool:
        """Mark ``state`` spent; False when it was already (a replay)."""
        with self._lock:
            expires = self._spent.get(state)
            if expires is not None and expires > now:
                return False
            # Insertion order is expiry order (one TTL for all): drop the expired from the front.
            for old, until in list(islice(self._spent.items(), 8)):
                if until > now and len(self._spent) < self._max:
                    break
                del self._spent[old]
            self._spent.pop(state, None)
            self._spent[state] = now + self._ttl
            return True

    def __len__(self) -> int:
        return len(self._spent)


def _encode(txn: Transaction) -> list[object]:
    return [txn.state, txn.code_verifier, txn.nonce, txn.return_to, round(txn.created_at, 3)]


def _decode(item: object) -> Transaction | None:
    if not (isinstance(item, list) and len(item) == 5):
        return None
    state, verifier, nonce, return_to, created = item
    if not all(isinstance(v, str) for v in (state, verifier, nonce, return_to)):
        return None
    if not isinstance(created, int | float) or isinstance(created, bool):
        return None
    return Transaction(state, verifier, nonce, return_to, float(created))
