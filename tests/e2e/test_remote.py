"""Remote syslog: a real rsyslogd collector on loopback, over TCP (RFC 5424 with
octet counting) and UDP; the collector going away and coming back."""
import json
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import A4, HOSTILE_NAME, HOSTILE_NAME_ESCAPED, in_ns, ns_sh

# One worker: rsyslogd's main queue has two by default, which may write a
# later batch to the file before an earlier one.
COLLECTOR_CONF = """\
global(workDirectory="{dir}")
main_queue(queue.workerThreads="1")
module(load="im{proto}")
input(type="im{proto}" address="127.0.0.1" port="{port}")
template(name="fields" type="string" string="%protocol-version% %hostname% %app-name% %procid% %msg%\\n")
*.* action(type="omfile" file="{out}" template="fields")
"""


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """rsyslogd listening on 127.0.0.1:port, writing what it receives to a file."""

    def __init__(self, tmp_path, proto="tcp", netns=None, port=None):
        self.proto = proto
        self.port = port or free_port(socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
        self.inside = ["nsenter", f"--net=/run/netns/{netns}"] if netns else []
        self.dir = tmp_path / f"collector-{proto}"
        self.dir.mkdir()
        self.out = self.dir / "messages"
        self.conf = self.dir / "rsyslog.conf"
        self.conf.write_text(COLLECTOR_CONF.format(dir=self.dir, proto=proto, port=self.port, out=self.out))
        self.proc = None

    def start(self):
        rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        self.proc = subprocess.Popen([*self.inside, rsyslogd, "-n", "-f", str(self.conf), "-i", str(self.dir / "pid")],
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while not self.listening():
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "rsyslogd did not listen"
            time.sleep(0.05)
        return self

    def listening(self):
        kind = "-tln" if self.proto == "tcp" else "-uln"
        return f"127.0.0.1:{self.port} " in subprocess.run([*self.inside, "ss", kind], capture_output=True,
                                                           text=True).stdout

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)
        (self.dir / "pid").unlink(missing_ok=True)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)

    def lines(self):
        return self.out.read_text(errors="replace").splitlines() if self.out.exists() else []

    def wait_ours(self, ranges, timeout=20):
        """Until every listen start and stop of the ports in @ranges ((first, n)
        pairs) is there, or the time is up; what is there then."""
        want = {(w, p) for first, n in ranges for p in range(first, first + n) for w in ("start", "stop")}
        deadline = time.monotonic() + timeout
        while True:
            got = {g for first, n in ranges for g in ours(self.lines(), first, n)}
            if got >= want or time.monotonic() > deadline:
                return got, want
            time.sleep(0.1)

    def wait_for(self, pattern, count=1, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            found = [l for l in self.lines() if re.search(pattern, l)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@pytest.fixture
def collector(tmp_path):
    made = []

    def make(proto="tcp", start=True, netns=None, port=None):
        c = Collector(tmp_path, proto, netns, port)
        made.append(c)
        return c.start() if start else c

    yield make
    for c in made:
        c.stop()


def listens(actor, first_port, n):
    """@n listen start/stop pairs on consecutive ports."""
    for port in range(first_port, first_port + n):
        actor("close", actor("listen", A4, port)["fd"])


def ours(lines, first_port, n):
    """The listen lines of those ports, as (what, port) pairs."""
    got = []
    for l in lines:
        m = re.search(r"info: listen (start|stop) TCP 198\.18\.0\.1:(\d+) ", l)
        if m and first_port <= int(m.group(2)) < first_port + n:
            got.append((m.group(1), int(m.group(2))))
    return got


def test_tcp_collector_gets_rfc5424_lines_beside_a_local_file(hosts, actors, netlogd, collector):
    c = collector("tcp")
    log = netlogd("--output", f"tcp://127.0.0.1:{c.port}")
    a = actors(hosts.a, name="nl-remote")
    listens(a, 6100, 3)
    got = c.wait_for(r"listen stop TCP 198\.18\.0\.1:6102 ")
    assert got, c.lines()
    # version 1 (RFC 5424), this host's name, the tag netlog, netlogd's pid
    assert got[0].split()[:4] == ["1", socket.gethostname(), "netlog", str(log.proc.pid)]
    assert re.search(rf"listen stop TCP 198\.18\.0\.1:6102 {a.sid} {a.pid} 0 nl-remote$", got[0])
    assert sorted(ours(c.lines(), 6100, 3)) == sorted((w, p) for w in ("start", "stop") for p in range(6100, 6103))
    # the local file got the same events: several outputs at once
    assert len(log.find(kind="listen", local=f"{A4}:6102")) == 2


def test_hostile_command_names_reach_a_collector_escaped(hosts, actors, netlogd, collector):
    """A name with a newline, a backslash and a byte outside ASCII can
    neither split the collector's message nor forge one."""
    c = collector("tcp")
    netlogd("--output", f"tcp://127.0.0.1:{c.port}")
    evil = actors(hosts.a, name=HOSTILE_NAME)
    listens(evil, 6105, 1)
    assert c.wait_for(r"listen stop TCP 198\.18\.0\.1:6105 "), c.lines()
    for what in ("start", "stop"):
        want = f"info: listen {what} TCP 198.18.0.1:6105 {evil.sid} {evil.pid} 0 {HOSTILE_NAME_ESCAPED}"
        assert len([l for l in c.lines() if l.endswith(want)]) == 1, c.lines()
    assert all(l.startswith("1 ") for l in c.lines()), c.lines()  # no line split off


def test_json_to_a_collector_and_classic_to_a_file(hosts, actors, netlogd, collector):
    c = collector("tcp")
    log = netlogd("--output", f"json:tcp://127.0.0.1:{c.port}")
    a = actors(hosts.a, name="nl-remote-json")
    listens(a, 6110, 1)
    got = c.wait_for(r'"action":"listen-stop"')
    event = json.loads(got[0].split(" ", 4)[4])
    assert event["destination"] == {"ip": A4, "port": 6110} and event["process"]["pid"] == a.pid
    assert log.expect(kind="listen", what="stop", local=f"{A4}:6110")["pid"] == str(a.pid)


def test_lines_wait_for_a_collector_that_is_down_and_survive_its_crash(hosts, actors, netlogd, collector):
    c = collector("tcp", start=False)
    log = netlogd("--output", f"tcp://127.0.0.1:{c.port}")
    a = actors(hosts.a, name="nl-remote-wait")
    listens(a, 6200, 20)  # the collector is not there yet
    log.expect(kind="listen", what="stop", local=f"{A4}:6219")
    c.start()
    assert len(c.wait_for(r"listen (start|stop) TCP 198\.18\.0\.1:62[01]\d ", 40)) == 40, c.lines()
    c.kill()  # no goodbye
    listens(a, 6300, 20)
    log.expect(kind="listen", what="stop", local=f"{A4}:6319")
    time.sleep(1)
    c.start()
    got, want = c.wait_ours([(6200, 20), (6300, 20)])
    assert got == want, f"missing: {sorted(want - got)}"
    # every line whole: a cut frame would not parse
    assert all(re.match(r"^1 \S+ netlog \d+ (info|warning): ", l) for l in c.lines()), c.lines()


def test_a_reload_that_adds_an_output_keeps_the_lines_waiting_for_the_collector(
        tmp_path, hosts, actors, netlogd, collector):
    c = collector("tcp", start=False)
    conf = tmp_path / "netlog.conf"
    conf.write_text(f"output = tcp://127.0.0.1:{c.port}\n")
    log = netlogd("-c", str(conf), start=False)
    log.args = ["-c", str(conf)]  # the file names every output
    log.start()
    a = actors(hosts.a, name="nl-remote-hup")
    listens(a, 6400, 10)  # the collector is not there yet: they wait
    time.sleep(0.5)
    extra = tmp_path / "extra.log"
    conf.write_text(f"output = tcp://127.0.0.1:{c.port}\noutput = {extra}\n")
    log.proc.send_signal(signal.SIGHUP)
    log.wait_stderr("reload: ")
    listens(a, 6410, 10)
    c.start()
    got, want = c.wait_ours([(6400, 20)])
    assert got == want, c.lines()
    # by the lines' ports: a bare "6400" also matches a time stamp's microseconds
    added = extra.read_text().splitlines()
    assert ("stop", 6419) in ours(added, 6410, 10) and not ours(added, 6400, 10), added


def test_a_reload_that_changes_only_the_local_syslog_socket_keeps_the_lines_waiting_for_the_collector(
        tmp_path, hosts, actors, netlogd, collector):
    """A setting no remote output depends on must not close it, with the
    lines it holds for a collector that is down."""
    c = collector("tcp", start=False)
    conf = tmp_path / "netlog.conf"
    log = netlogd("-c", str(conf), start=False)
    outputs = f"output = tcp://127.0.0.1:{c.port}\noutput = {log.log}\n"
    conf.write_text(outputs)
    log.args = ["-c", str(conf)]  # the file names every output
    log.start()
    a = actors(hosts.a, name="nl-remote-sock")
    listens(a, 6700, 10)  # the collector is not there yet: they wait
    log.expect(kind="listen", what="stop", local=f"{A4}:6709")
    conf.write_text(outputs + f"syslog-socket = {tmp_path}/no-syslog-here\n")
    log.proc.send_signal(signal.SIGHUP)
    log.wait_stderr("reload: ")
    c.start()
    got, want = c.wait_ours([(6700, 10)])
    assert got == want, c.lines()


def test_a_reload_that_shrinks_the_buffer_or_changes_the_format_keeps_what_fits_and_counts_the_rest(
        tmp_path, hosts, actors, netlogd, collector):
    """The collector is down; 80 lines wait in 64 KiB. A reload to 4 KiB and
    JSON keeps the oldest that fit, as they were written, counts the others
    to the collector, and writes the new lines as JSON."""
    c = collector("tcp", start=False)
    conf = tmp_path / "netlog.conf"
    log = netlogd("-c", str(conf), start=False)
    conf.write_text(f"output = tcp://127.0.0.1:{c.port}\noutput = {log.log}\nremote-buffer = 64\n")
    log.args = ["-c", str(conf)]  # the file names every output
    log.start()
    a = actors(hosts.a, name="nl-remote-shrink")
    listens(a, 6800, 40)
    log.expect(kind="listen", what="stop", local=f"{A4}:6839")
    conf.write_text(f"output = json:tcp://127.0.0.1:{c.port}\noutput = {log.log}\nremote-buffer = 4\n")
    log.proc.send_signal(signal.SIGHUP)
    log.wait_stderr("reload: ")
    c.start()
    warning = c.wait_for(r'"message":"\d+ events lost: the collector was unreachable')
    assert warning, c.lines()
    lost = int(re.search(r'"message":"(\d+) events lost', warning[0]).group(1))
    listens(a, 6840, 1)
    assert c.wait_for(r'"action":"listen-stop".*"port":6840\b'), c.lines()
    got = ours(c.lines(), 6800, 40)
    want = [(w, p) for p in range(6800, 6840) for w in ("start", "stop")]
    # the oldest, in order, then the count of what did not fit (others' lines may be among both)
    assert 0 < len(got) < 80 and got == want[:len(got)] and len(got) + lost >= 80, (len(got), lost)


def test_every_address_of_the_collectors_name_is_tried(tmp_path, hosts, actors, netlogd, collector):
    """The name has an IPv6 and an IPv4 address, the collector listens on the
    IPv4 one: the IPv6 one, tried first, is refused, and the next is tried."""
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("::1 nl-collector\n127.0.0.1 nl-collector\n")
    own_hosts = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts_file)]
    # not in a chroot (no mount namespace of its own), nor without an /etc/hosts to mount over or
    # "files" in nsswitch.conf, nor where the resolver puts the IPv4 address first
    probe = subprocess.run([*own_hosts, "getent", "ahosts", "nl-collector"], capture_output=True, text=True)
    if probe.returncode or not probe.stdout.startswith("::1 "):
        pytest.skip(f"cannot give netlogd a name with ::1 first here: {probe.stderr.strip() or probe.stdout}")
    c = collector("tcp")
    log = netlogd("--output", f"tcp://nl-collector:{c.port}", start=False)
    log.prefix = own_hosts
    log.start()
    listens(actors(hosts.a, name="nl-remote-names"), 6900, 5)
    got, want = c.wait_ours([(6900, 5)])
    assert got == want, c.lines()
    assert "cannot reach" not in log.stderr_path.read_text()


