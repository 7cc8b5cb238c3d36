"""Sign-in through a province's OIDC provider (统一身份认证).

The authorization code flow with PKCE, ``state`` and ``nonce``:

* ``GET /api/v1/oidc/login`` keeps a pending sign-in in the identity store
  (``oidc_pending``: the hashes of ``state`` and of a browser cookie, the
  ``nonce`` and the PKCE verifier, for ``SIFUWU_IDENTITY_OIDC_STATE_TTL``
  seconds) and redirects to the provider;
* ``GET /api/v1/oidc/callback`` takes (and so deletes) that pending sign-in,
  exchanges the code with the verifier, verifies the ID token against the
  provider's JWKS, maps its user to the account linked by ``oidc_subject``
  and answers the token body of ``POST /api/v1/login``;
* for 工委 and 运维 without a multi-factor claim the deployment trusts, the
  callback answers 401 ``totp_required`` with a one-time ``ticket``, and
  ``POST /api/v1/oidc/totp`` finishes with the account's TOTP code.

Layers: ``entrypoints`` (mixed into ``IdentityService``), ``steps`` (one
unit of work each), ``domain`` (pure rules: the configuration, the ID token
checks, the mapping, the MFA decision), ``provider`` (the provider over
HTTP: discovery, JWKS, the token endpoint, through authlib).
"""
