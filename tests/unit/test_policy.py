"""The policy (issue 10): rules, allow-lists, path readings, caches; settings and env."""

from __future__ import annotations

import json
import posixpath
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.authentication import AuthCredentials

from okta_magiclink_mw import (
    AccessRule,
    AnonymousUser,
    ConfigurationError,
    OktaUser,
    Settings,
    _environment,
)
from okta_magiclink_mw._policy import Policy, Requirement, covers, fold, readings, resolved
from tests.conftest import make_settings

GOOD_ENV = {
    "OKTA_ISSUER": "https://org.example/oauth2/default",
    "OKTA_CLIENT_ID": "cid",
    "OKTA_REDIRECT_URI": "https://app.example/login/callback",
    "OKTA_MW_SECRET_KEYS": "a" * 32,
}


def person(
    email: str | None = "ada@example.com",
    *,
    verified: bool = True,
    groups: Any = None,
    sub: str = "00u-ada",
) -> OktaUser:
    claims: dict[str, Any] = {"sub": sub}
    if email is not None:
        claims["email"] = email
        claims["email_verified"] = verified
    if groups is not None:
        claims["groups"] = groups
    return OktaUser(claims)


ADMIN_RULES = [AccessRule("/admin", groups=["admins"])]


# -- AccessRule and Requirement -----------------------------------------------------------------


def test_access_rule_normalises_and_keeps_what_was_given() -> None:
    rule = AccessRule("/admin/", emails=["Ada@Example.com"], domains=["Example.COM"])
    assert rule.path == "/admin"
    assert rule.emails == ("Ada@Example.com",)
    assert rule.requirement.emails == frozenset({"ada@example.com"})
    assert rule.requirement.domains == frozenset({"example.com"})
    assert rule == AccessRule("/admin", emails=("Ada@Example.com",), domains=("Example.COM",))
    assert AccessRule("/").path == "/"


@pytest.mark.parametrize(
    "path",
    [
        "admin",
        "",
        "//admin",
        "/admin//x",
        "/./admin",
        "/admin/..",
        "/a/../admin",
        "/admin?x=1",
        "/admin#x",
        "/adm%69n",
        "/admin\\x",
        "/ad min",
        "/admin\x00",
        "/admin\t",
        5,
        None,
    ],
)
def test_access_rule_paths_must_be_clean(path: Any) -> None:
    with pytest.raises(ConfigurationError, match="access rule path"):
        AccessRule(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": "admins"}, "list of strings"),  # would be six one-letter groups
        ({"emails": "ada@example.com"}, "list of strings"),
        ({"groups": [""]}, "not a valid entry"),
        ({"groups": [" admins"]}, "not a valid entry"),
        ({"groups": [5]}, "not a valid entry"),
        ({"emails": ["ada"]}, "not an email address"),
        ({"emails": ["@example.com"]}, "not an email address"),
        ({"emails": ["ada@"]}, "not an email address"),
        ({"domains": ["@example.com"]}, "no '@'"),
        ({"domains": ["ada@example.com"]}, "no '@'"),
        ({"domains": [".example.com"]}, "no '@'"),
        ({"domains": ["example.com/x"]}, "no '@'"),
    ],
)
def test_access_rule_entries_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AccessRule("/admin", **kwargs)


def test_a_lone_string_setting_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="allowed_groups must be a list"):
        make_settings(allowed_groups="admins")
    with pytest.raises(ConfigurationError, match=r"allowed_domains: 'a@b\.c'"):
        make_settings(allowed_domains=["a@b.c"])
    with pytest.raises(ConfigurationError, match="allowed_emails: 'ada'"):
        make_settings(allowed_emails=["ada"])


def test_fold_is_ascii_only() -> None:
    assert fold("Ada@Example.COM") == "ada@example.com"
    # The Kelvin sign lower()s to "k": folding it would let kodak.com's look-alike in.
    assert "\u212a".lower() == "k"
    assert fold("\u212aodak.com") == "\u212aodak.com"


def test_requirement_semantics() -> None:
    req = Requirement.of(["boss@partner.example"], ["example.com"], ["admins"])
    assert req.allows(person("ada@example.com"))
    assert req.allows(person("ADA@EXAMPLE.COM"))  # case-insensitive
    assert req.allows(person("Boss@Partner.Example"))
    assert not req.allows(person("eve@partner.example"))
    assert not req.allows(person("eve@eu.example.com"))  # no subdomains
    assert not req.allows(person("eve@example.com.evil"))
    assert not req.allows(person("eve@notexample.com"))
    assert not req.allows(person("ada@example.com", verified=False))
    assert req.allows(person(None, groups=["admins"]))
    assert not req.allows(person(None, groups=["Admins"]))  # groups compare exactly
    assert not req.allows(person(None, groups=[]))
    assert not req.allows(person(None))
    assert Requirement.of().everyone
    assert Requirement.of().allows(person(None))


