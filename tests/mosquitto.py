"""A real Debian ``mosquitto`` on 127.0.0.1 for tests: free port, generated config, stopped by PID.

In pytest::

    with Mosquitto(tmp_path / "broker", users={"alice": "s3cret"}, deny_topics=["steward/denied/#"]) as broker:
        broker.port, broker.pid, broker.log_text()

From a playbook or a shell (the Molecule scenario's prepare/cleanup), one folder per broker::

    python tests/mosquitto.py start DIR [--user NAME:PASSWORD ...] [--deny-topic TOPIC ...]
        -> prints {"host", "port", "pid", "dir", "anonymous"} as JSON; the broker keeps running
    python tests/mosquitto.py stop DIR
        -> stops the broker whose PID is in DIR/mosquitto.pid (only if it is that mosquitto)
    python tests/mosquitto.py free-port
        -> a port on 127.0.0.1 that nothing listens on (for "connection refused")

With users, anonymous clients are refused (``allow_anonymous false``, password file made by
``mosquitto_passwd -b -c``); without, anonymous clients are accepted. Every ``deny_topics``
entry is denied to every client (``topic deny`` in the ACL file), everything else is
read/write, so a round trip on a denied topic shows what "not authorised" looks like.
Mosquitto 2.0 answers MQTT 3.1.1 clients with a wrong password, an unknown user or no
credentials at all with CONNACK 5 ("not authorised"), not 4.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
MOSQUITTO = shutil.which("mosquitto", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


class MosquittoError(RuntimeError):
    pass


def free_port() -> int:
    """A port the OS just handed out (there is a small window before mosquitto binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _pid_state(pid: int) -> str | None:
    """The process state letter, or None when the PID is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _alive(pid: int) -> bool:
    return _pid_state(pid) not in (None, "Z", "X")


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


class Mosquitto:
    """One mosquitto process with its own folder (config, password file, ACL, log, PID file)."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        users: dict[str, str] | None = None,
        deny_topics: list[str] | tuple[str, ...] = (),
        port: int | None = None,
    ) -> None:
        self.dir = Path(folder).resolve()
        self.users = dict(users or {})
        self.deny_topics = list(deny_topics)
        self.requested_port = port
        self.host = HOST
        self.port = 0
        self.pid = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.dir / "mosquitto.conf"

    @property
    def pid_file(self) -> Path:
        return self.dir / "mosquitto.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "mosquitto.log"

    @property
    def anonymous(self) -> bool:
        return not self.users

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def _write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {HOST}",
            f"allow_anonymous {'true' if self.anonymous else 'false'}",
            # Stay the user we are (as root mosquitto would switch to "mosquitto" and then
            # could not read the files in our temp folder).
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "persistence false",
            "log_dest stderr",  # unbuffered, so tests can read the log while it runs
            "log_type all",
            "connection_messages true",
        ]
        if self.users:
            passwd = self.dir / "passwd"
            passwd.unlink(missing_ok=True)
            create = ["-c"]
            for name, password in self.users.items():
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", *create, str(passwd), name, password],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
                create = []
            lines.append(f"password_file {passwd}")
        if self.deny_topics:
            acl = self.dir / "acl"
            # The lines before any "user" line apply to anonymous clients; then one block per user.
            rules = [f"topic deny {topic}" for topic in self.deny_topics] + ["topic readwrite #"]
            text = "\n".join(rules) + "\n"
            for name in self.users:
                text += f"user {name}\n" + "\n".join(rules) + "\n"
            acl.write_text(text)
            lines.append(f"acl_file {acl}")
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, detach: bool = False, ready_timeout: float = 10.0) -> Mosquitto:
        """Start and wait until the port accepts connections. ``detach``: outlive this process."""
        attempts = 1 if self.requested_port else 5
        for attempt in range(attempts):
            self.port = self.requested_port or free_port()
            self._write_config()
            with open(self.log_file, "ab") as log:
                self._proc = subprocess.Popen(
                    [MOSQUITTO, "-c", str(self.conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=detach,
                    close_fds=True,
                )
            self.pid = self._proc.pid
            self.pid_file.write_text(f"{self.pid}\n")
            if self._wait_ready(ready_timeout):
                return self
            self.stop()
            if attempt + 1 < attempts and "Address already in use" in self.log_text():
                continue  # lost the race for the free port: take another one
            break
        raise MosquittoError(f"mosquitto did not start on {HOST}:{self.port}; log:\n{self.log_text()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker by its PID (TERM, then KILL); only if the PID is still this mosquitto."""
        pid = self.pid or _read_pid(self.pid_file)
        if pid:
            stop_pid(pid, self.conf, timeout)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=1)
            self._proc = None
        self.pid = 0
        self.pid_file.unlink(missing_ok=True)

    def info(self) -> dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "pid": self.pid,
            "dir": str(self.dir),
            "anonymous": self.anonymous,
        }

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _read_pid(pid_file: Path) -> int:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return 0


def stop_pid(pid: int, conf: Path, timeout: float = 10.0) -> bool:
    """TERM (then KILL) ``pid`` if it is a mosquitto running ``conf``; True if it was ours."""
    cmd = _cmdline(pid)
    if not _alive(pid) or not cmd or os.path.basename(cmd[0]) != "mosquitto" or str(conf) not in cmd:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.05)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a broker in DIR and print its address as JSON")
    start.add_argument("dir")
    start.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD")
    start.add_argument("--deny-topic", action="append", default=[], metavar="TOPIC")
    start.add_argument("--port", type=int, default=None)
    stop = sub.add_parser("stop", help="stop the broker whose PID is in DIR/mosquitto.pid")
    stop.add_argument("dir")
    sub.add_parser("free-port", help="print a TCP port on 127.0.0.1 that nothing listens on")
    args = parser.parse_args(argv)

    if args.command == "free-port":
        print(free_port())
        return 0

    if args.command == "start":
        users = {}
        for item in args.user:
            name, sep, password = item.partition(":")
            if not sep or not name:
                parser.error(f"--user wants NAME:PASSWORD, got {item!r}")
            users[name] = password
        broker = Mosquitto(args.dir, users=users, deny_topics=args.deny_topic, port=args.port)
        try:
            broker.start(detach=True)
        except MosquittoError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(json.dumps(broker.info()))
        return 0

    broker = Mosquitto(args.dir)
    pid = _read_pid(broker.pid_file)
    stopped = bool(pid) and stop_pid(pid, broker.conf)
    broker.pid_file.unlink(missing_ok=True)
    print(json.dumps({"dir": str(broker.dir), "pid": pid or None, "stopped": stopped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
