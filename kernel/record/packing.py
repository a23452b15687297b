"""Packing history as it grows.

Each event writes three loose objects (commit, tree, record blob); ten
thousand events would be thirty thousand files, and git's own `gc --auto`
would start repacking the whole repository from some later `git commit`.
So once `PACK_EVERY` events have been recorded since the last pack, a
detached process (its own session, outside the jitos lock: the command that
recorded answers at once) packs what is still loose under the history head
into one pack and removes the loose copies (`git pack-objects --revs
--unpacked`, then `git prune-packed`, which only removes objects a pack
holds). Packing never changes an object id, so a killed packer loses
nothing: the next one packs what is still loose.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kernel.base.files import Busy, exclusive, write_atomic
from kernel.base.policy import environ_for_git_child

PACK_EVERY = 1024  # events recorded since the last pack before history is packed again

_PACKER = "import sys; from kernel.record.packing import pack; pack(sys.argv[1], sys.argv[2], int(sys.argv[3]))"


def _marker(git_dir: Path) -> Path:
    return git_dir / "jitos" / "cache" / "packed"


def packed_seq(git_dir: Path) -> int:
    """The sequence number of the event history was last packed up to (0: never)."""
    try:
        return int(_marker(git_dir).read_text(encoding="ascii").split()[1])
    except (OSError, ValueError, IndexError):
        return 0


# What this process last knew of the marker (or the packer it started), so a
# run recording many events reads the marker only when a pack may be due.
_known: dict[Path, int] = {}


def pack_later(git_dir: Path, head: str, seq: int) -> None:
    """Start a packer when `PACK_EVERY` events are loose under `head` (event `seq`)."""
    if seq - _known.get(git_dir, -PACK_EVERY) < PACK_EVERY:
        return
    _known[git_dir] = packed_seq(git_dir)
    if seq - _known[git_dir] < PACK_EVERY:
        return
    _known[git_dir] = seq  # one packer per PACK_EVERY events, even if this one fails
    subprocess.Popen([sys.executable, "-c", _PACKER, str(git_dir), head, str(seq)], cwd="/",
                     start_new_session=True, env=environ_for_git_child(), stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pack(git_dir: Path | str, head: str, seq: int) -> bool:
    """Pack the loose objects under `head`; False when another packer is at it or git failed."""
    git_dir = Path(git_dir)
    try:
        with exclusive(git_dir / "jitos" / "cache" / "pack.lock"):
            if packed_seq(git_dir) >= seq:
                return True
            git = ["git", f"--git-dir={git_dir}"]
            made = subprocess.run([*git, "pack-objects", "--revs", "--unpacked", "-q",
                                   str(git_dir / "objects" / "pack" / "pack")],
                                  input=f"{head}\n".encode(), capture_output=True, check=False,
                                  env=environ_for_git_child())
            if made.returncode != 0:
                return False
            subprocess.run([*git, "prune-packed", "-q"], capture_output=True, check=False,
                           env=environ_for_git_child())
            write_atomic(_marker(git_dir), f"{head} {seq}\n".encode())
            return True
    except (Busy, OSError):
        return False
