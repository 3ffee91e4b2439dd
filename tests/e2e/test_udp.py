"""UDP: listens (a socket bound with bind()) and flows, each started and stopped once."""
import datetime
import json
import os
import re
import signal
import subprocess
import textwrap
import time

import pytest

from conftest import A4, A6, B4, B6, barrier, hand_over, in_ns, kernel_at_least, ns_sh, sh, stamp, who


@pytest.mark.every_kernel
def test_bound_udp_socket_is_a_listen_until_closed(hosts, actors, netlogd):
    log = netlogd()
    server = actors(hosts.a, name="nl-udp-srv")
    fd = server("udp_bind", A4, 5353)["fd"]
    log.expect(kind="listen", what="start", proto="UDP", local=f"{A4}:5353", **who(server))
    server("close", fd)
    log.expect(kind="listen", what="stop", proto="UDP", local=f"{A4}:5353", **who(server))


def test_a_bound_sockets_flows_stop_before_its_listen(hosts, actors, netlogd):
    """What the socket started ends inside it, as a reader nests them."""
    log = netlogd()
    server = actors(hosts.b, name="nl-udp-nest")
    client = actors(hosts.a, name="nl-udp-nest-c")
    sfd = server("udp_socket", B4, 6079)["fd"]
    lport = client("udp_send_to", client("udp_socket", A4)["fd"], B4, 6079)["lport"]
    server("udp_recvfrom", sfd, 1)
    flow = dict(local=f"{B4}:6079", dir="<-", remote=f"{A4}:{lport}")
    log.expect(kind="connect", what="start", **flow, **who(server))
    server("close", sfd)
    listen_stop = log.expect(kind="listen", what="stop", local=f"{B4}:6079", **who(server))
    flow_stop = log.expect(kind="connect", what="stop", **flow, **who(server))
    lines = log.lines()
    assert lines.index(flow_stop) < lines.index(listen_stop), log.text()


@pytest.mark.every_kernel
def test_udp_bind_on_ipv6_wildcard_and_kernel_chosen_port(hosts, actors, netlogd):
    log = netlogd()
    server = actors(hosts.a, name="nl-udp6")
    fd6 = server("udp_bind", "::", 5354)["fd"]
    any_port = server("udp_bind", A6, 0)
    log.expect(kind="listen", what="start", proto="UDP", local="[::]:5354", **who(server))
    log.expect(kind="listen", what="start", proto="UDP", local=f"[{A6}]:{any_port['port']}", **who(server))
    server("close", fd6)
    log.expect(kind="listen", what="stop", proto="UDP", local="[::]:5354", **who(server))


@pytest.mark.every_kernel
def test_autobind_on_first_send_is_not_a_listen(hosts, actors, netlogd):
    log = netlogd()
    client = actors(hosts.b, name="nl-udp-cli")
    out = client("udp_sendto", A4, 5355)
    client("close", out["fd"])
    barrier(log, client)
    assert not log.find(timeout=0, kind="listen", proto="UDP", pid=client.pid)


@pytest.mark.every_kernel
def test_udp_socket_bound_before_start_is_reported_then_stopped(hosts, actors, netlogd):
    server = actors(hosts.a, name="nl-udp-old")
    fd = server("udp_bind", A4, 5356)["fd"]
    log = netlogd()
    log.expect(kind="listen", what="start", proto="UDP", local=f"{A4}:5356", **who(server))
    server("close", fd)
    log.expect(kind="listen", what="stop", proto="UDP", local=f"{A4}:5356", **who(server))


def test_a_socket_bound_again_after_undoing_its_connection_stops_each_listen(hosts, actors, netlogd):
    """bind() to port 0 locks no port: connect(AF_UNSPEC) gives the port
    back, and the socket may bind() again. The first listen stops there."""
    log = netlogd()
    a = actors(hosts.a, name="nl-udp-rebind")
    s = a("udp_socket", A4, 0)
    fd, first = s["fd"], f"{A4}:{s['lport']}"
    log.expect(kind="listen", what="start", proto="UDP", local=first, **who(a))
    a("udp_connect", fd, B4, 5360)
    a("disconnect", fd)
    a("udp_bind_fd", fd, A4, 5361)
    log.expect(kind="listen", what="stop", proto="UDP", local=first, **who(a))
    log.expect(kind="listen", what="start", proto="UDP", local=f"{A4}:5361", **who(a))
    a("close", fd)
    log.expect(kind="listen", what="stop", proto="UDP", local=f"{A4}:5361", **who(a))
    log.expect(kind="listen", what="stop", proto="UDP", local=first, **who(a))  # still one


def test_udp_socket_handed_over_stops_with_the_closer(hosts, actors, netlogd):
    log = netlogd()
    owner = actors(hosts.a, name="nl-udp-owner")
    taker = actors(hosts.a, name="nl-udp-taker")
    fd = owner("udp_bind", A4, 5357)["fd"]
    tfd = hand_over(owner, taker, fd, hosts.a)
    owner("close", fd)
    assert not log.find(timeout=0.5, kind="listen", what="stop", local=f"{A4}:5357")
    taker("close", tfd)
    log.expect(kind="listen", what="stop", proto="UDP", local=f"{A4}:5357", **who(taker))


def test_udp_socket_the_kernel_frees_stops_with_its_last_owner(hosts, actors, netlogd):
    """Closed by the unix garbage collector, not by a process (see the TCP test)."""
    log = netlogd()
    owner = actors(hosts.a, name="nl-udp-gc")
    fd = owner("udp_bind", A4, 5358)["fd"]
    owner("udp_send_to", fd, B4, 5359)
    owner("orphan", [fd])
    log.expect(kind="listen", what="stop", proto="UDP", local=f"{A4}:5358", **who(owner))
    assert flow(log, "stop", f"{A4}:5358", "->", f"{B4}:5359", **who(owner))


