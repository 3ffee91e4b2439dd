"""The shipped unit under a real service manager: systemd as PID 1 starts,
reloads, watches and stops netlogd as `make install` put it there. The
guest of `make test-kernels GUEST_INIT=systemd` boots one for these tests
(NETLOG_TEST_SYSTEMD=1); anywhere else they are skipped, as they install
and start the unit host-wide."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import A4, Netlogd, listen_once, sh

pytestmark = pytest.mark.skipif(
    os.environ.get("NETLOG_TEST_SYSTEMD") != "1" or not Path("/run/systemd/system").is_dir(),
    reason="needs systemd as PID 1, in a machine of its own (make test-kernels GUEST_INIT=systemd)")

LOG = Path("/var/log/netlog/netlog.log")  # where the shipped configuration logs
CONF = Path("/etc/netlog/netlog.conf")
DROPIN = Path("/run/systemd/system/netlogd.service.d/test.conf")
PROBE = Path("/run/systemd/system/netlog-probe.service")


def systemctl(*args, check=True):
    return sh("systemctl", *args, check=check)


def start(*units):
    """systemctl start @units; failing, what systemd said of them."""
    r = systemctl("start", *units, check=False)
    assert r.returncode == 0, r.stderr + systemctl("status", "--no-pager", *units, check=False).stdout


def show(prop, unit="netlogd.service"):
    return systemctl("show", "-P", prop, unit).stdout.strip()


def wait_for(what, cond, timeout=60):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


class ServiceNetlogd(Netlogd):
    """The installed netlogd, as systemd runs it: its lines are in the shipped configuration's file."""

    def __init__(self, tmp_path):
        super().__init__(tmp_path)
        self.log = LOG

    def pid(self):
        return int(show("MainPID"))


@pytest.fixture(scope="module")
def installed():
    """What `make install` wrote, in place since the boot (tests/kernels/run), the boot's netlogd stopped."""
    systemctl("stop", "netlogd.service")
    yield
    systemctl("stop", "netlogd.service", check=False)


@pytest.fixture
def service(installed, tmp_path):
    """netlogd started by `systemctl start`, with a fresh log; stopped after, its failures reset."""
    conf = CONF.read_text()
    shutil.rmtree(LOG.parent, ignore_errors=True)
    d = ServiceNetlogd(tmp_path)
    yield d
    systemctl("stop", "netlogd.service", check=False)
    systemctl("reset-failed", "netlogd.service", check=False)
    CONF.write_text(conf)
    for unit in (DROPIN, PROBE):
        if unit.exists():
            unit.unlink()
            systemctl("daemon-reload")


def test_enabled_netlogd_starts_at_boot_before_what_configures_the_network():
    """The guest booted with netlogd enabled (tests/kernels/run) and a unit
    ordered after network-pre.target, as what configures the network is
    (netlog-boot-probe.service, which listens once): the boot itself, not
    units queued by hand. First in this file, before any test stops it."""
    assert systemctl("is-enabled", "netlogd.service").stdout.strip() == "enabled"
    assert show("ActiveState") == "active"
    ready = int(show("ActiveEnterTimestampMonotonic"))
    probe = int(show("ExecMainStartTimestampMonotonic", "netlog-boot-probe.service"))
    assert 0 < ready <= probe
    d = ServiceNetlogd(Path("/tmp"))
    for what in ("start", "stop"):
        line = d.expect(kind="listen", what=what, proto="TCP", local="127.0.0.1:6381")
        assert line["comm"] == "python3"
    # the boot's transaction had no ordering cycle for systemd to break
    boot = sh("journalctl", "--no-pager", "-b", "-o", "cat").stdout
    assert "ordering cycle" not in boot.lower(), [l for l in boot.splitlines() if "cycle" in l]


def test_systemctl_start_returns_once_netlogd_logs_and_stop_ends_it_cleanly(service, hosts):
    start("netlogd.service")
    # ready (READY=1) means attached: a listener right after the start is logged
    listen_once(hosts.a, 6301)
    service.expect(kind="listen", what="start", local=f"{A4}:6301")
    service.expect(kind="listen", what="stop", local=f"{A4}:6301")
    assert show("ActiveState") == "active" and show("SubState") == "running"
    main = service.pid()
    assert Path("/run/netlogd.pid").read_text().split() == [str(main)]
    assert Path(f"/proc/{main}/comm").read_text().strip() == "netlogd"
    # who talked to whom is not for every user: the directory systemd made, the file netlogd made
    assert LOG.parent.stat().st_mode & 0o777 == 0o750
    assert LOG.stat().st_mode & 0o777 == 0o640

    systemctl("stop", "netlogd.service")
    assert show("ActiveState") == "inactive"
    assert show("Result") == "success" and show("ExecMainStatus") == "0"
    assert not Path(f"/proc/{main}").exists()
    # nothing left attached: a listener now makes no line
    listen_once(hosts.a, 6302)
    time.sleep(1)
    assert service.find(timeout=0, local=f"{A4}:6302") == []
    service.recheck()


