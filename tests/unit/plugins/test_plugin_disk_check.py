"""plugins/module_utils/_check_disk.py against real filesystems mounted by the tests.

The mounts (tmpfs, read-only binds, a FUSE filesystem that never answers) need root; those
tests skip with the reason otherwise. Every mount is unmounted and its folder removed after
its test, also when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.homelab.steward.plugins.module_utils import _check_disk as disk

MIB = 1024 * 1024


def mount_missing() -> str | None:
    if os.geteuid() != 0:
        return "mounting test filesystems needs root"
    for tool in ("mount", "umount"):
        if shutil.which(tool) is None:
            return f"mounting test filesystems needs {tool} (util-linux)"
    return None


needs_mount = pytest.mark.skipif(mount_missing() is not None, reason=mount_missing() or "")


def _run(*cmd: str, pass_fds: tuple[int, ...] = ()) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, pass_fds=pass_fds)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")


class Mounter:
    """Mounts real filesystems under one temp folder; undo() unmounts them, last first."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sdisk-"))
        self._mounted: list[Path] = []
        self._fuse_fds: list[int] = []

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def tmpfs(self, name: str, options: str, source: str = "steward-test") -> Path:
        path = self.folder(name)
        _run("mount", "-t", "tmpfs", "-o", options, source, str(path))
        self._mounted.append(path)
        return path

    def bind(self, source: Path, name: str, options: str = "bind") -> Path:
        path = self.folder(name)
        _run("mount", "-o", options, str(source), str(path))
        self._mounted.append(path)
        return path

    def hung_fuse(self, name: str) -> Path:
        """A FUSE mount whose daemon (us) never answers: every access blocks until it is stopped."""
        if not os.path.exists("/dev/fuse"):
            pytest.skip("a hung filesystem needs /dev/fuse")
        path = self.folder(name)
        fd = os.open("/dev/fuse", os.O_RDWR)
        self._fuse_fds.append(fd)
        _run(
            "mount",
            "-i",
            "-t",
            "fuse.steward",
            "-o",
            f"fd={fd},rootmode=40000,user_id=0,group_id=0",
            "steward-hung",
            str(path),
            pass_fds=(fd,),
        )
        self._mounted.append(path)
        return path

    def stop_fuse_daemons(self) -> None:
        """Close /dev/fuse: the connection aborts, blocked and later calls fail with ENOTCONN."""
        while self._fuse_fds:
            with contextlib.suppress(OSError):
                os.close(self._fuse_fds.pop())

    def undo(self) -> None:
        errors = []
        self.stop_fuse_daemons()
        for path in reversed(self._mounted):
            # a collector thread blocked on a hung FUSE mount lets go only once the aborted connection
            # reaches it: "target is busy" for a moment after the daemon's fd is closed (seen under load)
            for attempt in range(20):
                try:
                    _run("umount", str(path))
                    break
                except RuntimeError as exc:
                    if attempt == 19:
                        errors.append(str(exc))
                    time.sleep(0.25)
        if errors:
            # Never rmtree through a mount that is still there.
            raise RuntimeError("; ".join(errors))
        shutil.rmtree(self.root)


@contextlib.contextmanager
def mounter() -> Iterator[Mounter]:
    m = Mounter()
    try:
        yield m
    finally:
        m.undo()


@pytest.fixture
def mounts() -> Iterator[Mounter]:
    why = mount_missing()
    if why:
        pytest.skip(why)
    with mounter() as m:
        yield m


def fill(folder: Path, size: int, name: str = "fill") -> None:
    with open(folder / name, "wb") as handle:
        handle.write(b"\0" * size)


def only_mount(**kwargs: object) -> dict:
    result = disk.collect(**kwargs)  # type: ignore[arg-type]
    assert result["status"] == "ok", result
    assert result["error"] is None
    assert len(result["mounts"]) == 1
    return result["mounts"][0]


# --- real mounts -------------------------------------------------------------------------------


def test_filled_tmpfs_reports_sizes_percent_and_thresholds_back(mounts: Mounter) -> None:
    full = mounts.tmpfs("full", "size=8m,nr_inodes=64", source="steward-full")
    fill(full, 7 * MIB)

    report = only_mount(mounts=[{"path": str(full), "max_used_pct": 75, "max_inodes_pct": 50}])

    assert report == {
        "path": str(full),
        "present": True,
        "error": None,
        "max_used_pct": 75,
        "max_inodes_pct": 50,
        "is_mountpoint": True,
        "mount_point": str(full),
        "fstype": "tmpfs",
        "device": "steward-full",
        "read_only": False,
        "total_bytes": 8 * MIB,
        "used_bytes": 7 * MIB,
        "avail_bytes": 1 * MIB,
        "used_pct": 87.5,
        "inodes_total": 64,
        "inodes_used": 2,  # the root folder and the file
        "inodes_free": 62,
        "inodes_used_pct": 3.2,  # 2/64 = 3.125, rounded up
    }


