"""Several clones, no coordination, no lost events.

Each clone appends to its own history (`refs/jitos/history`) and publishes it,
with the refs its events name, under its own name on a remote, the way git
keeps remote-tracking branches:

    refs/jitos/history  → refs/jitos/clones/<name>/history   (fast-forward only)
    refs/jitos/system   → refs/jitos/clones/<name>/system
    refs/jitos/sws/*    → refs/jitos/clones/<name>/sws/*
    refs/jitos/kept/*   → refs/jitos/clones/<name>/kept/*

`fetch` brings every other clone's refs to the same names here. Nobody but
`<name>` writes under `…/clones/<name>/`, so two clones never write the same
ref, and a fetch never touches this clone's own refs. A fetched history that
no longer contains what was fetched before (rewritten, or another clone
publishing under the same name) is refused, so no fetched event is ever
lost. Views fold every known history: ids are per history (`s1`, `t1` on
every clone), and one from another clone is named `s1@<name>`.

The clone's name is `git config jitos.clone`: set it to anything readable
(`alice-laptop`), or the first push or fetch picks a random one. It is the
one random value jitos keeps, and it is in no event: it names where a
history is published, not what happened in it, so the same commands on one
clone still give the same ids.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass

import pygit2

from kernel.base.proc import alive
from kernel.base.repo import Repo, run_git
from kernel.base.store import CLONES_PREFIX
from kernel.errors import BadInput, JitosError
from kernel.record import history, refs
from kernel.record.history import HISTORY_REF, SWS_REF_PREFIX, SYSTEM_REF

CONFIG_KEY = "jitos.clone"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}\Z")
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
KEPT_PREFIX = "refs/jitos/kept/"
INCOMING = "refs/jitos/incoming/"  # where a fetch puts refs until they are checked
#: Refs only `fetch` writes (no event names them; the step guard and verify leave them to it).
FETCHED = (CLONES_PREFIX, INCOMING)


def own(repo: Repo, *, create: bool = False) -> str | None:
    """This clone's name (`git config jitos.clone`); with `create`, one is
    picked and written to the repository's config when there is none."""
    config = repo.git.config
    try:
        name = str(config[CONFIG_KEY])
    except KeyError:
        if not create:
            return None
        name = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        config[CONFIG_KEY] = name
    if not NAME_RE.match(name):
        raise BadInput(f"git config {CONFIG_KEY} is {name!r}; a clone name is lowercase letters, digits, '.', "
                       "'_' or '-' (at most 40): set one with `git config jitos.clone NAME`")
    return name


def known(repo: Repo) -> list[str]:
    """The other clones whose history this clone fetched."""
    found = set()
    listed = refs.names(repo, CLONES_PREFIX)
    mine = own(repo) if listed else None
    for name in listed:
        if name.endswith("/history"):
            clone = name[len(CLONES_PREFIX):-len("/history")]
            if clone != mine and "/" not in clone:
                found.add(clone)
    return sorted(found)


def ref(clone: str, local: str) -> str:
    """Where `clone` publishes what it keeps at `local` (one of its `refs/jitos/…`)."""
    return f"{CLONES_PREFIX}{clone}/{local.removeprefix('refs/jitos/')}"


_QUALIFIED = re.compile(r"([a-z0-9][a-z0-9._-]{0,39})([/:].*)?\Z")


def split(key: str) -> tuple[str, str | None]:
    """`s1@bob` → (`s1`, `bob`); `t1@bob/STEP` → (`t1/STEP`, `bob`); `s1`
    (or anything else with an `@`, such as `HEAD@{1}`) → (`s1`, None)."""
    local, at, rest = key.partition("@")
    found = _QUALIFIED.match(rest) if at and local else None
    if found is None:
        return key, None
    return local + (found.group(2) or ""), found.group(1)


def qualified(local: str, clone: str | None) -> str:
    return local if clone is None else f"{local}@{clone}"


# -- push and fetch -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pushed:
    remote: str
    clone: str
    refs: tuple[str, ...]


def push(repo: Repo, remote: str) -> Pushed:
    """Publish this clone's history and the refs its events name under
    `refs/jitos/clones/<name>/` on `remote`, all or nothing."""
    mine = [n for n in repo.git.references
            if n in (HISTORY_REF, SYSTEM_REF) or n.startswith((SWS_REF_PREFIX, KEPT_PREFIX))]
    if HISTORY_REF not in mine:
        raise BadInput("this clone has no jitos history to push; run `jitos init` (or `jitos fetch` to read others')")
    _check_remote(repo, remote)
    name = own(repo, create=True)
    assert name is not None
    # history only ever grows: never forced, so a clash of names is refused, not overwritten
    specs = [("" if n == HISTORY_REF else "+") + f"{n}:{ref(name, n)}" for n in sorted(mine)]
    _git(repo, "push", "--atomic", "--quiet", remote, *specs, what=f"push to {remote}",
         hint=f"if another clone publishes as {name!r}, give this one its own name: `git config {CONFIG_KEY} NAME`",
         hint_when=("rejected", "non-fast-forward", "fetch first"))
    return Pushed(remote, name, tuple(sorted(mine)))


@dataclass(frozen=True, slots=True)
class Fetched:
    remote: str
    updated: tuple[str, ...]  # clones whose history is new or grew
    unchanged: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]  # (clone, why) whose refs were kept as they were


