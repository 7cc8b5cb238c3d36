"""A second RabbitMQ node starts beside a running one whose ports are the
defaults it would take (as the system's rabbitmq-server takes 5672 and
25672 after ``apt-get install``): its ports move, and it serves AMQP."""

from kombu import Connection

from sifuwu.settings import DEFAULT_PORTS
from tooling.stack import EmbeddedStack, Ports, free_port, speaks_amqp


def test_the_stack_moves_off_a_running_brokers_ports(infra, tmp_path):
    taken = Ports(amqp=infra.ports.amqp, amqp_dist=infra.ports.amqp_dist,
                  amqp_management=infra.ports.amqp_management,
                  store=infra.ports.store,
                  services={name: free_port() for name in DEFAULT_PORTS})
    said = []
    second = EmbeddedStack(tmp_path / "second", taken,
                           movable=Ports.defaulted({}))
    try:
        moved = second.claim_ports(said.append)
        assert {"amqp", "amqp_dist", "amqp_management", "store"} <= set(moved)
        assert any("已有一个 RabbitMQ" in line for line in said)
        second.start_rabbit()
        assert speaks_amqp(second.ports.amqp)
        with Connection(second.amqp_uri, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=3)
            assert conn.connected
        # the first broker is untouched
        with Connection(infra.amqp_uri, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=3)
    finally:
        second.stop_rabbit()
