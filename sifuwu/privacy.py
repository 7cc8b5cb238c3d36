"""Personal data protection (个人信息保护): masking for logs and pages,
keyed hashes for look-ups, and the contact key that seals phones and emails
at rest and on the bus.

The contact key (``SIFUWU_CONTACT_KEYS``) is a list of Fernet keys, newest
first, used through ``MultiFernet``: every sealed value is written as
``<key id>:<Fernet token>`` (the key id is a short hash of the key that
sealed it), opens with any key of the list, and ``reseal`` moves it to the
newest. Without the setting (development, tests, the demo) the one key is
derived from ``SIFUWU_SECRET`` exactly as before, so values sealed earlier
still open; production mode refuses to start without it.

Where an event carries a phone or an email it carries a *sealed contact*
instead of the clear value (``contact()``)::

    {"ref": "<HMAC of the value>", "sealed": "<key id>:<token>",
     "masked": "139****5678"}

``ref`` finds the person (the same keyed hash the services already store),
``sealed`` is opened only by notify, to send, and ``masked`` is what staff
may see.
"""

import base64
import functools
import hashlib
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from marshmallow import ValidationError, fields

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
    every form ``PHONE_RE`` knows, and every email address."""
    return EMAIL_RE.sub(_masked_email, PHONE_RE.sub(_masked, str(text)))


def _masked_email(match):
    return match.group(1)[:1] + "***@" + match.group(2)


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


EMAIL_RE = re.compile(r"(?<![\w.+-])([\w.+-]{1,64})@([\w-]+(?:\.[\w-]+)+)")


def mask_email(email):
    """l***@example.cn: the first character and the domain."""
    if not email or "@" not in str(email):
        return email
    local, _, domain = str(email).partition("@")
    return (local[:1] or "") + "***@" + domain


def derived_contact_key(secret):
    """The development contact key: derived from ``SIFUWU_SECRET`` as the
    at-rest key always was (so values sealed before the contact key existed
    still open; list it last in ``SIFUWU_CONTACT_KEYS`` while re-sealing)."""
    return base64.urlsafe_b64encode(hashlib.sha256(
        b"sifuwu-at-rest:" + secret.encode()).digest()).decode()


def key_id(key):
    """A key's id: the first 8 hex characters of the SHA-256 of the key."""
    return hashlib.sha256(key.strip().encode()).hexdigest()[:8]


def parse_contact_keys(text):
    """``SIFUWU_CONTACT_KEYS`` (comma-separated Fernet keys, newest first)
    as a list; raises ``ValueError`` naming the position of a bad key."""
    keys = [k.strip() for k in (text or "").split(",") if k.strip()]
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(f"SIFUWU_CONTACT_KEYS 第 {position} 个密钥不是有效的 "
                             "Fernet 密钥（32 字节 urlsafe base64）") from None
    return keys


class ContactKeys:
    """Seal and open contact details with a rotatable list of keys."""

    def __init__(self, keys):
        keys = list(keys)
        if not keys:
            raise ValueError("至少需要一个联系方式密钥")
        self.ids = [key_id(k) for k in keys]
        self._fernets = dict(zip(self.ids, (Fernet(k) for k in keys)))
        self._multi = MultiFernet([self._fernets[i] for i in self.ids])

    @classmethod
    def configured(cls, contact_keys, secret):
        """The keys of ``SIFUWU_CONTACT_KEYS``, else the one derived from
        ``secret`` (development)."""
        return _configured(contact_keys or "", secret or "")

    @property
    def newest_id(self):
        return self.ids[0]

    def seal(self, value):
        """``<newest key id>:<token>``"""
        token = self._fernets[self.newest_id].encrypt(str(value).encode())
        return f"{self.newest_id}:{token.decode()}"

    def open(self, sealed):
        """The clear value of a sealed one (with or without a key id: values
        sealed before key ids were recorded have none)."""
        kid, token = split_sealed(sealed)
        fernet = self._fernets.get(kid) if kid else None
        try:
            if fernet is not None:
                return fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            pass
        return self._multi.decrypt(token.encode()).decode()

    def is_current(self, sealed):
        return split_sealed(sealed)[0] == self.newest_id

    def reseal(self, sealed):
        """The value sealed with the newest key (unchanged if it already
        is)."""
        if sealed is None or self.is_current(sealed):
            return sealed
        return self.seal(self.open(sealed))


@functools.lru_cache(maxsize=16)
def _configured(contact_keys, secret):
    keys = parse_contact_keys(contact_keys) or [derived_contact_key(secret)]
    return ContactKeys(keys)


def split_sealed(sealed):
    """(key id or None, Fernet token) of a sealed value."""
    sealed = str(sealed)
    kid, sep, token = sealed.partition(":")
    if sep and len(kid) == 8:
        return kid, token
    return None, sealed


def Sealer(secret):
    """The development contact key derived from ``secret`` (what callers
    that have no ``ContactKeys`` at hand get)."""
    return ContactKeys.configured("", secret)


def contact_keys(settings):
    """The contact keys of a service's settings."""
    return ContactKeys.configured(getattr(settings, "contact_keys", ""),
                                  settings.secret)


# -- sealed contacts on the bus ----------------------------------------------------

def _mask_any(value):
    return mask_email(value) if "@" in str(value) else mask_phone(value)