def test_only_a_verified_email_counts() -> None:
    req = Requirement.of(["ada@example.com"], ["example.com"])
    assert not req.allows(person("ada@example.com", verified=False))
    assert req.allows(person("ada@example.com", verified=True))


def test_a_look_alike_domain_is_not_the_domain() -> None:
    assert not Requirement.of(domains=["kodak.com"]).allows(person("eve@\u212aodak.com"))
    assert not Requirement.of(emails=["kim@kodak.com"]).allows(person("\u212aim@kodak.com"))


@pytest.mark.parametrize(
    ("claim", "groups"),
    [
        (["admins", "staff"], {"admins", "staff"}),
        ([], set()),
        ("admins", set()),  # not a list: no group (never six letters)
        ({"admins": True}, set()),
        (["admins", 5, None, "", ["x"]], {"admins"}),
        (None, set()),
    ],
)
def test_user_groups_come_from_a_list_of_strings(claim: Any, groups: set[str]) -> None:
    user = person(groups=claim)
    assert user.groups == frozenset(groups)


def test_auth_scopes_are_built_once_per_user() -> None:
    user = person(groups=["staff", "admins"])
    assert isinstance(user._auth, AuthCredentials)
    assert user._auth.scopes == ["authenticated", "group:admins", "group:staff"]
    assert user._auth is user._auth
    assert person()._auth.scopes == ["authenticated"]
    assert person()._auth is person()._auth  # one shared object for everyone in no group
    assert AnonymousUser()._auth.scopes == []
    assert AnonymousUser().groups == frozenset()


# -- the policy -----------------------------------------------------------------------------


def test_no_rules_and_no_lists_is_everyone() -> None:
    policy = Policy()
    assert policy.everyone
    assert not policy.uses_groups
    assert policy.denial(person(None), "/admin") is None
    # A carve-out alone refuses nobody either.
    assert Policy([AccessRule("/x")]).everyone


def test_global_lists_apply_when_no_rule_matches() -> None:
    policy = Policy(domains=["example.com"])
    assert not policy.everyone
    assert policy.denial(person("ada@example.com"), "/anything") is None
    denial = policy.denial(person("eve@elsewhere.example"), "/anything")
    assert denial is not None
    assert denial.rule is None
    assert denial.source == "allowed_* settings"
    assert denial.requirement.domains == frozenset({"example.com"})
    assert denial.path == "/anything"


def test_the_first_matching_rule_decides() -> None:
    policy = Policy(
        [
            AccessRule("/admin/help"),  # a carve-out: anyone signed in
            AccessRule("/admin", groups=["admins"]),
            AccessRule("/reports", domains=["example.com"]),
        ],
        emails=["boss@example.com"],
    )
    ada, boss, admin = person(), person("boss@example.com"), person(None, groups=["admins"])
    # /admin: the admins rule decides, even for the person the global list names.
    assert policy.denial(admin, "/admin/users") is None
    assert policy.denial(boss, "/admin/users") is not None
    assert policy.denial(ada, "/admin/help/faq") is None  # the carve-out first
    # /reports: its rule, not the global list.
    assert policy.denial(ada, "/reports/q3") is None
    assert policy.denial(admin, "/reports") is not None
    # anywhere else: the global list.
    assert policy.denial(boss, "/home") is None
    assert policy.denial(ada, "/home") is not None
    denial = policy.denial(boss, "/admin")
    assert denial is not None
    assert denial.rule is policy.rules[1]
    assert denial.source == "access rule '/admin'"


def test_segment_boundaries() -> None:
    assert covers("/admin", "/admin")
    assert covers("/admin", "/admin/")
    assert covers("/admin", "/admin/x")
    assert not covers("/admin", "/administrator")
    assert not covers("/admin", "/admin.")
    assert not covers("/admin", "/ADMIN")  # case-sensitive, as the routers are
    assert covers("/", "/anything")


def test_a_shadowed_rule_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="put the more specific rule first"):
        Policy([AccessRule("/admin", groups=["a"]), AccessRule("/admin/public")])
    with pytest.raises(ConfigurationError, match="more specific"):
        make_settings(access_rules=[AccessRule("/"), AccessRule("/x")])
    with pytest.raises(ConfigurationError, match="more specific"):
        make_settings(access_rules=[AccessRule("/x"), AccessRule("/x/", groups=["g"])])
    Policy([AccessRule("/admin/public"), AccessRule("/admin", groups=["a"])])  # fine