def test_percentages_round_up_like_df(mounts: Mounter) -> None:
    # 1 page of 3 MiB = 0.13 %: df says 1 %, we say 0.2 % - never emptier than it is.
    small = mounts.tmpfs("small", "size=3m")
    fill(small, 4096)
    assert only_mount(mounts=[str(small)])["used_pct"] == 0.2


def test_inode_use_is_reported(mounts: Mounter) -> None:
    fs = mounts.tmpfs("inodes", "size=1m,nr_inodes=16")
    for i in range(11):
        (fs / f"f{i}").touch()

    report = only_mount(mounts=[{"path": str(fs), "max_inodes_pct": 50}])

    assert (report["inodes_total"], report["inodes_used"], report["inodes_free"]) == (16, 12, 4)
    assert report["inodes_used_pct"] == 75.0
    assert report["max_inodes_pct"] == 50


def test_filesystem_without_inode_limit_has_null_inode_percentage(mounts: Mounter) -> None:
    fs = mounts.tmpfs("noinodes", "size=1m,nr_inodes=0")
    report = only_mount(mounts=[str(fs)])
    assert report["inodes_total"] == 0
    assert report["inodes_used_pct"] is None
    assert report["used_pct"] == 0.0


def test_read_only_tmpfs(mounts: Mounter) -> None:
    fs = mounts.tmpfs("ro", "size=1m,ro")
    report = only_mount(mounts=[str(fs)])
    assert report["read_only"] is True
    assert report["is_mountpoint"] is True


def test_read_only_bind_mount_of_a_writable_filesystem(mounts: Mounter) -> None:
    # Per-mount "ro" while the superblock stays rw: a classic read-only bind.
    src = mounts.tmpfs("rw", "size=2m")
    fill(src, MIB)
    ro = mounts.bind(src, "ro", options="bind,ro")

    writable, readonly = disk.collect(mounts=[str(src), str(ro)])["mounts"]

    assert writable["read_only"] is False
    assert readonly["read_only"] is True
    assert readonly["is_mountpoint"] is True
    assert readonly["mount_point"] == str(ro)
    assert readonly["used_pct"] == writable["used_pct"] == 50.0


def test_folder_inside_a_mount_is_not_a_mount_point(mounts: Mounter) -> None:
    fs = mounts.tmpfs("outer", "size=1m", source="steward-outer")
    inner = fs / "data" / "inner"
    inner.mkdir(parents=True)

    report = only_mount(mounts=[str(inner)])

    assert report["present"] is True
    assert report["is_mountpoint"] is False
    assert report["mount_point"] == str(fs)
    assert report["device"] == "steward-outer"


def test_symlink_to_a_mount_point_follows_it(mounts: Mounter) -> None:
    fs = mounts.tmpfs("target", "size=1m")
    link = mounts.root / "link"
    link.symlink_to(fs)

    report = only_mount(mounts=[str(link)])

    assert report["path"] == str(link)
    assert report["is_mountpoint"] is True
    assert report["mount_point"] == str(fs)


def test_the_top_of_stacked_mounts_is_reported(mounts: Mounter) -> None:
    below = mounts.tmpfs("stack", "size=1m", source="steward-below")
    top = mounts.tmpfs("stack", "size=2m", source="steward-top")
    assert below == top

    report = only_mount(mounts=[str(top)])

    assert report["device"] == "steward-top"
    assert report["total_bytes"] == 2 * MIB


def test_mount_point_with_a_space_is_unescaped(mounts: Mounter) -> None:
    fs = mounts.tmpfs("with space", "size=1m", source="steward-space")
    report = only_mount(mounts=[str(fs)])
    assert report["is_mountpoint"] is True
    assert report["mount_point"] == str(fs)
    assert report["device"] == "steward-space"


def test_hung_filesystem_is_reported_after_the_timeout_and_others_still_are(mounts: Mounter) -> None:
    healthy = mounts.tmpfs("healthy", "size=1m")
    hung = mounts.hung_fuse("hung")

    start = time.monotonic()
    result = disk.collect(mounts=[str(hung), str(healthy)], timeout=1)
    took = time.monotonic() - start

    assert result["status"] == "ok"
    stuck, fine = result["mounts"]
    assert stuck["present"] is None
    assert stuck["error"] == f"no answer from the filesystem of {hung} within 1 s (hung network mount?)"
    assert stuck["used_pct"] is None
    assert fine["present"] is True and fine["used_pct"] == 0.0
    assert 0.9 < took < 5


