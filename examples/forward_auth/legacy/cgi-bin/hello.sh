#!/bin/sh
# A legacy app that is not Python: a CGI script under busybox httpd.
#
#     busybox httpd -f -p 127.0.0.1:8081 -h examples/forward_auth/legacy
#
# It trusts the proxy in front (nginx auth_request, Traefik forwardAuth, Caddy
# forward_auth) to sign people in and to pass who they are in X-Auth-Request-Email,
# X-Auth-Request-User and X-Auth-Request-Groups; it must never be reachable any other
# way. busybox hands every request header to the script as HTTP_<NAME> (upper case,
# "-" as "_"), so both X-Auth-Request-Email and X_Auth_Request_Email arrive as
# HTTP_X_AUTH_REQUEST_EMAIL: the proxy must drop headers with "_" (nginx does).
#
# Everything printed from a request is HTML-escaped; no header value reaches a command
# line except as printf's argument.

escape() {
    printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' \
        -e 's/"/\&quot;/g' -e "s/'/\&#39;/g"
}

email=$(escape "${HTTP_X_AUTH_REQUEST_EMAIL-}")
user=$(escape "${HTTP_X_AUTH_REQUEST_USER-}")
groups=$(escape "${HTTP_X_AUTH_REQUEST_GROUPS-}")
# Every X-Auth-Request-* header that arrived, as NAME=value lines: what a test inspects
# to see that a header the client made up never got here.
seen=$(env | grep '^HTTP_X_AUTH_REQUEST_' | LC_ALL=C sort)
if [ -n "$seen" ]; then
    seen_html=$(escape "$seen")
else
    seen_html="(none)"
fi
if [ -n "$email" ]; then
    greeting="Hello, $email!"
else
    greeting="Hello, stranger."
fi

printf 'Content-Type: text/html; charset=utf-8\r\n'
printf 'Cache-Control: no-store\r\n'
printf "Content-Security-Policy: default-src 'none'\r\n"
printf '\r\n'
cat <<HTML
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Legacy app</title></head>
<body>
<h1 id="greeting">$greeting</h1>
<p>This page is a shell script under busybox httpd; the proxy in front signed you in.</p>
<dl>
<dt>Email</dt><dd><pre id="email">$email</pre></dd>
<dt>User</dt><dd><pre id="user">$user</pre></dd>
<dt>Groups</dt><dd><pre id="groups">$groups</pre></dd>
</dl>
<h2>X-Auth-Request-* headers received</h2>
<pre id="auth-headers">$seen_html</pre>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
</body>
</html>
HTML
