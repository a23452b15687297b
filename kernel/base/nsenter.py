"""The launcher behind `kernel.base.sandbox`: a fresh interpreter (run as
`python -I -S nsenter.py OPTIONS -- ARGV…`) that enters new namespaces, mounts
the view and `exec`s the program. It imports only what it must (no `re`,
`json`, `socket` or `subprocess`), so setting a view up costs a few
milliseconds on top of Python's start.

    --probe                         check that views work here, run nothing
    --network                       keep the host's network (default: loopback only)
    --overlay N LOWER×N UPPER WORK TARGET
    --writable PATH                 stays writable inside a read-only root
    --read-only PATH                a write anywhere below fails with EROFS
    --cwd PATH
    --setenv NAME VALUE             set in the program's environment
    -- ARGV…

Mounts are made in that order: overlays, writable binds, read-only binds (a
read-only remount affects only its own mount, so writable binds made inside
it earlier keep their flags). The program then runs with no capabilities and
`no_new_privs`, so it can neither undo a mount nor gain privileges back.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP, AF_INET, SOCK_DGRAM = 0x8913, 0x8914, 0x1, 2, 2
EXIT_SETUP = 125  # the view could not be made; the program never ran

libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    pass


class Plan:
    """What the options ask for (a plain class: `dataclasses` would cost an import)."""

    def __init__(self) -> None:
        self.network = False
        self.overlays: list[tuple[list[str], str, str, str]] = []
        self.writable: list[str] = []
        self.read_only: list[str] = []
        self.cwd: str | None = None
        self.env: dict[str, str] = {}
        self.argv: list[str] = []


def call(name: str, *args: object) -> int:
    result: int = getattr(libc, name)(*args)
    if result < 0:
        shown = " ".join(a.decode() for a in args if isinstance(a, bytes))
        raise SetupError(f"{name} {shown}: {os.strerror(ctypes.get_errno())}".replace("  ", " "))
    return result


def write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter(network: bool) -> None:
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | (0 if network else CLONE_NEWNET)) != 0:
        raise SetupError(f"user namespaces are disabled by the OS ({os.strerror(ctypes.get_errno())})")
    write("/proc/self/setgroups", "deny")
    write("/proc/self/uid_map", f"{uid} {uid} 1")
    write("/proc/self/gid_map", f"{gid} {gid} 1")
    call("mount", None, b"/", None, MS_REC | MS_PRIVATE, None)
    if not network:
        loopback_up()


def loopback_up() -> None:
    fd = call("socket", AF_INET, SOCK_DGRAM, 0)
    try:
        flags = struct.unpack("16sh22x", fcntl.ioctl(fd, SIOCGIFFLAGS, struct.pack("16sh22x", b"lo", 0)))[1]
        fcntl.ioctl(fd, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))
    finally:
        os.close(fd)


def escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def mount_overlay(lower: list[str], upper: str, work: str, target: str) -> None:
    options = f"lowerdir={':'.join(map(escape, lower))},upperdir={escape(upper)},workdir={escape(work)},userxattr"
    call("mount", b"overlay", target.encode(), b"overlay", MS_NODEV | MS_NOSUID, options.encode())


def bind(path: str, read_only: bool) -> None:
    call("mount", path.encode(), path.encode(), None, MS_BIND | MS_REC, None)
    if read_only:
        call("mount", None, path.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)


def drop_capabilities() -> None:
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last = int(handle.read())
    for cap in range(last + 1):
        call("prctl", PR_CAPBSET_DROP, cap, 0, 0, 0)
    call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def probe() -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="jitos-probe-") as tmp:
        for name in ("lower", "upper", "work", "view"):
            os.mkdir(os.path.join(tmp, name))
        enter(network=False)
        try:
            mount_overlay([f"{tmp}/lower"], f"{tmp}/upper", f"{tmp}/work", f"{tmp}/view")
        except SetupError as err:
            raise SetupError(f"OverlayFS cannot be mounted in a user namespace ({err})") from None
        call("umount2", f"{tmp}/view".encode(), MNT_DETACH)


def parse(args: list[str]) -> Plan:
    plan = Plan()
    i = 0
    while i < len(args):
        flag = args[i]
        if flag == "--":
            plan.argv = args[i + 1:]
            break
        if flag == "--network":
            plan.network = True
            i += 1
        elif flag == "--overlay":
            count = int(args[i + 1])
            upper, work, target = args[i + 2 + count:i + 5 + count]
            plan.overlays.append((args[i + 2:i + 2 + count], upper, work, target))
            i += 5 + count
        elif flag == "--setenv":
            plan.env[args[i + 1]] = args[i + 2]
            i += 3
        elif flag == "--cwd":
            plan.cwd = args[i + 1]
            i += 2
        elif flag in ("--writable", "--read-only"):
            (plan.writable if flag == "--writable" else plan.read_only).append(args[i + 1])
            i += 2
        else:
            raise SetupError(f"unknown option {flag!r}")
    if not plan.argv:
        raise SetupError("no program given after --")
    return plan


def main(args: list[str]) -> int:
    try:
        if args == ["--probe"]:
            probe()
            return 0
        plan = parse(args)
        enter(plan.network)
        for lower, upper, work, target in plan.overlays:
            mount_overlay(lower, upper, work, target)
        for path in plan.writable:
            bind(path, read_only=False)
        for path in plan.read_only:
            bind(path, read_only=True)
        drop_capabilities()
        if plan.cwd is not None:
            os.chdir(plan.cwd)
        os.environ.update(plan.env)
    except (SetupError, OSError, ValueError, IndexError) as err:
        sys.stderr.write(f"jitos sandbox: {err}\n")
        return EXIT_SETUP
    argv = plan.argv
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        sys.stderr.write(f"jitos sandbox: cannot run {argv[0]!r}: {err.strerror}\n")
        return 127 if isinstance(err, FileNotFoundError) else 126
    return EXIT_SETUP


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
