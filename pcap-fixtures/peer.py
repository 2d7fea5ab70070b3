#!/usr/bin/env python3
"""Tiny server/client pair that produces the traffic recorded by record.sh.

Each run exchanges a few short messages so that the captures stay small.

  peer.py server --bind ADDR --port P [--proto mptcp|tcp] [--ready FILE]
                 [--behaviour normal|unread]
  peer.py client --connect ADDR --port P [--proto mptcp|tcp]
                 [--behaviour normal|unread|linger0|hold|syn-only] [--go FILE]
  peer.py craft  --source ADDR --connect ADDR --port P --mptcp-version 0|1
                 (one hand-made IPv4 SYN with MP_CAPABLE, sent on a raw socket)

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
  syn-only (client) starts a non-blocking connect, waits 0.3 s (less than
           the 1 s SYN retransmission timer) and closes: exactly one SYN.
           record.sh uses it with a small default TTL to make a router
           answer with ICMP time exceeded (MPTCP sockets refuse IP_TTL and
           IPV6_UNICAST_HOPS on 6.18: EOPNOTSUPP).

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
    if args.behaviour == "syn-only":
        sock.setblocking(False)
        sock.connect_ex((args.connect, args.port))
        time.sleep(0.3)
        sock.close()
        return
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


def internet_checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def crafted_syn(source, destination, sport, dport, version):
    """An IPv4 TCP SYN (no IP header) whose options end in MP_CAPABLE.

    Version 0 is RFC 6824's SYN form (12 bytes: flags 0x81, sender key),
    version 1 RFC 8684's (4 bytes: flags 0x01). The key is a fixed,
    recognisable value so that the capture is reproducible.
    """
    options = bytes.fromhex("020405b4" "0402" "080a" "00000001" "00000000" "01" "030307")
    if version == 0:
        options += bytes.fromhex("1e0c0081") + bytes.fromhex("0102030405060708")
    else:
        options += bytes.fromhex("1e040101")
    options += b"\x01" * (-len(options) % 4)
    header_len = 20 + len(options)
    seq = 0x12345678
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, (header_len // 4) << 4,
                         0x02, 64240, 0, 0) + options
    pseudo = (socket.inet_aton(source) + socket.inet_aton(destination)
              + struct.pack("!BBH", 0, socket.IPPROTO_TCP, header_len))
    checksum = internet_checksum(pseudo + header)
    return header[:16] + struct.pack("!H", checksum) + header[18:]


def run_craft(args):
    # The client kernel has no socket for this port: it answers the SYN/ACK
    # with a RST, as it does for any prober that crafts its own SYNs.
    segment = crafted_syn(args.source, args.connect, args.sport, args.port, args.mptcp_version)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    raw.bind((args.source, 0))
    raw.sendto(segment, (args.connect, 0))
    raw.close()
    time.sleep(0.3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("--bind", required=True)
    client = sub.add_parser("client")
    client.add_argument("--connect", required=True)
    client.add_argument("--go", help="file whose creation lets a 'hold' client go on")
    server.add_argument("--ready", help="file written once the socket listens")
    craft = sub.add_parser("craft")
    craft.add_argument("--source", required=True)
    craft.add_argument("--connect", required=True)
    craft.add_argument("--port", type=int, required=True)
    craft.add_argument("--sport", type=int, default=40000)
    craft.add_argument("--mptcp-version", type=int, choices=(0, 1), default=0)
    for p in (server, client):
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--proto", choices=("mptcp", "tcp"), default="mptcp")
        p.add_argument("--behaviour", default="normal",
                       choices=("normal", "unread", "linger0", "hold", "syn-only"))
        p.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    if args.role == "server":
        serve(args)
    elif args.role == "craft":
        run_craft(args)
    else:
        run_client(args)


if __name__ == "__main__":
    main()
