"""Personal data protection (个人信息保护): masking for logs and pages,
keyed hashes for look-ups, encryption at rest for contact details."""

import base64
import hashlib
import hmac
import re

from cryptography.fernet import Fernet

# A mainland mobile number however it is written: bare, with +86 / 0086 /
# 86 (in brackets or not), its groups run together or split by a space, a
# hyphen or a dot (138 1234 5678, +86-138-1234-5678).
_SEP = r"[ \t\-.]?"
PHONE_RE = re.compile(
    r"(?<![\d+])"
    r"(?P<prefix>(?:[(（]\s*)?(?:\+|00)?86(?:\s*[)）])?" + _SEP + r")?"
    r"(?P<head>1[3-9]\d)" + _SEP + r"(?P<mid>\d{4})" + _SEP +
    r"(?P<tail>\d{4})(?!\d)")


def _masked(match):
    return (match.group("prefix") or "") + match.group("head") + "****" + \
        match.group("tail")
# Paths whose next segment is a bearer capability: the citizen's rating
# token, the judge's credential (page and API) and the opt-out token.
BEARER_PATH_RE = re.compile(
    r"(/(?:f|s|api/v1/judge|api/v1/optout)/)[^\s/?#\"'<>]+")


def mask_phone(phone):
    """138****5678 (+86 138****5678 for a prefixed form)"""
    if not phone:
        return phone
    phone = str(phone)
    match = PHONE_RE.fullmatch(phone.strip())
    if match:
        return _masked(match)
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "****" + phone[-4:]


def mask_name(name):
    """张** : keep the family name only."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


def mask_text(text):
    """Mask every mainland mobile number inside free text (for logs), in
    every form ``PHONE_RE`` knows."""
    return PHONE_RE.sub(_masked, str(text))


def redact_links(text):
    """Replace the token of every bearer link inside ``text`` (``/f/<token>``,
    ``/s/<credential>``, ``/api/v1/judge/<credential>``, ``/api/v1/optout/
    <token>``) by ``***``: whoever reads the text cannot act as its holder."""
    return BEARER_PATH_RE.sub(r"\1***", str(text))


def contact_hash(secret, value):
    """A keyed hash to find a contact without storing it in clear."""
    normalised = re.sub(r"\s+", "", str(value))
    return hmac.new(secret.encode(), normalised.encode(),
                    hashlib.sha256).hexdigest()


class Sealer:
    """Symmetric encryption of contact data at rest (Fernet)."""

    def __init__(self, secret):
        key = base64.urlsafe_b64encode(
            hashlib.sha256(b"sifuwu-at-rest:" + secret.encode()).digest())
        self._fernet = Fernet(key)

    def seal(self, value):
        return self._fernet.encrypt(str(value).encode()).decode()

    def open(self, token):
        return self._fernet.decrypt(token.encode()).decode()