def test_a_connect_the_kernel_gives_the_collectors_own_port_is_no_collector(hosts, actors, netlogd, collector):
    """The collector is local and down, its port in the ephemeral range, and the
    kernel gives netlogd's connect that very port: TCP then connects the socket
    to itself, and what netlogd sent would come back to it, lost. (Here the
    range holds that one port, so it happens every time.)"""
    port = 40000
    ns_sh(hosts.a, "sysctl", "-qw", f"net.ipv4.ip_local_port_range={port} {port}")
    c = collector("tcp", start=False, netns=hosts.a, port=port)
    log = netlogd("--output", f"tcp://127.0.0.1:{port}", start=False)
    log.prefix = ["nsenter", f"--net=/run/netns/{hosts.a}"]
    log.start()
    listens(actors(hosts.a, name="nl-self"), 6500, 10)
    log.wait_stderr("connected to itself")
    ns_sh(hosts.a, "sysctl", "-qw", "net.ipv4.ip_local_port_range=32768 60999")
    c.start()
    got, want = c.wait_ours([(6500, 10)])
    assert got == want, c.lines()


def test_a_full_buffer_drops_lines_and_the_collector_is_told_how_many(hosts, actors, netlogd, collector):
    c = collector("tcp", start=False)
    log = netlogd("--output", f"tcp://127.0.0.1:{c.port}", "--remote-buffer", "4")
    a = actors(hosts.a, name="nl-remote-full")
    n = 100  # 200 lines of about 100 bytes: far more than 4 KiB
    listens(a, 6400, n)
    log.expect(kind="listen", what="stop", local=f"{A4}:{6400 + n - 1}")
    c.start()
    warning = c.wait_for(r"warning: \d+ events lost: the collector was unreachable")
    assert warning, c.lines()
    lost = int(re.search(r"warning: (\d+) events lost", warning[0]).group(1))
    got = ours(c.lines(), 6400, n)
    assert 0 < len(got) < 2 * n and lost > 0
    assert len(got) + lost >= 2 * n  # every line of ours arrived or is counted (others may be too)
    assert len(set(got)) == len(got)