def fetch(repo: Repo, remote: str) -> Fetched:
    """Bring every other clone's published refs from `remote`. A clone's
    history must contain what was fetched before, or that clone's refs are
    all kept as they were."""
    _check_remote(repo, remote)
    name = own(repo, create=True)
    staging = f"{INCOMING}{_safe(remote)}-{os.getpid()}/"  # its own: fetches may run side by side
    _drop_left_behind(repo)
    _git(repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote,
         f"+{CLONES_PREFIX}*:{staging}*", f"^{CLONES_PREFIX}{name}/*", what=f"fetch from {remote}",
         hint="check the remote's name or URL (`git remote -v`)")
    incoming: dict[str, dict[str, str]] = {}
    for full in repo.git.references:
        if full.startswith(staging):
            clone, _, rest = full[len(staging):].partition("/")
            target = refs.read(repo, full)
            if clone != name and NAME_RE.match(clone) and rest and target:
                incoming.setdefault(clone, {})[rest] = target
    updated, unchanged, refused = [], [], []
    with refs.locked(repo):
        for clone, theirs in sorted(incoming.items()):
            why = _not_growing(repo, clone, theirs)
            if why == BEHIND:
                unchanged.append(clone)
                continue
            why = why or _unreadable(repo, clone, theirs["history"])
            if why:
                refused.append((clone, why))
                continue
            moves = _moves(repo, clone, theirs)
            if not moves:
                unchanged.append(clone)
                continue
            _update_refs(repo, moves, f"jitos fetch {remote}: clone {clone}")
            updated.append(clone)
    _drop(repo, staging)
    return Fetched(remote, tuple(updated), tuple(unchanged), tuple(refused))


BEHIND = "behind"  # the remote has an older copy of what was fetched: nothing to do


def _not_growing(repo: Repo, clone: str, theirs: dict[str, str]) -> str | None:
    """Why `clone`'s refs on the remote cannot replace what was fetched
    (`BEHIND`: they are an older copy of it); None when they grow it."""
    if "history" not in theirs:
        return "it publishes no history"
    old, new = refs.read(repo, f"{CLONES_PREFIX}{clone}/history"), theirs["history"]
    if old is None or descends(repo, new, old):
        return None
    if descends(repo, old, new):
        return BEHIND
    return f"its history on the remote does not contain the events fetched before ({old[:12]}); kept what was fetched"


def _unreadable(repo: Repo, clone: str, new: str) -> str | None:
    """Why the events new in `clone`'s history cannot be folded here (a newer
    jitos's format, a damaged commit); None when every one reads."""
    stop = refs.read(repo, f"{CLONES_PREFIX}{clone}/history")
    try:
        for rec in history.walk(repo, new):
            if rec.oid == stop:
                break
    except (JitosError, KeyError, ValueError, TypeError) as err:
        return f"its history holds an event this jitos cannot read ({err}); kept what was fetched"
    return None


def _moves(repo: Repo, clone: str, theirs: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
    prefix = f"{CLONES_PREFIX}{clone}/"
    have = {n[len(prefix):]: refs.read(repo, n) for n in repo.git.references if n.startswith(prefix)}
    moves: list[tuple[str, str | None, str | None]] = []
    for rest in sorted(have.keys() | theirs.keys()):
        if have.get(rest) != theirs.get(rest) and rest in theirs:  # a ref the clone no longer publishes stays
            moves.append((prefix + rest, have.get(rest), theirs[rest]))
    return moves


def _update_refs(repo: Repo, moves: list[tuple[str, str | None, str | None]], message: str) -> None:
    """Move fetched refs in one git transaction (compare-and-swap on each)."""
    zero = "0" * 40
    lines = "start\n" + "".join(f"update {n} {new} {old or zero}\n" for n, old, new in moves) + "commit\n"
    _git(repo, "update-ref", "-m", message, "--stdin", input_=lines, what="record the fetched refs",
         hint="run `jitos fetch` again")


def _drop_left_behind(repo: Repo) -> None:
    """Staging refs of fetches whose process is gone (killed mid-way)."""
    for name in {n[len(INCOMING):].split("/", 1)[0] for n in refs.names(repo, INCOMING)}:
        pid = name.rsplit("-", 1)[-1]
        if pid.isdigit() and not alive(int(pid)):
            _drop(repo, f"{INCOMING}{name}/")


def _drop(repo: Repo, prefix: str) -> None:
    names = [n for n in repo.git.references if n.startswith(prefix)]
    if names:
        lines = "".join(f"delete {n}\n" for n in names)
        _git(repo, "update-ref", "--stdin", input_=lines, what="remove the fetched staging refs", hint="")


def _safe(remote: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", remote).strip("._") or "remote"


def _check_remote(repo: Repo, remote: str) -> None:
    """A remote git knows by name, or a URL or path (git says what is wrong with those)."""
    if remote.startswith("-"):
        raise BadInput(f"{remote!r} is not a remote; give a remote's name (`git remote -v`) or a URL")
    if "/" in remote or ":" in remote:
        return
    names = [str(n) for n in repo.git.remotes.names()]
    if remote not in names:
        known = ", ".join(names) or "none"
        raise BadInput(f"no git remote named {remote!r} (remotes: {known}); add one with `git remote add` "
                       "or give a URL")


def _git(repo: Repo, *args: str, what: str, hint: str, input_: str | None = None,
         hint_when: tuple[str, ...] = ()) -> str:
    done = run_git(repo, *args, input_=input_)
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[:300] or f"git exited {done.returncode}"
        show = hint and (not hint_when or any(word in done.stderr for word in hint_when))
        raise JitosError(f"could not {what}: {detail}" + (f"; {hint}" if show else ""))
    return done.stdout


def descends(repo: Repo, new: str, old: str) -> bool:
    return new == old or bool(repo.git.descendant_of(pygit2.Oid(hex=new), pygit2.Oid(hex=old)))
