"""Overlay workspaces: made without a checkout, recording every kind of edit
exactly as a worktree workspace records it (the same snapshot trees), and
running programs where a write outside the workspace fails at the write."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.base import sandbox
from kernel.base.repo import open_repo
from kernel.land.collapse import collapse
from kernel.land.gate import GatePolicy
from kernel.workspace import backend, overlayfs, sws
from tests.conftest import commit_files, git, jitos

pytestmark = pytest.mark.skipif(not sandbox.support().available,
                                reason=f"no namespaces here: {sandbox.support().reason}")

EDITS = r"""
set -e
echo appended >> README.md
sed -i 's/hi/hello/' src/app.py
printf 'saved\n' > notes.tmp && mv notes.tmp notes.txt
chmod +x tool.sh
: > truncate.txt
rm gone.txt
rm again.txt && echo recreated > again.txt
rm file_to_dir && mkdir file_to_dir && echo inside > file_to_dir/x.txt
rm -r dir_to_file && echo now a file > dir_to_file
rm -r wholedir
ln -s README.md link.md
echo junk > build.log
"""

FILES = {"README.md": "hello\n", "src/app.py": "print('hi')\n", "tool.sh": "echo tool\n", "truncate.txt": "x\n",
         "gone.txt": "bye\n", "again.txt": "first\n", "file_to_dir": "f\n", "dir_to_file/a.txt": "a\n",
         "wholedir/one.txt": "1\n", "wholedir/deep/two.txt": "2\n", ".gitignore": "*.log\n"}


@pytest.fixture
def orepo(make_repo, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    """An initialised repository whose new workspaces are overlays."""
    path = make_repo(files=FILES, name="orepo")
    monkeypatch.chdir(path)
    monkeypatch.setenv("JITOS_SWS_BACKEND", "overlay")
    jitos("init")
    return Path(path)


def new(repo: Path, kind: str) -> sws.Workspace:
    os.environ["JITOS_SWS_BACKEND"] = kind
    try:
        return sws.new(open_repo(repo))
    finally:
        os.environ["JITOS_SWS_BACKEND"] = "overlay"


def test_a_new_overlay_workspace_is_folders_and_a_record_not_a_checkout(orepo: Path) -> None:
    ws = new(orepo, "overlay")
    layers = overlayfs.layer(open_repo(orepo), ws.path)
    assert sorted(os.listdir(layers / "upper")) == [".git"]
    assert list(ws.path.iterdir()) == []  # the merged tree shows only inside views
    assert "locked" in git(orepo, "worktree", "list", "--porcelain")
    assert json.loads(jitos("status", "--json").stdout)["sws"][0]["id"] == ws.id


def test_every_kind_of_edit_records_the_same_tree_on_both_backends(orepo: Path) -> None:
    trees = {}
    for kind in ("worktree", "overlay"):
        ws = new(orepo, kind)
        assert backend.for_path(open_repo(orepo), ws.path).__class__.__name__ == \
            {"worktree": "GitWorktree", "overlay": "OverlayWorkspace"}[kind]
        run = sws.run(open_repo(orepo), ws.id, ["sh", "-c", EDITS])
        assert run.exit_code == 0, open_repo(orepo).store.get(run.stderr)
        trees[kind] = git(orepo, "rev-parse", f"refs/jitos/sws/{ws.id}^{{tree}}")
    assert trees["overlay"] == trees["worktree"]
    listing = git(orepo, "ls-tree", "-r", "--name-only", trees["overlay"]).splitlines()
    assert "file_to_dir/x.txt" in listing and "dir_to_file" in listing and "link.md" in listing
    assert not any(p.startswith("wholedir") for p in listing) and "gone.txt" not in listing
    assert "build.log" not in listing  # ignored, as in a checkout


def test_edits_stay_in_their_workspace(orepo: Path) -> None:
    a, b = new(orepo, "overlay"), new(orepo, "overlay")
    base = overlayfs.Layers(open_repo(orepo), a.path).lower
    sws.run(open_repo(orepo), a.id, ["sh", "-c", "echo a-edit >> README.md; rm gone.txt"])
    seen = sws.run(open_repo(orepo), b.id, ["cat", "README.md", "gone.txt"])
    assert open_repo(orepo).store.get(seen.stdout) == b"hello\nbye\n"
    assert (base / "README.md").read_text() == "hello\n" and (orepo / "README.md").read_text() == "hello\n"
    assert (base / "gone.txt").exists()


@pytest.mark.parametrize("script", [
    "echo x > {checkout}/README.md",
    "git update-ref refs/heads/evil HEAD",
    "echo x > {common}/hooks/pre-commit",
    "git config user.name evil",
])
def test_a_write_outside_the_workspace_fails_at_the_write(orepo: Path, script: str) -> None:
    ws = new(orepo, "overlay")
    before = git(orepo, "for-each-ref", "refs/heads", "refs/tags"), (orepo / ".git" / "config").read_text()
    command = script.format(checkout=orepo, common=orepo / ".git")
    run = sws.run(open_repo(orepo), ws.id, ["sh", "-c", command])
    assert run.exit_code != 0
    assert b"Read-only file system" in open_repo(orepo).store.get(run.stderr)
    assert (orepo / "README.md").read_text() == "hello\n" and not (orepo / ".git" / "hooks" / "pre-commit").exists()
    assert (git(orepo, "for-each-ref", "refs/heads", "refs/tags"), (orepo / ".git" / "config").read_text()) == before
    assert git(orepo, "fsck", "--no-progress", "--connectivity-only") == ""


def test_objects_deleted_or_planted_inside_never_reach_the_repository(orepo: Path) -> None:
    ws = new(orepo, "overlay")
    common = orepo / ".git"
    before = sorted(p.relative_to(common).as_posix() for p in (common / "objects").rglob("*") if p.is_file())
    script = (f"find {common}/objects -type f -delete && mkdir -p {common}/objects/info && "
              f"echo /elsewhere > {common}/objects/info/alternates && mkdir -p {common}/objects/ab && "
              f"echo junk > {common}/objects/ab/{'c' * 38} && echo edit > README.md")
    run = sws.run(open_repo(orepo), ws.id, ["sh", "-c", script])
    assert run.exit_code == 0, open_repo(orepo).store.get(run.stderr)
    after = sorted(p.relative_to(common).as_posix() for p in (common / "objects").rglob("*") if p.is_file())
    assert set(before) <= set(after) and not (common / "objects" / "info" / "alternates").exists()
    assert not (common / "objects" / "ab" / ("c" * 38)).exists()
    assert git(orepo, "fsck", "--no-progress", "--connectivity-only") == ""
    assert git(orepo, "show", f"refs/jitos/sws/{ws.id}:README.md") == "edit"


def test_a_subrepository_inside_the_view_keeps_its_own_objects(orepo: Path) -> None:
    ws = new(orepo, "overlay")
    script = "git init -q scratch && cd scratch && echo x > f && git add f && git -c user.name=w " \
             "-c user.email=w@x commit -qm one && find .git/objects -type f | wc -l"
    run = sws.run(open_repo(orepo), ws.id, ["sh", "-c", script])
    assert run.exit_code == 0, open_repo(orepo).store.get(run.stderr)
    assert int(open_repo(orepo).store.get(run.stdout)) == 3  # blob, tree, commit: in its own .git


def test_git_works_inside_and_a_commit_there_is_recorded(orepo: Path) -> None:
    ws = new(orepo, "overlay")
    script = ("echo more >> README.md && git status --porcelain && git -c user.name=w -c user.email=w@x "
              "commit -qam inside && git log -1 --format=%s")
    run = sws.run(open_repo(orepo), ws.id, ["sh", "-c", script])
    out = open_repo(orepo).store.get(run.stdout).decode()
    assert run.exit_code == 0, open_repo(orepo).store.get(run.stderr)
    assert out.splitlines() == [" M README.md", "inside"]
    assert git(orepo, "show", f"refs/jitos/sws/{ws.id}:README.md") == "hello\nmore"
    sws.run(open_repo(orepo), ws.id, ["sh", "-c", "echo new > added.txt"])  # recorded by the run's snapshot
    clean = sws.run(open_repo(orepo), ws.id, ["git", "status", "--porcelain"])
    assert open_repo(orepo).store.get(clean.stdout) == b""  # the index caught up with the recorded head


def test_an_overlay_workspace_collapses_through_a_gate_run_in_its_view(orepo: Path) -> None:
    ws = new(orepo, "overlay")
    sws.run(open_repo(orepo), ws.id, ["sh", "-c", "echo landed > README.md"])
    commit_files(orepo, {"other.txt": "outside\n"}, "outside")  # forces adopt + re-base
    policy = GatePolicy.from_options(open_repo(orepo), gate="sh -c 'grep -q landed README.md && test -f other.txt'")
    result = collapse(open_repo(orepo), ws.id, policy)
    assert result.committed and result.rebased, result
    assert (orepo / "README.md").read_text() == "landed\n"
    assert jitos("verify").returncode == 0


def upper_files(repo: Path, ws: sws.Workspace) -> set[str]:
    upper = overlayfs.layer(open_repo(repo), ws.path) / "upper"
    return {p.relative_to(upper).as_posix() for p in upper.rglob("*") if p.name != ".git" and not p.is_dir()}


def test_a_rebase_moves_onto_the_systems_shared_base_when_it_exists(orepo: Path) -> None:
    ws = new(orepo, "overlay")
    sws.run(open_repo(orepo), ws.id, ["sh", "-c", "echo landed > README.md && echo built > out.log"])
    commit_files(orepo, {"other.txt": "outside\n", "src/app.py": "print('theirs')\n"}, "outside")
    later = sws.new(open_repo(orepo), from_rev="main")  # builds the system tree's base
    first_base = overlayfs.Layers(open_repo(orepo), ws.path).base_tree
    result = collapse(open_repo(orepo), ws.id, GatePolicy.from_options(open_repo(orepo), gate="false"))
    assert result.outcome == "gate-failed" and result.rebased, result  # red, so the workspace stays
    layers = overlayfs.Layers(open_repo(orepo), ws.path)
    assert layers.base_tree == git(orepo, "rev-parse", "main^{tree}") != first_base
    assert upper_files(orepo, ws) == {"README.md", "out.log"}  # only its own change and its ignored file
    seen = sws.run(open_repo(orepo), ws.id, ["sh", "-c", "cat README.md src/app.py out.log; git status --porcelain"])
    assert open_repo(orepo).store.get(seen.stdout) == b"landed\nprint('theirs')\nbuilt\n"
    assert seen.snapshot.changed == ()
    sws.discard(open_repo(orepo), later.id)
    done = json.loads(jitos("gc", "--json").stdout)
    assert done["bases"] == [first_base]  # nobody stands on the first base any more


def test_a_rebase_without_the_systems_base_writes_the_systems_changes_above(orepo: Path) -> None:
    ws = new(orepo, "overlay")
    sws.run(open_repo(orepo), ws.id, ["sh", "-c", "echo landed > README.md"])
    first_base = overlayfs.Layers(open_repo(orepo), ws.path).base_tree
    commit_files(orepo, {"other.txt": "outside\n"}, "outside")
    result = collapse(open_repo(orepo), ws.id, GatePolicy.from_options(open_repo(orepo), gate="false"))
    assert result.outcome == "gate-failed" and result.rebased, result
    seen = sws.run(open_repo(orepo), ws.id, ["sh", "-c", "cat README.md other.txt; git status --porcelain"])
    assert open_repo(orepo).store.get(seen.stdout) == b"landed\noutside\n"
    assert overlayfs.Layers(open_repo(orepo), ws.path).base_tree == first_base  # no checkout under the lock
    assert upper_files(orepo, ws) == {"README.md", "other.txt"}


@pytest.mark.parametrize("cut", ["after-index", "after-base"])
def test_a_restack_cut_short_is_finished_by_the_next_command(orepo: Path, monkeypatch: pytest.MonkeyPatch,
                                                             cut: str) -> None:
    """Killed inside the move onto the system's base: before the index's note,
    or right after the lower layer switched; the next command finishes it."""
    ws = new(orepo, "overlay")
    sws.run(open_repo(orepo), ws.id, ["sh", "-c", "echo mine > README.md"])
    commit_files(orepo, {"src/app.py": "print('theirs')\n"}, "outside")
    sws.new(open_repo(orepo), from_rev="main")
    real_write_atomic = overlayfs.write_atomic

    def crash(path: Path, data: bytes, **kw: object) -> None:
        if cut == "after-base" and path.name == "base":
            real_write_atomic(path, data)
        if path.name == ("index-pending.json" if cut == "after-index" else "base"):
            raise KeyboardInterrupt
        real_write_atomic(path, data, **kw)  # type: ignore[arg-type]

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(overlayfs, "write_atomic", crash)
        collapse(open_repo(orepo), ws.id, GatePolicy.from_options(open_repo(orepo), gate="false"))
    run = sws.run(open_repo(orepo), ws.id, ["sh", "-c", "cat README.md src/app.py && git status --porcelain"])
    assert open_repo(orepo).store.get(run.stdout) == b"mine\nprint('theirs')\n"
    assert run.snapshot.changed == ()
    assert upper_files(orepo, ws) == {"README.md"}
    assert json.loads(jitos("verify", "--json").stdout)["ok"]


def test_without_network_a_step_cannot_reach_the_host(orepo: Path) -> None:
    import socket

    ws = new(orepo, "overlay")
    repo = open_repo(orepo)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        probe = [sys.executable, "-c", f"import socket; socket.create_connection(('127.0.0.1', {listener.getsockname()[1]}), 2)"]
        for network, expected in ((False, 1), (True, 0)):
            argv = backend.for_path(repo, ws.path).command(repo, ws.path, probe, network=network)
            assert subprocess.run(argv, capture_output=True, check=False).returncode == expected


def test_discard_removes_the_layers_and_the_worktree_record(orepo: Path) -> None:
    ws = new(orepo, "overlay")
    sws.run(open_repo(orepo), ws.id, ["sh", "-c", "echo x > new.txt"])
    sws.discard(open_repo(orepo), ws.id)
    repo = open_repo(orepo)
    assert not overlayfs.layer(repo, ws.path).exists() and not overlayfs.admin(repo, ws.path).exists()
    assert git(orepo, "show", f"refs/jitos/sws/{ws.id}:new.txt") == "x"


def test_without_namespaces_overlay_falls_back_to_worktrees_and_says_why(orepo: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.DISABLE_ENV, "1")
    chosen = backend.choice(open_repo(orepo))
    assert (chosen.backend, chosen.isolation) == ("worktree", "detected") and sandbox.DISABLE_ENV in chosen.reason
    ws = sws.new(open_repo(orepo))
    assert (ws.path / "README.md").read_text() == "hello\n"  # a real checkout


def test_an_unknown_backend_is_bad_input(orepo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JITOS_SWS_BACKEND", "zfs")
    done = jitos("sws", "new", check=2)
    assert "JITOS_SWS_BACKEND='zfs' is not one of worktree, overlay, auto" in done.stderr


def test_a_shell_runs_inside_the_view_and_its_edits_are_recorded(orepo: Path, tmp_path: Path) -> None:
    ws = new(orepo, "overlay")
    script = tmp_path / "fake-shell"
    script.write_text("#!/bin/sh\ntest -f README.md && echo from the shell > shell.txt\n")
    script.chmod(0o755)
    done = jitos("sws", "shell", ws.id, "--shell", str(script))
    assert "recorded 1 path(s)" in done.stderr
    assert git(orepo, "show", f"refs/jitos/sws/{ws.id}:shell.txt") == "from the shell"


def test_sws_path_says_when_the_files_show_only_inside_views(orepo: Path) -> None:
    ws = new(orepo, "overlay")
    done = jitos("sws", "path", ws.id)
    assert done.stdout.strip() == str(ws.path)
    assert "only inside jitos views" in done.stderr and f"jitos sws materialize {ws.id}" in done.stderr


def test_materialize_gives_editors_a_plain_folder_and_loses_nothing(orepo: Path) -> None:
    ws = new(orepo, "overlay")
    sws.run(open_repo(orepo), ws.id, ["sh", "-c", "echo unrecorded-yet > later.txt"])
    (overlayfs.layer(open_repo(orepo), ws.path) / "upper" / "edited.txt").write_text("not yet recorded\n")
    assert jitos("sws", "materialize", ws.id).stdout.strip() == str(ws.path)
    assert (ws.path / "later.txt").read_text() == "unrecorded-yet\n"
    assert (ws.path / "edited.txt").read_text() == "not yet recorded\n"
    assert not overlayfs.layer(open_repo(orepo), ws.path).exists()
    (ws.path / "README.md").write_text("edited in an editor\n")
    assert sws.snapshot(open_repo(orepo), ws.id).changed == ("README.md",)
    assert jitos("sws", "path", ws.id).stderr == ""


def test_included_ignored_files_show_in_the_view(make_repo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    files = {**FILES, ".gitignore": ".env\n", ".jitos/config.toml": '[sws]\nbackend = "overlay"\ninclude = [".env"]\n'}
    path = make_repo(files=files, name="inc")
    monkeypatch.delenv("JITOS_SWS_BACKEND", raising=False)  # the config chooses
    monkeypatch.chdir(path)
    (path / ".env").write_text("SECRET=1\n")
    jitos("init")
    ws = sws.new(open_repo(path))
    assert ws.backend == "overlay"
    seen = sws.run(open_repo(path), ws.id, ["cat", ".env"])
    assert open_repo(path).store.get(seen.stdout) == b"SECRET=1\n"
    assert seen.snapshot.changed == ()


def test_gc_removes_what_no_live_workspace_uses_and_nothing_history_names(orepo: Path) -> None:
    repo = open_repo(orepo)
    keep, gone = new(orepo, "overlay"), new(orepo, "overlay")
    sws.run(repo, gone.id, ["sh", "-c", "echo x > x.txt"])
    sws.discard(open_repo(orepo), gone.id)
    commit_files(orepo, {"later.txt": "l\n"}, "later")
    third = sws.new(open_repo(orepo), from_rev="main")  # another tree, so a second base
    jitos("sws", "discard", third.id)
    stale = overlayfs.layer(repo, repo.workspaces_dir / "s99")  # as a killed `sws new` leaves it
    (stale / "upper").mkdir(parents=True)
    refs_before = git(orepo, "for-each-ref")
    done = json.loads(jitos("gc", "--json").stdout)
    assert done["layers"] == ["s99"] and len(done["bases"]) == 1
    assert overlayfs.Layers(open_repo(orepo), keep.path).lower.is_dir()  # the live workspace's base stays
    assert git(orepo, "for-each-ref") == refs_before
    assert json.loads(jitos("verify", "--json").stdout)["ok"]
    assert sws.run(open_repo(orepo), keep.id, ["cat", "README.md"]).exit_code == 0


NOBODY_SESSION = r"""
set -e
cd "$1"
jitos() { "$PY" -c 'import sys; from jitos_cli.main import main; sys.exit(main())' "$@"; }
jitos init >/dev/null
a=$(jitos sws new --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
b=$(jitos sws new --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
jitos sws run "$a" -- sh -c 'echo a >> README.md; rm gone.txt; chmod +x tool.sh; mkdir -p n/m; echo deep > n/m/f' 2>/dev/null
if jitos sws run "$a" -- sh -c "echo evil > $1/README.md" 2>err.txt; then exit 10; fi
grep -q 'Read-only file system' err.txt
jitos sws run "$b" -- cat README.md gone.txt 2>/dev/null
git show "refs/jitos/sws/$a:n/m/f"
jitos sws discard "$b" >/dev/null
test -z "$(ls -A .git/jitos/trash)"
jitos verify >/dev/null
"""


def nobody_python() -> tuple[str, str] | None:
    """An interpreter uid 65534 can run with jitos and its dependencies importable
    (this venv's may live below a folder only root can enter), and its PYTHONPATH."""
    import shutil
    import site

    if shutil.which("setpriv") is None:
        return None
    paths = [str(Path(__file__).resolve().parents[2]), *site.getsitepackages()]
    pythonpath = os.pathsep.join(paths)
    for candidate in (sys.executable, os.path.realpath(sys.executable), shutil.which("python3") or "",
                      f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c",
                                '"$0" -c "import pygit2, typer, blake3, kernel"', candidate],
                               env={**os.environ, "PYTHONPATH": pythonpath}, capture_output=True, check=False, cwd="/")
        if candidate and probe.returncode == 0:
            return candidate, pythonpath
    return None


def test_an_unprivileged_user_gets_the_same_isolation(tmp_path: Path) -> None:
    import shutil
    import tempfile

    found = nobody_python()
    if found is None:
        pytest.skip("no Python with jitos's dependencies that uid 65534 can run")
    python, pythonpath = found
    home = Path(tempfile.mkdtemp(prefix="jitos-nobody-"))
    try:
        repo = home / "repo"
        repo.mkdir()
        for rel, text in FILES.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "initial")
        (repo / "err.txt").write_text("")
        for path in [home, *home.rglob("*")]:
            os.chown(path, 65534, 65534, follow_symlinks=False)
        env = {**os.environ, "HOME": str(home), "PY": python, "JITOS_SWS_BACKEND": "overlay", "PYTHONPATH": pythonpath}
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c",
                               NOBODY_SESSION, "sh", str(repo)], env=env, capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout == "hello\nbye\ndeep\n"
        assert (repo / "README.md").read_text() == "hello\n"
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_writes_from_outside_a_view_follow_overlay_rules(orepo: Path) -> None:
    """What undo and a re-base write into a workspace: the view shows exactly the tree asked for."""
    from kernel.workspace import trees

    ws = new(orepo, "overlay")
    repo = open_repo(orepo)
    blob = trees.Entry(str(repo.git.create_blob(b"new\n")), trees.BLOB_MODE)
    changes: dict[str, trees.Entry | None] = {
        "wholedir/deep/two.txt": None,          # a deletion below folders only the base has
        "fresh/deeper/new.txt": blob,           # a file below folders nobody has
        "file_to_dir": None, "file_to_dir/x.txt": blob,
        "dir_to_file/a.txt": None, "dir_to_file": blob,
    }
    backend.for_path(repo, ws.path).write(repo, ws.path, changes)
    expected = trees.apply(repo.git, repo.tree_of(ws.base), changes)
    snap = sws.snapshot(open_repo(orepo), ws.id)
    assert git(orepo, "rev-parse", f"{snap.head}^{{tree}}") == expected
    listing = sws.run(open_repo(orepo), ws.id, ["sh", "-c", "find . -path ./.git -prune -o -type f -print | sort"])
    shown = open_repo(orepo).store.get(listing.stdout).decode().split()
    assert "./wholedir/one.txt" in shown and "./wholedir/deep/two.txt" not in shown
    assert "./fresh/deeper/new.txt" in shown and "./file_to_dir/x.txt" in shown and "./dir_to_file" in shown