@pytest.mark.every_kernel
def test_udp_socket_the_kernel_makes_for_itself_is_no_listen(hosts, actors, netlogd):
    """A VXLAN device's UDP port is bound by the kernel: no process holds the
    socket and no hook tells its close, so it is no listen (it would be a
    start without a stop). A process's bind beside it still is one."""
    log = netlogd()
    vx = ns_sh(hosts.a, "ip", "link", "add", "nlvx0", "type", "vxlan", "id", "42", "dstport", "5361",
               "local", A4, check=False)
    if vx.returncode:
        pytest.skip(f"no VXLAN here: {vx.stderr.strip()}")
    ns_sh(hosts.a, "ip", "link", "set", "nlvx0", "up")
    owner = actors(hosts.a, name="nl-udp-beside")
    fd = owner("udp_bind", A4, 5362)["fd"]
    ns_sh(hosts.a, "ip", "link", "del", "nlvx0")
    owner("close", fd)
    log.expect(kind="listen", what="stop", proto="UDP", local=f"{A4}:5362", **who(owner))
    assert not [l for l in log.lines() if l.get("local", "").endswith(":5361")], log.text()


def test_datagrams_a_tunnel_wraps_are_no_flow_of_the_process_that_sent(hosts, actors, netlogd):
    """A VXLAN device wraps what a process sends in a datagram of the kernel's own socket,
    in that process's context: the process's flow is the one inside the tunnel; the
    datagram to the tunnel's peer is not its (the kernel sends it, owned by the inner
    packet's socket, and the egress hook leaves it: no flow at all)."""
    log = netlogd()
    vx = ns_sh(hosts.a, "ip", "link", "add", "nlvx1", "type", "vxlan", "id", "43", "dstport", "5363",
               "local", A4, "remote", B4, check=False)
    if vx.returncode:
        pytest.skip(f"no VXLAN here: {vx.stderr.strip()}")
    ns_sh(hosts.a, "ip", "addr", "add", "10.99.0.1/24", "dev", "nlvx1")
    ns_sh(hosts.a, "ip", "link", "set", "nlvx1", "up")
    # no ARP through the tunnel: the process's datagram is the first thing it carries
    ns_sh(hosts.a, "ip", "neigh", "add", "10.99.0.2", "lladdr", "02:00:00:00:00:02", "dev", "nlvx1")
    try:
        sender = actors(hosts.a, name="nl-udp-inner")
        fd = sender("udp_socket", "10.99.0.1")["fd"]
        lport = sender("udp_send_to", fd, "10.99.0.2", 5364, 3)["lport"]
        log.expect(kind="connect", what="start", local=f"10.99.0.1:{lport}", dir="->",
                   remote="10.99.0.2:5364", **who(sender))
        barrier(log, sender)
        assert not log.find(timeout=0, kind="connect", remote=f"{B4}:5363"), log.text()
    finally:
        ns_sh(hosts.a, "ip", "link", "del", "nlvx1", check=False)


# UDP flows: one socket and one remote address and port, started by its
# first datagram (or connect()), counted in the kernel, stopped by the
# socket's close or the idle timeout.

def flow(log, what, local, direction, remote, **more):
    return log.find(kind="connect", what=what, proto="UDP", local=local, dir=direction,
                    remote=remote, **more)


def test_udp_lite_is_logged_as_udp_both_ways_and_in_both_families(hosts, actors, netlogd):
    """UDP-Lite (protocol 136) has UDP's sockets and headers: any process can
    use it, so it must not be a way around the log."""
    log = netlogd()
    server = actors(hosts.b, name="nl-lite-srv")
    client = actors(hosts.a, name="nl-lite-cli")
    for local, remote, port in ((A4, B4, 5370), (A6, B6, 5371)):
        sfd = server("udp_bind", remote, port, True)["fd"]
        cfd = client("udp_socket", local, None, None, True)["fd"]
        lport = client("udp_send_to", cfd, remote, port, 3)["lport"]
        server("udp_recvfrom", sfd, 3, True)
        client("udp_recvfrom", cfd, 3)
        client("close", cfd)
        server("close", sfd)
        sep = (lambda a, p: f"[{a}]:{p}") if ":" in local else (lambda a, p: f"{a}:{p}")
        srv, cli = sep(remote, port), sep(local, lport)
        log.expect(kind="listen", what="start", proto="UDP", local=srv, **who(server))
        log.expect(kind="listen", what="stop", proto="UDP", local=srv, **who(server))
        for what in ("start", "stop"):
            log.expect(kind="connect", what=what, proto="UDP", local=cli, dir="->", remote=srv, **who(client))
            log.expect(kind="connect", what=what, proto="UDP", local=srv, dir="<-", remote=cli, **who(server))


@pytest.mark.every_kernel
def test_three_destinations_ten_datagrams_each_are_three_flows(hosts, actors, netlogd):
    log = netlogd()
    client = actors(hosts.a, name="nl-udp-3x10")
    fd = client("udp_socket", A4)["fd"]
    for port in (6001, 6002, 6003):
        out = client("udp_send_to", fd, B4, port, 10)
    lport = out["lport"]
    for port in (6001, 6002, 6003):
        log.expect(kind="connect", what="start", proto="UDP", local=f"{A4}:{lport}", dir="->",
                   remote=f"{B4}:{port}", **who(client))
    client("close", fd)
    for port in (6001, 6002, 6003):
        log.expect(kind="connect", what="stop", proto="UDP", local=f"{A4}:{lport}", dir="->",
                   remote=f"{B4}:{port}", **who(client))
    barrier(log, client)
    assert len(log.find(timeout=0, kind="connect", proto="UDP", pid=client.pid)) == 6


