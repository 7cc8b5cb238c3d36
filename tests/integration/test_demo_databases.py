"""`./run demo` on a stack it starts runs on databases of its own and drops
those of earlier demo runs (the story generates the same city, ids and all,
every time), never the `sifuwu_` databases of `./run up`."""

import time

from tooling.stack import EmbeddedStack


def test_a_demo_run_gets_fresh_databases_and_drops_earlier_ones(
        infra, mongo, tmp_path):
    earlier = ["demo20260101080000_activity", "demo20260101080000_notify"]
    for name in earlier:
        mongo[name].marker.insert_one({"_id": 1})
    mongo["sifuwu_probe"].marker.insert_one({"_id": 1})
    demo = EmbeddedStack(tmp_path, infra.ports)
    prefix = demo.use_fresh_demo_databases(
        time.strptime("2026-11-26 16:20:00", "%Y-%m-%d %H:%M:%S"))
    assert prefix == "demo20261126162000_"
    assert demo.service_env("activity")["SIFUWU_DB_PREFIX"] == prefix
    mongo[prefix + "activity"].marker.insert_one({"_id": 1})
    try:
        assert sorted(demo.drop_earlier_demo_databases()) == earlier
        names = set(mongo.list_database_names())
        assert {prefix + "activity", "sifuwu_probe"} <= names
        assert not names & set(earlier)
    finally:
        mongo.drop_database("sifuwu_probe")
        mongo.drop_database(prefix + "activity")