def test_a_killed_jitos_leaves_no_mount_outside_and_history_verifies(orepo: Path) -> None:
    import signal
    import time

    ws = new(orepo, "overlay")
    marker = overlayfs.layer(open_repo(orepo), ws.path) / "upper" / "started"
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from jitos_cli.main import main; sys.exit(main())",
                             "sws", "run", ws.id, "--", "sh", "-c", "touch started; exec sleep 29.5"],
                            cwd=orepo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert str(ws.path) not in Path("/proc/self/mountinfo").read_text()
        assert list(ws.path.iterdir()) == []
        assert json.loads(jitos("verify", "--json").stdout)["ok"]
        assert sws.snapshot(open_repo(orepo), ws.id).changed == ("started",)  # the edit made before the kill
    finally:
        subprocess.run(["pkill", "-KILL", "-f", "sleep 29.5"], check=False)  # the orphaned program


def test_the_same_edits_record_the_same_history_on_both_backends(make_repo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    ids = {}
    for kind in ("worktree", "overlay"):
        path = make_repo(files=FILES, name=f"same-{kind}")
        monkeypatch.chdir(path)
        monkeypatch.setenv("JITOS_SWS_BACKEND", kind)
        jitos("init")
        sid = json.loads(jitos("sws", "new", "--name", "edits", "--json").stdout)["id"]
        jitos("sws", "run", sid, "--", "sh", "-c", EDITS)
        commit_files(path, {"outside.txt": "o\n"}, "outside")  # adopt + re-base on the way
        jitos("collapse", sid, "--gate", "true")
        jitos("sws", "new")
        ids[kind] = git(path, "for-each-ref", "--format=%(refname) %(objectname)", "refs/jitos/")
    assert ids["overlay"] == ids["worktree"]


def test_clean_filters_apply_to_what_an_overlay_records(make_repo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    path = make_repo(files={".gitattributes": "*.txt text eol=crlf\n", "a.txt": "one\n"}, name="crlf")
    monkeypatch.chdir(path)
    monkeypatch.setenv("JITOS_SWS_BACKEND", "overlay")
    jitos("init")
    ws = sws.new(open_repo(path))
    sws.run(open_repo(path), ws.id, ["sh", "-c", "printf 'one\\r\\ntwo\\r\\n' > a.txt"])
    blob = git(path, "rev-parse", f"refs/jitos/sws/{ws.id}:a.txt")
    assert git(path, "cat-file", "-p", blob) == "one\ntwo"


def test_gc_removes_a_private_folder_a_killed_jitos_left(orepo: Path) -> None:
    tmp = orepo / ".git" / "jitos" / "tmp"
    left = tmp / "private-s1-a-pid999999999-x1"  # no such process
    (left / "upper").mkdir(parents=True)
    (left / "upper" / "cache").write_text("from a read-only step\n")
    live = tmp / f"private-s1-b-pid{os.getpid()}-x2"
    live.mkdir()
    jitos("gc")
    assert not left.exists() and live.exists()