def contact(value, *, keys, secret):
    """A phone or email as an event carries it: {ref, sealed, masked}; None
    stays None, and an already sealed contact is returned as it is."""
    if value is None or value == "":
        return None
    if is_sealed(value):
        if value.get("ref") and value.get("masked"):
            return value
        value = keys.open(value["sealed"])   # an incomplete one: rebuilt
    value = str(value).strip()
    return {"ref": contact_hash(secret, value), "sealed": keys.seal(value),
            "masked": _mask_any(value)}


def is_sealed(value):
    return isinstance(value, dict) and bool(value.get("sealed"))


def open_contact(value, keys):
    """The clear phone or email of a sealed contact; a plain string (the
    shape of events published before contacts were sealed) as it is."""
    if value is None or value == "":
        return None
    if is_sealed(value):
        return keys.open(value["sealed"])
    return str(value)


def contact_ref(value, secret):
    """The reference of a sealed contact (or of a clear value)."""
    if value is None or value == "":
        return None
    if is_sealed(value):
        return value.get("ref") or None
    return contact_hash(secret, value)


SEALED_BODY_HEADER = "x-sealed-body"
# A header must fit in one AMQP frame (RabbitMQ's frame_max is 128 KiB, for
# every header together): a larger sealed original travels as the body.
SEALED_HEADER_MAX = 16 * 1024
WHOLE_BODY_SEALED_HEADER = "x-body-sealed"
MASKED_EXCERPT_HEADER = "x-masked-excerpt"
EXCERPT_CHARS = 2000


def seal_body(body, keys):
    """A dead letter's body with its phones and emails masked, and the
    original sealed for the header ``SEALED_BODY_HEADER`` (None when the
    body held none): the queue then holds no contact in clear, and an
    operator with the contact key can still restore the message
    (``keys.open(header)``) to replay it."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body, None
    else:
        text = str(body)
    masked = mask_text(text)
    if masked == text:
        return body, None
    return masked.encode("utf-8"), keys.seal(text)


def dead_letter(body, keys):
    """(body, headers) of a dead letter carrying ``body``, with no phone or
    email in clear: the body masked and the original sealed in the header
    ``SEALED_BODY_HEADER`` while it fits a header (``SEALED_HEADER_MAX``);
    else the sealed original as the body (``WHOLE_BODY_SEALED_HEADER``)
    with a masked excerpt to read. A body without contacts stays as it
    is."""
    masked, sealed = seal_body(body, keys)
    if sealed is None:
        return body, {}
    if len(sealed) <= SEALED_HEADER_MAX:
        return masked, {SEALED_BODY_HEADER: sealed}
    excerpt = masked.decode("utf-8", "replace")[:EXCERPT_CHARS]
    return sealed.encode("ascii"), {WHOLE_BODY_SEALED_HEADER: "1",
                                    MASKED_EXCERPT_HEADER: excerpt}


class ContactField(fields.Field):
    """A contact in an event: a sealed contact ({ref, sealed, masked}), or,
    for one release, the clear string events carried before."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            if len(value) > 254:
                raise ValidationError("联系方式过长")
            return value
        if isinstance(value, dict) and isinstance(value.get("sealed"), str):
            return {"ref": str(value.get("ref") or ""),
                    "sealed": value["sealed"],
                    "masked": str(value.get("masked") or "")}
        raise ValidationError("联系方式应为密封的联系方式对象 {ref, sealed, masked}")

    def _serialize(self, value, attr, obj, **kwargs):
        return value


# -- rotation: re-seal what older keys sealed -------------------------------------

SEALED_KEYS = ("enc", "sealed")


def _is_sealed_field(name):
    return name.endswith("_enc") or name in SEALED_KEYS


def reseal_value(value, keys):
    """``value`` (a document or part of one) with every sealed field
    (``*_enc``, ``enc``, ``sealed``) re-sealed with the newest key; returns
    (new value, how many fields changed)."""
    if isinstance(value, dict):
        changed, out = 0, {}
        for name, item in value.items():
            if isinstance(item, str) and _is_sealed_field(name) and item:
                new = keys.reseal(item)
                changed += new != item
                out[name] = new
            else:
                out[name], count = reseal_value(item, keys)
                changed += count
        return out, changed
    if isinstance(value, list):
        changed, out = 0, []
        for item in value:
            new, count = reseal_value(item, keys)
            out.append(new)
            changed += count
        return out, changed
    return value, 0


def reseal_database(db, keys, collections=None):
    """Re-seal every sealed field of every document of ``db`` (a pymongo
    database) with the newest contact key. Only the top-level fields that
    hold a re-sealed value are set, and only while they are as read (a
    concurrent change wins; run it again). Returns {collection: documents
    re-sealed}."""
    done = {}
    for name in collections or db.list_collection_names():
        if name.startswith("system."):
            continue
        count = 0
        for doc in db[name].find({}):
            new, changed = reseal_value(doc, keys)
            if not changed:
                continue
            fields_ = [k for k in doc if k != "_id" and new[k] != doc[k]]
            result = db[name].update_one(
                {"_id": doc["_id"], **{k: doc[k] for k in fields_}},
                {"$set": {k: new[k] for k in fields_}})
            count += result.modified_count
        if count:
            done[name] = count
    return done

