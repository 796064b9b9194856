"""What every agent shares: its command line and a listening socket opened inside a namespace."""

import argparse
import socket

from lab import netns


def parse_args(description, extra=()):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lab", required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    return parser.parse_args()


def listen_in(netns_name, port, kind=socket.SOCK_STREAM, address="0.0.0.0"):
    """A socket bound (and listening, for TCP) in another namespace; it stays bound to that namespace."""
    with netns.entered(netns_name):
        sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(4096)
    sock.setblocking(False)
    return sock
