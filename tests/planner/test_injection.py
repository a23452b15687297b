"""Values from intent text never become code: a primitive that runs a shell or
interpreter on inline code may pass parameters only as whole arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import BadInput
from kernel.planner.loader import load_domain
from kernel.planner.model import Domain

HEAD = '[task.say]\nparams = ["?what"]\n[method.say]\ntask = "say"\nsubtasks = ["echo ?what"]\n'


def domain_with(tmp_path: Path, argv: str) -> Domain:
    path = tmp_path / "say.toml"
    path.write_text(HEAD + f'[primitive.echo]\nparams = ["?what"]\nworker = "shell"\nargv = {argv}\n')
    return load_domain([path])


@pytest.mark.parametrize("argv", [
    '["sh", "-c", "echo said: {what}"]',
    '["sh", "-c", "{what}"]',
    '["bash", "-lc", "ls {what}"]',
    '["python3", "-c", "print(\'{what}\')"]',
])
def test_parameter_inside_inline_code_is_refused(tmp_path: Path, argv: str) -> None:
    with pytest.raises(BadInput, match="own argument after the code"):
        domain_with(tmp_path, argv)


@pytest.mark.parametrize("argv", [
    '["sh", "-c", "echo said: \\"$1\\"", "sh", "{what}"]',
    '["echo", "said: {what}"]',
    '["git", "commit", "-m", "{what}"]',
])
def test_parameter_as_a_whole_argument_is_allowed(tmp_path: Path, argv: str) -> None:
    assert "{what}" in domain_with(tmp_path, argv).operators["echo"].execution.argv[-1]
