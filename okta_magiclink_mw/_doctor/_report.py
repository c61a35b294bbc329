"""What the doctor found: one :class:`Finding` per check, printed for people or as JSON.

Nothing secret is ever put in a finding: the checks copy out only URLs, grant types,
origins, claim names, HTTP statuses and Okta's short error texts, and :func:`clean`
strips anything a terminal would act on from text that came from the network.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """How a check went. Only ``FAIL`` makes the doctor exit with status 1."""

    OK = "OK"
    #: Works, but something is off or could not be verified: read the line.
    WARN = "WARN"
    #: A first sign-in will fail until this is fixed.
    FAIL = "FAIL"
    #: Not run: it needs something the doctor does not have (an API token, an earlier check).
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one numbered check (the README's checklist item of that number)."""

    number: int
    name: str
    title: str
    status: Status
    message: str
    #: What to change: where to click in the Okta Admin Console, or which setting.
    fixes: tuple[str, ...] = ()
    #: More to know, whatever the status (what the doctor could not see, for instance).
    notes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "title": self.title,
            "status": str(self.status),
            "message": self.message,
            "fixes": list(self.fixes),
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Every finding, in checklist order, and what was checked."""

    findings: Sequence[Finding]
    #: Who was checked: issuer, client id, app origin (never a secret).
    subject: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No check failed."""
        return all(f.status is not Status.FAIL for f in self.findings)

    @property
    def exit_status(self) -> int:
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        counts = {str(status): 0 for status in Status}
        for finding in self.findings:
            counts[str(finding.status)] += 1
        return counts

    def as_json(self) -> str:
        return json.dumps(
            {
                "ok": self.ok,
                "subject": self.subject,
                "counts": self.counts(),
                "checks": [f.as_json() for f in self.findings],
            },
            indent=2,
        )

    def as_text(self, width: int = 100) -> str:
        lines: list[str] = []
        if self.subject:
            lines.append(
                "okta-magiclink-mw doctor: "
                + ", ".join(f"{key} {value}" for key, value in self.subject.items())
            )
            lines.append("")
        for finding in self.findings:
            head = f"{finding.number:>2}. {finding.status:<5} {finding.title}: {finding.message}"
            lines += _wrap(head, width, " " * 10) or [head]
            for prefix, texts in (("fix", finding.fixes), ("note", finding.notes)):
                for text in texts:
                    lines += _wrap(f"{prefix}: {text}", width, " " * 15, first=" " * 10)
        counts = self.counts()
        lines.append("")
        lines.append(", ".join(f"{counts[str(s)]} {s}" for s in Status))
        return "\n".join(lines)


def _wrap(text: str, width: int, indent: str, first: str = "") -> list[str]:
    # URLs, paths and variable names stay whole, to be copied.
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def clean(text: object, limit: int = 240) -> str:
    """``text`` (from Okta or any server) made safe to print on one line: control and
    other unprintable characters escaped, at most ``limit`` characters."""
    raw = text if isinstance(text, str) else repr(text)
    out = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in raw[: limit + 1])
    return out if len(out) <= limit else out[: limit - 1] + "…"