@pytest.mark.parametrize("end", ["exit", "reload"])
def test_lines_dropped_for_a_collector_that_never_comes_back_are_said_in_the_other_outputs(
        tmp_path, hosts, actors, netlogd, collector, end):
    """A collector is told of the lines dropped for it once it is back. One
    that never comes back (netlogd stops, or a reload drops it) cannot be:
    the gap is said in the other outputs' logs then, and on stderr at once
    (it was said nowhere)."""
    c = collector("tcp", start=False)  # a port nothing listens on
    conf = tmp_path / "netlog.conf"
    log = netlogd(start=False)
    conf.write_text(f"output = {log.log}\noutput = tcp://127.0.0.1:{c.port}\nremote-buffer = 8\n")
    log.args = ["-c", str(conf)]  # the file names every output
    log.start()
    a = actors(hosts.a, name="nl-remote-gone")
    n = 100  # 200 lines of about 100 bytes: more than 8 KiB
    listens(a, 6400, n)
    log.expect(kind="listen", what="stop", local=f"{A4}:{6400 + n - 1}")
    log.wait_stderr(f"lines dropped for tcp://127.0.0.1:{c.port}: the collector away or slow")
    if end == "exit":
        assert log.stop() == 0
    else:
        conf.write_text(f"output = {log.log}\n")
        log.proc.send_signal(signal.SIGHUP)
        log.wait_stderr("reload: ")
    said = re.findall(rf" netlog: warning: (\d+) lines dropped for tcp://127\.0\.0\.1:{c.port}, "
                      r"the collector not told$", log.text(), re.M)
    # what 8 KiB did not hold: the lines of others on the host may add to it
    assert len(said) == 1 and int(said[0]) > 2 * n - 90, (said, log.stderr_path.read_text())


