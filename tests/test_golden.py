"""History bytes are a contract: the scripted session in `tests.golden` gives
exactly the `refs/jitos/*` ids recorded in `tests/data/golden-refs.json`, and a
repository whose history an earlier jitos wrote (`tests/data/history-v0.tar.gz`,
made by that session) still verifies and folds."""

import json
import tarfile
from pathlib import Path

from jitos_cli.main import main
from tests.golden import run_session

DATA = Path(__file__).parent / "data"


def test_the_scripted_session_records_the_same_bytes_as_before(tmp_path: Path) -> None:
    expected = json.loads((DATA / "golden-refs.json").read_text())
    found = run_session(tmp_path / "session")
    assert {k: v for k, v in found.items() if expected.get(k) != v} == {}
    assert found == expected


def test_a_history_written_by_an_earlier_jitos_verifies(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    with tarfile.open(DATA / "history-v0.tar.gz") as archive:
        # The "data" filter where this Python has it (3.11.4+): the archive is ours either way.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp_path / "old", **safe)  # type: ignore[arg-type]
    monkeypatch.chdir(tmp_path / "old")
    assert main(["verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["events"] == 46 and report["problems"] == []
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["system"] == json.loads((DATA / "golden-refs.json").read_text())["refs/jitos/system"]
    assert [t["state"] for t in status["tasks"]] == ["done"]
