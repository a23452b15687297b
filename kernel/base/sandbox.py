"""Run a program where it can see only what it may change.

A view is a new user + mount namespace (and, without network access, a new
network namespace that has only loopback) in which OverlayFS mounts show
merged trees at chosen paths, the `writable` paths stay writable, everything
else under the `read_only` roots fails a write with EROFS, and the program runs
with no capabilities, so it cannot unmount or remount any of it. The mounts
exist only inside the namespace: they vanish with its last process, so a crash
never leaves a mount for anyone else to see.

No privileges are needed where the OS allows unprivileged user namespaces;
`support()` says whether it does, and why not, in one line. The launcher that
sets a view up is `kernel/base/nsenter.py`, run in a fresh interpreter, so the
caller never forks a threaded Python. This module never decides what a view
contains; the workspace layer does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kernel.base.files import write_atomic

LAUNCHER = Path(__file__).with_name("nsenter.py")
EXIT_SETUP = 125  # the launcher could not make the view; the program never ran
DISABLE_ENV = "JITOS_NO_NAMESPACES"


@dataclass(frozen=True, slots=True)
class Overlay:
    """Show `lower` (read-only layers, the first on top) merged with `upper` at `target`."""

    lower: tuple[Path, ...]
    upper: Path
    work: Path
    target: Path


@dataclass(frozen=True, slots=True)
class View:
    overlays: tuple[Overlay, ...] = ()
    read_only: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    network: bool = True
    env: tuple[tuple[str, str], ...] = ()  # set in the program's environment


@dataclass(frozen=True, slots=True)
class Support:
    available: bool
    reason: str  # why not, in one line (empty when available)


def launcher(view: View, argv: list[str], cwd: Path) -> list[str]:
    """The argv that runs `argv` with cwd `cwd` inside `view`."""
    args = [sys.executable, "-I", "-S", str(LAUNCHER)]
    if view.network:
        args.append("--network")
    for ov in view.overlays:
        args += ["--overlay", str(len(ov.lower)), *map(str, ov.lower), str(ov.upper), str(ov.work), str(ov.target)]
    for path in view.writable:
        args += ["--writable", str(path)]
    for path in view.read_only:
        args += ["--read-only", str(path)]
    for name, value in view.env:
        args += ["--setenv", name, value]
    return [*args, "--cwd", str(cwd), "--", *argv]


_support: Support | None = None

# What the probe's answer depends on: who asks, in which namespaces, under which
# seccomp and sysctls, on which boot. The same key gives the same answer, so a
# saved answer spares each command a ~40 ms probe process.
_KEY_FILES = ("/proc/sys/kernel/random/boot_id", "/proc/sys/kernel/unprivileged_userns_clone",
              "/proc/sys/user/max_user_namespaces", "/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
_KEY_LINKS = ("/proc/self/ns/user", "/proc/self/ns/mnt", "/proc/self/ns/pid")


def support(saved: Path | None = None) -> Support:
    """Whether views can be made here: probed once per process, and kept in the
    file `saved` (when given) for later processes asking under the same key."""
    global _support
    if os.environ.get(DISABLE_ENV):
        return Support(False, f"namespaces are turned off by {DISABLE_ENV}")
    if _support is None:
        _support = _load(saved) if saved is not None else None
        if _support is None:
            _support = _probe()
            if saved is not None:
                _store(saved, _support)
    return _support


def _key() -> str:
    parts = [sys.platform, str(os.getuid()), str(os.getgid()), os.environ.get("TMPDIR", ""),
             os.path.realpath(sys.executable)]
    for path in _KEY_FILES:
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                parts.append(f.read().strip())
        except OSError:
            parts.append("-")
    for link in _KEY_LINKS:
        try:
            parts.append(os.readlink(link))
        except OSError:
            parts.append("-")
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            parts += [line.strip() for line in f if line.startswith(("Seccomp:", "NoNewPrivs:", "CapEff:"))]
    except OSError:
        parts.append("-")
    return "\x1f".join(parts)


def _load(saved: Path) -> Support | None:
    try:
        key, available, reason = saved.read_text(encoding="utf-8").split("\n")[:3]
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if key != _key() or available not in ("yes", "no"):
        return None
    return Support(available == "yes", reason)


def _store(saved: Path, found: Support) -> None:
    try:
        saved.parent.mkdir(exist_ok=True)
        write_atomic(saved, f"{_key()}\n{'yes' if found.available else 'no'}\n{found.reason}\n".encode())
    except OSError:
        return  # a read-only git dir probes again next time


def _probe() -> Support:
    if not sys.platform.startswith("linux"):
        return Support(False, f"{sys.platform} has no user namespaces or OverlayFS")
    done = subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), "--probe"], capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return Support(False, lines[-1].removeprefix("jitos sandbox: ") if lines else f"exit {done.returncode}")
    return Support(True, "")