def test_a_small_buffer_loses_nothing_while_the_collector_keeps_up(hosts, actors, netlogd, collector):
    """16 KiB holds some 150 lines: a burst of 300 to a collector that takes
    them all must not overflow it between two of the loop's rounds. (With
    4 KiB, what TCP has in flight unacknowledged, which the buffer keeps for
    a link that breaks, filled it under emulation: that is what the buffer
    is for, not a loss to a collector that keeps up.)"""
    c = collector("tcp")
    log = netlogd("--output", f"tcp://127.0.0.1:{c.port}", "--remote-buffer", "16")
    a = actors(hosts.a, name="nl-remote-burst")
    n = 150
    listens(a, 6700, n)
    log.expect(kind="listen", what="stop", local=f"{A4}:{6700 + n - 1}")
    got, want = c.wait_ours([(6700, n)])
    assert got == want, f"missing: {sorted(want - got)}\nnetlogd said: {log.stderr_path.read_text()}"
    assert not [l for l in c.lines() if "events lost" in l]
    assert "lines dropped for" not in log.stderr_path.read_text()


def test_a_collector_down_is_said_once_with_its_reason_not_at_each_sighup(netlogd, collector):
    c = collector("tcp", start=False)
    log = netlogd("--output", f"tcp://127.0.0.1:{c.port}", "--output", "tcp://nonexistent.invalid:514")
    log.wait_stderr("cannot reach the collector (resolve nonexistent.invalid: ")
    for _ in range(3):
        log.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
    log.wait_stderr("reload: ")
    err = log.stderr_path.read_text()
    assert "reopen" not in err and err.count(f"127.0.0.1:{c.port}: cannot reach the collector") == 1, err


