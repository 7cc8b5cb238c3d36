"""docker-compose.cluster.yml: a three-node RabbitMQ cluster with quorum
queues and a three-member MongoDB replica set, valid against the Compose
Specification and running the same services as docker-compose.yml."""

import re

import pytest

from tooling import composefile as compose
from sifuwu.wiring import DEAD_LETTER_QUEUE, INGEST_REJECTED_QUEUE, SERVICES

CLUSTER = compose.ROOT / "docker-compose.cluster.yml"


@pytest.fixture(scope="module")
def cluster():
    return compose.validate(CLUSTER)


@pytest.fixture(scope="module")
def single():
    return compose.validate(compose.ROOT / "docker-compose.yml")


def test_three_rabbitmq_nodes_form_one_quorum_cluster(cluster):
    nodes = [f"rabbitmq-{n}" for n in (1, 2, 3)]
    conf = cluster["configs"]["rabbitmq-conf"]["content"]
    for node in nodes:
        service = cluster["services"][node]
        assert service["hostname"] == node
        assert service["configs"][0]["source"] == "rabbitmq-conf"
        assert f"= rabbit@{node}" in conf
        assert "-setcookie" in service["environment"][
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    assert "default_queue_type = quorum" in conf
    # one data volume per node, never shared
    volumes = {cluster["services"][n]["volumes"][0].split(":")[0]
               for n in nodes}
    assert len(volumes) == 3


def test_policies_keep_dead_letters_forever(cluster):
    script = cluster["services"]["rabbitmq-init"]["command"][0]
    assert "await_online_nodes 3" in script
    dead = re.search(r"sifuwu-dead-letters '([^']+)' '([^']+)'", script)
    assert dead, script
    pattern = dead.group(1).replace("$$", "$")
    assert re.match(pattern, DEAD_LETTER_QUEUE)
    assert re.match(pattern, INGEST_REJECTED_QUEUE)
    # no delivery limit and no TTL on dead letters: nothing expires silently
    assert '"delivery-limit": -1' in dead.group(2)
    assert "ttl" not in dead.group(2).lower()
    quorum = re.search(r"sifuwu-quorum '([^']+)' '([^']+)'", script)
    other = quorum.group(1).replace("$$", "$")
    assert not re.match(other, DEAD_LETTER_QUEUE)
    assert re.match(other, "evt-activity-activity.logged--feedback.x")
    # poison messages past the limit go to the dead letters, not away
    assert '"dead-letter-exchange": "sifuwu.dead"' in quorum.group(2)


def test_three_member_mongo_replica_set(cluster):
    init = cluster["services"]["mongo-init"]["command"][-1]
    for n in (1, 2, 3):
        assert "--replSet" in cluster["services"][f"mongo-{n}"]["command"]
        assert f"host: 'mongo-{n}:27017'" in init
    uri = cluster["services"]["activity"]["environment"]["MONGO_URI"]
    assert "mongo-1:27017,mongo-2:27017,mongo-3:27017" in uri
    assert "replicaSet=rs0" in uri


def test_same_services_and_settings_as_the_single_node_file(cluster, single):
    for name in SERVICES:
        mine, theirs = cluster["services"][name], single["services"][name]
        assert mine["command"] == theirs["command"]
        assert mine["expose"] == theirs["expose"]
        assert set(mine["environment"]) == set(theirs["environment"])
        assert mine["healthcheck"]["test"] == theirs["healthcheck"]["test"]
        assert "ports" not in mine and "container_name" not in mine
        amqp = mine["environment"]["AMQP_URI"]
        assert all(f"rabbitmq-{n}:5672" in amqp for n in (1, 2, 3))