def test_server_answering_many_clients_has_one_incoming_flow_each(hosts, actors, netlogd):
    log = netlogd()
    server = actors(hosts.b, name="nl-udp-dns")
    clients = actors(hosts.a, name="nl-udp-stub")
    n = 1000
    sfd = server("udp_socket", B4, 53, 16 << 20)["fd"]  # room for every query at once
    ports = clients("udp_clients", B4, 53, n)["ports"]
    peers = server("udp_recvfrom", sfd, n, True)["peers"]
    assert sorted(p for _, p in peers) == sorted(ports)
    clients("close_all")
    server("close", sfd)
    barrier(log, server)
    lines = log.lines()
    incoming = [l for l in lines if l["kind"] == "connect" and l["proto"] == "UDP" and l["dir"] == "<-"
                and l["local"] == f"{B4}:53"]
    for what in ("start", "stop"):
        got = sorted(int(l["remote"].rsplit(":", 1)[1]) for l in incoming if l["what"] == what)
        assert got == sorted(ports), f"{what}: {len(got)} lines for {n} clients"
        assert all(l["pid"] == str(server.pid) and l["comm"] == server.comm
                   for l in incoming if l["what"] == what)
    outgoing = [l for l in lines if l["kind"] == "connect" and l["what"] == "start" and l["dir"] == "->"
                and l["remote"] == f"{B4}:53"]
    assert len(outgoing) == n and all(l["pid"] == str(clients.pid) for l in outgoing)


@pytest.mark.every_kernel
def test_connect_starts_the_flow_and_send_and_write_count_in_it(hosts, actors, netlogd):
    log = netlogd()
    client = actors(hosts.a, name="nl-udp-conn")
    server = actors(hosts.b, name="nl-udp-sink")
    server("udp_socket", B4, 6010)
    fd = client("udp_socket", A4)["fd"]
    local = client("udp_connect", fd, B4, 6010)
    # connect() alone is the start: no datagram has left yet
    log.expect(kind="connect", what="start", proto="UDP", local=f"{A4}:{local['lport']}", dir="->",
               remote=f"{B4}:6010", **who(client))
    client("udp_send", fd, 6)
    client("close", fd)
    log.expect(kind="connect", what="stop", proto="UDP", local=f"{A4}:{local['lport']}", dir="->",
               remote=f"{B4}:6010", **who(client))
    assert len(flow(log, "start", f"{A4}:{local['lport']}", "->", f"{B4}:6010")) == 1


def test_udp_connect_from_a_thread_starts_the_flow_without_tracing_syscall_entries(hosts, actors, netlogd):
    """connect() is found at its exit alone: a sys_enter tracepoint would slow every system call."""
    log = netlogd()
    client = actors(hosts.a, name="nl-udp6-thr")
    actors(hosts.b, name="nl-udp6-sink")("udp_socket", B6, 6015)
    fd = client("udp_socket", A6)["fd"]
    local = client("thread_udp_connect", b"isc-worker".hex(), fd, B6, 6015)
    assert local["tid"] != client.pid
    start = log.expect(kind="connect", what="start", proto="UDP", local=f"[{A6}]:{local['lport']}",
                       dir="->", remote=f"[{B6}]:6015", **who(client))
    assert start["comm"] == "nl-udp6-thr"  # the process's name, not the thread's
    # no datagram was sent: the start came from connect() itself
    assert not log.find(timeout=0, kind="connect", proto="UDP", dir="<-", remote=f"[{A6}]:{local['lport']}")
    attached = [t["tracepoint"] for t in json.loads(sh("bpftool", "-j", "perf", "list").stdout)
                if t["pid"] == log.proc.pid and "tracepoint" in t]
    compat = "programs built for kernels before 5.12" in log.stderr_path.read_text()
    assert "sys_exit_connect" in attached
    assert ("sys_enter_connect" in attached) == compat


@pytest.mark.every_kernel
def test_ipv6_flows_both_ways(hosts, actors, netlogd):
    log = netlogd()
    server = actors(hosts.b, name="nl-udp6-srv")
    client = actors(hosts.a, name="nl-udp6-cli")
    sfd = server("udp_socket", B6, 6020)["fd"]
    cfd = client("udp_socket", A6)["fd"]
    lport = client("udp_send_to", cfd, B6, 6020, 3)["lport"]
    server("udp_recvfrom", sfd, 3, True)
    log.expect(kind="connect", what="start", proto="UDP", local=f"[{A6}]:{lport}", dir="->",
               remote=f"[{B6}]:6020", **who(client))
    log.expect(kind="connect", what="start", proto="UDP", local=f"[{B6}]:6020", dir="<-",
               remote=f"[{A6}]:{lport}", **who(server))
    server("close", sfd)
    log.expect(kind="connect", what="stop", proto="UDP", local=f"[{B6}]:6020", dir="<-",
               remote=f"[{A6}]:{lport}", **who(server))
    client("close", cfd)
    log.expect(kind="connect", what="stop", proto="UDP", local=f"[{A6}]:{lport}", dir="->",
               remote=f"[{B6}]:6020", **who(client))


@pytest.mark.every_kernel
def test_idle_flow_stops_and_its_next_datagram_starts_a_new_one(hosts, actors, netlogd):
    log = netlogd("--udp-idle-timeout", "1")
    client = actors(hosts.a, name="nl-udp-idle")
    fd = client("udp_socket", A4)["fd"]
    lport = client("udp_send_to", fd, B4, 6030)["lport"]
    local, remote = f"{A4}:{lport}", f"{B4}:6030"
    log.expect(kind="connect", what="start", local=local, remote=remote, **who(client))
    # stopped by the timeout alone: the socket stays open
    stop = log.expect(timeout=5, kind="connect", what="stop", local=local, remote=remote, **who(client))
    client("udp_send_to", fd, B4, 6030)
    log.wait_count(2, kind="connect", what="start", local=local, remote=remote)
    client("close", fd)
    barrier(log, client)
    stops = log.find(timeout=0, kind="connect", what="stop", local=local, remote=remote)
    assert len(stops) == 2 and stops[0] == stop


def test_an_idle_flow_stops_no_sooner_than_its_timeout_after_its_last_datagram(hosts, actors, netlogd):
    """The idle stop's time: the timeout after the flow's last datagram
    (not its first), and at most a second late (checked each second)."""
    log = netlogd("--udp-idle-timeout", "2")
    client = actors(hosts.a, name="nl-udp-idle2")
    fd = client("udp_socket", A4)["fd"]
    lport = client("udp_send_to", fd, B4, 6032)["lport"]
    time.sleep(1.5)
    client("udp_send_to", fd, B4, 6032)
    last = time.time()
    stop = log.expect(timeout=8, kind="connect", what="stop", local=f"{A4}:{lport}", remote=f"{B4}:6032",
                      **who(client))
    assert 2 <= stamp(stop["time"]) - last <= 3.5, (stop, last)
    assert time.time() - last >= 2  # not written before its time either


