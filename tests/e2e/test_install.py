"""make install: the daemon, its manual pages, its systemd unit, its logrotate
rule and its configuration, used as installed: the unit's own command lines
start the daemon, and logrotate's own run of the shipped rule rotates its file."""
import os
import shlex
import subprocess
import time

import pytest

from conftest import A4, ROOT, Netlogd, listen_once, sh

# the kernel matrix's guests carry netlogd and these tests, not the source tree that installs
pytestmark = pytest.mark.skipif(not (ROOT / "Makefile").exists(), reason="no source tree to install from")

INSTALLED = ["usr/sbin/netlogd", "usr/share/man/man8/netlogd.8", "usr/share/man/man5/netlog.conf.5",
             "usr/lib/systemd/system/netlogd.service", "etc/logrotate.d/netlog", "etc/netlog/netlog.conf"]


def make(target, root):
    """make @target with every installation directory under @root (no DESTDIR: the paths written
    into the unit and the configuration are then the real ones)."""
    return sh("make", "-s", "-C", str(ROOT), target, f"PREFIX={root}/usr", f"SYSCONFDIR={root}/etc",
              f"LOGDIR={root}/var/log/netlog")


def unit_commands(unit, key):
    return [line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith(key + "=")]


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


class InstalledNetlogd(Netlogd):
    """netlogd started by the installed unit's ExecStart, logging where the installed configuration says."""

    def __init__(self, tmp_path, exec_start, log):
        super().__init__(tmp_path)
        self.log = log
        self.binary, *args = shlex.split(exec_start)
        self.args = [*args, *os.environ.get("NETLOG_TEST_ARGS", "").split()]


def test_installed_service_logs_to_its_file_and_the_shipped_logrotate_rule_rotates_it(tmp_path, hosts):
    root = tmp_path / "root"
    make("install", root)
    assert files_under(root) == sorted(INSTALLED)
    assert os.access(root / "usr/sbin/netlogd", os.X_OK)
    assert (root / "var/log/netlog").is_dir()
    unit = root / "usr/lib/systemd/system/netlogd.service"
    sh("systemd-analyze", "verify", "--man=no", str(unit))  # fails on any error, and on a missing binary

    # the unit's start: the daemon, reading the installed configuration (it checks it first)
    assert unit_commands(unit, "ExecStartPre") == []
    (start,) = unit_commands(unit, "ExecStart")
    log = root / "var/log/netlog/netlog.log"
    d = InstalledNetlogd(tmp_path, start, log).start()
    try:
        listen_once(hosts.a, 6201)
        d.expect(kind="listen", what="stop", local=f"{A4}:6201")

        # logrotate, as cron would run it, with the installed rule: it signals the daemon itself
        r = subprocess.run(["logrotate", "--force", "--state", str(tmp_path / "logrotate.state"),
                            str(root / "etc/logrotate.d/netlog")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 10
        while not log.exists():
            assert time.monotonic() < deadline, "netlogd did not reopen its file after logrotate"
            time.sleep(0.05)
        listen_once(hosts.a, 6202)
        d.expect(kind="listen", what="stop", local=f"{A4}:6202")
        rotated = (log.parent / "netlog.log.1").read_text()
        assert f"{A4}:6201" in rotated and f"{A4}:6202" not in rotated
        assert f"{A4}:6201" not in d.text()

        # the unit's reload: the check, then SIGHUP
        check, hup = unit_commands(unit, "ExecReload")
        assert sh(*shlex.split(check)).stdout.strip() == "configuration OK"
        assert hup == "/bin/kill -HUP $MAINPID"
    finally:
        assert d.stop() == 0


def test_reinstall_keeps_an_edited_configuration_and_uninstall_leaves_only_it(tmp_path):
    root = tmp_path / "root"
    make("install", root)
    conf = root / "etc/netlog/netlog.conf"
    edited = conf.read_text() + "log-failed = yes\n"
    conf.write_text(edited)
    make("install", root)
    assert conf.read_text() == edited
    make("uninstall", root)
    assert files_under(root) == ["etc/netlog/netlog.conf"]
