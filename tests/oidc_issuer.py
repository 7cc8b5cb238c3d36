"""A local stand-in for a province's OIDC provider (统一身份认证), for tests.

A small WSGI app on a free port of the test process (werkzeug's server in a
thread; a green thread under the tests' eventlet patching):

* ``/.well-known/openid-configuration``: the discovery document;
* ``/jwks``: the public key that signs the ID tokens (RS256, with a kid);
* ``/authorize``: checks the client, the redirect URI and the PKCE challenge
  (S256), then redirects back with a one-time code for ``issuer.user``
  (the configured test user: a dict of claims such as ``sub`` and ``amr``),
  or with ``error=access_denied`` while ``issuer.deny`` is set;
* ``/token``: the authorization code grant: client authentication (basic
  or in the form), a code used once, the redirect URI and the PKCE verifier
  checked; answers an access token and a signed ID token with the nonce.

What a test can change: ``user``, ``deny``, ``id_token_claims`` (merged
into the next ID tokens: a wrong ``nonce``, ``iss``, ``aud`` or an ``exp``
in the past), ``sign_with`` (a key of another issuer: a bad signature),
``discovery_issuer`` (a discovery document naming another issuer).
``requests`` records the token requests.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse

from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

CLIENT_ID = "sifuwu-test"
CLIENT_SECRET = "stand-in-client-secret"


def new_key(kid=None):
    return RSAKey.generate_key(2048, parameters={
        "kid": kid or secrets.token_hex(8), "use": "sig", "alg": "RS256"})


def _json(body, status=200):
    return Response(json.dumps(body), status=status,
                    mimetype="application/json",
                    headers={"Cache-Control": "no-store"})


def s256(verifier):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcIssuer:
    def __init__(self, redirect_uri, client_id=CLIENT_ID,
                 client_secret=CLIENT_SECRET, user=None):
        self.redirect_uri = redirect_uri
        self.client_id = client_id
        self.client_secret = client_secret
        self.user = user or {"sub": "test-user"}
        self.deny = False
        self.id_token_claims = {}
        self.key = new_key()
        self.sign_with = None
        self.discovery_issuer = None
        self.codes = {}
        self.requests = []
        self._server = make_server("127.0.0.1", 0, self.wsgi)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = None

    # -- running ---------------------------------------------------------------

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self):
        self.deny = False
        self.id_token_claims = {}
        self.sign_with = None
        self.discovery_issuer = None

    # -- the provider ----------------------------------------------------------

    def discovery(self):
        return {
            "issuer": self.discovery_issuer or self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": ["openid", "profile"],
        }

    def id_token(self, nonce, now=None):
        now = int(now or time.time())
        claims = {"iss": self.url, "aud": self.client_id,
                  "iat": now, "exp": now + 300, "auth_time": now,
                  **({"nonce": nonce} if nonce else {}), **self.user,
                  **self.id_token_claims}
        key = self.sign_with or self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def wsgi(self, environ, start_response):
        request = Request(environ)
        routes = {"/.well-known/openid-configuration": self._discovery,
                  "/jwks": self._jwks, "/authorize": self._authorize,
                  "/token": self._token}
        handler = routes.get(request.path)
        response = handler(request) if handler else \
            _json({"error": "not_found"}, 404)
        return response(environ, start_response)

    def _discovery(self, request):
        return _json(self.discovery())

    def _jwks(self, request):
        return _json({"keys": [self.key.as_dict(private=False)]})

    def _authorize(self, request):
        args = request.args
        if args.get("client_id") != self.client_id or \
                args.get("redirect_uri") != self.redirect_uri:
            return _json({"error": "invalid_client"}, 400)
        if args.get("response_type") != "code" or \
                "openid" not in args.get("scope", "").split() or \
                args.get("code_challenge_method") != "S256" or \
                not args.get("code_challenge"):
            return _json({"error": "invalid_request"}, 400)
        back = {"state": args.get("state", ""), "iss": self.url}
        if self.deny:
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = {"challenge": args["code_challenge"],
                                "nonce": args.get("nonce"),
                                "redirect_uri": args["redirect_uri"]}
            back["code"] = code
        return Response(status=302, headers={
            "Location": f"{self.redirect_uri}?{urllib.parse.urlencode(back)}"})

    def _client_ok(self, request):
        auth = request.authorization
        if auth is not None:
            given = (urllib.parse.unquote(auth.username or ""),
                     urllib.parse.unquote(auth.password or ""))
        else:
            given = (request.form.get("client_id"),
                     request.form.get("client_secret"))
        return given == (self.client_id, self.client_secret)

    def _token(self, request):
        form = request.form
        self.requests.append(dict(form))
        if not self._client_ok(request):
            return _json({"error": "invalid_client"}, 401)
        if form.get("grant_type") != "authorization_code":
            return _json({"error": "unsupported_grant_type"}, 400)
        grant = self.codes.pop(form.get("code", ""), None)  # used once
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return _json({"error": "invalid_grant"}, 400)
        if s256(form.get("code_verifier", "")) != grant["challenge"]:
            return _json({"error": "invalid_grant",
                          "error_description": "PKCE verifier"}, 400)
        return _json({"access_token": secrets.token_urlsafe(24),
                      "token_type": "Bearer", "expires_in": 300,
                      "id_token": self.id_token(grant["nonce"])})
