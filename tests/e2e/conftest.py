"""End-to-end fixtures: the real daemon, real network namespaces, real processes.

Every test gets its own pair of network namespaces joined by a veth pair
(hosts "a" and "b", IPv4 and IPv6), and a netlogd writing to a file of its
own. Traffic never leaves these namespaces.
"""
import collections
import datetime
import json
import os
import platform
import re
import secrets
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# NETLOG_TEST_BINARY: another build of the daemon to test (one built with sanitizers, say)
NETLOGD = Path(os.environ.get("NETLOG_TEST_BINARY") or ROOT / "build" / "netlogd")
ACTOR = Path(__file__).resolve().parent / "actor.py"

# Test hosts: the benchmarking range (RFC 2544) and a unique local IPv6 prefix.
A4, B4 = "198.18.0.1", "198.18.0.2"
A6, B6 = "fd00:6e6c::1", "fd00:6e6c::2"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "every_kernel: among the tests CI runs on each kernel of make test-kernels (each hook's "
        "core behaviours: where kernels differ); make test-kernels alone runs them all")


def stamp(text):
    """A line's RFC 3339 UTC time with microseconds, as seconds since the epoch."""
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


# a process name that would split and forge a line, and how a line must write it
HOSTILE_NAME = b"a b\\x\nconnect\xff"
HOSTILE_NAME_ESCAPED = "a b\\x5cx\\x0aconnect\\xff"

# what names the process in a line
PROCESS_FIELDS = ("sid", "pid", "uid", "comm")
# netlogd's own warnings in the log (losses, notices)
WARNING = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z netlog: warning: \d+ \S")
LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) netlog: info: "
    r"(?P<kind>connect|listen) (?P<what>start|stop|fail) (?P<proto>TCP|UDP) (?P<local>\S+)"
    r"(?: (?P<dir>->|<-) (?P<remote>\S+))? (?P<sid>\d+) (?P<pid>\d+) (?P<uid>\d+) (?P<comm>.*)$"
)


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def in_ns(ns):
    """Command prefix that runs in network namespace @ns. nsenter only joins
    the namespace; `ip netns exec` also remounts /, which fails in a chroot."""
    return ["nsenter", f"--net=/run/netns/{ns}"]


def ns_sh(ns, *cmd, check=True):
    return sh(*in_ns(ns), *cmd, check=check)


def listen_once(ns, port):
    """A TCP listener on host a's address in @ns, closed at once: a listen start and stop."""
    ns_sh(ns, "python3", "-c", f"import socket; s=socket.socket(); s.bind(('{A4}', {port})); s.listen()")


def can_drop_to(uid):
    """Whether a process of @uid can run here at all (not in a root-only chroot)."""
    r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "true"],
                       capture_output=True)
    return r.returncode == 0


def hexname(name):
    return name.encode() .hex() if isinstance(name, str) else name.hex()


class Actor:
    """A process (tests/e2e/actor.py) that opens sockets on command."""

    def __init__(self, ns=None, name=None, uid=None):
        cmd = []
        if ns:
            cmd += in_ns(ns)
        if uid is not None:
            cmd += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        cmd += [sys.executable, str(ACTOR)]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        info = self._read()
        self.pid, self.sid, self.uid = info["pid"], info["sid"], info["uid"]
        self.comm = "python3"
        if name:
            self.rename(name)

    def _read(self):
        r, _, _ = select.select([self.proc.stdout], [], [], 30)
        assert r, "actor did not answer within 30 s"
        line = self.proc.stdout.readline()
        assert line, "actor exited"
        return json.loads(line)

    def call(self, cmd, *args):
        self.proc.stdin.write(json.dumps([cmd, *args]) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def __call__(self, cmd, *args):
        out = self.call(cmd, *args)
        assert "error" not in out, f"{cmd}{args}: {out['error']}"
        return out

    def rename(self, name):
        """Set the process's command name (its main thread's comm)."""
        self("name", hexname(name))
        self.comm = name

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def program_name(prog_id):
    """The name of the loaded BPF program @prog_id, or None once it is gone."""
    r = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(prog_id)], capture_output=True, text=True)
    return json.loads(r.stdout)["name"] if r.returncode == 0 else None


