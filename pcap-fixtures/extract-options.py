#!/usr/bin/env python3
"""Writes the TCP option area of every TCP packet in the lab captures as hex.

  pcap-fixtures/extract-options.py [--out FILE] [PCAP ...]

Without PCAP arguments it reads every *.pcap next to this script (sorted by
name) and writes packet/tests/data/lab-options.txt. One line per TCP packet
whose option area is not empty:

  <capture-file>#<frame-number> <tcp-flags-as-2-hex-digits> <option-area-hex>

<capture-file> is the file name only, <frame-number> is 1-based and counts
every frame of the file (as tcpdump -# and Wireshark do), the flags are TCP
header byte 13 (CWR ECE URG ACK PSH RST SYN FIN) and the option area is the
TCP header after its 20 fixed bytes, up to the data offset.

Standard library only: classic pcap (either byte order, micro- or nanosecond
timestamps), link types Ethernet (with VLAN tags), Linux cooked v1 and v2 and
raw IP. Anything the script does not understand is an error, so the fixture
file never silently loses packets.
"""

import argparse
import pathlib
import struct
import sys

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLANS = (0x8100, 0x88A8, 0x9100)

IPPROTO_TCP = 6
# IPv6 extension headers that use the generic (next header, length) layout.
IPV6_GENERIC_EXTENSIONS = (0, 43, 60)
IPV6_FRAGMENT = 44


class CaptureError(Exception):
    pass


def read_pcap(path):
    """Yields (frame_number, linktype, frame_bytes) for every record."""
    data = path.read_bytes()
    if len(data) < 24:
        raise CaptureError(f"{path}: {len(data)} bytes, shorter than a pcap header")
    magic_le = struct.unpack_from("<I", data, 0)[0]
    if magic_le in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif struct.unpack_from(">I", data, 0)[0] in (0xA1B2C3D4, 0xA1B23C4D):
        endian = ">"
    else:
        raise CaptureError(f"{path}: not a classic pcap file (magic {data[:4].hex()})")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    offset = 24
    number = 0
    while offset < len(data):
        if offset + 16 > len(data):
            raise CaptureError(f"{path}: truncated record header at offset {offset}")
        _, _, caplen, _ = struct.unpack_from(endian + "IIII", data, offset)
        offset += 16
        if offset + caplen > len(data):
            raise CaptureError(f"{path}: record {number + 1} runs past the end of the file")
        number += 1
        yield number, linktype, data[offset:offset + caplen]
        offset += caplen


def network_layer(linktype, frame):
    """Returns (ethertype, payload) for the frame's network layer."""
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            raise CaptureError("Ethernet header truncated")
        ethertype = struct.unpack_from(">H", frame, 12)[0]
        offset = 14
        while ethertype in ETHERTYPE_VLANS:
            if len(frame) < offset + 4:
                raise CaptureError("VLAN tag truncated")
            ethertype = struct.unpack_from(">H", frame, offset + 2)[0]
            offset += 4
        return ethertype, frame[offset:]
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            raise CaptureError("Linux cooked header truncated")
        return struct.unpack_from(">H", frame, 14)[0], frame[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            raise CaptureError("Linux cooked v2 header truncated")
        return struct.unpack_from(">H", frame, 0)[0], frame[20:]
    if linktype == LINKTYPE_RAW:
        if not frame:
            raise CaptureError("empty raw IP frame")
        version = frame[0] >> 4
        return {4: ETHERTYPE_IPV4, 6: ETHERTYPE_IPV6}.get(version, 0), frame
    raise CaptureError(f"link type {linktype} not supported")


def tcp_segment(ethertype, packet):
    """Returns the TCP segment of an IP packet, or None when it carries no TCP."""
    if ethertype == ETHERTYPE_IPV4:
        if len(packet) < 20:
            raise CaptureError("IPv4 header truncated")
        header_len = (packet[0] & 0x0F) * 4
        fragment_offset = struct.unpack_from(">H", packet, 6)[0] & 0x1FFF
        if packet[9] != IPPROTO_TCP or fragment_offset != 0:
            return None
        total_len = struct.unpack_from(">H", packet, 2)[0]
        return packet[header_len:total_len]
    if ethertype == ETHERTYPE_IPV6:
        if len(packet) < 40:
            raise CaptureError("IPv6 header truncated")
        payload_len = struct.unpack_from(">H", packet, 4)[0]
        next_header = packet[6]
        offset = 40
        end = 40 + payload_len
        while next_header in IPV6_GENERIC_EXTENSIONS or next_header == IPV6_FRAGMENT:
            if len(packet) < offset + 8:
                raise CaptureError("IPv6 extension header truncated")
            if next_header == IPV6_FRAGMENT:
                if struct.unpack_from(">H", packet, offset + 2)[0] & 0xFFF8:
                    return None  # a later fragment has no TCP header
                length = 8
            else:
                length = (packet[offset + 1] + 1) * 8
            next_header = packet[offset]
            offset += length
        if next_header != IPPROTO_TCP:
            return None
        return packet[offset:end]
    return None


def option_line(name, number, segment):
    if len(segment) < 20:
        raise CaptureError(f"{name}#{number}: TCP header truncated ({len(segment)} bytes)")
    header_len = (segment[12] >> 4) * 4
    if header_len < 20 or header_len > len(segment):
        raise CaptureError(f"{name}#{number}: bad TCP data offset {header_len}")
    options = segment[20:header_len]
    if not options:
        return None
    return f"{name}#{number} {segment[13]:02x} {options.hex()}"


def extract(paths):
    lines = []
    for path in paths:
        for number, linktype, frame in read_pcap(path):
            try:
                ethertype, packet = network_layer(linktype, frame)
                segment = tcp_segment(ethertype, packet)
            except CaptureError as err:
                raise CaptureError(f"{path.name}#{number}: {err}") from None
            if segment is None:
                continue
            line = option_line(path.name, number, segment)
            if line:
                lines.append(line)
    return lines


def main():
    here = pathlib.Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path,
                        default=here.parent / "packet" / "tests" / "data" / "lab-options.txt")
    parser.add_argument("pcaps", nargs="*", type=pathlib.Path)
    args = parser.parse_args()
    paths = args.pcaps or sorted(here.glob("*.pcap"))
    if not paths:
        sys.exit(f"no captures found in {here}")
    try:
        lines = extract(paths)
    except (CaptureError, OSError) as err:
        sys.exit(f"extract-options: {err}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(line + "\n" for line in lines))
    print(f"extract-options: {len(lines)} lines from {len(paths)} captures -> {args.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
