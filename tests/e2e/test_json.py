"""--format json: JSON Lines with Elastic Common Schema names, read by a real JSON parser."""
import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import A4, A6, B4, B6, LINE, hand_over, ns_sh, stamp


def _chrooted():
    """Whether this process's root is a chroot's: then no mount is on "/" for it."""
    with open("/proc/self/mountinfo") as f:
        return not any(line.split()[4] == "/" for line in f)


# in a chroot (as a fresh-machine check runs the tests), programs are named from
# the mount namespace's root: the chroot's own path first, unknown from inside
CHROOTED = _chrooted()


def same_program(logged, path):
    """Whether @logged names the program at @path (as this process sees it)."""
    path = str(path)
    return logged == path or (CHROOTED and isinstance(logged, str) and logged.endswith(path))


def events(log, timeout=10, **want):
    """Every line parsed as JSON (each must parse); those whose dotted fields match @want.
    A last line without its newline is still being written: it waits for the next look."""
    deadline = time.monotonic() + timeout
    while True:
        text = log.text()
        objs = [json.loads(l) for l in text[:text.rfind("\n") + 1].splitlines()]
        found = [o for o in objs if all(field(o, k.replace("__", ".")) == v for k, v in want.items())]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def community_id(saddr, sport, daddr, dport, proto):
    """The Community ID v1 (seed 0), computed here independently of netlogd.
    Ports count for TCP, UDP and SCTP only."""
    fam = socket.AF_INET6 if ":" in saddr else socket.AF_INET
    s, d = socket.inet_pton(fam, saddr), socket.inet_pton(fam, daddr)
    ports = proto in (6, 17, 132)
    if (s, sport if ports else 0) > (d, dport if ports else 0):
        s, d, sport, dport = d, s, dport, sport
    raw = struct.pack("!H", 0) + s + d + bytes([proto, 0]) + (struct.pack("!HH", sport, dport) if ports else b"")
    return "1:" + base64.b64encode(hashlib.sha1(raw).digest()).decode()


def field(obj, dotted):
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def one(log, **want):
    found = events(log, **want)
    assert len(found) == 1, f"want one event with {want}, got {found}"
    return found[0]


@pytest.mark.every_kernel
def test_connection_start_and_stop_as_ecs_json(hosts, actors, netlogd):
    log = netlogd("--format", "json")
    server = actors(hosts.a, name="nl-json-srv")
    client = actors(hosts.b, name="nl-json-cli")
    lfd = server("listen", A4, 7000)["fd"]
    c = client("connect", A4, 7000)
    s = server("accept", lfd)
    client("send", c["fd"], "x" * 1000)
    server("send", s["fd"], "y" * 100)
    time.sleep(0.2)
    client("close", c["fd"])
    server("close", s["fd"])

    out_start = one(log, event__action="connect-start", source__port=c["lport"], network__direction="egress")
    assert out_start["source"] == {"ip": B4, "port": c["lport"]}
    assert out_start["destination"] == {"ip": A4, "port": 7000}
    assert out_start["network"]["transport"] == "tcp" and out_start["network"]["type"] == "ipv4"
    p = out_start["process"]
    assert p["pid"] == client.pid and p["name"] == "nl-json-cli"
    assert p["session_leader"]["pid"] == client.sid and p["parent"]["pid"] == os.getpid()
    assert out_start["user"]["id"] == "0" and out_start["user"]["effective"]["id"] == "0"
    assert "@timestamp" in out_start and out_start["event"]["category"] == ["network"]

    in_start = one(log, event__action="connect-start", source__port=c["lport"], network__direction="ingress")
    assert in_start["source"] == {"ip": B4, "port": c["lport"]}  # the initiator is the source
    assert in_start["process"]["pid"] == server.pid
    # both ends of one connection, the same Community ID, as the specification computes it
    assert out_start["network"]["community_id"] == in_start["network"]["community_id"] == \
        community_id(B4, c["lport"], A4, 7000, 6)

    out_stop = one(log, event__action="connect-stop", source__port=c["lport"], network__direction="egress")
    assert out_stop["netlog"]["sock_cookie"] == out_start["netlog"]["sock_cookie"]
    assert out_stop["event"]["duration"] > 0
    # payload bytes, the same at both ends: not the SYN and FIN that TCP's sequence counts hold
    assert out_stop["source"]["bytes"] == 1000 and out_stop["destination"]["bytes"] == 100
    assert out_stop["source"]["packets"] > 0 and out_stop["destination"]["packets"] > 0
    in_stop = one(log, event__action="connect-stop", source__port=c["lport"], network__direction="ingress")
    assert in_stop["source"]["bytes"] == 1000 and in_stop["destination"]["bytes"] == 100
    assert in_stop["netlog"]["netns"] != out_stop["netlog"]["netns"]


