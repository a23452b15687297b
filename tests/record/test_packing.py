"""History is packed as it grows, outside the lock, losing nothing."""

import time
from pathlib import Path

import pytest

from kernel.base.repo import open_repo
from kernel.record import history, packing, state
from kernel.verify import verify
from tests.conftest import git


def _loose_history_objects(jrepo: Path) -> int:
    """How many objects under the history head are loose files."""
    listed = git(jrepo, "rev-list", "--objects", history.HISTORY_REF).split()
    objects = {word for word in listed if len(word) == 40}
    folder = jrepo / ".git" / "objects"
    return sum((folder / oid[:2] / oid[2:]).is_file() for oid in objects)


def test_pack_moves_the_loose_history_into_one_pack_and_loses_nothing(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    with state.ledger(jr) as ledger:
        for i in range(20):
            ledger.record("note", f"note {i}")
    assert _loose_history_objects(jrepo) >= 60
    head, seq = history.head(jr), ledger.state.seq
    assert head is not None
    assert packing.pack(jr.common_dir, head, seq)
    assert _loose_history_objects(jrepo) == 0
    assert packing.packed_seq(jr.common_dir) == seq
    assert verify(open_repo(jrepo)).ok
    assert git(jrepo, "fsck", "--no-progress", "--no-dangling").strip() == ""
    assert [r.event.seq for r in history.walk(open_repo(jrepo))][:2] == [seq, seq - 1]


def test_another_packer_at_work_is_left_to_it(jrepo: Path) -> None:
    from kernel.base.files import exclusive

    jr = open_repo(jrepo)
    head = history.head(jr)
    assert head is not None
    with exclusive(jr.jitos_dir / "cache" / "pack.lock"):
        assert not packing.pack(jr.common_dir, head, 1)
    assert packing.packed_seq(jr.common_dir) == 0


def test_recording_past_the_threshold_starts_a_detached_packer(jrepo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packing, "PACK_EVERY", 10)
    jr = open_repo(jrepo)
    with state.ledger(jr) as ledger:
        for i in range(5):
            ledger.record("note", f"note {i}")
    assert packing.packed_seq(jr.common_dir) == 0  # fewer than PACK_EVERY: no packer
    with state.ledger(jr) as ledger:
        for i in range(10):
            ledger.record("note", f"note {i}")
    deadline = time.monotonic() + 30
    while packing.packed_seq(jr.common_dir) != ledger.state.seq and time.monotonic() < deadline:
        time.sleep(0.05)
    assert packing.packed_seq(jr.common_dir) == ledger.state.seq == 16
    assert _loose_history_objects(jrepo) == 0
    assert verify(open_repo(jrepo)).ok
