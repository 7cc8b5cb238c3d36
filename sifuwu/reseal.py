"""Contact key rotation from the command line (联系方式密钥轮换).

    python -m sifuwu.reseal new-key   # a new Fernet key
    python -m sifuwu.reseal key-ids   # the ids of SIFUWU_CONTACT_KEYS, newest first
    python -m sifuwu.reseal reseal    # re-seal every service database with the newest
    python -m sifuwu.reseal legacy-key  # the key SIFUWU_SECRET derives (what
                                        # sealed contacts before SIFUWU_CONTACT_KEYS)

Rotation: put the new key first in ``SIFUWU_CONTACT_KEYS`` (``new,old``) and
restart every service (new values are sealed with it, old ones still open);
run ``reseal`` with the same settings; when it reports nothing left, drop the
old key and restart again. A deployment that sealed contacts before the
contact key existed lists ``legacy-key``'s output last (``new,legacy``) until
``reseal`` has moved them. Events still in flight or in a dead-letter queue
sealed with the old key open only while it is listed: drain them first.
"""

import argparse
import os

import pymongo

from sifuwu import privacy
from sifuwu.settings import Settings


def main(argv=None, env=None):
    """``python -m sifuwu.reseal new-key | key-ids | reseal | legacy-key``:
    make a contact key, show the ids of the configured ones, or re-seal
    every service database (``SIFUWU_DB_PREFIX``) with the newest."""
    parser = argparse.ArgumentParser(prog="python -m sifuwu.reseal")
    parser.add_argument("command", choices=("new-key", "key-ids", "reseal",
                                            "legacy-key"))
    args = parser.parse_args(argv)
    if args.command == "new-key":
        print(privacy.Fernet.generate_key().decode())
        return 0
    settings = Settings.from_env(os.environ if env is None else env)
    keys = privacy.contact_keys(settings)
    if args.command == "legacy-key":
        print(privacy.derived_contact_key(settings.secret))
        return 0
    if args.command == "key-ids":
        print(" ".join(keys.ids), "(最新:", keys.newest_id + ")")
        return 0
    client = pymongo.MongoClient(settings.mongo_uri,
                                 serverSelectionTimeoutMS=settings.store_timeout_ms)
    for name in client.list_database_names():
        if name.startswith(settings.db_prefix):
            done = privacy.reseal_database(client[name], keys)
            print(name, done or "无需重新加密")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