def test_uses_groups() -> None:
    assert Policy(groups=["a"]).uses_groups
    assert Policy([AccessRule("/x", groups=["a"])]).uses_groups
    assert not Policy([AccessRule("/x", emails=["a@b.c"])], domains=["b.c"]).uses_groups


def test_the_user_cache_belongs_to_one_policy() -> None:
    strict, lax = Policy(groups=["admins"]), Policy(domains=["example.com"])
    ada = person()
    assert strict.denial(ada, "/") is not None
    assert ada._access is not None
    assert ada._access[0] is strict
    assert lax.denial(ada, "/") is None  # not strict's answer
    assert strict.denial(ada, "/") is not None


def test_the_path_cache_is_bounded() -> None:
    policy = Policy(ADMIN_RULES)
    ada = person()
    for i in range(5000):
        policy.denial(ada, f"/p{i}")
    assert len(policy._paths) <= 4096
    assert policy.denial(ada, "/admin/x") is not None


def test_requirements_of() -> None:
    policy = Policy(ADMIN_RULES, domains=["example.com"])
    assert policy.requirements_of("/admin") == [ADMIN_RULES[0].requirement]
    assert policy.requirements_of("/") == [Requirement.of(domains=["example.com"])]
    # A path two servers route differently asks for both.
    assert len(policy.requirements_of("/admin/../home")) == 2


# -- path tricks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/admin",
        "/admin/",
        "//admin",
        "///admin/x",
        "/./admin",
        "/admin/.",
        "/admin/./x",
        "/public/../admin",
        "/public/..//admin/x",
        "/x/y/../../admin",
        "/../admin",  # %2e%2e/admin, as the server decodes it
        "/public/%2e%2e/admin".replace("%2e", "."),
        "/admin/x/..",
        "/admin/..",  # uvicorn and Starlette route this to /admin/{rest:path}
        "/admin/../public",
        "/public\\..\\admin",  # a server reading backslashes as slashes
        "\\admin",
    ],
)
def test_path_tricks_meet_the_admin_rule(path: str) -> None:
    policy = Policy(ADMIN_RULES)
    assert policy.denial(person(), path) is not None, path
    assert policy.denial(person(None, groups=["admins"]), path) is None


@pytest.mark.parametrize(
    "path", ["/", "/administrator", "/admin.", "/ADMIN", "/Admin/x", "/public/admin", "/x/admin"]
)
def test_other_paths_are_not_the_admin_rule(path: str) -> None:
    assert Policy(ADMIN_RULES).denial(person(), path) is None


def test_a_carve_out_is_not_a_way_around_its_parent() -> None:
    policy = Policy([AccessRule("/admin/help"), AccessRule("/admin", groups=["admins"])])
    ada = person()
    assert policy.denial(ada, "/admin/help") is None
    for trick in ("/admin/help/../users", "/admin/help/..", "/admin/help\\..\\users"):
        assert policy.denial(ada, trick) is not None, trick
    # Into the carve-out by a trick: still under /admin for a server that does not resolve.
    assert policy.denial(ada, "/admin/users/../help") is not None