def test_a_listener_older_than_netlogd_in_a_namespace_only_a_user_process_holds_is_reported(service):
    """A rootless container's way: a network namespace that no name in
    /run/netns holds, only a process of another user. netlogd enters it
    through that process's /proc entry (which the unit's capabilities must
    let it read) for the sockets' ids, without which a bound UDP socket's
    close is not matched to its listen (see Limits in README)."""
    holder = subprocess.Popen(
        ["unshare", "--net", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "python3", "-c",
         "import socket, sys; t = socket.socket(); t.bind(('0.0.0.0', 6371)); t.listen(); "
         "u = socket.socket(type=socket.SOCK_DGRAM); u.bind(('0.0.0.0', 6372)); "
         "print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        start("netlogd.service")
        for proto, port in (("TCP", 6371), ("UDP", 6372)):
            line = service.expect(kind="listen", what="start", proto=proto, local=f"0.0.0.0:{port}")
            assert (line["pid"], line["uid"]) == (str(holder.pid), "65534")
    finally:
        holder.stdin.close()
        holder.wait(30)
    for proto, port in (("TCP", 6371), ("UDP", 6372)):
        service.expect(kind="listen", what="stop", proto=proto, local=f"0.0.0.0:{port}")
    service.recheck()


def test_units_queued_with_netlogd_after_network_pre_target_find_it_logging(service, hosts):
    """The boot's order: netlogd before network-pre.target, what configures the
    network (ifupdown, networkd, NetworkManager, cloud-init's fetch) after it."""
    PROBE.write_text(f"""[Unit]
DefaultDependencies=no
Wants=network-pre.target
After=network-pre.target
[Service]
Type=oneshot
ExecStart=nsenter --net=/run/netns/{hosts.a} python3 -c \\
    "import socket; s=socket.socket(); s.bind(('{A4}', 6341)); s.listen()"
""")
    systemctl("daemon-reload")
    systemctl("stop", "network-pre.target", "systemd-networkd.service", check=False)
    # queued at once, as the boot queues them: the probe, and a real network
    # configurator (networkd, with nothing to configure here), wait for netlogd's READY=1
    start("netlogd.service", "netlog-probe.service", "systemd-networkd.service")
    try:
        assert show("ActiveState") == "active"
        service.expect(kind="listen", what="start", local=f"{A4}:6341")
        service.expect(kind="listen", what="stop", local=f"{A4}:6341")
        ready = int(show("ActiveEnterTimestampMonotonic"))
        networkd = int(show("ExecMainStartTimestampMonotonic", "systemd-networkd.service"))
        assert 0 < ready <= networkd
        service.recheck()
    finally:
        systemctl("stop", "systemd-networkd.service", "systemd-networkd.socket", check=False)


def test_an_output_to_syslog_reaches_the_journal(service, hosts):
    """syslog through systemd's own /dev/log (journald's), which the unit is
    ordered after: the message and identifier a collector matches on."""
    CONF.write_text(CONF.read_text() + "output = syslog\n")
    start("netlogd.service")
    listen_once(hosts.a, 6361)
    service.expect(kind="listen", what="stop", local=f"{A4}:6361")
    want = re.compile(rf"^info: listen (start|stop) TCP {re.escape(A4)}:6361 \d+ \d+ 0 python3$")

    def heard():
        out = sh("journalctl", "--no-pager", "-o", "cat", "-t", "netlog", check=False).stdout
        return [l.split()[2] for l in out.splitlines() if want.match(l)]
    wait_for("the journal did not get both lines", lambda: len(heard()) >= 2, timeout=30)
    assert heard() == ["start", "stop"]


def test_the_watchdog_hears_netlogd_alive_and_restarts_it_hung(service, hosts):
    DROPIN.parent.mkdir(parents=True, exist_ok=True)
    DROPIN.write_text("[Service]\nWatchdogSec=2s\n")
    systemctl("daemon-reload")
    start("netlogd.service")
    first = service.pid()
    # three watchdog periods: it said it was alive (WATCHDOG=1, through NotifyAccess=main) each time
    time.sleep(6)
    assert show("NRestarts") == "0" and service.pid() == first

    # hung: systemd kills it at the watchdog's timeout and starts another (Restart=on-failure)
    os.kill(first, signal.SIGSTOP)
    wait_for("systemd did not restart the hung netlogd",
             lambda: show("NRestarts") == "1" and show("ActiveState") == "active"
             and show("SubState") == "running" and service.pid() not in (0, first))
    assert not Path(f"/proc/{first}").exists()
    listen_once(hosts.a, 6311)
    service.expect(kind="listen", what="stop", local=f"{A4}:6311")
    service.recheck()


def test_systemctl_reload_and_logrotate_reopen_the_log_and_lose_nothing(service, hosts):
    start("netlogd.service")
    main = service.pid()
    listen_once(hosts.a, 6321)
    service.expect(kind="listen", what="stop", local=f"{A4}:6321")

    # the shipped rule, as cron would run it: it renames the file and signals netlogd
    r = subprocess.run(["logrotate", "--force", "/etc/logrotate.d/netlog"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    wait_for("netlogd did not reopen its file after logrotate", LOG.exists, timeout=10)
    listen_once(hosts.a, 6322)
    service.expect(kind="listen", what="stop", local=f"{A4}:6322")
    rotated = (LOG.parent / "netlog.log.1").read_text()
    assert f"{A4}:6321" in rotated and f"{A4}:6322" not in rotated
    assert f"{A4}:6321" not in service.text()

    # the unit's reload: the check, then SIGHUP, to the same process
    LOG.rename(LOG.parent / "netlog.log.2")
    systemctl("reload", "netlogd.service")
    wait_for("netlogd did not reopen its file after systemctl reload", LOG.exists, timeout=10)
    listen_once(hosts.a, 6323)
    service.expect(kind="listen", what="stop", local=f"{A4}:6323")
    assert service.pid() == main and show("NRestarts") == "0"
    service.recheck()


def test_a_configuration_with_an_error_fails_the_start_and_the_reload_with_its_line(service, hosts):
    good = CONF.read_text()
    CONF.write_text(good + "output = classic:\n")
    r = systemctl("start", "netlogd.service", check=False)
    assert r.returncode != 0
    assert show("ActiveState") == "failed" and show("Result") == "exit-code"
    assert show("ExecMainStatus") == "1"
    # the message names the file and the line
    status = systemctl("status", "--no-pager", "--lines=20", "netlogd.service", check=False).stdout
    journal = sh("journalctl", "--no-pager", "-u", "netlogd.service", check=False).stdout
    assert re.search(rf"{CONF}:\d+: output: empty value", status + journal), status + journal
    # and it is not started again every RestartSec= to say it again
    time.sleep(5)
    assert show("ActiveState") == "failed" and show("NRestarts") == "0"
    systemctl("reset-failed", "netlogd.service")

    # a reload with an error keeps the running netlogd as it was
    CONF.write_text(good)
    start("netlogd.service")
    main = service.pid()
    CONF.write_text(good + "output = classic:\n")
    assert systemctl("reload", "netlogd.service", check=False).returncode != 0
    assert show("ActiveState") == "active" and service.pid() == main
    listen_once(hosts.a, 6331)
    service.expect(kind="listen", what="stop", local=f"{A4}:6331")
    service.recheck()


ECHO_UNITS = [Path("/run/systemd/system") / n for n in
              ("netlog-echo.socket", "netlog-echo.service", "netlog-echoa.socket", "netlog-echoa@.service")]
ECHO_PID = Path("/run/netlog-echo.pid")
# the service's own process: it writes its pid, then echoes what comes in
ECHO = f"import os, sys; open('{ECHO_PID}', 'w').write(str(os.getpid()))"


def echo_once(port):
    """A connection to @port on loopback that sends and reads back; its local port."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.sendall(b"hello")
        assert c.recv(16) == b"hello"
        return c.getsockname()[1]


def assert_systemd_helper(line, name):
    """The listen() or accept() of a socket unit's IP socket: systemd calls it
    in a helper of its own, (sd-listen) or (sd-accept), forked into the
    unit's cgroup (for the unit's BPF firewall rules) and gone once it handed
    the socket to PID 1. That process, not PID 1, is named."""
    assert (line["sid"], line["uid"], line["comm"]) == ("1", "0", name) and line["pid"] != "1", line


def echo_pid():
    """The pid the echo service wrote."""
    wait_for("the echo service did not write its pid", lambda: ECHO_PID.exists() and ECHO_PID.read_text(),
             timeout=30)
    return ECHO_PID.read_text()


@pytest.fixture
def echo_units():
    yield
    systemctl("stop", "netlog-echo.socket", "netlog-echoa.socket", check=False)
    for unit in ECHO_UNITS:
        unit.unlink(missing_ok=True)
    ECHO_PID.unlink(missing_ok=True)
    systemctl("daemon-reload")


def test_socket_activation_names_systemds_helper_for_the_listen_and_the_service_for_what_it_accepts(
        service, echo_units):
    """Accept=no, as sshd's ssh.socket: systemd listens (PID 1), the service
    it starts on the first connection accepts from the descriptor it was given."""
    ECHO_UNITS[0].write_text("[Socket]\nListenStream=127.0.0.1:6351\nAccept=no\n")
    ECHO_UNITS[1].write_text(f"""[Service]
ExecStart=python3 -c "{ECHO}; import socket; l = socket.socket(fileno=3); c, _ = l.accept(); \\
    c.sendall(c.recv(16)); c.close()"
""")
    systemctl("daemon-reload")
    start("netlogd.service")
    start("netlog-echo.socket")
    listen = service.expect(kind="listen", what="start", proto="TCP", local="127.0.0.1:6351")
    assert_systemd_helper(listen, "(sd-listen)")

    cport = echo_once(6351)
    server = echo_pid()
    for what in ("start", "stop"):
        line = service.expect(kind="connect", what=what, local="127.0.0.1:6351", dir="<-",
                              remote=f"127.0.0.1:{cport}")
        assert (line["pid"], line["comm"]) == (server, "python3")
        line = service.expect(kind="connect", what=what, local=f"127.0.0.1:{cport}", dir="->",
                              remote="127.0.0.1:6351")
        assert line["pid"] == str(os.getpid())

    systemctl("stop", "netlog-echo.socket")
    stop = service.expect(kind="listen", what="stop", proto="TCP", local="127.0.0.1:6351")
    assert (stop["pid"], stop["comm"]) == ("1", "systemd")
    service.recheck()


def test_socket_activation_per_connection_names_the_helper_that_accepted_and_systemd_that_closed_last(
        service, echo_units):
    """Accept=yes, inetd's way: systemd accepts each connection (in its
    helper) and starts an instance with the connected socket, but keeps a
    descriptor of it until the instance is gone: its close is the last, the
    one that ends the connection. The instance only used it."""
    ECHO_UNITS[2].write_text("[Socket]\nListenStream=127.0.0.1:6352\nAccept=yes\n")
    ECHO_UNITS[3].write_text(f"""[Service]
StandardInput=socket
ExecStart=python3 -c "{ECHO}; os.write(1, os.read(0, 16))"
""")
    systemctl("daemon-reload")
    json_log = LOG.parent / "netlog.json"
    CONF.write_text(CONF.read_text() + f"output = json:{json_log}\n")
    start("netlogd.service")
    start("netlog-echoa.socket")
    assert_systemd_helper(service.expect(kind="listen", what="start", proto="TCP", local="127.0.0.1:6352"),
                          "(sd-listen)")

    cport = echo_once(6352)
    instance = echo_pid()
    opened = service.expect(kind="connect", what="start", local="127.0.0.1:6352", dir="<-",
                            remote=f"127.0.0.1:{cport}")
    assert_systemd_helper(opened, "(sd-accept)")
    closed = service.expect(kind="connect", what="stop", local="127.0.0.1:6352", dir="<-",
                            remote=f"127.0.0.1:{cport}")
    assert (closed["pid"], closed["comm"]) == ("1", "systemd"), service.text()
    assert instance not in (opened["pid"], closed["pid"])
    # the helper runs in the socket unit's cgroup: the start's says which unit it was
    events = [json.loads(l) for l in json_log.read_text().splitlines()]
    (j,) = [e for e in events if e["event"]["action"] == "connect-start"
            and e["source"]["port"] == cport and e["network"]["direction"] == "ingress"]
    assert j["netlog"]["cgroup"] == "/system.slice/netlog-echoa.socket", j
    service.recheck()


def test_the_units_sandbox_filters_system_calls_and_keeps_its_exposure_low(service, hosts):
    """systemd's own measure of what a compromised netlogd could do (0 to 10):
    4.4 with the unit's sandbox, 5.5 without its system call filter, 8.7
    with no sandbox. The running daemon is under seccomp (the filter, and
    the unit's other restrictions that systemd makes with it), and what
    the tests before made it do under the unit (start, reload, the
    watchdog, syslog, socket units, the start-up walk) never met a call it
    refuses: its journal has no EPERM. Last in this file, for that."""
    r = sh("systemd-analyze", "security", "--no-pager", "--threshold=45", "netlogd.service", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    start("netlogd.service")
    listen_once(hosts.a, 6309)
    service.expect(kind="listen", what="start", local=f"{A4}:6309")
    status = Path(f"/proc/{show('MainPID')}/status").read_text()
    assert re.search(r"^Seccomp:\s+2$", status, re.M), status
    journal = sh("journalctl", "--no-pager", "-b", "-u", "netlogd.service", "-o", "cat", check=False).stdout
    refused = [l for l in journal.splitlines() if "Operation not permitted" in l]
    assert not refused, refused
