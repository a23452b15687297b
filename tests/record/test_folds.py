"""Saved folds: a command folds only the events after the last checkpoint,
and a checkpoint that does not describe this history is never used."""

import json
from pathlib import Path

import pytest

from kernel.base.repo import open_repo
from kernel.record import folds, history, state
from kernel.verify import verify
from tests.conftest import git


def _notes(jrepo: Path, n: int, start: int = 0) -> None:
    with state.ledger(open_repo(jrepo)) as ledger:
        for i in range(start, start + n):
            ledger.record("note", f"note {i}", data={"i": i})


def _later_process() -> None:
    """Forget what this process folded and read, as a new command starts."""
    folds._memo.clear()
    history._seen.clear()
    history._saved_cache.clear()


def _rewrite(path: Path, change: object) -> None:
    """Change a checkpoint's value, with a digest that matches (as only someone
    who set out to forge it would)."""
    header, _, body = path.read_bytes().partition(b"\n")
    value = json.loads(body)
    change(value)  # type: ignore[operator]
    body = json.dumps(value, separators=(",", ":")).encode()
    meta = json.loads(header)
    meta["sum"] = folds._digest(meta["head"], meta["seq"], body)
    path.write_bytes(json.dumps(meta).encode() + b"\n" + body)


def _scratch(jrepo: Path) -> state.State:
    return state.fold(list(reversed(list(history.walk(open_repo(jrepo))))))


def test_a_later_command_folds_only_the_events_after_the_checkpoint(jrepo: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _notes(jrepo, 40)
    _later_process()
    state.current(open_repo(jrepo))  # folds everything once and saves the checkpoint
    saved = open_repo(jrepo).jitos_dir / "cache" / "fold-state.json"
    assert saved.is_file()
    _notes(jrepo, 3, start=40)
    _later_process()
    read: list[str] = []
    real = history.read_event
    monkeypatch.setattr(history, "read_event", lambda repo, oid: (read.append(oid), real(repo, oid))[1])
    st = state.current(open_repo(jrepo))
    assert len(read) == 4  # the three new events and the checkpoint's own, where the walk stops
    assert st == _scratch(jrepo) and st.counts["note"] == 43


def test_the_checkpoint_is_what_a_later_command_starts_from(jrepo: Path) -> None:
    _notes(jrepo, 5)
    _later_process()
    state.current(open_repo(jrepo))
    saved = open_repo(jrepo).jitos_dir / "cache" / "fold-state.json"
    _rewrite(saved, lambda value: value["counts"].update(note=1000))
    _later_process()
    assert state.current(open_repo(jrepo)).counts["note"] == 1000  # believed: it is the start
    problems = verify(open_repo(jrepo)).problems  # and verify, folding from scratch, says so
    assert any("saved fold of state at event 6 differs" in p and str(saved) in p for p in problems), problems
    saved.unlink()
    assert verify(open_repo(jrepo)).ok


@pytest.mark.parametrize("damage", ["torn", "edited", "other code", "not json", "wrong seq"])
def test_a_damaged_or_foreign_checkpoint_is_ignored(jrepo: Path, damage: str) -> None:
    _notes(jrepo, 5)
    _later_process()
    state.current(open_repo(jrepo))
    saved = open_repo(jrepo).jitos_dir / "cache" / "fold-state.json"
    data = saved.read_bytes()
    header, _, body = data.partition(b"\n")
    meta = json.loads(header)
    if damage == "torn":
        saved.write_bytes(data[: len(data) // 2])
    elif damage == "edited":
        saved.write_bytes(header + b"\n" + body.replace(b'"note":5', b'"note":1000'))
    elif damage == "other code":
        meta["code"] = "0" * 40
        saved.write_bytes(json.dumps(meta).encode() + b"\n" + body)
    elif damage == "not json":
        saved.write_bytes(b"\xff\xfe\n{")
    else:
        meta["seq"] = 2  # claims to describe an earlier event than the one it names
        saved.write_bytes(json.dumps(meta).encode() + b"\n" + body)
    _later_process()
    assert state.current(open_repo(jrepo)) == _scratch(jrepo)
    assert verify(open_repo(jrepo)).ok


def test_a_checkpoint_of_a_rewritten_history_is_ignored(jrepo: Path) -> None:
    _notes(jrepo, 8)
    _later_process()
    state.current(open_repo(jrepo))  # the checkpoint names the newest event
    # History rewound and grown again by as many events: same sequence numbers, other commits.
    git(jrepo, "update-ref", history.HISTORY_REF, f"{history.head(open_repo(jrepo))}~4")
    _notes(jrepo, 4, start=100)
    _later_process()
    st = state.current(open_repo(jrepo))
    assert st == _scratch(jrepo) and st.seq == 9
    assert st.counts["note"] == 8  # 4 kept + 4 new, not the 8 + … the checkpoint held