def test_listen_and_ipv6_as_json(hosts, actors, netlogd):
    log = netlogd("--format", "json")
    server = actors(hosts.a, name="nl-json6")
    lfd = server("listen", A6, 7001)["fd"]
    server("close", lfd)
    start = one(log, event__action="listen-start", destination__port=7001)
    assert start["destination"]["ip"] == A6 and start["network"]["type"] == "ipv6"
    stop = one(log, event__action="listen-stop", destination__port=7001)
    assert stop["event"]["duration"] >= 0 and stop["process"]["pid"] == server.pid


def test_user_fields_are_the_real_effective_and_login_uids(tmp_path, hosts, actors, netlogd):
    """A set-user-id program's real and effective uids differ: the classic
    line's uid and JSON's user.id are the real one (ps's "ruid", the user
    who ran it), user.effective.id the other; user.audit.id is the login
    uid, which stays across su and setuid(). And a stop's duration is that
    of the listen."""
    classic = tmp_path / "classic.log"
    log = netlogd("--format", "json", "--output", f"classic:{classic}")
    a = actors(hosts.a, name="nl-json-uids")
    assert a("loginuid", 4242)["loginuid"] == 4242
    assert a("setresuid", 65534, 0, 0) == {"uid": 65534, "euid": 0}
    lfd = a("listen", A4, 7005)["fd"]
    time.sleep(0.3)
    a("close", lfd)
    start = one(log, event__action="listen-start", destination__port=7005)
    stop = one(log, event__action="listen-stop", destination__port=7005)
    for e in (start, stop):
        assert e["user"]["id"] == "65534" and e["user"]["effective"]["id"] == "0", e["user"]
        assert e["user"]["audit"]["id"] == "4242", e["user"]
    # a duration from the listen, not from boot or from netlogd's start: within a few ms of the two times
    assert 0.3e9 <= stop["event"]["duration"] < 5e9, stop["event"]
    apart = (stamp(stop["@timestamp"]) - stamp(start["@timestamp"])) * 1e9
    assert abs(stop["event"]["duration"] - apart) < 5e6, (stop["event"]["duration"], apart)
    lines = [LINE.match(l) for l in classic.read_text().splitlines()]
    ours = [m for m in lines if m and m["local"] == f"{A4}:7005"]
    assert [(m["what"], m["uid"]) for m in ours] == [("start", "65534"), ("stop", "65534")], ours


def test_hostile_names_stay_valid_json_and_keep_their_text(hosts, actors, netlogd):
    """A name decodes to its own text: ASCII and well-formed UTF-8 as they
    are, a byte of no character as the text \\xHH (Python's
    "backslashreplace"), never as a Latin-1 letter that would read as
    another name."""
    log = netlogd("--format", "json")
    evil = b'q"\\\n\x01}\xff{'
    utf8 = "caf\u00e9-\u65e5".encode()
    cut = "nlx-\u65e5\u65e5\u65e5\u65e5".encode()  # 16 bytes: the kernel keeps 15, a character cut
    for port, name in ((7002, evil), (7003, utf8), (7004, cut)):
        server = actors(hosts.a, name=name)
        assert server("loginuid", 4294967295)["loginuid"] == 4294967295  # as if no login started it
        server("listen", A4, port)
        start = one(log, event__action="listen-start", destination__port=port)
        assert start["process"]["name"] == name[:15].decode("utf-8", "backslashreplace"), start["process"]
        # the login uid is there when no login set it, as /proc/PID/loginuid says
        assert start["user"]["audit"]["id"] == "4294967295", start["user"]
    assert all(l.startswith("{") and l.endswith("}") for l in log.text().splitlines())


def test_failed_connect_is_a_json_fail_never_a_start(hosts, actors, netlogd):
    log = netlogd("--format", "json")
    client = actors(hosts.b, name="nl-json-fail")
    assert client.call("connect", A4, 7999)["error"] == "ECONNREFUSED"
    fail = one(log, event__action="connect-fail", destination__port=7999)
    assert fail["event"]["outcome"] == "failure" and fail["process"]["pid"] == client.pid
    assert not events(log, timeout=0, event__action="connect-start", destination__port=7999)


