"""Flask behind Okta magic-link sign-in.

flask --app examples.flask_app:create_app run --port 8000   # with the OKTA_* variables set
"""

from flask import Flask, request

from okta_magiclink_mw import OktaMagicLinkWSGI, Settings


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def home() -> str:
        user = request.environ["okta_magiclink_mw.user"]
        return f"Hello, {user.display_name}!"

    app.wsgi_app = OktaMagicLinkWSGI(app.wsgi_app, Settings.from_env())
    return app


if __name__ == "__main__":
    create_app().run(port=8000)