def test_busy_flow_outlives_the_idle_timeout(hosts, actors, netlogd):
    log = netlogd("--udp-idle-timeout", "2")
    client = actors(hosts.a, name="nl-udp-busy")
    fd = client("udp_socket", A4)["fd"]
    lport = client("udp_send_to", fd, B4, 6031)["lport"]
    for _ in range(8):  # 4 s of traffic, a datagram each 0.5 s
        time.sleep(0.5)
        client("udp_send_to", fd, B4, 6031)
    assert not log.find(timeout=0, kind="connect", what="stop", local=f"{A4}:{lport}")
    client("close", fd)
    log.expect(kind="connect", what="stop", local=f"{A4}:{lport}", remote=f"{B4}:6031", **who(client))
    assert len(log.find(timeout=0, kind="connect", what="start", local=f"{A4}:{lport}")) == 1


@pytest.mark.every_kernel
def test_udp_socket_passed_to_another_process(hosts, actors, netlogd):
    log = netlogd()
    owner = actors(hosts.a, name="nl-udp-giver")
    taker = actors(hosts.a, name="nl-udp-getter")
    fd = owner("udp_socket", A4)["fd"]
    lport = owner("udp_send_to", fd, B4, 6040)["lport"]
    tfd = hand_over(owner, taker, fd, hosts.a)
    owner("close", fd)
    taker("udp_send_to", tfd, B4, 6041)
    taker("udp_send_to", tfd, B4, 6040)
    local = f"{A4}:{lport}"
    log.expect(kind="connect", what="start", local=local, remote=f"{B4}:6040", **who(owner))
    log.expect(kind="connect", what="start", local=local, remote=f"{B4}:6041", **who(taker))
    taker("close", tfd)
    log.expect(kind="connect", what="stop", local=local, remote=f"{B4}:6040", **who(taker))
    log.expect(kind="connect", what="stop", local=local, remote=f"{B4}:6041", **who(taker))


def test_udp_flow_from_a_named_thread_logs_the_process_name(hosts, actors, netlogd):
    log = netlogd()
    client = actors(hosts.a, name="nl-udp-main")
    fd = client("udp_socket", A4)["fd"]
    client("thread_udp_send_to", b"isc-net-0000".hex(), fd, B4, 6050)
    log.expect(kind="connect", what="start", remote=f"{B4}:6050", **who(client))


@pytest.mark.every_kernel
def test_sendmmsg_and_recvmmsg_start_flows_for_their_processes(hosts, actors, netlogd):
    log = netlogd()
    server = actors(hosts.b, name="nl-udp-mmsg-s")
    client = actors(hosts.a, name="nl-udp-mmsg-c")
    sfd = server("udp_socket", B4, 6060)["fd"]
    s2 = server("udp_socket", B4, 6061)["fd"]
    cfd = client("udp_socket", A4)["fd"]
    lport = client("udp_sendmmsg", cfd, [[B4, 6060], [B4, 6061], [B4, 6060]])["lport"]
    assert server("udp_recvmmsg", sfd, 2)["received"] == 2
    for port in (6060, 6061):
        log.expect(kind="connect", what="start", local=f"{A4}:{lport}", dir="->", remote=f"{B4}:{port}",
                   **who(client))
    log.expect(kind="connect", what="start", local=f"{B4}:6060", dir="<-", remote=f"{A4}:{lport}",
               **who(server))


def skip_unless_the_kernel_can(how):
    """Skip io_uring variant @how where this kernel cannot run it."""
    if how == "uring-async" and not kernel_at_least(5, 12):
        pytest.skip("io_uring's workers are threads of the process from 5.12 (before, kernel threads)")
    compat = "--compat" in os.environ.get("NETLOG_TEST_ARGS", "")
    if how == "uring-recv" and (not kernel_at_least(6, 3) or compat):
        pytest.skip("a receive that does not ask the source is seen from 6.3 on, not with --compat")


def handed_udp_socket(actors, ns, addr, port, names):
    """A UDP socket (bound to @port unless None) that one actor makes and
    hands to another, keeping its own descriptor: (maker, its fd, user, its fd)."""
    maker, user = (actors(ns, name=n) for n in names)
    mfd = maker("udp_socket", addr, port)["fd"]
    return maker, mfd, user, hand_over(maker, user, mfd, ns)


@pytest.mark.parametrize("how", ["sendmsg", "uring", "uring-async"])
def test_a_datagram_sent_with_sendmsg_or_io_uring_starts_the_senders_flow(hosts, actors, netlogd, how):
    """The socket was made by another process, which still holds it: the
    flow is the sender's, in whichever of its threads io_uring sent it."""
    skip_unless_the_kernel_can(how)
    log = netlogd()
    opener, ofd, sender, fd = handed_udp_socket(actors, hosts.a, A4, None, ("nl-udp-maker", "nl-udp-msgsend"))
    server = actors(hosts.b, name="nl-udp-msgsink")
    sfd = server("udp_socket", B4, 6090)["fd"]
    lport = sender("udp_sendmsg", fd, B4, 6090, how)["lport"]
    flow = dict(local=f"{A4}:{lport}", dir="->", remote=f"{B4}:6090")
    log.expect(kind="connect", what="start", proto="UDP", **flow, **who(sender))
    server("udp_recvfrom", sfd, 1)
    sender("close", fd)
    opener("close", ofd)
    log.expect(kind="connect", what="stop", proto="UDP", **flow, **who(opener))


