#!/usr/bin/env python3
"""Tiny server/client pair that produces the traffic recorded by record.sh.

Each run exchanges a few short messages so that the captures stay small.

  peer.py server --bind ADDR --port P [--proto mptcp|tcp] [--ready FILE]
                 [--behaviour normal|unread]
  peer.py client --connect ADDR --port P [--proto mptcp|tcp]
                 [--behaviour normal|unread|linger0|hold] [--go FILE]

Behaviours:
  normal   client sends "hello", server answers "world", client shuts down its
           write side, both read EOF and close (DATA_FIN both ways).
  unread   (server) after the reply, waits until the client sends more data
           and closes WITHOUT reading it: closing with unread data makes Linux
           abort the connection (MP_FASTCLOSE on MPTCP, RST on TCP).
           (client) sends "hello", reads the reply, sends "unread-bytes" and
           waits for the connection to be torn down.
  linger0  (client) after the exchange, closes with SO_LINGER {1, 0}: an
           abortive close.
  hold     (client) sends "hello", reads the reply, then waits until the
           file given by --go exists (record.sh changes MPTCP endpoints in the
           meantime), sends "again", reads the reply and closes normally.

The server falls back to a plain TCP socket when the kernel refuses an MPTCP
socket (net.mptcp.enabled=0), as a real service would.
"""

import argparse
import os
import socket
import struct
import sys
import time

IPPROTO_MPTCP = getattr(socket, "IPPROTO_MPTCP", 262)
TCP_IS_MPTCP = 43  # getsockopt(SOL_TCP, 43): 1 when the connection is MPTCP


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def open_socket(family, proto, role):
    if proto == "mptcp":
        try:
            return socket.socket(family, socket.SOCK_STREAM, IPPROTO_MPTCP)
        except OSError as err:
            print(f"{role}: MPTCP socket refused ({err}); using TCP", file=sys.stderr)
    return socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)


def is_mptcp(sock):
    try:
        return sock.getsockopt(socket.SOL_TCP, TCP_IS_MPTCP) == 1
    except OSError:
        return False


def wait_for_file(path, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.05)


def read_until_eof(conn):
    while conn.recv(4096):
        pass


def serve(args):
    family = family_of(args.bind)
    sock = open_socket(family, args.proto, "server")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.bind, args.port))
    sock.listen(4)
    if args.ready:
        with open(args.ready, "w") as ready:
            ready.write("ready\n")
    sock.settimeout(args.timeout)
    conn, peer = sock.accept()
    conn.settimeout(args.timeout)
    print(f"server: accepted {peer[0]} mptcp={int(is_mptcp(conn))}", file=sys.stderr)
    request = conn.recv(4096)
    conn.sendall(b"world:" + request)
    if args.behaviour == "unread":
        # Wait until more data has arrived, then close without reading it.
        deadline = time.monotonic() + args.timeout
        while True:
            try:
                pending = conn.recv(64, socket.MSG_PEEK)
            except socket.timeout:
                pending = b""
            if pending or time.monotonic() > deadline:
                break
        time.sleep(0.2)
        conn.close()
    else:
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                conn.sendall(b"world:" + data)
        except ConnectionResetError:
            pass
        conn.close()
    sock.close()


def run_client(args):
    family = family_of(args.connect)
    sock = open_socket(family, args.proto, "client")
    sock.settimeout(args.timeout)
    sock.connect((args.connect, args.port))
    print(f"client: connected mptcp={int(is_mptcp(sock))}", file=sys.stderr)
    sock.sendall(b"hello")
    reply = sock.recv(4096)
    print(f"client: got {reply!r}", file=sys.stderr)
    if args.behaviour == "unread":
        sock.sendall(b"unread-bytes")
        try:
            read_until_eof(sock)
        except (ConnectionResetError, socket.timeout):
            pass
        sock.close()
        return
    if args.behaviour == "linger0":
        time.sleep(0.2)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        return
    if args.behaviour == "hold":
        wait_for_file(args.go, args.timeout)
        sock.sendall(b"again")
        print(f"client: got {sock.recv(4096)!r}", file=sys.stderr)
    sock.shutdown(socket.SHUT_WR)
    read_until_eof(sock)
    sock.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("--bind", required=True)
    client = sub.add_parser("client")
    client.add_argument("--connect", required=True)
    client.add_argument("--go", help="file whose creation lets a 'hold' client go on")
    server.add_argument("--ready", help="file written once the socket listens")
    for p in (server, client):
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--proto", choices=("mptcp", "tcp"), default="mptcp")
        p.add_argument("--behaviour", default="normal",
                       choices=("normal", "unread", "linger0", "hold"))
        p.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    if args.role == "server":
        serve(args)
    else:
        run_client(args)


if __name__ == "__main__":
    main()
