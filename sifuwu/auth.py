"""Bearer tokens for outside systems (ingest) and staff/operators.

Tokens are configured as ``name=token,name=token``; the name is who is
calling (a source system, or a staff account)."""

import hmac

from sifuwu.errors import Unauthorized


def parse_tokens(spec):
    tokens = {}
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, token = item.partition("=")
        if sep and name.strip() and token.strip():
            tokens[token.strip()] = name.strip()
    return tokens


def bearer_identity(request, spec):
    """The name behind the request's bearer token, or 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("缺少 Authorization: Bearer 令牌")
    token = token.strip()
    for known, name in parse_tokens(spec).items():
        if hmac.compare_digest(known.encode(), token.encode()):
            return name
    raise Unauthorized("访问令牌无效")
