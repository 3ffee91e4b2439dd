"""The shipped unit under a real service manager: systemd as PID 1 starts,
reloads, watches and stops netlogd as `make install` put it there. The
guest of `make test-kernels GUEST_INIT=systemd` boots one for these tests
(NETLOG_TEST_SYSTEMD=1); anywhere else they are skipped, as they install
and start the unit host-wide."""
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

INSTALLED = Path("/netlog/installed")  # tests/kernels/run's `make install DESTDIR=`
LOG = Path("/var/log/netlog/netlog.log")  # where the shipped configuration logs
CONF = Path("/etc/netlog/netlog.conf")
DROPIN = Path("/run/systemd/system/netlogd.service.d/test.conf")
PROBE = Path("/run/systemd/system/netlog-probe.service")


def systemctl(*args, check=True):
    return sh("systemctl", *args, check=check)


def show(prop):
    return systemctl("show", "-P", prop, "netlogd.service").stdout.strip()


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
    """What `make install` wrote, in place, and the unit known to systemd."""
    shutil.copytree(INSTALLED, "/", symlinks=True, dirs_exist_ok=True)
    systemctl("daemon-reload")
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


def test_systemctl_start_returns_once_netlogd_logs_and_stop_ends_it_cleanly(service, hosts):
    systemctl("start", "netlogd.service")
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


def test_a_unit_that_configures_the_network_at_boot_finds_netlogd_logging(service, hosts):
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
    systemctl("start", "netlogd.service", "netlog-probe.service", "systemd-networkd.service")
    try:
        assert show("ActiveState") == "active"
        service.expect(kind="listen", what="start", local=f"{A4}:6341")
        service.expect(kind="listen", what="stop", local=f"{A4}:6341")
        ready = int(show("ActiveEnterTimestampMonotonic"))
        networkd = int(systemctl("show", "-P", "ExecMainStartTimestampMonotonic",
                                 "systemd-networkd.service").stdout)
        assert 0 < ready <= networkd
        service.recheck()
    finally:
        systemctl("stop", "systemd-networkd.service", "systemd-networkd.socket", check=False)


def test_the_watchdog_hears_netlogd_alive_and_restarts_it_hung(service, hosts):
    DROPIN.parent.mkdir(parents=True, exist_ok=True)
    DROPIN.write_text("[Service]\nWatchdogSec=2s\n")
    systemctl("daemon-reload")
    systemctl("start", "netlogd.service")
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
    systemctl("start", "netlogd.service")
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
    systemctl("start", "netlogd.service")
    main = service.pid()
    CONF.write_text(good + "output = classic:\n")
    assert systemctl("reload", "netlogd.service", check=False).returncode != 0
    assert show("ActiveState") == "active" and service.pid() == main
    listen_once(hosts.a, 6331)
    service.expect(kind="listen", what="stop", local=f"{A4}:6331")
    service.recheck()