SEGMENTS = st.sampled_from(["", ".", "..", "admin", "adm", "x", "help", "admin.", "ADMIN", "\\"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=8).map(lambda parts: "/" + "/".join(parts))
MIXED = st.text(alphabet="/.\\ax", min_size=1, max_size=16).map(lambda t: "/" + t)


@given(PATHS | MIXED)
@example("/admin/../x")
@example("//admin")
@hypothesis_settings(max_examples=500)
def test_resolved_is_clean_and_idempotent(path: str) -> None:
    out = resolved(path)
    assert out.startswith("/")
    assert "//" not in out
    segments = out.split("/")[1:]
    assert "." not in segments
    assert ".." not in segments
    assert resolved(out) == out
    assert "\\" not in resolved(path, backslashes=True)
    if "\\" not in path and not path.startswith("//"):
        # The same as POSIX's normpath, bar the trailing slash it also drops.
        assert out == posixpath.normpath(path).replace("//", "/")


@given(PATHS | MIXED)
@hypothesis_settings(max_examples=500)
def test_a_path_meets_a_rule_exactly_when_a_reading_is_under_it(path: str) -> None:
    """No reading under /admin: never refused; some reading under it: always refused."""
    refused = Policy(ADMIN_RULES).denial(person(), path) is not None
    assert refused == any(covers("/admin", r) for r in readings(path))
    # What the normalised form says always counts.
    if covers("/admin", resolved(path)):
        assert refused


@given(PATHS, st.lists(st.sampled_from(["./", "x/../", "/", "admin/../"]), max_size=4))
@hypothesis_settings(max_examples=300)
def test_dot_segments_never_escape(path: str, tricks: list[str]) -> None:
    """Whatever dot segments or slashes are put into an admin path, it stays refused."""
    target = "/admin" + resolved(path)
    tricked = "/" + "".join(tricks) + target.lstrip("/")
    assert resolved(tricked) == resolved(target)
    assert Policy(ADMIN_RULES).denial(person(), tricked) is not None


@given(PATHS | MIXED)
@hypothesis_settings(max_examples=300)
def test_the_caches_change_no_answer(path: str) -> None:
    rules = [AccessRule("/admin/help"), AccessRule("/admin", groups=["admins"])]
    warm = Policy(rules, domains=["example.com"])
    users = [person(), person("eve@other.example"), person(None, groups=["admins"])]
    for user in users:
        warm.denial(user, path)
    for user in users:
        cold = Policy(rules, domains=["example.com"])
        fresh = OktaUser(user.claims)
        assert (warm.denial(user, path) is None) == (cold.denial(fresh, path) is None)


# -- settings and the environment ------------------------------------------------------------


def test_settings_hold_tuples() -> None:
    s = make_settings(
        allowed_emails=["a@b.c"],
        allowed_domains=["b.c"],
        allowed_groups=["g"],
        access_rules=[{"path": "/admin", "groups": ["admins"]}],
    )
    assert s.allowed_emails == ("a@b.c",)
    assert s.allowed_domains == ("b.c",)
    assert s.allowed_groups == ("g",)
    assert s.access_rules == (AccessRule("/admin", groups=["admins"]),)


def test_settings_from_env() -> None:
    s = Settings.from_env(
        {
            **GOOD_ENV,
            "OKTA_MW_ALLOWED_EMAILS": "ada@example.com, boss@example.com",
            "OKTA_MW_ALLOWED_DOMAINS": "example.com",
            "OKTA_MW_ALLOWED_GROUPS": "admins,finance",
            "OKTA_MW_ACCESS_RULES": '[{"path": "/admin", "groups": ["admins"]},'
            ' {"path": "/reports", "domains": ["example.com"], "emails": ["x@y.z"]}]',
        }
    )
    assert s.allowed_emails == ("ada@example.com", "boss@example.com")
    assert s.allowed_groups == ("admins", "finance")
    assert s.access_rules == (
        AccessRule("/admin", groups=["admins"]),
        AccessRule("/reports", domains=["example.com"], emails=["x@y.z"]),
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[{", "OKTA_MW_ACCESS_RULES must be JSON"),
        ('{"path": "/admin"}', "must be a JSON list of rules"),
        ('"/admin"', "must be a JSON list of rules"),
        ('["/admin"]', "each rule must be an AccessRule or an object"),
        ('[{"path": "/admin", "group": ["admins"]}]', "unknown key 'group'"),
        ('[{"groups": ["admins"]}]', 'every rule needs a "path"'),
        ('[{"path": "/admin", "groups": "admins"}]', "list of strings"),
        ('[{"path": "admin"}]', "absolute path"),
        ('[{"path": "/a/../b"}]', "clean absolute path"),
        ('[{"path": "/a", "domains": ["@a.b"]}]', "no '@'"),
        ('[{"path": "/a"}, {"path": "/a/b", "groups": ["g"]}]', "more specific rule first"),
    ],
)
def test_bad_access_rules_in_the_environment(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        Settings.from_env({**GOOD_ENV, "OKTA_MW_ACCESS_RULES": raw})
    assert str(info.value).startswith("OKTA_MW_ACCESS_RULES")


def test_code_given_rules_may_be_mappings_but_nothing_else() -> None:
    with pytest.raises(ConfigurationError, match="list of AccessRule"):
        make_settings(access_rules="/admin")
    with pytest.raises(ConfigurationError, match="unknown key"):
        make_settings(access_rules=[{"path": "/a", "emails": ["a@b.c"], "x": 1}])
    with pytest.raises(ConfigurationError, match="not int"):
        make_settings(access_rules=[5])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["path", "emails", "domains", "groups", "group", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(st.one_of(st.text(max_size=80), JSON.map(json.dumps)))
@example('[{"path": "/a", "groups": ["g"]}]')
@example('[{"path": "/a", "groups": [null]}]')
@hypothesis_settings(max_examples=400)
def test_the_rules_variable_parses_or_says_why(raw: str) -> None:
    """Whatever the variable holds: rules, or a ConfigurationError naming it."""
    outcome: Any
    try:
        outcome = _environment.access_rules("OKTA_MW_ACCESS_RULES", raw)
    except ConfigurationError as exc:
        outcome = exc
    if isinstance(outcome, ConfigurationError):
        assert str(outcome).startswith("OKTA_MW_ACCESS_RULES")
    else:
        assert all(isinstance(rule, AccessRule) for rule in outcome)