def test_disconnected_filesystem_could_not_be_looked_at(mounts: Mounter) -> None:
    gone = mounts.hung_fuse("gone")
    mounts.stop_fuse_daemons()

    report = only_mount(mounts=[str(gone)], timeout=2)

    assert report["present"] is None
    assert report["error"] == f"cannot look at {gone}: Transport endpoint is not connected"


# --- no mounts needed --------------------------------------------------------------------------


def test_missing_path_is_an_explicit_finding(tmp_path: Path) -> None:
    missing = tmp_path / "not-there"
    under_a_file = tmp_path / "file" / "below"
    (tmp_path / "file").write_text("x")

    result = disk.collect(mounts=[{"path": str(missing), "max_used_pct": 90}, str(under_a_file), "/"])

    assert result["status"] == "ok"
    first, second, root = result["mounts"]
    assert first == {
        **{key: None for key in first},
        "path": str(missing),
        "present": False,
        "error": f"{missing} does not exist",
        "max_used_pct": 90,
    }
    assert second["present"] is False and second["error"] == f"{under_a_file} does not exist"
    assert root["present"] is True and root["mount_point"] == "/" and root["is_mountpoint"] is True


def test_default_is_the_root_filesystem_without_thresholds() -> None:
    report = only_mount()
    assert report["path"] == "/"
    assert report["is_mountpoint"] is True
    assert report["max_used_pct"] is None and report["max_inodes_pct"] is None
    assert isinstance(report["used_pct"], float)


def test_unreadable_mount_table_is_check_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disk, "MOUNTINFO", str(tmp_path / "mountinfo"))
    result = disk.collect(mounts=["/"])
    assert result == {
        "status": "check_failed",
        "error": f"cannot read the mount table {tmp_path / 'mountinfo'}: No such file or directory",
        "mounts": None,
    }

    (tmp_path / "mountinfo").write_text("")
    assert disk.collect(mounts=["/"])["status"] == "check_failed"


@pytest.mark.parametrize(
    ("mounts", "message"),
    [
        ("/", "must be a list"),
        ([{"path": "relative/dir"}], "absolute path"),
        ([{"max_used_pct": 80}], "absolute path"),
        ([{"path": "/", "max_used_pct": 101}], "max_used_pct must be an integer from 0 to 100"),
        ([{"path": "/", "max_inodes_pct": -1}], "max_inodes_pct must be an integer from 0 to 100"),
        ([{"path": "/", "max_used_pct": True}], "max_used_pct must be an integer"),
        ([{"path": "/", "max_used": 80}], "unknown keys max_used"),
        ([42], "must be a mapping"),
    ],
)
def test_options_it_cannot_use_raise(mounts: object, message: str) -> None:
    with pytest.raises(disk.InvalidMountSpec, match=message):
        disk.collect(mounts=mounts)


def test_non_positive_timeout_raises() -> None:
    with pytest.raises(disk.InvalidMountSpec, match="timeout"):
        disk.collect(timeout=0)


def test_parse_mountinfo_fields_escapes_and_optional_fields() -> None:
    text = (
        b"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
        b"43 27 254:0 /run/netns /run/netns rw,relatime shared:2 master:1 - ext4 /dev/vda rw\n"
        b"50 27 0:40 / /srv/my\\040data ro,nosuid - nfs4 nas:/export\\040x rw,vers=4.2\n"
        b"garbage line\n"
    )
    entries = disk.parse_mountinfo(text)
    assert [e.mount_point for e in entries] == ["/", "/run/netns", "/srv/my data"]
    assert entries[1].fstype == "ext4"
    assert entries[2] == disk.MountEntry(
        mount_id=50,
        parent_id=27,
        mount_point="/srv/my data",
        options=frozenset({"ro", "nosuid"}),
        fstype="nfs4",
        device="nas:/export x",
        super_options=frozenset({"rw", "vers=4.2"}),
    )
    assert disk.find_mount("/srv/my data/x", entries) == entries[2]
    assert disk.find_mount("/srv/my datax", entries) == entries[0]
    assert disk.find_mount("/run/netns", entries) == entries[1]


@pytest.mark.parametrize(
    ("part", "whole", "pct"),
    [(0, 100, 0.0), (1, 3, 33.4), (3, 4, 75.0), (1, 10**6, 0.1), (5, 5, 100.0), (0, 0, None)],
)
def test_percent_rounds_up_to_one_decimal(part: int, whole: int, pct: float | None) -> None:
    assert disk.percent_up(part, whole) == pct