def test_udp_collector_gets_a_datagram_per_line(hosts, actors, netlogd, collector):
    c = collector("udp")
    netlogd("--output", f"udp://127.0.0.1:{c.port}")
    a = actors(hosts.a, name="nl-remote-udp")
    listens(a, 6500, 2)
    c.wait_for(r"listen stop TCP 198\.18\.0\.1:6501 ")
    assert sorted(ours(c.lines(), 6500, 2)) == [("start", 6500), ("start", 6501), ("stop", 6500), ("stop", 6501)]


def test_a_udp_collector_flow_does_not_go_idle_on_the_lines_it_carries(hosts, actors, netlogd, collector):
    """An idle stop of netlogd's flow to its collector is a line sent on that
    flow, which starts it again, and so on forever; likewise the collector's
    flow from netlogd on this host. Both end at their socket's close only."""
    c = collector("udp")
    log = netlogd("--output", f"udp://127.0.0.1:{c.port}", "--udp-idle-timeout", "1")
    a = actors(hosts.a, name="nl-remote-idle")
    listens(a, 6520, 1)
    c.wait_for(r"listen stop TCP 198\.18\.0\.1:6520 ")
    log.find(kind="connect", what="start", proto="UDP", remote=f"127.0.0.1:{c.port}")
    time.sleep(5)  # a second's idle timeout, several times over
    mine = [(l["what"], l["dir"]) for l in log.lines()
            if l["kind"] == "connect" and l["proto"] == "UDP" and f"127.0.0.1:{c.port}" in (l["local"], l["remote"])]
    assert sorted(mine) == [("start", "->"), ("start", "<-")], log.text()


def test_udp_lines_that_could_not_be_sent_are_counted_to_the_collector(hosts, actors, netlogd, collector):
    """Nothing listens on the collector's port at first: the kernel answers a
    datagram with a port unreachable, and the next send fails (ECONNREFUSED).
    Those lines are lost, and the collector must be told how many once it is
    there."""
    c = collector("udp", start=False)
    log = netlogd("--output", f"udp://127.0.0.1:{c.port}")
    a = actors(hosts.a, name="nl-remote-udp-lost")
    listens(a, 6600, 10)
    log.expect(kind="listen", what="stop", local=f"{A4}:6609")  # written, and sent nowhere
    log.wait_stderr("cannot send to the collector (send: Connection refused)")  # said at once, locally
    c.start()
    listens(a, 6610, 1)  # a line that can be sent, and with it the count
    warning = c.wait_for(r"warning: \d+ events lost: they could not be sent to the collector")
    assert warning, c.lines()
    lost = int(re.search(r"warning: (\d+) events lost", warning[0]).group(1))
    # each of our 20 lines counted: a refusal comes back before send() returns, and is asked for
    assert lost >= 20 and not ours(c.lines(), 6600, 10), c.lines()
    assert c.wait_for(r"listen stop TCP 198\.18\.0\.1:6610 "), c.lines()
    log.wait_stderr("lines could not be sent; the collector takes them again")