def test_sockets_open_before_start_are_marked_preexisting(hosts, actors, netlogd):
    server = actors(hosts.a, name="nl-json-old")
    lfd = server("listen", A4, 7003)["fd"]
    log = netlogd("--format", "json")
    new = server("listen", A4, 7004)["fd"]
    old = one(log, event__action="listen-start", destination__port=7003)
    assert old["netlog"].get("preexisting") is True and old["process"]["pid"] == server.pid
    fresh = one(log, event__action="listen-start", destination__port=7004)
    assert "preexisting" not in fresh["netlog"]
    server("close", lfd)
    server("close", new)
    stop = one(log, event__action="listen-stop", destination__port=7003)
    assert stop["netlog"]["sock_cookie"] == old["netlog"]["sock_cookie"]


@pytest.mark.every_kernel
def test_connections_open_before_start_are_marked_preexisting_and_stop_by_their_socket(hosts, actors, netlogd):
    """Both ends of a TCP connection and a connected UDP flow that exist
    when netlogd starts: each start marked, in its owner's name, and each
    stop that of the same socket (its cookie), in its closer's."""
    server = actors(hosts.a, name="nl-json-osrv")
    client = actors(hosts.b, name="nl-json-ocli")
    lfd = server("listen", A4, 7005)["fd"]
    c = client("connect", A4, 7005)
    s = server("accept", lfd)
    sink = actors(hosts.a, name="nl-json-osink")
    sink("udp_socket", A4, 7006)
    ufd = client("udp_socket", B4)["fd"]
    u = client("udp_connect", ufd, A4, 7006)
    log = netlogd("--format", "json")
    want = {  # (direction, transport, source port, destination port): process
        ("egress", "tcp", c["lport"], 7005): client,
        ("ingress", "tcp", c["lport"], 7005): server,
        ("egress", "udp", u["lport"], 7006): client,
    }
    starts = {}
    for (direction, transport, sport, dport), who in want.items():
        e = one(log, event__action="connect-start", network__direction=direction, network__transport=transport,
                source__port=sport, destination__port=dport)
        assert e["netlog"].get("preexisting") is True, e
        assert (e["process"]["pid"], e["process"]["name"]) == (who.pid, who.comm), e
        starts[direction, transport] = e
    client("close", c["fd"])
    server("close", s["fd"])
    client("close", ufd)
    for (direction, transport, sport, dport), who in want.items():
        e = one(log, event__action="connect-stop", network__direction=direction, network__transport=transport,
                source__port=sport, destination__port=dport)
        assert e["netlog"]["sock_cookie"] == starts[direction, transport]["netlog"]["sock_cookie"], e
        assert (e["process"]["pid"], e["process"]["name"]) == (who.pid, who.comm), e
    assert starts["egress", "tcp"]["netlog"]["sock_cookie"] != starts["ingress", "tcp"]["netlog"]["sock_cookie"]


@pytest.mark.every_kernel
def test_udp_flow_stop_counts_datagrams_and_bytes(hosts, actors, netlogd):
    log = netlogd("--format", "json")
    server = actors(hosts.b, name="nl-json-udps")
    client = actors(hosts.a, name="nl-json-udpc")
    sfd = server("udp_socket", B4, 7010)["fd"]
    cfd = client("udp_socket", A4)["fd"]
    lport = client("udp_send_to", cfd, B4, 7010, 10, 5)["lport"]
    server("udp_recvfrom", sfd, 10, True)  # ten answers of 2 bytes
    client("udp_recvfrom", cfd, 10)
    client("close", cfd)
    server("close", sfd)
    out_start = one(log, event__action="connect-start", network__transport="udp", source__port=lport,
                    network__direction="egress")
    out_stop = one(log, event__action="connect-stop", network__transport="udp", source__port=lport,
                   network__direction="egress")
    assert out_stop["netlog"]["sock_cookie"] == out_start["netlog"]["sock_cookie"]
    assert out_stop["source"] == {"ip": A4, "port": lport, "bytes": 50, "packets": 10}
    assert out_stop["destination"] == {"ip": B4, "port": 7010, "bytes": 20, "packets": 10}
    assert out_stop["event"]["duration"] > 0 and out_stop["process"]["pid"] == client.pid
    in_stop = one(log, event__action="connect-stop", network__transport="udp", source__port=lport,
                  network__direction="ingress")
    assert in_stop["source"] == {"ip": A4, "port": lport, "bytes": 50, "packets": 10}
    assert in_stop["destination"] == {"ip": B4, "port": 7010, "bytes": 20, "packets": 10}
    assert in_stop["process"]["pid"] == server.pid


