"""Shell completion (typer's, for bash, zsh and fish) offers workspace and task
ids where a command takes one, as the shell asks for them."""

import json
from pathlib import Path

import pytest

from tests.conftest import jitos


def _ask(monkeypatch: pytest.MonkeyPatch, jrepo: Path, shell: str, words: str) -> str:
    """What `jitos` answers the shell completing `words` (the last one being typed)."""
    monkeypatch.setenv("_JITOS_COMPLETE", f"complete_{shell}")
    if shell == "bash":
        monkeypatch.setenv("COMP_WORDS", words)
        monkeypatch.setenv("COMP_CWORD", str(len(words.split(" ")) - 1))
    else:
        monkeypatch.setenv("_TYPER_COMPLETE_ARGS", words)
        monkeypatch.setenv("_TYPER_COMPLETE_FISH_ACTION", "get-args")  # what fish's script asks first
    done = jitos(cwd=jrepo, check=None)
    monkeypatch.delenv("_JITOS_COMPLETE")
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_workspace_and_task_ids_complete_in_every_shell(jrepo: Path, monkeypatch: pytest.MonkeyPatch,
                                                        shell: str) -> None:
    made = json.loads(jitos("sws", "new", "--name", "fixit", "--json", cwd=jrepo).stdout)
    jitos("sws", "new", cwd=jrepo)
    offered = _ask(monkeypatch, jrepo, shell, "jitos sws diff ")
    assert made["id"] in offered and "fixit" in offered and "s2" in offered
    assert "s2" not in _ask(monkeypatch, jrepo, shell, "jitos collapse s1")
    assert "s1" in _ask(monkeypatch, jrepo, shell, "jitos why ")


def test_completion_outside_a_repository_offers_nothing_and_never_fails(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert _ask(monkeypatch, tmp_path, "bash", "jitos sws diff ").strip() == ""


def test_the_completion_script_is_there_for_each_shell() -> None:
    for shell in ("bash", "zsh", "fish"):
        assert "_JITOS_COMPLETE" in jitos("--show-completion", shell).stdout
