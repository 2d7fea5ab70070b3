#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/
from pcap-fixtures/ (captures, their IP packets and option areas) and a
few hand-made protocol lines, netlink datagrams and /proc texts.
Run from anywhere: python3 fuzz/seed.py"""
import glob, gzip, hashlib, json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "pcap-fixtures")
CORPUS = os.path.join(HERE, "corpus")
LINK_HEADER = {1: 14, 276: 20, 113: 16, 101: 0, 12: 0}


def put(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def ip_packets(path):
    """The IP packets of a classic little-endian pcap file."""
    b = open(path, "rb").read()
    if b[:4] != b"\xd4\xc3\xb2\xa1":
        return
    link = struct.unpack("<I", b[20:24])[0]
    skip = LINK_HEADER.get(link)
    off = 24
    while off + 16 <= len(b) and skip is not None:
        incl = struct.unpack("<I", b[off + 8:off + 12])[0]
        frame = b[off + 16:off + 16 + incl]
        off += 16 + incl
        yield frame[skip:]


def tcp_parts(ip):
    """(IP+TCP header, TCP flags, option area) of a TCP packet, or None."""
    if not ip:
        return None
    if ip[0] >> 4 == 4 and len(ip) >= 20 and ip[9] == 6:
        start = (ip[0] & 15) * 4
    elif ip[0] >> 4 == 6 and len(ip) >= 40 and ip[6] == 6:
        start = 40
    else:
        return None
    tcp = ip[start:]
    if len(tcp) < 20:
        return None
    hlen = (tcp[12] >> 4) * 4
    return ip[:start + hlen], tcp[13], tcp[20:hlen]


def options_listed(area):
    """The option area in the echo report's summary form."""
    out, at = [], 0
    while at < len(area):
        kind = area[at]
        if kind == 0:
            n = 1
        elif kind == 1:
            n = 1
        elif at + 1 < len(area) and 2 <= area[at + 1] <= len(area) - at:
            n = area[at + 1]
        else:
            n = len(area) - at
        raw = area[at:at + n]
        out.append({"kind": kind, "len": n, "name": "x", "text": "x", "hex": raw.hex()})
        at += n
    return out


def ip_text(b):
    if len(b) == 4:
        return ".".join(str(x) for x in b)
    return ":".join(b[i:i + 2].hex() for i in range(0, 16, 2))


def segment(header, flags):
    """An observed segment whose fields are those of its header."""
    v4 = header[0] >> 4 == 4
    start = (header[0] & 15) * 4 if v4 else 40
    src, dst = (header[12:16], header[16:20]) if v4 else (header[8:24], header[24:40])
    tcp = header[start:]
    return {"hex": header.hex(), "iface": "eth0", "ts": 1.0,
            "src": ip_text(src), "dst": ip_text(dst),
            "sport": struct.unpack(">H", tcp[0:2])[0], "dport": struct.unpack(">H", tcp[2:4])[0],
            "flags": "S." if flags & 0x10 else "S", "seq": struct.unpack(">I", tcp[4:8])[0],
            "ack": struct.unpack(">I", tcp[8:12])[0], "window": 64240, "ttl": 63,
            "options": options_listed(tcp[20:]), "mp_capable": None}


def report(syn, syn_ack):
    """A report whose ends are those of its SYN."""
    return {"type": "report", "version": 1,
            "peer": {"addr": syn["src"], "port": syn["sport"]},
            "local": {"addr": syn["dst"], "port": syn["dport"]},
            "syn": syn, "syn_ack": syn_ack,
            "connection": {"mptcp": True, "listener_mptcp": True,
                           "fallback_reason": None, "info_flags": None},
            "readiness": {"mptcp_enabled": True, "flavor": "upstream", "versions": [1],
                          "sysctls": {}, "limits": None, "endpoints": [],
                          "kernel_release": None, "listener": None, "errors": []},
            "warnings": ["\x1b[2J"]}


def main():
    pairs = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.pcap"))):
        put("analyze", open(path, "rb").read())
        syn = None
        for ip in ip_packets(path):
            put("icmp_quote", ip)
            put("packet_line", bytes([len(ip) & 0xFF]) + ip)
            parts = tcp_parts(ip)
            if not parts:
                continue
            header, flags, options = parts
            put("captured_segment", header)
            put("tcp_options", bytes([flags]) + options)
            if flags & 0x12 == 0x02:
                syn = (header, flags)
            elif flags & 0x12 == 0x12 and syn:
                pairs.append((syn, (header, flags)))
                syn = None
    for (syn, syn_ack) in pairs[:40]:
        s, sa = segment(*syn), segment(*syn_ack)
        put("server_message", json.dumps(report(s, sa)))
        put("server_message", json.dumps({"type": "answer", "version": 1,
                                          "observations": [{"syn": s, "syn_ack": sa}]}))
    put("server_message", '{"type":"error","version":1,"code":"busy","message":"later"}')
    for lines in [
        '{"type":"hello","version":1,"client":"mptcp-probe/0.1.0"}\n',
        '{"type":"hello","version":1,"option_form":"json"}\r\n'
        '{"type":"query","version":1,"seqs":[1,2,3]}\n\n',
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD / HTTP/1.0\r\n\r\n",
    ]:
        put("server_request", b"\x07" + lines.encode())
    # ld [12] (half); jeq 0x0800; ret 0xffff; ret 0, then an Ethernet frame.
    prog = struct.pack("<HBBI", 0x28, 0, 0, 12) + struct.pack("<HBBI", 0x15, 0, 1, 0x0800) \
        + struct.pack("<HBBI", 0x06, 0, 0, 0xFFFF) + struct.pack("<HBBI", 0x06, 0, 0, 0)
    ip = next(ip_packets(os.path.join(FIXTURES, "v1-clean.client.pcap")))
    put("bpf", bytes([4]) + prog + b"\0" * 12 + b"\x08\x00" + ip)
    # nlmsghdr + genlmsghdr + attrs: a family id answer, limits, an endpoint.
    def attr(kind, payload):
        a = struct.pack("<HH", 4 + len(payload), kind) + payload
        return a + b"\0" * (-len(a) % 4)
    def msg(kind, payload):
        return struct.pack("<IHHII", 16 + len(payload), kind, 0, 1, 0) + payload
    genl = b"\x01\x01\0\0"
    put("netlink", msg(0x10, genl + attr(1, struct.pack("<H", 0x1c)) + attr(2, b"mptcp_pm\0")))
    put("netlink", msg(0x1c, genl + attr(2, struct.pack("<I", 8)) + attr(5, struct.pack("<I", 8))))
    ep = attr(1, struct.pack("<H", 2)) + attr(2, struct.pack("<B", 1)) \
        + attr(3, bytes([10, 0, 0, 1])) + attr(6, struct.pack("<I", 5)) + attr(7, struct.pack("<i", 2))
    put("netlink", msg(0x1c, genl + attr(1 | 0x8000, ep)))
    put("netlink", msg(2, struct.pack("<i", -2) + b"\0" * 16))
    texts = []
    if os.path.exists("/proc/net/netstat"):
        texts.append(open("/proc/net/netstat").read())
    texts.append("TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNRX\nMPTcpExt: 3\n")
    texts.append("CONFIG_MPTCP=y\nCONFIG_MPTCP_IPV6=m\n# CONFIG_X is not set\nCONFIG_S=\"a b\"\n")
    texts.append("1\t2\n")
    for t in texts:
        put("proc_text", t)
        put("proc_text", gzip.compress(t.encode()))


if __name__ == "__main__":
    main()
