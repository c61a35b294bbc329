"""The README's checklist and the doctor's checks stay one to one."""

from __future__ import annotations

import re
from pathlib import Path

from okta_magiclink_mw import _environment
from okta_magiclink_mw._doctor import API_TOKEN_VARIABLE, APP_ID_VARIABLE, ORG_URL_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
#: Words each checklist item must use: what the check of its number looks at.
MARKS = {
    1: "discovery document",
    2: "jwks_uri",
    3: "`Date`",
    4: "/v1/interact",
    5: "preflight",
    6: "/api/v1/apps/{id}",
    7: "okta-sign-in.min.js",
    8: "post_logout_redirect_uri",
    9: "/api/v1/authorizationServers/{id}/claims",
}


def checklist() -> dict[int, str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running against a real Okta org\n", 1)[1].split("\n## ", 1)[0]
    items = re.split(r"^(\d+)\. ", section, flags=re.MULTILINE)[1:]
    return {int(number): text for number, text in zip(items[::2], items[1::2], strict=True)}


def test_the_readme_checklist_matches_the_checks() -> None:
    items = checklist()
    assert sorted(items) == list(range(1, 10))
    for number, words in MARKS.items():
        assert words in items[number], (number, words)
        assert "*Doctor" in items[number], number


def test_the_doctor_s_variables_are_documented_and_not_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    settings_vars = {
        v for v, _ in (*_environment.REQUIRED.values(), *_environment.OPTIONAL.values())
    }
    for variable in (API_TOKEN_VARIABLE, APP_ID_VARIABLE, ORG_URL_VARIABLE):
        assert f"`{variable}`" in readme, variable
        assert variable not in settings_vars
