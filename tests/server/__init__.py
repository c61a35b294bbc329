"""The forward-auth server (``okta_magiclink_mw.server``) in-process, through httpx's ASGI
transport, against the respx FakeOkta of tests/conftest.py; and the CLI. Real nginx and a
real browser in front of it are in tests/integration and tests/e2e."""