@pytest.mark.parametrize("how", ["recvmsg", "uring", "uring-async", "uring-recv"])
@pytest.mark.every_kernel
def test_a_datagram_received_with_recvmsg_or_io_uring_starts_the_receivers_flow(hosts, actors, netlogd, how):
    """The socket was bound by another process, which still holds it: the
    incoming flow is the receiver's."""
    skip_unless_the_kernel_can(how)
    log = netlogd()
    binder, bfd, receiver, rfd = handed_udp_socket(actors, hosts.b, B4, 6091, ("nl-udp-binds", "nl-udp-msgrecv"))
    client = actors(hosts.a, name="nl-udp-msgcli")
    lport = client("udp_send_to", client("udp_socket", A4)["fd"], B4, 6091)["lport"]
    receiver("udp_recvmsg", rfd, how)
    flow = dict(local=f"{B4}:6091", dir="<-", remote=f"{A4}:{lport}")
    log.expect(kind="connect", what="start", proto="UDP", **flow, **who(receiver))
    binder("close", bfd)
    receiver("close", rfd)
    log.expect(kind="connect", what="stop", proto="UDP", **flow, **who(receiver))


def test_datagram_read_without_its_source_still_starts_a_flow(hosts, actors, netlogd):
    log = netlogd()
    server = actors(hosts.b, name="nl-udp-recv")
    client = actors(hosts.a, name="nl-udp-send")
    sfd = server("udp_socket", B4, 6070)["fd"]
    cfd = client("udp_socket", A4)["fd"]
    lport = client("udp_send_to", cfd, B4, 6070, 2)["lport"]
    server("udp_recv", sfd, 2)
    # recv() never names the source: the socket's owner stands in
    log.expect(kind="connect", what="start", local=f"{B4}:6070", dir="<-", remote=f"{A4}:{lport}",
               **who(server))


@pytest.mark.every_kernel
def test_datagram_read_without_its_source_names_the_last_receiver_not_the_binder(hosts, actors, netlogd):
    log = netlogd()
    binder = actors(hosts.b, name="nl-udp-binder")
    reader = actors(hosts.b, name="nl-udp-reader")
    first = actors(hosts.a, name="nl-udp-first")
    second = actors(hosts.a, name="nl-udp-second")
    bfd = binder("udp_socket", B4, 6075)["fd"]
    rfd = hand_over(binder, reader, bfd, hosts.b)  # the binder keeps its descriptor too
    p1 = first("udp_send_to", first("udp_socket", A4)["fd"], B4, 6075)["lport"]
    reader("udp_recvfrom", rfd, 1)
    log.expect(kind="connect", what="start", local=f"{B4}:6075", dir="<-", remote=f"{A4}:{p1}", **who(reader))
    p2 = second("udp_send_to", second("udp_socket", A4)["fd"], B4, 6075)["lport"]
    reader("udp_recv", rfd, 1)
    # recv() never names the source: the last process seen using the socket stands in
    log.expect(kind="connect", what="start", local=f"{B4}:6075", dir="<-", remote=f"{A4}:{p2}", **who(reader))


@pytest.mark.skipif(not kernel_at_least(6, 3) or "--compat" in os.environ.get("NETLOG_TEST_ARGS", ""),
                    reason="a receive that does not ask the source is seen from 6.3 on, not with --compat")
@pytest.mark.parametrize("how", ["recv", "read"])
def test_datagrams_read_without_their_source_name_a_reader_never_seen_before(hosts, actors, netlogd, how):
    """A server binds, hands its socket to a worker and lets it go (fork and
    drop): recv(), or read(), names the worker."""
    log = netlogd()
    assert [p for p in log.attached() if p.startswith("sock_recv_len")]
    binder = actors(hosts.b, name="nl-udp-binder")
    worker = actors(hosts.b, name="nl-udp-worker")
    clients = [actors(hosts.a, name=f"nl-udp-ask{i}") for i in (1, 2)]
    bfd = binder("udp_socket", B4, 6076)["fd"]
    wfd = hand_over(binder, worker, bfd, hosts.b)
    binder("close", bfd)
    # both flows wait for their receiver when the worker's first recv() comes
    ports = [c("udp_send_to", c("udp_socket", A4)["fd"], B4, 6076)["lport"] for c in clients]
    worker("udp_recv", wfd, 2, 10, how)
    for p in ports:
        log.expect(kind="connect", what="start", local=f"{B4}:6076", dir="<-", remote=f"{A4}:{p}", **who(worker))
    worker("close", wfd)
    for p in ports:
        log.expect(kind="connect", what="stop", local=f"{B4}:6076", dir="<-", remote=f"{A4}:{p}", **who(worker))


@pytest.mark.skipif(not kernel_at_least(6, 3) or "--compat" in os.environ.get("NETLOG_TEST_ARGS", ""),
                    reason="a receive that does not ask the source is seen from 6.3 on, not with --compat")
def test_a_receive_that_asks_the_source_names_its_flow_only(hosts, actors, netlogd):
    """Two processes share a socket: one recvfrom()s the first flow's datagram,
    the other recv()s the second's. Each flow names the process that read it."""
    log = netlogd()
    asker = actors(hosts.b, name="nl-udp-asker")
    reader = actors(hosts.b, name="nl-udp-reader")
    afd = asker("udp_socket", B4, 6077)["fd"]
    rfd = hand_over(asker, reader, afd, hosts.b)
    clients = [actors(hosts.a, name=f"nl-udp-two{i}") for i in (1, 2)]
    ports = [c("udp_send_to", c("udp_socket", A4)["fd"], B4, 6077)["lport"] for c in clients]
    asker("udp_recvfrom", afd, 1)
    reader("udp_recv", rfd, 1)
    for p, who_ in zip(ports, (asker, reader)):
        log.expect(kind="connect", what="start", local=f"{B4}:6077", dir="<-", remote=f"{A4}:{p}", **who(who_))


@pytest.mark.skipif(not kernel_at_least(5, 19) or "--compat" in os.environ.get("NETLOG_TEST_ARGS", ""),
                    reason="io_uring completions name their request from 5.18 (tested from 5.19); "
                           "not in the compat programs")
