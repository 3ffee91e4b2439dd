"""The configuration file: checked with -n, read with -c, reloaded on SIGHUP."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import A4, NETLOGD, Netlogd, can_drop_to, who


def run(*args):
    return subprocess.run([str(NETLOGD), *args], capture_output=True, text=True, timeout=30)


def test_check_says_ok_or_names_each_error_with_its_line(tmp_path):
    good = tmp_path / "good.conf"
    good.write_text("# a comment\nformat = json\noutput = json:/var/log/netlog.json\nignore = port 22\n")
    r = run("-n", "-c", str(good))
    assert (r.returncode, r.stdout) == (0, "configuration OK\n"), r.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("format = json\nudp-idle-timeout = never\n\nignore = address 10.0.0.1/8\nwhat\n")
    r = run("-n", "-c", str(bad))
    assert r.returncode == 1 and r.stdout == "configuration has errors\n"
    errors = r.stderr.splitlines()
    assert len(errors) == 3, r.stderr
    assert errors[0].startswith(f"netlogd: {bad}:2: udp-idle-timeout: 'never' is not a number")
    assert errors[1].startswith(f"netlogd: {bad}:4: ignore: '10.0.0.1/8' has host bits set")
    assert errors[2].startswith(f"netlogd: {bad}:5: expected 'key = value'")


def test_a_key_that_holds_one_value_given_twice_is_an_error_and_repeatable_ones_add(tmp_path):
    conf = tmp_path / "twice.conf"
    conf.write_text(f"format = json\noutput = {tmp_path}/a.log\noutput = {tmp_path}/b.log\n"
                    "ignore = port 22\nignore = port 53\nformat = classic\n")
    r = run("-n", "-c", str(conf))
    assert r.returncode == 1 and r.stdout == "configuration has errors\n"
    assert r.stderr == f"netlogd: {conf}:6: format: given again (first on line 1)\n"


def test_check_says_which_output_file_could_not_be_opened_and_makes_none(tmp_path):
    (tmp_path / "adir").mkdir()
    made = tmp_path / "new.log"
    r = run("-n", "-c", "/dev/null", "-o", str(made), "-o", f"{tmp_path}/nowhere/x.log", "-o", str(tmp_path / "adir"))
    assert r.returncode == 1 and r.stdout == "configuration has errors\n"
    assert r.stderr.splitlines() == [
        f"netlogd: output {tmp_path}/nowhere/x.log: cannot be made in {tmp_path}/nowhere: No such file or directory",
        f"netlogd: output {tmp_path}/adir: Is a directory"], r.stderr
    assert not made.exists()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as log:
        log.bind(str(tmp_path / "log"))
        r = run("-n", "-c", "/dev/null", "-o", str(made), "-o", "syslog", "--syslog-socket", str(tmp_path / "log"),
                "-o", "tcp://127.0.0.1:514")
    assert (r.returncode, r.stdout) == (0, "configuration OK\n"), r.stderr
    assert not made.exists()


def test_check_refuses_kernel_files_one_file_twice_and_a_missing_syslog_socket(tmp_path):
    """Each would fail at start, or lose every line, or write each line twice;
    netlogd's own files as outputs would lose the log (the pid file, removed
    at exit) or break the next reload (the configuration)."""
    for args, said in (
            (["-o", "/proc/version"], "netlogd: output /proc/version: a kernel file (in /proc or /sys), not a log"),
            (["-o", "/sys/kernel/netlog.log"],
             "netlogd: output /sys/kernel/netlog.log: a kernel file (in /proc or /sys), not a log"),
            (["-o", f"{tmp_path}/a.log", "-o", f"{tmp_path}//a.log"],
             f"netlogd: outputs {tmp_path}/a.log and {tmp_path}//a.log are one file"),
            (["-o", "syslog", "--syslog-socket", f"{tmp_path}/none"],
             f"netlogd: output syslog: {tmp_path}/none: No such file or directory (is a syslog daemon running?)")):
        r = run("-n", "-c", "/dev/null", *args)
        assert (r.returncode, r.stdout, r.stderr) == (1, "configuration has errors\n", said + "\n"), args
    conf = tmp_path / "netlog.conf"
    conf.write_text(f"output = {tmp_path}/./netlog.conf\n")
    for args, said in (
            (["-c", str(conf)], f"netlogd: output {tmp_path}/./netlog.conf is netlogd's own configuration file, not a log"),
            (["-c", "/dev/null", "-o", "/run/netlogd.pid"], "netlogd: output /run/netlogd.pid is netlogd's own pid file, not a log"),
            (["-c", "/dev/null", "-o", str(NETLOGD)], f"netlogd: output {NETLOGD} is netlogd's own program, not a log")):
        r = run("-n", *args)
        assert (r.returncode, r.stdout, r.stderr) == (1, "configuration has errors\n", said + "\n"), args
    r = run("-c", "/dev/null", "-o", "/run/netlogd.pid")  # refused at start too
    assert r.returncode == 1 and "is netlogd's own pid file" in r.stderr, r.stderr
    (tmp_path / "b.log").write_text("")
    os.link(tmp_path / "b.log", tmp_path / "c.log")
    r = run("-n", "-c", "/dev/null", "-o", f"{tmp_path}/b.log", "-o", f"{tmp_path}/c.log")
    assert r.returncode == 1 and "are one file" in r.stderr, r.stderr
    # and at start, with the same words
    r = run("-c", "/dev/null", "-o", "/proc/version")
    assert r.returncode == 1 and "open output /proc/version: a kernel file" in r.stderr, r.stderr


def test_a_symbolic_link_where_other_users_may_write_is_not_followed(tmp_path, netlogd):
    """netlogd writes as root, lines whose text processes choose in part (a
    process's name, with spaces and semicolons): a link another user put on an
    output's path would have it append them to any file, a shell's start-up
    file say. Where another user may write, no link on the way is followed:
    not at the check, not at start, not at a reopen."""
    pub = tmp_path / "pub"
    pub.mkdir()
    os.chmod(pub, 0o1777)
    victim = tmp_path / "victim"
    (pub / "netlog.log").symlink_to(victim)
    (tmp_path / "real").mkdir()
    (pub / "d").symlink_to(tmp_path / "real")  # a directory on the way is no better
    for path in (pub / "netlog.log", pub / "d" / "x.log"):
        why = (f"{path}: a symbolic link on its way, where another user than root may write: "
               "netlogd would follow it as root (name the file itself)")
        r = run("-n", "-c", "/dev/null", "-o", str(path))
        assert (r.returncode, r.stderr) == (1, f"netlogd: output {why}\n"), r.stderr
        r = run("-c", "/dev/null", "-o", str(path))
        assert r.returncode == 1 and f"netlogd: open output {why}\n" in r.stderr, r.stderr
    assert not victim.exists() and not (tmp_path / "real" / "x.log").exists()
    # logrotate's turn: the log moved away, a link in its place, then SIGHUP
    d = netlogd()
    d.log.rename(tmp_path / "netlog.log.1")
    d.log.symlink_to(victim)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_stderr(f"reopen {d.log}: a symbolic link on its way")
    assert not victim.exists()
    # nor a hard link to a file elsewhere, nor a file another user put there
    (tmp_path / "elsewhere").write_text("root's own\n")
    (pub / "linked.log").hardlink_to(tmp_path / "elsewhere")
    (pub / "theirs.log").write_text("")
    os.chown(pub / "theirs.log", 65534, 65534)
    for name, why in (("linked.log", "has 2 hard links, where another user than root may write"),
                      ("theirs.log", "owned by uid 65534, where another user than root may write")):
        r = run("-n", "-c", "/dev/null", "-o", str(pub / name))
        assert r.returncode == 1 and f"netlogd: output {pub / name}: {why}" in r.stderr, r.stderr
        r = run("-c", "/dev/null", "-o", str(pub / name))
        assert r.returncode == 1 and f"netlogd: open output {pub / name}: {why}" in r.stderr, r.stderr
    assert (tmp_path / "elsewhere").read_text() == "root's own\n", "written through the hard link"
    # where only root may write, a link is root's own: followed, unless it leads
    # through a directory another user may write (the rest of the way is theirs)
    run_dir = Path("/run")
    if run_dir.stat().st_uid != 0 or run_dir.stat().st_mode & 0o022:
        return
    safe = Path(tempfile.mkdtemp(dir=run_dir, prefix="netlog-test-"))
    try:
        (safe / "netlog.log").symlink_to(tmp_path / "followed.log")
        r = run("-n", "-c", "/dev/null", "-o", str(safe / "netlog.log"))
        assert (r.returncode, r.stdout) == (0, "configuration OK\n"), r.stderr
        (safe / "logdir").symlink_to(pub / "d")  # pub/d: a link its user can turn anywhere
        r = run("-n", "-c", "/dev/null", "-o", str(safe / "logdir" / "x.log"))
        assert r.returncode == 1 and "a symbolic link on its way" in r.stderr, r.stderr
    finally:
        shutil.rmtree(safe)


def test_a_missing_or_unreadable_file_given_with_c_is_an_error(tmp_path):
    r = run("-n", "-c", str(tmp_path / "nowhere.conf"))
    assert r.returncode == 1 and "nowhere.conf: No such file or directory" in r.stderr
    d = tmp_path / "adir"
    d.mkdir()
    r = run("-c", str(d))
    assert r.returncode == 1 and "adir" in r.stderr


def test_dev_null_is_no_settings_and_a_fifo_is_refused_without_waiting(tmp_path):
    r = run("-n", "-c", "/dev/null")
    assert (r.returncode, r.stdout) == (0, "configuration OK\n"), r.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = run("-n", "-c", str(fifo))  # nothing writes to it: reading it would wait for good
    assert r.returncode == 1 and f"{fifo}: not a regular file" in r.stderr, r.stderr


def test_outputs_and_ignore_rules_from_the_file_and_the_command_line_over_it(tmp_path, hosts, actors):
    out = tmp_path / "from-file.json"
    conf = tmp_path / "netlog.conf"
    conf.write_text(f"output = json:{out}\nignore = port 6601\nignore = command nl-cfg-quiet\n")
    d = Netlogd(tmp_path, "-c", str(conf))
    d.args = ["-c", str(conf)]  # the file's output, not the fixture's
    d.log = out
    d.start()
    try:
        a = actors(hosts.a, name="nl-cfg")
        quiet = actors(hosts.a, name="nl-cfg-quiet")
        for port in (6600, 6601):
            a("close", a("listen", A4, port)["fd"])
        quiet("close", quiet("listen", A4, 6602)["fd"])
        a("close", a("listen", A4, 6603)["fd"])
        deadline = time.monotonic() + 10
        while '"port":6603' not in (out.read_text() if out.exists() else "") or \
                out.read_text().count('"port":6603') < 2:
            assert time.monotonic() < deadline, out.read_text() if out.exists() else "nothing"
            time.sleep(0.05)
        ports = [json.loads(l)["destination"]["port"] for l in out.read_text().splitlines()
                 if '"listen-' in l and A4 in l]
        assert sorted(ports) == [6600, 6600, 6603, 6603]
    finally:
        assert d.stop() == 0
    # the command line wins over the file: its own output, and its format
    # (and the file's ignore rules stay in force)
    d2 = Netlogd(tmp_path / "..", "-c", str(conf), "--format", "classic")
    d2.start()
    try:
        a("close", a("listen", A4, 6601)["fd"])
        a("close", a("listen", A4, 6604)["fd"])
        d2.expect(kind="listen", what="stop", local=f"{A4}:6604", **who(a))
        assert not d2.find(timeout=0, local=f"{A4}:6601")
    finally:
        assert d2.stop() == 0
    assert '"port":6604' not in out.read_text()


def test_a_rule_of_conditions_joined_by_and_ignores_only_what_meets_them_all(tmp_path, hosts, actors, netlogd):
    """A process chooses its own name: `command` alone would let any user hide
    their connections by taking the agent's name. Joined to the agent's uid,
    the same name from another user is logged; and a port joined to a
    condition stays the daemon's, not the kernel's (which would ignore the
    port for everyone)."""
    conf = tmp_path / "netlog.conf"
    conf.write_text("ignore = uid 0 and command nl-agent\nignore = port 6721 and command nl-agent\n")
    log = netlogd("-c", str(conf))
    agent = actors(hosts.a, name="nl-agent")
    other = actors(hosts.a, name="nl-other")
    # another user under the agent's name (not where only root may run programs, as in a chroot)
    mimic = actors(hosts.a, name="nl-agent", uid=65534) if can_drop_to(65534) else None
    agent("close", agent("listen", A4, 6720)["fd"])
    if mimic:
        mimic("close", mimic("listen", A4, 6722)["fd"])
    other("close", other("listen", A4, 6721)["fd"])
    agent("close", agent("listen", A4, 6721)["fd"])
    other("close", other("listen", A4, 6723)["fd"])
    log.expect(kind="listen", what="stop", local=f"{A4}:6723", **who(other))
    if mimic:
        log.expect(kind="listen", what="stop", local=f"{A4}:6722", **who(mimic))
    assert [(l["what"], l["pid"]) for l in log.find(timeout=2, local=f"{A4}:6721")] == [
        ("start", str(other.pid)), ("stop", str(other.pid))]
    assert not log.find(timeout=0, local=f"{A4}:6720")


def test_sighup_reloads_and_a_bad_file_changes_nothing(tmp_path, hosts, actors, netlogd):
    conf = tmp_path / "netlog.conf"
    conf.write_text("ignore = port 6701\n")
    log = netlogd("-c", str(conf))
    a = actors(hosts.a, name="nl-cfg-hup")

    def listen(port):
        a("close", a("listen", A4, port)["fd"])

    listen(6700)
    listen(6701)
    log.expect(kind="listen", what="stop", local=f"{A4}:6700")
    conf.write_text("ignore = port 6700\n")
    log.proc.send_signal(signal.SIGHUP)
    log.wait_stderr("reload: ")
    listen(6700)
    listen(6701)
    log.expect(kind="listen", what="stop", local=f"{A4}:6701")
    assert len(log.find(timeout=0, local=f"{A4}:6700")) == 2  # only from before the reload
    conf.write_text("ignore = port 6700\nignore = nonsense\n")
    log.proc.send_signal(signal.SIGHUP)
    log.wait_stderr("the configuration in force stays")
    assert "netlog.conf:2: ignore: unknown rule 'nonsense'" in log.stderr_path.read_text()
    listen(6700)
    listen(6702)
    log.expect(kind="listen", what="stop", local=f"{A4}:6702")
    assert len(log.find(timeout=0, local=f"{A4}:6700")) == 2
    assert log.proc.poll() is None


def test_a_reload_that_reads_a_file_being_rewritten_keeps_the_outputs(tmp_path, hosts, actors):
    """`cat new > netlog.conf` truncates the file, then writes it: a SIGHUP
    between the two read an empty file, whose defaults sent every line to
    standard output, away from the log, and dropped every ignore rule. An
    empty file, or one that names no output where the one in force did, now
    changes nothing; `output = stdout` still says so when meant."""
    out = tmp_path / "from-file.log"
    conf = tmp_path / "netlog.conf"
    conf.write_text(f"output = {out}\nignore = port 6731\n")
    d = Netlogd(tmp_path, "-c", str(conf))
    d.args = ["-c", str(conf), "-v"]
    d.log = out
    d.stdout = subprocess.PIPE
    d.start()
    try:
        a = actors(hosts.a, name="nl-cfg-empty")
        for n, (text, said) in enumerate((("", "empty (being written?)"),
                                          ("ignore = port 6731\n", "it names no output, where it named some"))):
            conf.write_text(text)
            d.proc.send_signal(signal.SIGHUP)
            d.wait_stderr(f"reload: {conf}: {said}")
            a("close", a("listen", A4, 6731)["fd"])  # still ignored
            a("close", a("listen", A4, 6732 + n)["fd"])
            d.expect(kind="listen", what="stop", local=f"{A4}:{6732 + n}")  # still in the file
            assert not d.find(timeout=0, local=f"{A4}:6731")
        conf.write_text("output = stdout\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_stderr(f"reload: {conf} read")
        a("close", a("listen", A4, 6735)["fd"])
        deadline = time.monotonic() + 10
        got = b""
        while f"{A4}:6735".encode() not in got:  # asked for: standard output takes the lines
            assert time.monotonic() < deadline, got
            got += os.read(d.proc.stdout.fileno(), 65536)
    finally:
        assert d.stop() == 0


def test_sighup_with_a_bad_file_still_reopens_the_output_for_rotation(tmp_path, hosts, actors, netlogd):
    conf = tmp_path / "netlog.conf"
    conf.write_text("ignore = port 6711\n")
    log = netlogd("-c", str(conf))
    a = actors(hosts.a, name="nl-cfg-rot")
    a("close", a("listen", A4, 6710)["fd"])
    log.expect(kind="listen", what="stop", local=f"{A4}:6710")
    conf.write_text("ignore = port 6711\nignore = nonsense\n")  # a typo left in the file
    rotated = tmp_path / "netlog.log.1"
    log.log.rename(rotated)  # logrotate, then its SIGHUP
    log.proc.send_signal(signal.SIGHUP)
    log.wait_stderr("the configuration in force stays")
    a("close", a("listen", A4, 6712)["fd"])
    log.expect(kind="listen", what="stop", local=f"{A4}:6712")  # in the new file
    assert f"{A4}:6712" not in rotated.read_text() and f"{A4}:6710" in rotated.read_text()


DEFAULT_CONF = Path("/etc/netlog/netlog.conf")


@pytest.mark.skipif(DEFAULT_CONF.exists() or DEFAULT_CONF.parent.exists(),
                    reason="this host has its own netlog configuration")
def test_sighup_after_the_default_file_was_removed_keeps_the_configuration(tmp_path, hosts, actors, netlogd):
    """No -c: the file read at start is gone at the reload; the defaults must not take over."""
    out = tmp_path / "from-the-file.log"
    DEFAULT_CONF.parent.mkdir()
    try:
        DEFAULT_CONF.write_text(f"output = {out}\nignore = port 6721\n")
        log = netlogd(start=False)
        log.args = []
        log.log = out
        log.start()
        DEFAULT_CONF.unlink()
        log.proc.send_signal(signal.SIGHUP)
        log.wait_stderr("the configuration in force stays")
        assert "No such file or directory" in log.stderr_path.read_text()
    finally:
        DEFAULT_CONF.unlink(missing_ok=True)
        DEFAULT_CONF.parent.rmdir()
    a = actors(hosts.a, name="nl-cfg-gone")
    a("close", a("listen", A4, 6721)["fd"])
    a("close", a("listen", A4, 6722)["fd"])
    log.expect(kind="listen", what="stop", local=f"{A4}:6722")  # still its file, and its rules
    assert not log.find(timeout=0, local=f"{A4}:6721")


def test_sighup_while_starting_waits_for_the_loop(tmp_path, netlogd):
    """logrotate may signal a netlogd still loading: the signal must not kill it."""
    log = netlogd(start=False)
    log.stderr = open(log.stderr_path, "w+")
    log.proc = subprocess.Popen([str(log.binary), *log.args], stderr=log.stderr)
    time.sleep(0.3)  # loading its programs
    log.proc.send_signal(signal.SIGHUP)
    log.wait_stderr("netlogd: logging to", timeout=60)
    log.wait_stderr("reload: ")
    assert log.proc.poll() is None


@pytest.mark.every_kernel
def test_port_rules_are_applied_in_the_kernel(tmp_path, hosts, actors, netlogd):
    conf = tmp_path / "netlog.conf"
    conf.write_text("ignore = port 6801\n")
    # a table of 64 flows: 100 flows to the ignored port would fill it, were they counted
    log = netlogd("-c", str(conf), "--max-udp-flows", "64")
    a = actors(hosts.a, name="nl-cfg-kern")
    fd = a("udp_socket", A4)["fd"]
    clients = a("udp_clients", "198.18.0.2", 6801, 100)
    a("udp_send_to", fd, "198.18.0.2", 6802)
    a("close", a("listen", A4, 6801)["fd"])
    a("close", a("listen", A4, 6803)["fd"])
    log.expect(kind="listen", what="stop", local=f"{A4}:6803")
    log.expect(kind="connect", what="start", proto="UDP", remote="198.18.0.2:6802")
    time.sleep(1.5)  # a loss report would be out by now
    assert not log.find(timeout=0, remote="198.18.0.2:6801")
    assert not log.find(timeout=0, local=f"{A4}:6801")
    assert "flow table full" not in log.text() and len(clients["ports"]) == 100


@pytest.mark.every_kernel
def test_address_and_loopback_rules_skip_datagrams_in_the_kernel(tmp_path, hosts, actors, netlogd):
    conf = tmp_path / "netlog.conf"
    conf.write_text("ignore = address 198.18.0.2/32\nignore = loopback\n")
    log = netlogd("-c", str(conf), "--max-udp-flows", "64")
    a = actors(hosts.a, name="nl-cfg-nets")
    a("udp_clients", "198.18.0.2", 6901, 100)  # 100 flows to an ignored address
    a("udp_clients", "127.0.0.1", 6902, 100)   # and 100 on loopback
    fd = a("udp_socket", A4)["fd"]
    a("udp_send_to", fd, "198.18.0.3", 6903)  # not ignored (nobody there, but it goes out)
    log.expect(kind="connect", what="start", proto="UDP", remote="198.18.0.3:6903")
    time.sleep(1.5)
    assert not log.find(timeout=0, remote="198.18.0.2:6901")
    assert not log.find(timeout=0, remote="127.0.0.1:6902")
    assert "flow table full" not in log.text()
