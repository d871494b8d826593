import socket

import pytest

from finsent.stack.endpoints import local_elasticsearch, local_kafka, port_open


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        (["127.0.0.1:9092"], ("127.0.0.1", 9092)),
        (["localhost:19092"], ("localhost", 19092)),
        (["[::1]:9092"], ("::1", 9092)),
        (["kafka.prod:9093"], None),
        (["10.0.0.5:9092"], None),
        (["127.0.0.1:9092", "127.0.0.1:9094"], None),
    ],
)
def test_local_kafka(servers: list[str], expected: tuple[str, int] | None) -> None:
    assert local_kafka(servers) == expected


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (["http://127.0.0.1:9200"], ("127.0.0.1", 9200)),
        (["http://localhost:19200/"], ("localhost", 19200)),
        (["127.0.0.1:9201"], ("127.0.0.1", 9201)),
        (["https://127.0.0.1:9200"], None),
        (["https://es.example.com:9243"], None),
    ],
)
def test_local_elasticsearch(hosts: list[str], expected: tuple[str, int] | None) -> None:
    assert local_elasticsearch(hosts) == expected


def test_port_open() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_open("127.0.0.1", port)
    assert not port_open("127.0.0.1", port)