@pytest.mark.parametrize("how", ["inline", "async"])
def test_udp_connect_through_io_uring_starts_the_flow(hosts, actors, netlogd, how):
    log = netlogd()
    client = actors(hosts.a, name="nl-udp-uring")
    fd = client("udp_socket", A4)["fd"]
    lport = client("uring_connect", fd, B4, 6078, how)["lport"]
    local = f"{A4}:{lport}"
    log.expect(kind="connect", what="start", local=local, dir="->", remote=f"{B4}:6078", **who(client))
    client("close", fd)
    log.expect(kind="connect", what="stop", local=local, dir="->", remote=f"{B4}:6078", **who(client))


@pytest.mark.every_kernel
def test_connected_udp_socket_open_before_start_is_reported(hosts, actors, netlogd):
    client = actors(hosts.a, name="nl-udp-early")
    server = actors(hosts.b, name="nl-udp-sink")
    server("udp_socket", B4, 6080)
    fd = client("udp_socket", A4)["fd"]
    local = client("udp_connect", fd, B4, 6080)
    log = netlogd()
    log.expect(kind="connect", what="start", local=f"{A4}:{local['lport']}", dir="->",
               remote=f"{B4}:6080", **who(client))
    client("udp_send", fd, 2)
    client("close", fd)
    log.expect(kind="connect", what="stop", local=f"{A4}:{local['lport']}", dir="->",
               remote=f"{B4}:6080", **who(client))
    assert len(flow(log, "start", f"{A4}:{local['lport']}", "->", f"{B4}:6080")) == 1


@pytest.mark.every_kernel
def test_full_flow_table_is_reported_and_starts_are_still_logged(hosts, actors, netlogd):
    log = netlogd("--max-udp-flows", "64")
    client = actors(hosts.a, name="nl-udp-full")
    fd = client("udp_socket", A4)["fd"]
    ports = range(7100, 7200)
    for port in ports:
        client("udp_send_to", fd, B4, port, 2)
    lport = client("udp_send_to", fd, B4, 7100)["lport"]
    client("close", fd)
    barrier(log, client)
    for what in ("start", "stop"):
        got = sorted(int(l["remote"].rsplit(":", 1)[1])
                     for l in log.find(timeout=0, kind="connect", what=what, local=f"{A4}:{lport}"))
        assert got == list(ports), f"{what}: {len(got)} lines for {len(ports)} flows"
    told = log.wait_total(r"netlog: warning: (\d+) UDP flows not counted: flow table full", len(ports) - 64)
    assert told >= len(ports) - 64, f"{told} said not counted, for {len(ports) - 64} flows over the table"


def test_full_flow_table_counts_flows_not_datagrams_however_they_take_turns(hosts, netlogd):
    """100 flows for a table of 64, five datagrams each, round robin: the 36
    that do not fit are each reported (and counted as not counted) once,
    not once per datagram."""
    log = netlogd("--max-udp-flows", "64")
    lport = ns_sh(hosts.a, "python3", "-c", textwrap.dedent(f"""\
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(5):
            for port in range(7500, 7600):
                s.sendto(b"x", ("{B4}", port))
        print(s.getsockname()[1])
    """)).stdout.strip()
    stops = log.wait_count(100, kind="connect", what="stop", local=f"{A4}:{lport}")
    starts = log.find(timeout=0, kind="connect", what="start", local=f"{A4}:{lport}")
    assert sorted(l["remote"] for l in starts) == sorted(l["remote"] for l in stops)
    assert len({l["remote"] for l in starts}) == 100
    log.wait_total(r"netlog: warning: (\d+) UDP flows not counted", 36)
    time.sleep(1.5)  # and for any more
    told = sum(map(int, log.wait_text(r"netlog: warning: (\d+) UDP flows not counted")))
    assert 36 <= told <= 100, f"{told} said not counted, for 36 flows over the table (500 datagrams)"


def test_flows_beyond_the_daemons_table_stop_the_quietest_early_so_every_start_has_its_stop(hosts, netlogd):
    """--max-udp-flows 64: the kernel counts 64 flows, the daemon keeps 128.
    300 flows at once: the daemon stops those quiet longest early (said in
    a warning) rather than log starts that never get a stop."""
    log = netlogd("--max-udp-flows", "64")
    lport = ns_sh(hosts.a, "python3", "-c", textwrap.dedent(f"""\
        import socket, time
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for port in range(7600, 7900):
            s.sendto(b"x", ("{B4}", port))
            time.sleep(0.001)
        print(s.getsockname()[1])
    """)).stdout.strip()
    stops = log.wait_count(300, kind="connect", what="stop", local=f"{A4}:{lport}", timeout=20)
    starts = log.find(timeout=0, kind="connect", what="start", local=f"{A4}:{lport}")
    assert sorted(l["remote"] for l in starts) == sorted(l["remote"] for l in stops)
    assert len({l["remote"] for l in starts}) == 300
    # the last stops may be said a report (a second) after they were logged
    early = log.wait_total(r"netlog: warning: (\d+) UDP flows stopped before their idle timeout", 300 - 128)
    assert early >= 300 - 128, f"{early} said stopped early, for {300 - 128} flows over the table"
    assert not log.wait_text(r"UDP flow stops lost", timeout=0)