def test_ipv6_datagrams_behind_extension_headers_are_flows_at_both_ends(hosts, actors, netlogd):
    """Any process may put options before the UDP header of what it sends:
    that must not hide its flows, out at the sender or in at the receiver."""
    log = netlogd("--format", "json")
    server = actors(hosts.b, name="nl-udp-ext-srv")
    client = actors(hosts.a, name="nl-udp-ext-cli")
    sfd = server("udp_socket", B6, 5380)["fd"]
    cfd = client("udp_socket", A6)["fd"]
    client("udp_ipv6_ext", cfd)
    lport = client("udp_send_to", cfd, B6, 5380, 3, 5)["lport"]
    server("udp_recvfrom", sfd, 3)
    client("close", cfd)
    server("close", sfd)
    for direction, who in (("egress", client), ("ingress", server)):
        stop = one(log, event__action="connect-stop", network__direction=direction, source__port=lport)
        assert stop["process"]["pid"] == who.pid
        assert stop["source"] == {"ip": A6, "port": lport, "bytes": 15, "packets": 3}


def test_ipv6_datagrams_from_afar_behind_many_or_long_extension_headers(hosts, actors, netlogd):
    """A remote sender may put what it likes before the UDP header: 8
    headers, or one of 1 kB, are followed; 9 are not, and that is said."""
    log = netlogd("--format", "json")
    server = actors(hosts.a, name="nl-json-ext6r")
    sfd = server("udp_socket", A6, 5390)["fd"]
    raw = os.path.join(os.path.dirname(__file__), "rawudp6.py")
    cases = {40001: [8] * 8, 40002: [1104], 40003: [8] * 9}
    for sport, headers in cases.items():
        ns_sh(hosts.b, "python3", raw, B6, A6, str(sport), "5390", *map(str, headers))
    server("udp_recv", sfd, len(cases))  # the kernel delivered each
    server("close", sfd)
    for sport in (40001, 40002):
        stop = one(log, event__action="connect-stop", network__direction="ingress", source__port=sport)
        assert stop["process"]["pid"] == server.pid
        assert stop["source"] == {"ip": B6, "port": sport, "bytes": 5, "packets": 1}
    deadline = time.monotonic() + 10
    while "UDP datagrams not looked at" not in log.text():
        assert time.monotonic() < deadline, log.text()
        time.sleep(0.1)
    assert not events(log, timeout=0, source__port=40003)


def test_udp_segmentation_offload_counts_each_datagram(hosts, actors, netlogd):
    """UDP_SEGMENT: one send() of 1000 bytes leaves as 10 datagrams of 100."""
    log = netlogd("--format", "json")
    server = actors(hosts.b, name="nl-json-gsos")
    client = actors(hosts.a, name="nl-json-gsoc")
    sfd = server("udp_socket", B4, 7016)["fd"]
    cfd = client("udp_socket", A4)["fd"]
    lport = client("udp_gso_send_to", cfd, B4, 7016, 1000, 100)["lport"]
    server("udp_recv", sfd, 10)
    client("close", cfd)
    server("close", sfd)
    for direction in ("egress", "ingress"):
        stop = one(log, event__action="connect-stop", network__direction=direction, source__port=lport)
        assert stop["source"] == {"ip": A4, "port": lport, "bytes": 1000, "packets": 10}, direction


def test_udp_lite_is_its_own_transport_with_its_own_community_id(hosts, actors, netlogd):
    log = netlogd("--format", "json")
    server = actors(hosts.b, name="nl-json-lites")
    client = actors(hosts.a, name="nl-json-litec")
    sfd = server("udp_bind", B4, 7015, True)["fd"]
    cfd = client("udp_socket", A4, None, None, True)["fd"]
    lport = client("udp_send_to", cfd, B4, 7015, 4, 5)["lport"]
    server("udp_recvfrom", sfd, 4)
    client("close", cfd)
    server("close", sfd)
    one(log, event__action="listen-start", network__transport="udplite", network__iana_number="136",
        destination__port=7015)
    stop = one(log, event__action="connect-stop", network__transport="udplite", source__port=lport,
               network__direction="egress")
    assert stop["source"] == {"ip": A4, "port": lport, "bytes": 20, "packets": 4}
    assert stop["network"]["community_id"] == community_id(A4, lport, B4, 7015, 136)
    assert stop["process"]["pid"] == client.pid
    one(log, event__action="connect-stop", network__transport="udplite", source__port=lport,
        network__direction="ingress")


