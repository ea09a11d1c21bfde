"""A real Debian redis-server for the tests: free port, its own folder, stopped by its PID.

    server = RedisServer(tmp_path / "redis")              # no persistence, loopback only
    server = RedisServer(folder, persistent=True)         # append-only file, fsync on every write
    server = RedisServer(folder, bind=("127.0.0.1", "198.18.0.1"))   # reachable from the lab bridge
    server = RedisServer(folder, nodes=("saturn", "piha"))            # + one XADD-only user per node
    server = RedisServer(folder, acl=False)                           # no users: anyone may do anything

ACL users by default, as docs/operations.md asks for production: the default user is off, so a
client that does not authenticate can do nothing; `steward` (the controller: Steward's bus, the
rulebook's source, `steward events`) may use the stream commands on `steward:*` only;
`node-<host>` may only XADD to `steward:events`; `admin` may do anything (for the tests' own
checks). `url` is the controller's, `admin_url` the admin's, `node_url(host)` a node's. Every
password is random and contains "pw-", so a test can grep every log for it.

`start()` returns once the server answers PING (again on the same port and folder after
`stop()`, so a persistent server comes back with its data). `missing()` says why no test can
start one here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def missing() -> str | None:
    if not os.path.exists(REDIS_SERVER):
        return "redis-server is not installed (apt-get install redis-server)"
    return None


def free_port() -> int:
    """A port the OS just handed out on loopback (a small window remains before a server binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(
        self,
        folder: Path,
        *,
        port: int | None = None,
        persistent: bool = False,
        bind: Sequence[str] = ("127.0.0.1",),
        extra: Sequence[str] = (),
        acl: bool = True,
        nodes: Sequence[str] = (),
    ) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.persistent = persistent
        self.bind = tuple(bind)
        self.extra = tuple(extra)  # more redis-server options, e.g. ("--requirepass", "s3cret")
        self.proc: subprocess.Popen[bytes] | None = None
        self.acl = acl
        self.nodes = tuple(nodes)
        self.password = f"ctl-pw-{secrets.token_hex(8)}"
        self.admin_password = f"adm-pw-{secrets.token_hex(8)}"
        self.node_passwords = {n: f"node-pw-{secrets.token_hex(8)}" for n in self.nodes}

    def _url(self, user: str | None, password: str | None) -> str:
        auth = f"{user}:{password}@" if user and self.acl else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def url(self) -> str:
        """The controller's URL (user `steward`), or a plain one without ACL users."""
        return self._url("steward", self.password)

    @property
    def admin_url(self) -> str:
        return self._url("admin", self.admin_password)

    def node_url(self, host: str) -> str:
        return self._url(f"node-{host}", self.node_passwords[host])

    @property
    def secrets(self) -> list[str]:
        return [self.password, self.admin_password, *self.node_passwords.values()] if self.acl else []

    def acl_lines(self) -> list[str]:
        lines = [
            # off: a client that did not authenticate can do nothing. Its permissions are all: Redis 7.0
            # replays the append-only file as the default user, and an EXEC of a propagated XREADGROUP
            # (MULTI, XCLAIM, XGROUP SETID, EXEC) fails with NOPERM otherwise - the group's reads and
            # acknowledgements would be lost on a restart.
            "user default off resetpass ~* &* +@all",
            f"user admin on >{self.admin_password} ~* &* +@all",
            # the controller: Steward's bus (XADD), the source (group, read, ack, info), events tail
            f"user steward on >{self.password} ~steward:* resetchannels -@all +@stream +ping +hello +client|setname",
        ]
        for node, password in self.node_passwords.items():
            lines.append(f"user node-{node} on >{password} ~steward:events resetchannels -@all +xadd")
        return lines

    def start(self, timeout: float = 10) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        cmd = [REDIS_SERVER, "--port", str(self.port), "--bind", " ".join(self.bind), "--save", ""]
        cmd += ["--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always"]
        cmd += ["--dir", str(self.folder), "--daemonize", "no"]
        if self.bind != ("127.0.0.1",):
            cmd += ["--protected-mode", "no"]  # other clients than loopback, on addresses we chose
        if self.acl:
            aclfile = self.folder / "users.acl"
            aclfile.write_text("\n".join(self.acl_lines()) + "\n")
            os.chmod(aclfile, 0o600)
            cmd += ["--aclfile", str(aclfile)]
        cmd += self.extra
        with (self.folder / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64)[:1] in (b"+", b"-"):  # PONG, or NOAUTH when it wants a password
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(self.folder / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """kill -9, as a crash would (a persistent server keeps what it had fsynced)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)  # a test may have paused it
                self.proc.kill()
            self.proc.wait(timeout=10)

    def client(self, **kw: Any) -> Any:
        """A client as `admin` (may do anything), for the tests' own set-up and checks."""
        import redis

        return redis.Redis.from_url(self.admin_url, **{"decode_responses": True, "socket_timeout": 5, **kw})
