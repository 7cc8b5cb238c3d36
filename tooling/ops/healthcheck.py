"""The image's HEALTHCHECK: GET /health of the service this container runs.

The port comes from WEB_SERVER_ADDRESS when set, else from the service named
in the container's command (``sifuwu serve NAME``, read from /proc/1), else
activity's. Standard library and the runtime's port table only: it runs every
few seconds."""

import os
import sys
import urllib.request
from pathlib import Path

from sifuwu.settings import DEFAULT_PORTS


def service_port(environ=os.environ, cmdline=None):
    address = environ.get("WEB_SERVER_ADDRESS")
    if address:
        return int(address.rsplit(":", 1)[1])
    if cmdline is None:
        try:
            cmdline = Path("/proc/1/cmdline").read_bytes().split(b"\0")
        except OSError:
            cmdline = []
    words = [word.decode(errors="replace") for word in cmdline]
    for before, word in zip(words, words[1:]):
        if before == "serve" and word in DEFAULT_PORTS:
            return DEFAULT_PORTS[word]
    return DEFAULT_PORTS["activity"]


def main():
    url = f"http://127.0.0.1:{service_port()}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