@pytest.mark.every_kernel
def test_executable_is_the_programs_path_also_for_processes_older_than_netlogd(hosts, actors, netlogd):
    early = actors(hosts.a, name="nl-json-exe0")  # its exec happened before netlogd
    log = netlogd("--format", "json")
    late = actors(hosts.a, name="nl-json-exe1")
    fd0 = early("listen", A4, 7020)["fd"]
    fd1 = late("listen", A4, 7021)["fd"]
    want = os.path.realpath(sys.executable)  # what both actors run
    for port, who in ((7020, early), (7021, late)):
        start = one(log, event__action="listen-start", destination__port=port)
        assert start["process"]["pid"] == who.pid
        assert same_program(start["process"]["executable"], want), start["process"]


def test_executable_is_named_as_each_process_sees_it_not_as_whoever_ran_it_first(tmp_path, netlogd):
    """A file's path depends on where it is seen from: one process runs a new
    program through a bind mount of its own (any user can, in a namespace of
    their own), then another through its real path. Each must get its own
    path: the first run must not name the program for everyone after it."""
    log = netlogd("--format", "json")
    real = tmp_path / "nl-prog"
    shutil.copy(sys.executable, real)  # a file no process ran yet
    fake = "/sys/fs/chosen-by-someone-else"
    listen = "import socket; s = socket.socket(); s.bind(('127.0.0.1', {})); s.listen(); s.close()"
    # in a mount namespace of its own, on a tmpfs of its own under /sys, which
    # can be made private also in a chroot (whose / is no mount point)
    subprocess.run(["unshare", "-m", "--propagation", "unchanged", "sh", "-c",
                    f"mount --make-rprivate /sys && mount -t tmpfs none /sys/fs && touch {fake} && "
                    f"mount --bind {real} {fake} && exec {fake} -c \"{listen.format(7050)}\""], check=True)
    subprocess.run([str(real), "-c", listen.format(7051)], check=True)
    for port, path in ((7050, fake), (7051, real)):
        start = one(log, event__action="listen-start", destination__port=port)
        assert same_program(start["process"]["executable"], path), (port, start["process"])


def test_a_program_that_chroots_after_its_exec_is_still_named_where_it_lies(tmp_path, netlogd):
    """Daemons chroot after they start (Postfix, HAProxy, sshd's children): the
    program keeps its name, the path from the mount namespace's root."""
    log = netlogd("--format", "json")
    jail = tmp_path / "jail"
    jail.mkdir()
    code = (f"import os, socket; os.chroot({str(jail)!r}); os.chdir('/'); "
            "s = socket.socket(); s.bind(('127.0.0.1', 7052)); s.listen(); s.close()")
    subprocess.run([sys.executable, "-c", code], check=True)
    start = one(log, event__action="listen-start", destination__port=7052)
    assert same_program(start["process"].get("executable"), os.path.realpath(sys.executable)), start["process"]


def cgroup2_root(tmp_path):
    """Where cgroup v2 is mounted; mounted here if it is nowhere yet."""
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    mnt = tmp_path / "cgroup2"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "cgroup2", "none", str(mnt)], check=True)
    return str(mnt)


@contextlib.contextmanager
def cgroup_tree(tmp_path):
    """The cgroup v2 root and a directory of the test's own in it, removed after."""
    root = cgroup2_root(tmp_path)
    base = os.path.join(root, f"nl-test-{secrets.token_hex(3)}")
    try:
        yield root, base
    finally:
        for path in sorted((os.path.join(d, s) for d, subs, _ in os.walk(base) for s in subs),
                           key=len, reverse=True):
            os.rmdir(path)
        if os.path.exists(base):
            os.rmdir(base)


def listen_in_cgroup(log, root, path, actor, port):
    """@actor listens on @port from cgroup @path, then goes back to the root (so the
    cgroup can go) and closes it; the listen start."""
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(actor.pid))
    fd = actor("listen", A4, port)["fd"]
    start = one(log, event__action="listen-start", destination__port=port)
    with open(os.path.join(root, "cgroup.procs"), "w") as f:
        f.write(str(actor.pid))
    actor("close", fd)
    return start


