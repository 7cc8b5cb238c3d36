"""Check a selection campaign's audit chain (评选留痕校验) in the store.

    MONGO_URI=mongodb://... SIFUWU_DB_PREFIX=sifuwu_ \\
        python -m tooling.verify_audit verify --campaign CAMPAIGN_ID

Exit 0 when the chain is intact, 1 when it is not, 2 when there is no such campaign.
"""

import argparse
import sys

from sifuwu.settings import Settings


def main(argv=None):
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m tooling.verify_audit",
        description="校验评选活动的留痕哈希链")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="校验一个评选活动的哈希链")
    verify.add_argument("--campaign", required=True, help="评选活动编号")
    verify.add_argument("--mongo-uri", default=settings.mongo_uri)
    verify.add_argument("--db-prefix", default=settings.db_prefix)
    args = parser.parse_args(argv)

    from pymongo import MongoClient

    from services.assessment.selection import audit, repository
    client = MongoClient(args.mongo_uri, tz_aware=True,
                         serverSelectionTimeoutMS=5000)
    try:
        db = client[f"{args.db_prefix}assessment"]
        head, problems = repository.verify_stored(db, args.campaign)
    finally:
        client.close()
    if head is None and problems:
        print(f"未找到评选活动 {args.campaign}")
        return 2
    if problems:
        print(f"校验未通过：{audit.describe(problems)}")
        return 1
    print(f"校验通过：共 {head['seq']} 条记录，链头 {head['hash']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
