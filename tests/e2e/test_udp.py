"""UDP listens: a socket bound with bind() starts one, its close stops it."""
from conftest import A4, A6, barrier, hand_over, who


def test_bound_udp_socket_is_a_listen_until_closed(hosts, actors, netlogd):
    log = netlogd()
    server = actors(hosts.a, name="nl-udp-srv")
    fd = server("udp_bind", A4, 5353)["fd"]
    log.expect(kind="listen", what="start", proto="UDP", local=f"{A4}:5353", **who(server))
    server("close", fd)
    log.expect(kind="listen", what="stop", proto="UDP", local=f"{A4}:5353", **who(server))


def test_udp_bind_on_ipv6_wildcard_and_kernel_chosen_port(hosts, actors, netlogd):
    log = netlogd()
    server = actors(hosts.a, name="nl-udp6")
    fd6 = server("udp_bind", "::", 5354)["fd"]
    any_port = server("udp_bind", A6, 0)
    log.expect(kind="listen", what="start", proto="UDP", local="[::]:5354", **who(server))
    log.expect(kind="listen", what="start", proto="UDP", local=f"[{A6}]:{any_port['port']}", **who(server))
    server("close", fd6)
    log.expect(kind="listen", what="stop", proto="UDP", local="[::]:5354", **who(server))


def test_autobind_on_first_send_is_not_a_listen(hosts, actors, netlogd):
    log = netlogd()
    client = actors(hosts.b, name="nl-udp-cli")
    out = client("udp_sendto", A4, 5355)
    client("close", out["fd"])
    barrier(log, client)
    assert not log.find(timeout=0, kind="listen", proto="UDP", pid=client.pid)


def test_udp_socket_bound_before_start_is_reported_then_stopped(hosts, actors, netlogd):
    server = actors(hosts.a, name="nl-udp-old")
    fd = server("udp_bind", A4, 5356)["fd"]
    log = netlogd()
    log.expect(kind="listen", what="start", proto="UDP", local=f"{A4}:5356", **who(server))
    server("close", fd)
    log.expect(kind="listen", what="stop", proto="UDP", local=f"{A4}:5356", **who(server))


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