@pytest.mark.every_kernel
def test_container_id_and_cgroup_path_of_processes_in_container_cgroups(hosts, actors, netlogd, tmp_path):
    ids = [secrets.token_hex(32), secrets.token_hex(32)]
    with cgroup_tree(tmp_path) as (root, base):
        # one made before netlogd starts (found by walking), one after (reported by the kernel)
        paths = [os.path.join(base, "system.slice", f"docker-{ids[0]}.scope"),
                 os.path.join(base, "kubepods", "besteffort", f"pod{secrets.token_hex(4)}", ids[1])]
        os.makedirs(paths[0])
        log = netlogd("--format", "json")
        os.makedirs(paths[1])
        for i, path in enumerate(paths):
            start = listen_in_cgroup(log, root, path, actors(hosts.a, name=f"nl-json-ctr{i}"), 7030 + i)
            assert start["container"]["id"] == ids[i]
            assert start["netlog"]["cgroup"] == path[len(root):]
            assert start["netlog"]["cgroup_id"] == os.stat(path).st_ino
        plain = one(log, event__action="listen-stop", destination__port=7030)
        assert "container" not in plain and plain["netlog"]["cgroup"] == "/"


def test_a_removed_cgroups_path_stays_for_the_events_that_come_after(hosts, actors, netlogd, tmp_path):
    """A container's cgroup goes once its processes are gone, and their
    connections may stop later (a UDP flow at its idle timeout, a
    connection the peer resets): those stops still name it."""
    cid = secrets.token_hex(32)
    with cgroup_tree(tmp_path) as (root, base):
        path = os.path.join(base, f"docker-{cid}.scope")
        log = netlogd("--format", "json", "--udp-idle-timeout", "2")
        os.makedirs(path)
        actor = actors(hosts.a, name="nl-json-gone")
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(actor.pid))
        fd = actor("udp_socket", A4)["fd"]
        actor("udp_send_to", fd, B4, 7060)
        with open(os.path.join(root, "cgroup.procs"), "w") as f:
            f.write(str(actor.pid))
        os.rmdir(path)
        start = one(log, event__action="connect-start", destination__port=7060)
        stop = events(log, timeout=10, event__action="connect-stop", destination__port=7060)
        assert len(stop) == 1, stop
        for e in (start, stop[0]):
            assert e["container"]["id"] == cid and e["netlog"]["cgroup"] == path[len(root):], e
        actor("close", fd)


def json_cut(text, budget=2048):
    """The start of @text that a JSON line keeps of a cgroup's path: what fits
    in @budget bytes of escaped text with "..." after it."""
    width = 3
    for i, c in enumerate(text):
        width += len(json.dumps(c, ensure_ascii=True)) - 2
        if width > budget:
            return text[:i]
    return text


def test_long_cgroup_paths_are_cut_visibly_and_their_events_still_logged(tmp_path, hosts, actors, netlogd):
    """Names of 255 bytes that escape to 6 each: one made before netlogd (found
    by walking, 3 kB), one after (the kernel's record holds 511 bytes). Each
    event is still a JSON line, its path cut with "..." after it: at 511
    bytes, and then where its escaped text would pass 2048 bytes."""
    name = "\x7f" * 255
    with cgroup_tree(tmp_path) as (root, base):
        paths = [os.path.join(base, "old", *[name] * 12), os.path.join(base, "new", *[name] * 3)]
        os.makedirs(paths[0])
        log = netlogd("--format", "json")
        os.makedirs(paths[1])
        for i, path in enumerate(paths):
            start = listen_in_cgroup(log, root, path, actors(hosts.a, name=f"nl-json-cglong{i}"), 7040 + i)
            assert start["netlog"]["cgroup"] == json_cut(path[len(root):][:511]) + "...", start["netlog"]["cgroup"]
            assert start["netlog"]["cgroup_id"] == os.stat(path).st_ino
            one(log, event__action="listen-stop", destination__port=7040 + i)
        assert "cannot format" not in log.stderr_path.read_text()


