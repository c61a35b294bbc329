"""Flows: the core's generators, and the few helpers that shape them.

A flow yields effects (an ``httpx.Request`` for Okta, a
:class:`~okta_magiclink_mw.stores.StoreCall` for the session store), receives each
result, and returns a value. The adapters drive it (``_transport.drive_sync`` /
``drive_async``); the core never performs an effect itself.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

import httpx

from .stores._base import StoreCall

T = TypeVar("T")
Effect = httpx.Request | StoreCall
Flow = Generator[Effect, Any, T]


def immediate(value: T) -> Flow[T]:
    """A flow that needs no effect: returns ``value`` at once."""
    return value
    yield  # pragma: no cover - unreachable; makes this function a generator


def run_now_or_later(flow: Flow[T]) -> T | tuple[Effect, Flow[T]]:
    """Start ``flow``: its value if it needs no effect, else its first effect and itself.

    Most requests need no effect at all, so they are answered without building an
    :class:`~okta_magiclink_mw._flow.Exchange` for the adapter to drive.
    """
    try:
        effect = next(flow)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    return effect, flow


def resumed(first: Effect, flow: Flow[T]) -> Flow[T]:
    """``flow``, already started and waiting on ``first``, as a fresh flow to drive."""
    effect = first
    while True:
        try:
            result = yield effect
        except GeneratorExit:
            flow.close()
            raise
        except Exception as exc:  # the driver's failure goes to the flow, as in yield from
            try:
                effect = flow.throw(exc)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
        else:
            try:
                effect = flow.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
