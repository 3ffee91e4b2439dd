"""Send one IPv6 UDP datagram with extension headers before the UDP header,
through a raw socket: what a remote sender may put there, whatever the
local kernel would build. Usage: rawudp6.py SRC DST SPORT DPORT HEADERS...
where each HEADER is the length in bytes of a destination options header
(a multiple of 8, at least 8)."""
import socket
import struct
import sys

NEXTHDR_DEST, NEXTHDR_UDP = 60, 17


def dest_options(next_header, length):
    """A destination options header of @length bytes: options of a type the
    receiver does not know and skips (0x1e: its top bits say skip)."""
    body = bytearray()
    room = length - 2
    while room > 1:
        n = min(255, room - 2)
        body += bytes([0x1E, n]) + bytes(n)
        room -= 2 + n
    if room == 1:
        body += b"\x00"  # Pad1
    return bytes([next_header, length // 8 - 1]) + bytes(body)


def checksum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    src, dst, sport, dport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    lengths = [int(a) for a in sys.argv[5:]]
    s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    payload = b"hello"
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = s6 + d6 + struct.pack("!I3xB", len(udp), NEXTHDR_UDP)
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ext = b""
    for i, length in enumerate(lengths):
        nxt = NEXTHDR_DEST if i + 1 < len(lengths) else NEXTHDR_UDP
        ext += dest_options(nxt, length)
    first = NEXTHDR_DEST if lengths else NEXTHDR_UDP
    body = ext + udp
    ip6 = struct.pack("!IHBB", 6 << 28, len(body), first, 64) + s6 + d6
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        s.sendto(ip6 + body, (dst, 0))


if __name__ == "__main__":
    main()