def test_udp_socket_handed_to_another_namespace_keeps_its_own(hosts, actors, netlogd):
    """A socket stays in the network namespace it was made in, whoever holds
    it: as systemd hands a service in a private namespace its sockets."""
    log = netlogd("--format", "json")
    maker = actors(hosts.a, name="nl-json-maker")
    user = actors(hosts.b, name="nl-json-user")
    peer = actors(hosts.a, name="nl-json-peer")
    ns_a = os.stat(f"/run/netns/{hosts.a}").st_ino
    ns_b = os.stat(f"/run/netns/{hosts.b}").st_ino
    assert ns_a != ns_b
    fd = maker("udp_socket", A4)["fd"]  # not bound yet
    ufd = hand_over(maker, user, fd, hosts.b)
    maker("close", fd)
    user("udp_bind_fd", ufd, A4, 7090)  # A4 is an address of the socket's namespace, a
    pfd = peer("udp_socket", A4, 7091)["fd"]
    user("udp_send_to", ufd, A4, 7091)
    peer("udp_send_to", pfd, A4, 7090)
    user("udp_send_to", ufd, A4, 7092)  # a second flow, out: the socket has an entry now
    user("close", ufd)
    peer("close", pfd)

    listen = one(log, event__action="listen-start", destination__port=7090)
    assert listen["process"]["pid"] == user.pid and listen["netlog"]["netns"] == ns_a
    for port in (7091, 7092):
        out = one(log, event__action="connect-start", source__port=7090, destination__port=port,
                  network__direction="egress")
        assert out["process"]["pid"] == user.pid and out["netlog"]["netns"] == ns_a
    # the peer's flow in, first seen by the peer's socket with no entry yet
    into = one(log, event__action="connect-start", source__port=7090, destination__port=7091,
               network__direction="ingress")
    assert into["process"]["pid"] == peer.pid and into["netlog"]["netns"] == ns_a
    stop = one(log, event__action="listen-stop", destination__port=7090)
    assert stop["netlog"]["netns"] == ns_a


def test_a_process_that_exits_with_sockets_open_is_named_with_its_executable_on_their_stops(
        hosts, actors, netlogd):
    """A process's sockets are closed after its memory map, which names its
    executable, is gone: the stops still say which program it was."""
    log = netlogd("--format", "json")
    server = actors(hosts.a, name="nl-json-exits")
    client = actors(hosts.b, name="nl-json-exitc")
    server("listen", A4, 7030)
    ufd = server("udp_socket", A4, 7031)["fd"]
    cfd = client("udp_socket", B4)["fd"]
    c = client("connect", A4, 7030)
    lport = client("udp_send_to", cfd, A4, 7031)["lport"]
    server("udp_recvfrom", ufd, 1)
    for who in (client, server):  # no close by the program: its exit closes them
        who.proc.kill()
        who.proc.wait()
    want = os.path.realpath(sys.executable)
    stops = [one(log, event__action="connect-stop", network__transport="tcp", source__port=c["lport"],
                 network__direction="egress"),
             one(log, event__action="connect-stop", network__transport="udp", source__port=lport,
                 network__direction="egress"),
             one(log, event__action="connect-stop", network__transport="udp", source__port=lport,
                 network__direction="ingress"),
             one(log, event__action="listen-stop", network__transport="tcp", destination__port=7030),
             one(log, event__action="listen-stop", network__transport="udp", destination__port=7031)]
    for stop, who in zip(stops, (client, client, server, server, server)):
        assert stop["process"]["pid"] == who.pid, stop
        assert same_program(stop["process"].get("executable"), want), stop


def test_a_forked_child_or_a_new_program_that_exits_holding_sockets_is_named_with_its_executable(
        tmp_path, netlogd):
    """The process whose exit closes a socket may not be the one whose
    executable netlogd knew for it: a forked worker that inherited it, a
    daemon's double-forked grandchild (adopted by init when it exits), or a
    process that ran another program since (a shell's exec). Its own
    executable is named on the stop, though its memory map is gone by then."""
    log = netlogd("--format", "json")
    prog = tmp_path / "nl-execd-prog"
    shutil.copy(os.path.realpath(sys.executable), prog)
    code = f"""
import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 7055)); s.listen()
c = socket.socket(); c.connect(("127.0.0.1", 7055)); a, _ = s.accept()
if os.fork() == 0:  # the child holds c and s, never closes them: its exit does
    time.sleep(0.3); os._exit(0)
c.close(); s.close(); time.sleep(1); a.close()
d = socket.socket(); d.connect(("127.0.0.1", 7057))
if os.fork() == 0:  # a daemon's double fork: the grandchild, adopted, holds d
    if os.fork() == 0:
        time.sleep(0.5); os._exit(0)
    os._exit(0)
d.close(); os.wait(); time.sleep(1)
e = socket.socket(); e.connect(("127.0.0.1", 7056))
os.set_inheritable(e.fileno(), True)
os.execv({str(prog)!r}, ["x", "-c", "import time; time.sleep(0.3)"])  # holds e, exits with it open
"""
    with socket.socket() as l, socket.socket() as l2:
        l.bind(("127.0.0.1", 7056))
        l.listen()
        l2.bind(("127.0.0.1", 7057))
        l2.listen()
        p = subprocess.Popen([sys.executable, "-c", code])
        conns = [l2.accept()[0], l.accept()[0]]
        p.wait()
        for conn in conns:
            conn.close()
    want = os.path.realpath(sys.executable)
    stop_listen = one(log, event__action="listen-stop", destination__port=7055)
    stop_fork = one(log, event__action="connect-stop", destination__port=7055, network__direction="egress")
    stop_exec = one(log, event__action="connect-stop", destination__port=7056, network__direction="egress")
    for stop in (stop_listen, stop_fork):
        assert stop["process"]["pid"] != p.pid and stop["process"]["parent"]["pid"] == p.pid, stop
        assert same_program(stop["process"].get("executable"), want), stop
    assert stop_exec["process"]["pid"] == p.pid, stop_exec
    assert same_program(stop_exec["process"].get("executable"), prog), stop_exec
    # adopted by init (or a subreaper) when it exits: still its own program, not its new parent's
    stop_adopted = one(log, event__action="connect-stop", destination__port=7057, network__direction="egress")
    assert stop_adopted["process"]["pid"] not in (p.pid, stop_fork["process"]["pid"]), stop_adopted
    assert same_program(stop_adopted["process"].get("executable"), want), stop_adopted


