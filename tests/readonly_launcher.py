"""Run a rendered project the way a pod with `readOnlyRootFilesystem: true` runs it; start it under `unshare --mount`.

Usage: unshare --mount --propagation private -- python readonly_launcher.py PROJECT DATA_DIR COMMAND...

In this private mount namespace every mount but /proc, /sys and /dev becomes read-only, /tmp becomes an empty tmpfs
(the pod's emptyDir) and DATA_DIR a tmpfs of its own (the pod's volume). Before the app starts, it tries to create a
file in /, in the project and in the interpreter's environment, and in the two writable places, and prints what
happened as one JSON line (`{"/": "EROFS", ...}`). Then it migrates the database (`alembic upgrade heads`) and
becomes COMMAND, run in the project. Standard library only: the mounts are made with mount(2) itself, so that a
source path like /proc/self/fd/N is resolved by the kernel, never rewritten by a tool.
"""

import ctypes
import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

MS_RDONLY = 1
MS_BIND = 4096
MS_REMOUNT = 32
TMP = Path("/tmp")  # noqa: S108  (the pod's emptyDir: a fresh tmpfs of this namespace alone)
KERNEL_FILESYSTEMS = ("/proc", "/sys", "/dev")
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: Path, fstype: str | None, flags: int, options: str = "") -> None:
    result = _libc.mount(
        source.encode(), str(target).encode(), fstype.encode() if fstype else None, flags, options.encode()
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(target))


def _mount_points() -> list[Path]:
    """Every mount of this namespace, as /proc/self/mountinfo lists them (octal escapes such as \\040 undone)."""
    with open("/proc/self/mountinfo") as mountinfo:
        fields = [line.split()[4] for line in mountinfo]
    return [Path(re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)) for field in fields]


def _read_only_everywhere() -> None:
    for point in _mount_points():
        if any(point == Path(kernel) or Path(kernel) in point.parents for kernel in KERNEL_FILESYSTEMS):
            continue
        _mount("none", point, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def _tmpfs(target: Path, options: str) -> None:
    _mount("tmpfs", target, "tmpfs", 0, options)


def _write_attempt(directory: Path) -> str:
    """EROFS (or another errno name) when a new file is refused in `directory`, "written" when it is not."""
    probe = directory / ".readonly-probe"
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc.errno))
    os.close(descriptor)
    probe.unlink()
    return "written"


def main() -> None:
    project, data, command = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    # The project and the interpreter's environment may lie under /tmp (a checkout there, its .venv), which the
    # tmpfs below hides: keep a handle on each and bind it back in place, read-only like everything else.
    needed = [place for place in dict.fromkeys([project, Path(sys.prefix)]) if TMP in place.parents]
    kept = {place: os.open(place, os.O_RDONLY | os.O_DIRECTORY) for place in needed}
    _read_only_everywhere()
    _tmpfs(TMP, "mode=1777,size=64m")
    for place, descriptor in kept.items():
        place.mkdir(parents=True, exist_ok=True)
        _mount(f"/proc/self/fd/{descriptor}", place, None, MS_BIND)
        _mount("none", place, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.close(descriptor)
    data.mkdir(parents=True, exist_ok=True)
    _tmpfs(data, "mode=0700,size=16m")

    places = [Path("/"), project, project / "src", Path(sys.prefix), TMP, data]
    print(json.dumps({str(place): _write_attempt(place) for place in places}), flush=True)

    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "heads"], cwd=project, check=True)
    os.chdir(project)
    os.execv(command[0], command)  # noqa: S606  (the command line the test built)


if __name__ == "__main__":
    main()
