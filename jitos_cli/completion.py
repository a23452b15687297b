"""Shell completion of ids: workspaces (`s1`, names, `s1@bob`), tasks and
steps. Typer calls these while the shell asks; they never raise and never
write (no repository, or jitos not set up: nothing to offer)."""

from __future__ import annotations

from collections.abc import Callable


def _quietly(find: Callable[[], list[tuple[str, str]]]) -> list[tuple[str, str]]:
    try:
        return find()
    except Exception:  # noqa: BLE001 - a completion must never break the shell
        return []


def _workspaces(active_only: bool) -> list[tuple[str, str]]:
    from kernel.base.repo import open_repo
    from kernel.record import state
    from kernel.views import others

    repo = open_repo()
    st = state.load(repo)
    found = [(s.id, f"{s.state}" + (f" ({s.name})" if s.name else "")) for s in st.sws.values()
             if s.state == state.SWS_ACTIVE or not active_only]
    found += [(s.name, f"{s.id}") for s in st.sws.values() if s.name and s.state == state.SWS_ACTIVE]
    found += [(w["id"], f"from clone {w['clone']}") for o in others(repo) for w in o.workspaces]
    return found


def _tasks() -> list[tuple[str, str]]:
    from kernel.base.repo import open_repo
    from kernel.tasks.model import all_tasks

    return [(t.id, f"{t.state}: {' '.join(t.intent.split())[:40]}") for t in all_tasks(open_repo())]


def workspaces(incomplete: str) -> list[tuple[str, str]]:
    """Active workspaces (ids and names), and those fetched from other clones."""
    return [(v, h) for v, h in _quietly(lambda: _workspaces(True)) if v.startswith(incomplete)]


def tasks(incomplete: str) -> list[tuple[str, str]]:
    return [(v, h) for v, h in _quietly(_tasks) if v.startswith(incomplete)]


def anything(incomplete: str) -> list[tuple[str, str]]:
    """What `why` explains: tasks, every workspace, and a task's steps after `t1/`."""
    task_id, slash, _ = incomplete.partition("/")
    if slash:
        def steps() -> list[tuple[str, str]]:
            from kernel.base.repo import open_repo
            from kernel.tasks.model import load

            return [(f"{task_id}/{s.id}", s.status) for s in load(open_repo(), task_id).steps]
        return [(v, h) for v, h in _quietly(steps) if v.startswith(incomplete)]
    found = _quietly(_tasks) + _quietly(lambda: _workspaces(False))
    return [(v, h) for v, h in found if v.startswith(incomplete)]