class Netlogd:
    """The real daemon, logging to a file; lines are parsed as users would."""

    def __init__(self, tmp_path, *args):
        self.log = tmp_path / "netlog.log"
        self.stderr_path = tmp_path / "netlogd.stderr"
        # NETLOG_TEST_ARGS: options every test's netlogd gets (say --compat)
        self.args = ["--output", str(self.log), *args, *os.environ.get("NETLOG_TEST_ARGS", "").split()]
        self.binary = NETLOGD
        self.prefix = []  # a command it runs under, say nsenter into a network namespace
        self.proc = None
        self.stdout = None  # where its standard output goes: the test's own by default
        self.stderr_to_stdout = False  # standard error goes there too (as with the journal)
        self.env = {}  # variables added to its environment

    def start(self, ready=None):
        """@ready: says whether netlogd is ready (by default: it said so on stderr)."""
        self.stderr = open(self.stderr_path, "w+")
        self.proc = subprocess.Popen([*self.prefix, str(self.binary), *self.args], stdout=self.stdout,
                                     stderr=subprocess.STDOUT if self.stderr_to_stdout else self.stderr,
                                     env={**os.environ, **self.env})
        ready = ready or (lambda: "netlogd: logging to" in self.stderr_path.read_text())
        deadline = time.monotonic() + 60  # a deadline: start-up takes about 1 s, more under emulation
        while not ready():
            assert self.proc.poll() is None, f"netlogd exited: {self.stderr_path.read_text()}"
            assert time.monotonic() < deadline, "netlogd did not become ready"
            time.sleep(0.05)
        return self

    def wait_stderr(self, text, timeout=10):
        """Wait until netlogd has said @text on stderr."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr_path.read_text():
            assert time.monotonic() < deadline, self.stderr_path.read_text()
            time.sleep(0.05)

    def _held(self, field, links_only=False):
        """The ids in @field (prog_id, map_id) of the BPF objects this daemon's descriptors
        hold; with @links_only, only those of its links (what it has attached)."""
        ids = set()
        for fd in os.listdir(f"/proc/{self.proc.pid}/fdinfo"):
            try:
                info = Path(f"/proc/{self.proc.pid}/fdinfo/{fd}").read_text()
            except OSError:
                continue
            if links_only and not re.search(r"^link_type:", info, re.M):
                continue
            m = re.search(rf"^{field}:\s+(\d+)$", info, re.M)
            if m:
                ids.add(int(m.group(1)))
        return ids

    def programs(self):
        """The names of the BPF programs this daemon holds, by id: not another netlogd's."""
        return {i: program_name(i) for i in self._held("prog_id")}

    def attached(self):
        """The names of the programs this daemon's links attach: those the kernel runs."""
        return {program_name(i) for i in self._held("prog_id", links_only=True)}

    def map_entries(self, name):
        """The entries of this daemon's BPF map @name."""
        for i in self._held("map_id"):
            show = json.loads(subprocess.run(["bpftool", "-j", "map", "show", "id", str(i)],
                                             capture_output=True, text=True, check=True).stdout)
            if show.get("name") == name:
                return json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "id", str(i)],
                                                 capture_output=True, text=True, check=True).stdout)
        raise AssertionError(f"netlogd holds no map {name}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        return self.proc.returncode

    def text(self):
        return self.log.read_text(errors="surrogateescape") if self.log.exists() else ""

    def lines(self):
        out = []
        for raw in self.text().splitlines():
            m = LINE.match(raw)
            if m:
                out.append(m.groupdict())
        return out

    def find(self, timeout=10, **want):
        """Wait for the lines matching every field in @want; return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [l for l in self.lines() if all(l[k] == str(v) for k, v in want.items())]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def wait_count(self, n, timeout=10, **want):
        """Wait until @n lines match @want (no more); return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(timeout=0, **want)
            if len(found) >= n or time.monotonic() > deadline:
                assert len(found) == n, f"want {n} lines with {want}, got {found}\nlog:\n{self.text()}"
                return found
            time.sleep(0.05)

    def wait_text(self, pattern, timeout=10):
        """Wait for a line matching the regular expression @pattern; return all matches."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(pattern, self.text(), re.M)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def wait_total(self, pattern, at_least, timeout=10):
        """A count said over several warnings (one report a second): wait
        until the numbers @pattern captures add up to @at_least; return the sum."""
        deadline = time.monotonic() + timeout
        while True:
            total = sum(map(int, re.findall(pattern, self.text(), re.M)))
            if total >= at_least or time.monotonic() > deadline:
                return total
            time.sleep(0.05)

    def expect(self, timeout=10, **want):
        """Wait for the one line of @want. Lines are told apart by their other
        fields, not the process's: a second line of that connection naming
        another process (the opener's stop beside the closer's) is one too
        many, not another line."""
        found = self.find(timeout, **want)
        key = {k: v for k, v in want.items() if k not in PROCESS_FIELDS}
        same = self.find(0, **key) if key and found else found
        assert len(found) == 1 and len(same) == 1, \
            f"want exactly one line with {key}, and it with {want}, got {same}\nlog:\n{self.text()}"
        return found[0]

    def recheck(self):
        """At the end, the whole log: no stop without a start still open
        before it, of the same connection or listen (a second stop may come
        later than a test looked), and every line reads as a line of the log
        should (one that does not is seen by no find())."""
        opened = collections.Counter()
        for l in self.lines():
            if l["what"] == "fail":
                continue
            key = (l["kind"], l["proto"], l["local"], l["dir"], l["remote"])
            opened[key] += 1 if l["what"] == "start" else -1
            assert opened[key] >= 0, f"a stop with no start open before it: {l}\nlog:\n{self.text()}"
        odd = [l for l in self.text().splitlines()
               if not LINE.match(l) and not WARNING.match(l) and not l.startswith("{")]
        assert odd == [], odd[:5]


class Hosts:
    """Two network namespaces, a and b, joined by a veth pair."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.a, self.b = f"nl-{tag}-a", f"nl-{tag}-b"
        sh("ip", "netns", "add", self.a)
        sh("ip", "netns", "add", self.b)
        sh("ip", "link", "add", f"nl{tag}a", "netns", self.a, "type", "veth", "peer", "name", f"nl{tag}b", "netns", self.b)
        for ns, dev, v4, v6 in ((self.a, f"nl{tag}a", A4, A6), (self.b, f"nl{tag}b", B4, B6)):
            ns_sh(ns, "ip", "link", "set", "lo", "up")
            ns_sh(ns, "ip", "addr", "add", f"{v4}/24", "dev", dev)
            ns_sh(ns, "ip", "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            ns_sh(ns, "ip", "link", "set", dev, "up")
        # the IPv6 prefix route comes with the carrier, which the kernel notices
        # asynchronously: until then an IPv6 connect fails with ENETUNREACH
        deadline = time.monotonic() + 10
        for ns, dev in ((self.a, f"nl{tag}a"), (self.b, f"nl{tag}b")):
            while True:
                link = ns_sh(ns, "ip", "link", "show", "dev", dev).stdout
                route = ns_sh(ns, "ip", "-6", "route", "show", "fd00:6e6c::/64").stdout
                if "LOWER_UP" in link and route and "linkdown" not in route:
                    break
                assert time.monotonic() < deadline, f"{dev} in {ns} did not come up: {link} {route}"
                time.sleep(0.02)

    def close(self):
        sh("ip", "netns", "del", self.a, check=False)
        sh("ip", "netns", "del", self.b, check=False)


@pytest.fixture
def hosts():
    h = Hosts()
    yield h
    h.close()


@pytest.fixture
def actors():
    made = []

    def make(*args, **kw):
        a = Actor(*args, **kw)
        made.append(a)
        return a

    yield make
    for a in made:
        a.stop()


@pytest.fixture
def netlogd(tmp_path):
    made = []

    def make(*args, start=True):
        d = Netlogd(tmp_path, *args)
        made.append(d)
        return d.start() if start else d

    yield make
    time.sleep(0.3)  # a duplicate stop may come a little after the first
    for d in made:
        assert d.stop() == 0, f"netlogd exited with {d.proc.returncode}: {d.stderr_path.read_text()}"
    for d in made:
        d.recheck()


def who(actor):
    """The process fields a line must carry for @actor."""
    return {"sid": actor.sid, "pid": actor.pid, "uid": actor.uid, "comm": actor.comm}


def kernel_at_least(*want):
    return tuple(int(x) for x in re.findall(r"\d+", platform.release())[:2]) >= want


def hand_over(sender, receiver, fd, ns):
    """@sender passes descriptor @fd to @receiver (SCM_RIGHTS); returns the receiver's fd."""
    path = f"/tmp/{ns}.sock"
    ufd = receiver("unix_listen", path)["fd"]
    try:
        sender("sendfd", path, fd)
        return receiver("recvfd", ufd)["fd"]
    finally:
        os.unlink(path)


def barrier(log, actor, addr="127.0.0.1"):
    """Open and close a listener, wait for its stop: earlier events are all in."""
    out = actor("listen", addr, 0)
    actor("close", out["fd"])
    log.expect(kind="listen", what="stop", local=f"{addr}:{out['port']}", pid=actor.pid)
