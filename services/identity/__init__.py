"""The identity service (身份服务): who may do what. Accounts of the people who
run the model, with a role and its scope (工委 the city, 单位党务干部 one unit,
支部书记 one branch, 督查, 运维, 审计); logins that answer a short-lived token
signed with a published key; every other service verifies tokens locally
(``sifuwu.access``).

Where things are, in the four layers:

* entrypoints: ``service`` (check the policy, load with ``schemas``, run one
  step, dump); who may call each route: ``sifuwu.policy``;
* use cases: ``steps`` (bootstrap, accounts, logins, keys), each in a unit
  of work, with the audit entry of every account change;
* rules, pure: ``domain`` (roles and scopes, account moves, backoff and
  lock-out, TOTP, token claims, the key lifecycle); ``signing`` (Ed25519
  keys, JWKS, argon2id, sealing secrets at rest: computation, no I/O);
* storage: ``repository`` (``IdentityRepository``, reads and writes only);
* sign-in through the province's 统一身份认证 (OIDC): the sub-package
  ``oidc`` of the same shape (``entrypoints`` mixed into the service,
  ``steps``, ``domain``, and ``provider``, the provider over HTTP).

Configuration: ``settings.IdentitySettings``.
"""
