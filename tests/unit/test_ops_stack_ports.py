"""A system RabbitMQ on 5672 (systemd starts one after ``apt-get install
rabbitmq-server``) or any other listener on a default port does not stop the
embedded stack: the port moves to a free one and the stack says which.
Ports set in the environment never move."""

import socket
import threading

import pytest

from tooling import stack as stacks
from sifuwu.settings import DEFAULT_PORTS
from tooling.stack import EmbeddedStack, Ports, free_port


def free_services(**taken):
    return {name: taken.get(name) or free_port() for name in DEFAULT_PORTS}


@pytest.fixture
def listener():
    """A socket listening on a free port; ``answer`` bytes sent back to
    whoever connects (an AMQP broker answers the protocol header)."""
    sockets = []

    def listen(answer=None):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        sockets.append(server)

        def serve():
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn:
                    if answer:
                        conn.settimeout(1)
                        try:
                            conn.recv(8)
                            conn.sendall(answer)
                        except OSError:
                            pass
        threading.Thread(target=serve, daemon=True).start()
        return server.getsockname()[1]
    yield listen
    for server in sockets:
        server.close()


# what RabbitMQ sends first: a method frame (type 1) on channel 0
CONNECTION_START = b"\x01\x00\x00\x00\x00\x01\xf4\x00\x0a\x00\x0a"


def test_a_system_broker_on_the_default_port_is_left_alone(tmp_path,
                                                           listener):
    system = listener(CONNECTION_START)
    dist = listener()
    ports = Ports(amqp=system, amqp_dist=dist, amqp_management=free_port(),
                  store=free_port(), services=free_services())
    said = []
    stack = EmbeddedStack(tmp_path, ports, movable=Ports.defaulted({}))
    moved = stack.claim_ports(said.append)
    assert set(moved) == {"amqp", "amqp_dist"}
    assert moved["amqp"][0] == system and stack.ports.amqp != system
    assert stack.ports.amqp_dist != dist
    assert not stacks.port_open(stack.ports.amqp)
    assert f":{stack.ports.amqp}//" in stack.amqp_uri
    assert "已有一个 RabbitMQ" in said[0]
    assert (f"端口 {system} 已被占用，amqp 改用 {stack.ports.amqp}"
            "（要固定端口请设置 SIFUWU_AMQP_PORT）") in said
    assert any(f"amqp_dist 改用 {stack.ports.amqp_dist}" in line
               for line in said)


def test_a_taken_service_port_moves_too(tmp_path, listener):
    taken = listener()
    ports = Ports(amqp=free_port(), amqp_dist=free_port(),
                  amqp_management=free_port(), store=free_port(),
                  services=free_services(activity=taken))
    said = []
    stack = EmbeddedStack(tmp_path, ports, movable=Ports.defaulted({}))
    assert set(stack.claim_ports(said.append)) == {"service:activity"}
    assert stack.url("activity") != f"http://127.0.0.1:{taken}"
    assert "SIFUWU_ACTIVITY_PORT" in said[0]
    assert not any("RabbitMQ" in line for line in said)


def test_ports_from_the_environment_never_move(tmp_path, listener):
    taken = listener(CONNECTION_START)
    env = {"SIFUWU_AMQP_PORT": str(taken), "SIFUWU_NOTIFY_PORT": "9004"}
    movable = Ports.defaulted(env)
    assert "amqp" not in movable and "service:notify" not in movable
    assert {"amqp_dist", "store", "service:activity"} <= movable
    # the other defaults may be taken on this machine: leave them out
    stack = EmbeddedStack(tmp_path, Ports(amqp=taken), movable={
        name for name in movable if not name.startswith("service:")} - {
        "amqp_dist", "amqp_management", "store"})
    assert stack.claim_ports(lambda line: None) == {}
    assert stack.ports.amqp == taken
    # start_rabbit then refuses with what to do
    assert stacks.speaks_amqp(taken)


def test_given_ports_are_the_callers(tmp_path):
    # the test fixtures pass Ports.free(): nothing moves behind their back
    assert EmbeddedStack(tmp_path, Ports.free()).movable == set()
    assert EmbeddedStack(tmp_path).movable == Ports.defaulted()


def test_speaks_amqp_only_for_a_broker(listener):
    assert stacks.speaks_amqp(listener(CONNECTION_START))
    assert not stacks.speaks_amqp(listener(b"HTTP/1.1 400 Bad\r\n"))
    assert not stacks.speaks_amqp(free_port())
