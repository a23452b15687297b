"""`jitos audit [RANGE]`: for each commit on the branch in a range (default: since
the last tag, else since the commit jitos was set up on), whether it
landed through a collapse whose gate passed on exactly its tree — with the
intent, task, step and gate run — or came from outside (adopted), or is not
recorded by any history this clone has (its own, or fetched from others).

Read-only, like the views: it folds histories and asks git for the range.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.base.repo import Repo, run_git
from kernel.errors import EXIT_GATE_RED, EXIT_OK, BadInput
from kernel.views import Landing, landing, started_at

GATED = "gated"


@dataclass(frozen=True, slots=True)
class Row:
    commit: str
    subject: str
    how: str  # gated | ungated | adopted | unrecorded
    detail: str
    landing: Landing | None


@dataclass(frozen=True, slots=True)
class AuditResult:
    range: str
    rows: tuple[Row, ...]

    @property
    def ungated(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.how != GATED)

    def exit_code(self, require_gated: bool) -> int:
        """0, or 4 (a gate did not pass on it) when gating is required and a commit lacks it."""
        return EXIT_GATE_RED if require_gated and self.ungated else EXIT_OK


def default_range(repo: Repo) -> str:
    """Since the last tag reachable from HEAD; else since the commit jitos was
    set up on (what came before never had a chance to be gated); else all of HEAD."""
    tag = _git(repo, "describe", "--tags", "--abbrev=0", "HEAD", check=False)
    if tag:
        return f"{tag}..HEAD"
    # the earliest: a clone set up later must not hide what came before it
    under = [c for c in dict.fromkeys(started_at(repo))
             if _git(repo, "merge-base", "--is-ancestor", c, "HEAD", check=False, ok=True) == "yes"]
    earliest = [c for c in under
                if not any(o != c and _git(repo, "merge-base", "--is-ancestor", o, c, check=False, ok=True) == "yes"
                           for o in under)]
    return f"{earliest[0]}..HEAD" if earliest else "HEAD"


def audit(repo: Repo, rev_range: str | None = None) -> AuditResult:
    chosen = rev_range or default_range(repo)
    if chosen.startswith("-"):
        raise BadInput(f"{chosen!r} is not a range; give one as git does, e.g. `origin/main..HEAD`")
    listed = _git(repo, "rev-list", "--reverse", "--format=%H %s", "--no-commit-header", chosen, "--", check=True,
                  what=f"range {chosen!r}")
    rows = []
    for line in listed.splitlines():
        commit, _, subject = line.partition(" ")
        found = landing(repo, commit)
        if found is None:
            rows.append(Row(commit, subject, "unrecorded", "not landed by jitos in any history this clone has; "
                            "made outside jitos and not adopted, or its history was not fetched", None))
        else:
            rows.append(Row(commit, subject, found.how, found.describe(), found))
    return AuditResult(chosen, tuple(rows))


def _git(repo: Repo, *args: str, check: bool, what: str = "", ok: bool = False) -> str:
    """git's output (stripped); with `ok`, "yes" when it exits 0."""
    done = run_git(repo, *args)
    if ok:
        return "yes" if done.returncode == 0 else ""
    if done.returncode != 0:
        if check:
            detail = " ".join(done.stderr.split())[:200]
            raise BadInput(f"{what} is not one git knows ({detail}); give a range as git does, e.g. `main~5..main`")
        return ""
    return done.stdout.strip()
