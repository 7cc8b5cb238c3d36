"""The province's OIDC provider over HTTP (统一身份认证): its discovery
document, its JWKS, the authorization URL and the token endpoint, through
authlib's requests client. I/O only; what a token must hold is in
``domain``.

One ``Provider`` per service container (``dependencies.OidcProvider``): the
discovery document and the JWKS are cached for ``metadata_ttl`` seconds,
and the JWKS is fetched again at once when an ID token names a key it does
not hold (the provider rotated). A provider that cannot be reached, or
answers nonsense, is ``OidcUnavailable`` (503), never a 500.
"""

import time

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from services.identity.oidc import domain

DISCOVERY = "/.well-known/openid-configuration"
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


class Provider:
    def __init__(self, config, clock=time.monotonic):
        self.config = config
        self.clock = clock
        self._metadata = None
        self._metadata_at = None
        self._jwks = None
        self._jwks_at = None

    def _fresh(self, at):
        return at is not None and self.clock() - at < self.config.metadata_ttl

    def _get_json(self, url):
        try:
            answer = requests.get(url, timeout=self.config.timeout,
                                  headers={"Accept": "application/json"})
            answer.raise_for_status()
            body = answer.json()
        except (requests.RequestException, ValueError):
            raise domain.OidcUnavailable()
        if not isinstance(body, dict):
            raise domain.OidcUnavailable()
        return body

    def metadata(self):
        """The discovery document; its ``issuer`` must be the configured
        one exactly (OpenID Connect Discovery §4.3)."""
        if self._fresh(self._metadata_at):
            return self._metadata
        document = self._get_json(self.config.issuer.rstrip("/") + DISCOVERY)
        if document.get("issuer") != self.config.issuer:
            raise domain.OidcMisconfigured(
                "统一身份认证发现文档中的 issuer 与 SIFUWU_IDENTITY_OIDC_ISSUER 不一致")
        missing = [name for name in ENDPOINTS
                   if not isinstance(document.get(name), str)]
        if missing:
            raise domain.OidcMisconfigured(
                "统一身份认证发现文档缺少 " + "、".join(missing))
        self._metadata, self._metadata_at = document, self.clock()
        return document

    def jwks(self, force=False):
        if not force and self._fresh(self._jwks_at):
            return self._jwks
        keys = self._get_json(self.metadata()["jwks_uri"])
        self._jwks, self._jwks_at = keys, self.clock()
        return keys

    def _client(self):
        secret = self.config.client_secret
        return OAuth2Session(
            self.config.client_id, secret, scope=self.config.scopes,
            redirect_uri=self.config.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if secret
            else "none")

    def authorization_url(self, state, nonce, verifier):
        """Where to send the browser: the provider's authorization endpoint
        with our client, ``state``, ``nonce`` and the S256 PKCE challenge."""
        with self._client() as client:
            url, _ = client.create_authorization_url(
                self.metadata()["authorization_endpoint"], state=state,
                nonce=nonce, code_verifier=verifier)
        return url

    def exchange(self, code, verifier):
        """The token endpoint's answer for ``code`` (with the PKCE
        verifier): a dict with ``id_token`` (and ``access_token``)."""
        endpoint = self.metadata()["token_endpoint"]
        with self._client() as client:
            try:
                return dict(client.fetch_token(
                    endpoint, grant_type="authorization_code", code=code,
                    code_verifier=verifier, timeout=self.config.timeout))
            except OAuthError:
                raise domain.CodeInvalid()
            except (requests.RequestException, ValueError, TypeError):
                raise domain.OidcUnavailable()

    def verify(self, token, nonce, now):
        """The verified claims of ``token``'s ID token (``domain``)."""
        allowed = domain.algorithms(self.metadata())
        args = (token.get("id_token"), self.config, nonce, now)
        kwargs = {"allowed": allowed,
                  "access_token": token.get("access_token")}
        try:
            return domain.validate_id_token(args[0], self.jwks(), *args[1:],
                                            **kwargs)
        except domain.TokenInvalid as exc:
            if not exc.unknown_key:
                raise
        return domain.validate_id_token(args[0], self.jwks(force=True),
                                        *args[1:], **kwargs)