def test_busy_untracked_flow_is_not_ended_as_idle(hosts, actors, netlogd):
    """Table full: the kernel cannot count a flow, but it says again that it is alive."""
    # reported again every 1.5 s (half the timeout), one datagram each 0.3 s:
    # a sender held up to a second by a loaded host still beats the timeout
    log = netlogd("--max-udp-flows", "64", "--udp-idle-timeout", "3")
    out = ns_sh(hosts.a, "python3", "-c", textwrap.dedent(f"""\
        import socket, time
        fill = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(20):  # 6 s: twice the idle timeout, every flow busy
            for port in range(7300, 7364):
                fill.sendto(b"x", ("{B4}", port))
            busy.sendto(b"y", ("{B4}", 7400))
            time.sleep(0.3)
        print(busy.getsockname()[1], time.clock_gettime(time.CLOCK_REALTIME), flush=True)
        busy.close()
        fill.close()
    """)).stdout.split()
    lport, closed = out[0], float(out[1])
    flow = dict(kind="connect", proto="UDP", local=f"{A4}:{lport}", remote=f"{B4}:7400")
    stop = log.wait_count(1, what="stop", **flow)[0]
    assert len(log.find(timeout=0, what="start", **flow)) == 1
    stamp = datetime.datetime.strptime(stop["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert stamp.timestamp() >= closed - 0.05, "stopped while datagrams still flowed"
    assert log.wait_text(r"netlog: warning: (\d+) UDP flows not counted")


def test_a_flow_untracked_at_first_is_counted_once_the_table_has_room(hosts, netlogd):
    """The table is full when a flow starts (untracked); its other flows end,
    and its next datagram finds room: the flow is counted in the kernel from
    then on, so it is not ended as idle while it goes on, ends at its
    socket's close, and leaves no entry behind."""
    log = netlogd("--max-udp-flows", "64", "--udp-idle-timeout", "2")
    out = ns_sh(hosts.a, "python3", "-c", textwrap.dedent(f"""\
        import socket, time
        fill = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for port in range(7300, 7364):
            fill.sendto(b"x", ("{B4}", port))
        busy.sendto(b"y", ("{B4}", 7400))
        time.sleep(0.3)
        fill.close()  # the table has room again
        for _ in range(20):  # 6 s: three idle timeouts
            time.sleep(0.3)
            busy.sendto(b"y", ("{B4}", 7400))
        print(busy.getsockname()[1], time.clock_gettime(time.CLOCK_REALTIME), flush=True)
        busy.close()
    """)).stdout.split()
    lport, closed = out[0], float(out[1])
    flow = dict(kind="connect", proto="UDP", local=f"{A4}:{lport}", remote=f"{B4}:7400")
    stop = log.wait_count(1, what="stop", **flow)[0]
    assert log.wait_text(r"netlog: warning: (\d+) UDP flows not counted"), "the flow was never untracked"
    assert len(log.find(timeout=0, what="start", **flow)) == 1
    stamp = datetime.datetime.strptime(stop["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert stamp.timestamp() >= closed - 0.05, "stopped as idle while datagrams still flowed"
    time.sleep(0.5)
    assert log.map_entries("udp_flows") == [], "a flow's entry outlived its socket"


def test_a_raw_socket_of_protocol_udp_makes_no_flow(hosts, netlogd):
    """A raw socket (CAP_NET_RAW) of protocol UDP writes UDP headers of its
    choosing and gets a copy of every UDP datagram: it is no UDP socket, and
    must not start flows in its name with other sockets' ports."""
    log = netlogd()
    ns_sh(hosts.a, "python3", "-c", textwrap.dedent(f"""\
        import socket, struct, time
        import ctypes; ctypes.CDLL(None).prctl(15, b"nl-raw-udp", 0, 0, 0)
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        raw.settimeout(5)
        raw.sendto(struct.pack("!HHHH", 5353, 27099, 9, 0) + b"x", ("{B4}", 0))
        # plain sockets' datagrams, which the raw socket gets a copy of
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("{A4}", 27010))
        v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); v.bind(("{A4}", 27011))
        u.sendto(b"y", ("{A4}", 27011))
        v.recvfrom(10)
        raw.recv(100)
    """))
    log.wait_count(1, kind="connect", what="stop", local=f"{A4}:27011")
    time.sleep(0.5)  # for any more
    ours = sorted((l["what"], l["local"], l["dir"], l["remote"]) for l in log.lines()
                  if l["comm"] == "nl-raw-udp" and l["kind"] == "connect")
    # the plain sockets' flow, at both ends, and nothing in the raw socket's name
    assert ours == sorted((w, *f) for w in ("start", "stop") for f in (
        (f"{A4}:27010", "->", f"{A4}:27011"), (f"{A4}:27011", "<-", f"{A4}:27010"))), ours


@pytest.mark.parametrize("programs", ["default", "compat"])
def test_a_socket_that_gives_its_port_back_starts_a_new_flow_from_its_new_port(hosts, netlogd, programs, tmp_path):
    """connect(AF_UNSPEC) gives back the port the kernel bound a UDP socket
    to, and its next datagram leaves from a new one: to the same remote,
    that is a flow of its own (the receiver sees a new port), not more of
    the first one. Each ends with its own counts."""
    counts = tmp_path / "counts.json"
    log = netlogd("-o", f"json:{counts}", *(["--compat"] if programs == "compat" else []))
    out = ns_sh(hosts.b, "python3", "-c", textwrap.dedent(f"""\
        import ctypes, socket, time
        libc = ctypes.CDLL(None, use_errno=True)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(3):
            s.sendto(b"x" * 10, ("{A4}", 5380))
        first = s.getsockname()[1]
        assert libc.connect(s.fileno(), bytes(16), 16) == 0  # AF_UNSPEC
        for _ in range(2):
            s.sendto(b"y" * 5, ("{A4}", 5380))
        print(first, s.getsockname()[1], flush=True)
        time.sleep(0.2)
        s.close()
    """)).stdout.split()
    assert len(set(out)) == 2, out
    for port in out:
        for what in ("start", "stop"):
            log.expect(kind="connect", what=what, proto="UDP", local=f"{B4}:{port}", dir="->", remote=f"{A4}:5380")
    assert len(log.find(timeout=0, proto="UDP", remote=f"{A4}:5380")) == 4
    deadline = time.monotonic() + 10
    while True:  # the JSON output is written with the classic one, not before it
        stops = {}
        for line in counts.read_text().splitlines():
            o = json.loads(line)
            if o["event"]["action"] == "connect-stop" and o["destination"]["port"] == 5380 and \
                    o["network"]["direction"] == "egress":
                stops[str(o["source"]["port"])] = (o["source"]["packets"], o["source"]["bytes"])
        if len(stops) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert stops == {out[0]: (3, 30), out[1]: (2, 10)}, stops


@pytest.mark.parametrize("programs", ["default", "compat"])
@pytest.mark.parametrize("then", ["nothing", "receives", "binds"])
def test_a_socket_connected_again_to_its_peer_after_giving_its_port_back_moves_its_flow(
        hosts, netlogd, programs, then, tmp_path):
    """connect(), connect(AF_UNSPEC), and connect() to the same peer again:
    the socket has a new port, and its flow goes with it (a connect starts
    a flow), also when nothing is sent from there; what comes in later is
    counted on the new port's flow. Or, disconnected, it binds a port of its
    own and the peer sends there: an incoming flow on that port, named by
    the receiver."""
    counts = tmp_path / "counts.json"
    log = netlogd("-o", f"json:{counts}", *(["--compat"] if programs == "compat" else []))
    peer = subprocess.Popen([*in_ns(hosts.a), "python3", "-c", textwrap.dedent(f"""\
        import socket, sys
        p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        p.bind(("{A4}", 5390))
        print("ready", flush=True)
        to = sys.stdin.readline().split()
        for _ in range(2 if to[0] != "none" else 0):
            p.sendto(b"z" * 7, (to[0], int(to[1])))
        sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert peer.stdout.readline() == "ready\n"
    me = subprocess.Popen([*in_ns(hosts.b), "python3", "-c", textwrap.dedent(f"""\
        import ctypes, socket, sys, time
        libc = ctypes.CDLL(None, use_errno=True)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("{A4}", 5390))
        first = s.getsockname()[1]
        assert libc.connect(s.fileno(), bytes(16), 16) == 0  # AF_UNSPEC
        if "{then}" == "binds":
            s.bind(("{B4}", 5391))
        else:
            s.connect(("{A4}", 5390))
        print(first, s.getsockname()[1], flush=True)
        if "{then}" != "nothing":
            for _ in range(2):
                s.recvfrom(100)
        print("done", flush=True)
        sys.stdin.readline()
        s.close()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first, second = me.stdout.readline().split()
    assert first != second
    peer.stdin.write(f"{B4 if then != 'nothing' else 'none'} {second}\n")
    peer.stdin.flush()
    assert me.stdout.readline() == "done\n"
    time.sleep(0.3)
    me.communicate("\n", timeout=10)
    peer.communicate("\n", timeout=10)
    log.expect(kind="connect", what="start", proto="UDP", local=f"{B4}:{first}", dir="->", remote=f"{A4}:5390")
    log.expect(kind="connect", what="stop", proto="UDP", local=f"{B4}:{first}", dir="->", remote=f"{A4}:5390")
    way = "<-" if then == "binds" else "->"
    for what in ("start", "stop"):
        line = log.expect(kind="connect", what=what, proto="UDP", local=f"{B4}:{second}", dir=way,
                          remote=f"{A4}:5390")
        assert line["pid"] == str(me.pid), line
    ours = [l for l in log.find(timeout=0, proto="UDP", remote=f"{A4}:5390") if l["local"].startswith(B4)]
    assert len(ours) == 4, ours
    deadline = time.monotonic() + 10
    while True:  # the JSON output is written with the classic one, not before it
        stops = {}
        for line in counts.read_text().splitlines():
            o = json.loads(line)
            if o["event"]["action"] != "connect-stop":
                continue
            local, remote = (o["source"], o["destination"]) if o["network"]["direction"] == "egress" \
                else (o["destination"], o["source"])
            if local["ip"] == B4 and remote["port"] == 5390:
                stops[str(local["port"])] = remote.get("packets", 0)
        if len(stops) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert stops == {first: 0, second: 0 if then == "nothing" else 2}, stops


def test_connected_socket_whose_peer_sends_first_without_accept_hook(hosts, actors, netlogd):
    """--no-accept-hook: connect() starts no flow, but the socket is known from it: the peer's
    first datagram starts the flow in the connecting process's name, and the close stops it
    (not the idle timeout, 60 s here)."""
    log = netlogd("--no-accept-hook")
    client = actors(hosts.a, name="nl-udp-conn")
    server = actors(hosts.b, name="nl-udp-peer")
    sfd = server("udp_socket", B4, 6090)["fd"]
    fd = client("udp_socket", A4)["fd"]
    lport = client("udp_connect", fd, B4, 6090)["lport"]
    server("udp_send_to", sfd, A4, lport)
    client("udp_recv", fd, 1)
    local = f"{A4}:{lport}"
    log.expect(kind="connect", what="start", proto="UDP", local=local, dir="<-", remote=f"{B4}:6090",
               **who(client))
    client("close", fd)
    log.expect(kind="connect", what="stop", proto="UDP", local=local, dir="<-", remote=f"{B4}:6090",
               **who(client))


def test_socket_bound_on_an_ignored_port_stops_its_flows_at_close_after_a_reload(tmp_path, hosts, actors,
                                                                                netlogd):
    """Bound while "ignore = port" held (no listen), the rule dropped by a reload: its flows
    since are logged, and stop at its close, not only when idle (60 s here)."""
    conf = tmp_path / "netlog.conf"
    conf.write_text("ignore = port 6091\n")
    log = netlogd("-c", str(conf))
    server = actors(hosts.b, name="nl-udp-srv")
    client = actors(hosts.a, name="nl-udp-cli")
    sfd = server("udp_socket", B4, 6091)["fd"]
    conf.write_text("udp-idle-timeout = 60\n")
    log.proc.send_signal(signal.SIGHUP)
    log.wait_stderr("reload: ")
    cfd = client("udp_socket", A4)["fd"]
    lport = client("udp_send_to", cfd, B4, 6091)["lport"]
    server("udp_recvfrom", sfd, 1)
    remote = f"{A4}:{lport}"
    log.expect(kind="connect", what="start", proto="UDP", local=f"{B4}:6091", dir="<-", remote=remote,
               **who(server))
    server("close", sfd)
    log.expect(kind="connect", what="stop", proto="UDP", local=f"{B4}:6091", dir="<-", remote=remote,
               **who(server))
    assert not log.find(timeout=0, kind="listen", local=f"{B4}:6091")