def test_an_executable_name_longer_than_the_kernel_reports_is_marked_cut(hosts, netlogd, tmp_path):
    """The kernel hands over 63 bytes of each path component: a longer name is
    shown cut, with "..." after it, never as if it were the whole name."""
    log = netlogd("--format", "json")
    name = "n" * 70
    exe = tmp_path / name
    shutil.copy(os.path.realpath(sys.executable), exe)
    ns_sh(hosts.a, str(exe), "-c", f"import socket; s=socket.socket(); s.bind(('{A4}', 7040)); s.listen()")
    start = one(log, event__action="listen-start", destination__port=7040)
    assert same_program(start["process"]["executable"], f"{tmp_path}/{name[:63]}..."), start["process"]


def test_a_program_run_from_memory_is_named_as_the_kernel_names_it(netlogd):
    """Fileless code (memfd_create() and an exec of the descriptor, as droppers
    run it) has no path: it is named as /proc/PID/exe shows it, memfd name and
    all, not as "/"."""
    log = netlogd("--format", "json")
    code = ("import os, sys; fd = os.memfd_create('nl-dropper'); "
            "os.write(fd, open(os.path.realpath(sys.executable), 'rb').read()); "
            "os.execv(f'/proc/self/fd/{fd}', ['x', '-c', "
            "\"import socket; s = socket.socket(); s.bind(('127.0.0.1', 7053)); s.listen(); s.close()\"])")
    subprocess.run([sys.executable, "-c", code], check=True)
    start = one(log, event__action="listen-start", destination__port=7053)
    assert start["process"].get("executable") == "/memfd:nl-dropper (deleted)", start["process"]


def test_a_deep_path_of_escaped_bytes_is_cut_to_keep_a_line_one_syslog_message(tmp_path, netlogd):
    """Any user can make directories whose names escape six-fold in JSON: a
    program 16 such directories deep would make a line of 7 KiB and more,
    which a syslog collector (rsyslog: 8 KiB) cuts, reading its rest over
    TCP as a message of its own. The path is cut at its start instead, at a
    whole escape, and keeps its end: the program's own name."""
    log = netlogd("--format", "json")
    d = tmp_path
    for i in range(15):
        d = d / (chr(1) * 61 + f"{i:02d}")
    d.mkdir(parents=True)
    exe = d / "nl-deep-prog"
    shutil.copy(os.path.realpath(sys.executable), exe)
    subprocess.run([str(exe), "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 7054)); s.listen()"],
                   check=True)
    one(log, event__action="listen-start", destination__port=7054)
    line = next(l for l in log.text().splitlines() if '"port":7054' in l)
    assert len(line.encode()) <= 6144, len(line)
    path = json.loads(line)["process"]["executable"]
    assert path.startswith("...") and path.endswith(f"{chr(1) * 61}14/nl-deep-prog"), path[-200:]
    raw = line[line.index('"executable":"') + len('"executable":"'):]
    assert raw.startswith("...\\u0001") and len(raw[:raw.index('"')]) <= 2048, raw[:100]
