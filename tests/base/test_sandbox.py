"""Views: a program sees merged trees where it should, fails with EROFS where
it must not write, has no capabilities to undo that, and (without network)
cannot reach the host's loopback. Run as root and as an unprivileged uid,
because root ignores file modes."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.base import sandbox
from kernel.base.sandbox import Overlay, View

pytestmark = pytest.mark.skipif(not sandbox.support().available,
                                reason=f"no namespaces here: {sandbox.support().reason}")

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
AS = {"root": [], "nobody": NOBODY}


def run(view: View, argv: list[str], cwd: Path, who: str = "root") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AS[who], *sandbox.launcher(view, argv, cwd)], capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL)


@pytest.fixture
def tmp_path(tmp_path: Path) -> Iterator[Path]:
    """A folder every uid can reach (pytest's own sits below a 0700 folder of root's)."""
    folder = Path(tempfile.mkdtemp(prefix="jitos-sandbox-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def layout(tmp_path: Path, who: str) -> dict[str, Path]:
    if who == "nobody" and os.geteuid() != 0:
        pytest.skip("already unprivileged: the other parametrisation runs as this uid")
    dirs = {name: tmp_path / name for name in ("lower", "upper", "work", "view", "checkout", "keep")}
    for path in dirs.values():
        path.mkdir()
    (dirs["lower"] / "a.txt").write_text("base\n")
    (dirs["lower"] / "sub").mkdir()
    (dirs["lower"] / "sub" / "b.txt").write_text("b\n")
    (dirs["checkout"] / "mine.txt").write_text("mine\n")
    if who == "nobody":
        for path in [tmp_path, *tmp_path.rglob("*")]:
            os.chown(path, 65534, 65534)
    return dirs


def test_the_probe_answers_in_one_line() -> None:
    assert sandbox.support() == sandbox.Support(True, "")


def test_turning_namespaces_off_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.DISABLE_ENV, "1")
    assert sandbox.support() == sandbox.Support(False, f"namespaces are turned off by {sandbox.DISABLE_ENV}")


def test_the_answer_is_kept_for_later_processes_under_the_same_key(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    saved = tmp_path / "namespaces"
    monkeypatch.setattr(sandbox, "_support", None)
    assert sandbox.support(saved) == sandbox.Support(True, "")
    assert saved.read_text().split("\n")[1] == "yes"
    # A later process with the same key reads the file instead of probing: a
    # planted "no" is what it answers (and proves the probe did not run).
    key = saved.read_text().split("\n")[0]
    saved.write_text(f"{key}\nno\nplanted answer\n")
    monkeypatch.setattr(sandbox, "_support", None)
    assert sandbox.support(saved) == sandbox.Support(False, "planted answer")


@pytest.mark.parametrize("content", ["another key\nno\nstale\n", "garbage", "", "\xff\xfe"])
def test_a_saved_answer_under_another_key_or_unreadable_is_probed_again(tmp_path: Path, content: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    saved = tmp_path / "namespaces"
    saved.write_text(content, encoding="latin-1")
    monkeypatch.setattr(sandbox, "_support", None)
    assert sandbox.support(saved) == sandbox.Support(True, "")
    assert saved.read_text().split("\n")[1:3] == ["yes", ""]


@pytest.mark.parametrize("who", ["root", "nobody"])
def test_edits_in_the_view_land_in_the_upper_layer_only(tmp_path: Path, who: str) -> None:
    d = layout(tmp_path, who)
    view = View(overlays=(Overlay((d["lower"],), d["upper"], d["work"], d["view"]),))
    script = "echo more >> a.txt; rm sub/b.txt; echo new > c.txt; cat a.txt"
    done = run(view, ["sh", "-c", script], d["view"], who)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "base\nmore\n"
    assert (d["lower"] / "a.txt").read_text() == "base\n" and (d["lower"] / "sub" / "b.txt").exists()
    assert (d["upper"] / "a.txt").read_text() == "base\nmore\n" and (d["upper"] / "c.txt").read_text() == "new\n"
    whiteout = os.lstat(d["upper"] / "sub" / "b.txt")
    assert os.major(whiteout.st_rdev) == 0 and os.minor(whiteout.st_rdev) == 0
    assert not any(d["view"].iterdir())  # outside the namespace the mount point is an empty folder


@pytest.mark.parametrize("who", ["root", "nobody"])
def test_a_write_under_a_read_only_root_fails_at_the_write(tmp_path: Path, who: str) -> None:
    d = layout(tmp_path, who)
    view = View(read_only=(tmp_path,), writable=(d["keep"],))
    done = run(view, ["sh", "-c", f"echo x > {d['checkout']}/mine.txt"], tmp_path, who)
    assert done.returncode != 0 and "Read-only file system" in done.stderr
    assert (d["checkout"] / "mine.txt").read_text() == "mine\n"
    kept = run(view, ["sh", "-c", f"echo x > {d['keep']}/ok.txt"], tmp_path, who)
    assert kept.returncode == 0, kept.stderr
    assert (d["keep"] / "ok.txt").read_text() == "x\n"


def test_the_program_has_no_capabilities_to_undo_a_mount(tmp_path: Path) -> None:
    d = layout(tmp_path, "root")
    script = f"grep CapEff /proc/self/status; mount -o remount,rw {d['checkout']}"
    done = run(View(read_only=(d["checkout"],)), ["sh", "-c", script], tmp_path)
    assert "CapEff:\t0000000000000000" in done.stdout
    assert done.returncode != 0
    assert run(View(read_only=(d["checkout"],)), ["touch", str(d["checkout"] / "x")], tmp_path).returncode != 0


def test_without_network_the_host_loopback_is_out_of_reach(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        probe = [sys.executable, "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)"]
        cut_off = run(View(network=False), probe, tmp_path)
        assert cut_off.returncode != 0 and "Connection refused" in cut_off.stderr
        assert run(View(network=True), probe, tmp_path).returncode == 0


def test_loopback_inside_works_without_network(tmp_path: Path) -> None:
    script = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
              "socket.create_connection(s.getsockname(), 2); print('ok')")
    done = run(View(network=False), [sys.executable, "-c", script], tmp_path)
    assert done.stdout == "ok\n", done.stderr


def test_a_killed_view_leaves_no_mount_behind(tmp_path: Path) -> None:
    d = layout(tmp_path, "root")
    view = View(overlays=(Overlay((d["lower"],), d["upper"], d["work"], d["view"]),))
    proc = subprocess.Popen(sandbox.launcher(view, ["sleep", "30"], d["view"]))
    try:
        assert str(d["view"]) not in Path("/proc/self/mountinfo").read_text()
    finally:
        proc.kill()
        proc.wait()
    assert str(d["view"]) not in Path("/proc/self/mountinfo").read_text()


def test_a_view_that_cannot_be_made_exits_125_and_says_why(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    done = run(View(read_only=(missing,)), ["true"], tmp_path)
    assert done.returncode == sandbox.EXIT_SETUP
    assert done.stderr.startswith("jitos sandbox: mount") and str(missing) in done.stderr
