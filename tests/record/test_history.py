import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel.base import canonical
from kernel.base.repo import open_repo
from kernel.record import history, refs, state
from kernel.verify import verify
from tests.conftest import git


def test_history_commits_are_linear_with_fixed_identity_and_pinned_time(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    with state.ledger(jr) as ledger:
        ledger.record("note", "first note", data={"n": 1})
        ledger.record("note", "second note", data={"n": 2})
    lines = git(jrepo, "log", "--format=%an <%ae> %at|%P|%s", "refs/jitos/history").splitlines()
    assert len(lines) == 3
    assert {line.split("|")[0] for line in lines} == {"jitos <jitos@localhost> 1700000000"}
    assert [len(line.split("|")[1].split()) for line in lines] == [1, 1, 0]
    assert lines[0].endswith("|second note")


def test_event_message_has_trailers_and_tree_holds_canonical_record(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    with state.ledger(jr) as ledger:
        rec = ledger.record("note", "hello", links={"sws": "s9"}, data={"b": 2, "a": [1]})
    body = git(jrepo, "log", "-1", "--format=%B", "refs/jitos/history")
    assert "Jitos-Event: note" in body and "Jitos-Sws: s9" in body and "Jitos-Seq: 2" in body
    raw = subprocess.run(["git", "show", "refs/jitos/history:event.json"], cwd=jrepo, capture_output=True, check=True).stdout
    assert raw == canonical.dumps(rec.event.record())
    assert raw.startswith(b'{"data":{"a":[1],"b":2}')


def test_time_is_read_from_the_clock_and_recorded_without_source_date_epoch(jrepo: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    jr = open_repo(jrepo)
    with state.ledger(jr) as ledger:
        rec = ledger.record("note", "now")
    assert rec.event.time > 1700000000
    assert verify(jr).ok


def test_concurrent_appenders_lose_nothing(jrepo: Path) -> None:
    script = (
        "import sys\n"
        "from kernel.record import state\nfrom kernel.base.repo import open_repo\n"
        "jr = open_repo()\n"
        "for i in range(25):\n"
        "    with state.ledger(jr) as l:\n"
        "        l.record('note', f'writer {sys.argv[1]} note {i}')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w)], cwd=jrepo) for w in range(4)]
    assert all(p.wait() == 0 for p in procs)
    jr = open_repo(jrepo)
    events = history.events(jr)
    assert [r.event.seq for r in events] == list(range(1, 102))
    assert len({r.event.summary for r in events}) == 101
    assert verify(jr).ok


def test_a_journalled_move_left_by_a_dead_process_is_rolled_forward(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    st = state.load(jr)
    event = history.Event(seq=2, kind="note", time=1700000000, summary="half-done")
    oid = history.write_commit(jr, event, st.head)
    journal = {"message": "x", "moves": [{"name": history.HISTORY_REF, "old": st.head, "new": oid}]}
    (jr.jitos_dir / "refs-journal.json").write_bytes(canonical.dumps(journal))
    with refs.locked(jr):
        pass
    assert history.head(jr) == oid
    assert not (jr.jitos_dir / "refs-journal.json").exists()
    assert verify(jr).ok


def _forge(jr, moves: list[dict[str, str | None]]) -> None:  # type: ignore[no-untyped-def]
    (jr.jitos_dir / "refs-journal.json").write_bytes(canonical.dumps({"message": "x", "moves": moves}))


def test_a_journal_jitos_did_not_write_is_never_replayed(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    st = state.load(jr)
    main = git(jrepo, "rev-parse", "main")
    evil = git(jrepo, "commit-tree", "-m", "ungated", f"{main}^{{tree}}", "-p", main)
    # a branch move alone; and one riding on a real event that does not name it
    event = history.Event(seq=2, kind="note", time=1700000000, summary="looks real")
    oid = history.write_commit(jr, event, st.head)
    for moves in ([{"name": "refs/heads/main", "old": main, "new": evil}],
                  [{"name": history.HISTORY_REF, "old": st.head, "new": oid},
                   {"name": "refs/heads/main", "old": main, "new": evil}],
                  [{"name": history.HISTORY_REF, "old": st.head, "new": oid},
                   {"name": "refs/jitos/system", "old": main, "new": evil}]):
        _forge(jr, moves)
        with refs.locked(jr):
            pass
        assert git(jrepo, "rev-parse", "main") == main and history.head(jr) == st.head
        assert refs.read(jr, "refs/jitos/system") == main
        assert any("ref journal jitos did not write" in p for p in verify(jr).problems)
        refs.refused_journal(jr).unlink()
    assert verify(jr).ok


def test_sigkill_during_appends_leaves_history_verifiable(jrepo: Path) -> None:
    script = (
        "from kernel.record import state\nfrom kernel.base.repo import open_repo\n"
        "jr = open_repo()\n"
        "i = 0\n"
        "while True:\n"
        "    with state.ledger(jr) as l:\n"
        "        l.record('note', f'note {i}', moves={'refs/jitos/scratch': l.state.head})\n"
        "    i += 1\n"
    )
    for delay in (0.0, 0.05, 0.13):
        before = history.head(open_repo(jrepo))
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=jrepo)
        deadline = time.monotonic() + 60
        while history.head(open_repo(jrepo)) == before and time.monotonic() < deadline:
            time.sleep(0.01)  # appends have started
        time.sleep(delay)
        os.kill(proc.pid, 9)
        proc.wait()
        result = verify(open_repo(jrepo))
        assert result.ok, result.problems
    assert history.events(open_repo(jrepo))[-1].event.seq > 3


def test_a_task_starting_while_someone_asks_whether_it_runs_waits_for_the_answer(jrepo: Path) -> None:
    import threading

    from kernel.base.files import exclusive
    from kernel.record import locks

    repo = open_repo(jrepo)
    probing, done = threading.Event(), threading.Event()

    def probe() -> None:  # what `is_live` does, held a little longer than it ever is
        with exclusive(repo.jitos_dir / "tasks" / "t1.lock"):
            probing.set()
            done.wait(0.2)

    thread = threading.Thread(target=probe)
    thread.start()
    probing.wait(5)
    with locks.task_lock(repo, "t1"):  # before: "task t1 is being run by another jitos process"
        assert locks.is_live(repo, "t1")
    thread.join()


def _fresh_read(jr: object) -> list[tuple[str, int]]:
    """The chain as git holds it, read without any saved copy."""
    return [(r.oid, r.event.seq) for r in reversed(list(history.walk(jr)))]  # type: ignore[arg-type]


def test_a_long_history_is_read_from_a_saved_chain_that_is_checked(jrepo: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "SAVE_EVERY", 5)
    jr = open_repo(jrepo)
    with state.ledger(jr) as ledger:
        for i in range(12):
            ledger.record("note", f"note {i}")
    saved = jr.jitos_dir / "cache" / "events.jsonl"
    history._seen.clear()
    history._saved_cache.clear()
    assert [(r.oid, r.event.seq) for r in history.events(jr)] == _fresh_read(jr)
    assert saved.is_file() and len(saved.read_bytes().splitlines()) >= 5

    # A copy someone altered is not used: the events still come from git.
    saved.write_bytes(saved.read_bytes().replace(b"note 3", b"note X"))
    history._seen.clear()
    history._saved_cache.clear()
    assert [r.event.summary for r in history.events(jr)][4] == "note 3"

    # A rewritten history (here: a new repository's chain at the same place) is not mixed in.
    git(jrepo, "update-ref", history.HISTORY_REF, f"{history.head(jr)}~6")
    history._seen.clear()
    history._saved_cache.clear()
    assert [(r.oid, r.event.seq) for r in history.events(jr)] == _fresh_read(jr)
