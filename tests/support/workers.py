"""Which gunicorn worker holds a given client connection, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

from classifier.testing.servers import Gunicorn


def worker_holding(server: Gunicorn, client_port: int) -> int | None:
    """The worker that has accepted the connection from `client_port`, if one has."""
    inode = accepted_socket_inode(server.port, client_port)
    if inode is None:
        return None
    for pid in server.worker_pids():
        try:
            if any(os.readlink(fd) == f"socket:[{inode}]" for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return pid
        except OSError:
            continue
    return None


def accepted_socket_inode(server_port: int, client_port: int) -> int | None:
    """The server side of a 127.0.0.1 connection in /proc/net/tcp; inode 0 means not accepted yet."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote and fields[9] != "0":
            return int(fields[9])
    return None
