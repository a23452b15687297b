"""`jitos methods import-hddl` and `jitos plan --verify` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jitos_cli.main import main

HDDL = Path(__file__).parent / "hddl"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_hddl_writes_files_and_names_the_plan_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(
        capsys, "methods", "import-hddl", str(HDDL / "hanoi.hddl"), str(HDDL / "hanoi-p3.hddl"),
        "--json",
    )
    data = json.loads(out)
    assert code == 0
    assert data["method_files"] == ["hanoi/hanoi.toml", "hanoi/hanoi-p3.toml"]
    assert data["command"] == [
        "jitos", "plan", "--methods", "hanoi", "--facts", "hanoi/facts/hanoi-p3.toml",
        "--task", "solve-hanoi-p3", "--verify",
    ]


def test_the_printed_command_plans_and_verifies_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run(capsys, "methods", "import-hddl", str(HDDL / "transport.hddl"),
        str(HDDL / "transport-p1.hddl"), "--out", "tr")
    code, out, _ = run(capsys, "plan", "--methods", "tr", "--facts", "tr/facts/transport-p1.toml",
                       "--task", "solve-transport-p1", "--verify", "--json")
    data = json.loads(out)
    assert (code, data["verify"]) == (0, [{"ok": True, "problems": [], "steps": 5}])


def test_verify_in_text_mode_says_the_plan_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run(capsys, "methods", "import-hddl", str(HDDL / "blocks.hddl"), str(HDDL / "blocks-p1.hddl"))
    code, _, err = run(capsys, "plan", "--methods", "blocks", "--facts",
                       "blocks/facts/blocks-p1.toml", "--task", "solve-blocks-p1", "--verify")
    assert code == 0
    assert "plan 1: valid: 7 step(s) replayed, decomposition checked" in err


def test_an_hddl_syntax_error_exits_2_naming_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.hddl"
    bad.write_text("(define (domain d)\n  (:task t :parameters (?x)\n")
    code, _, err = run(capsys, "methods", "import-hddl", str(bad), "--out", str(tmp_path / "o"))
    assert code == 2
    assert f"{bad}:2:3: unclosed '('" in err


def test_an_unsupported_construct_exits_2_saying_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cond.hddl"
    bad.write_text("(define (domain d)\n (:action a :parameters (?x)\n  :effect (when (p ?x) (q ?x))))")
    code, _, err = run(capsys, "methods", "import-hddl", str(bad), "--out", str(tmp_path / "o"))
    assert code == 2
    assert f"{bad}:3:11: (when …) in the effect of action 'a' is not supported" in err