def shaped_burst(hosts, netlogd, collector, n, conf=None):
    """netlogd sending to a collector over a loopback shaped to 1 Mbit/s in
    host a (acknowledgements come late), its buffer 16 KiB (set in @conf,
    if given); @n listen start and stop pairs there in some milliseconds."""
    ns_sh(hosts.a, "ip", "link", "set", "lo", "mtu", "1500")  # the shaper's burst holds a whole packet
    shaper = ns_sh(hosts.a, "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "1mbit", "burst", "4kb",
                   "latency", "5s", check=False)
    if shaper.returncode:
        pytest.skip(f"no tbf queueing discipline here: {shaper.stderr.strip()}")
    c = collector("tcp", netns=hosts.a)
    log = netlogd("--output", f"tcp://127.0.0.1:{c.port}", "--remote-buffer", "16", start=False)
    if conf:
        conf.write_text(f"output = tcp://127.0.0.1:{c.port}\noutput = {log.log}\nremote-buffer = 16\n")
        log.args = ["-c", str(conf)]
    log.prefix = in_ns(hosts.a)
    log.start()
    ns_sh(hosts.a, "python3", "-c", f"""
import socket
for p in range(6900, {6900 + n}):
    s = socket.socket(); s.bind(('{A4}', p)); s.listen(); s.close()
""")
    log.expect(kind="listen", what="stop", local=f"{A4}:{6900 + n - 1}")
    return c, log


def test_lines_the_link_has_taken_give_way_to_new_ones_in_a_full_buffer(hosts, netlogd, collector):
    """A burst six times the buffer (800 lines of about 110 bytes) to a
    collector that keeps up, on a link whose acknowledgements come late:
    what TCP took waits there for its acknowledgement, and must not push the
    burst's tail out of the buffer."""
    n = 400
    c, log = shaped_burst(hosts, netlogd, collector, n)
    got, want = c.wait_ours([(6900, n)])
    assert got == want, f"missing: {len(want - got)}\nnetlogd said: {log.stderr_path.read_text()}"
    assert "lines dropped for" not in log.stderr_path.read_text()


def test_lines_given_way_are_counted_when_the_link_then_breaks(hosts, netlogd, collector):
    """The same burst, and the collector killed before TCP could deliver it:
    the lines that had given way are said (as "up to" so many: some did
    arrive), the others sent again once the collector is back."""
    n = 400
    c, log = shaped_burst(hosts, netlogd, collector, n)
    c.kill()
    log.wait_stderr("lines the link had taken were not known to be delivered when it broke")
    c.start()
    err = log.stderr_path.read_text()
    given_up = int(re.search(r"up to (\d+) lines the link had taken", err).group(1))
    deadline = time.monotonic() + 20
    while len(got := set(ours(c.lines(), 6900, n))) + given_up < 2 * n and time.monotonic() < deadline:
        time.sleep(0.1)
    assert 0 < given_up < 2 * n and len(got) < 2 * n, err
    assert len(got) + given_up >= 2 * n, f"missing: {2 * n - len(got)}, said: {given_up}\n{err}"


def test_a_reload_resizing_the_buffer_while_lines_give_way_loses_nothing(tmp_path, hosts, actors, netlogd,
                                                                         collector):
    """The shaped burst, and a reload to 32 KiB while TCP still holds what
    gave way: the lines it holds arrive, and so do the later ones."""
    n = 400
    conf = tmp_path / "netlog.conf"
    c, log = shaped_burst(hosts, netlogd, collector, n, conf)
    conf.write_text(conf.read_text().replace("remote-buffer = 16", "remote-buffer = 32"))
    log.proc.send_signal(signal.SIGHUP)
    log.wait_stderr("reload: ")
    listens(actors(hosts.a, name="nl-resized"), 7400, 1)
    got, want = c.wait_ours([(6900, n), (7400, 1)])
    assert got == want, f"missing: {len(want - got)}\nnetlogd said: {log.stderr_path.read_text()}"
