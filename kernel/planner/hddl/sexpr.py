"""S-expressions, as HDDL and PDDL write them: `(`, `)`, symbols and `;`
comments, each token with its 1-based line and column so that every error can
say `file:line:col:`. Symbols are lower-cased (those languages are
case-insensitive). Reads text only; never touches files.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.errors import BadInput


@dataclass(frozen=True, slots=True)
class Pos:
    """Where a token starts: 1-based line and column."""

    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Sym:
    """A symbol (`pick-up`, `?x`, `:task`, `-`, `<`), lower-cased as HDDL is case-insensitive."""

    text: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class SList:
    """A parenthesised list."""

    items: tuple[SExpr, ...]
    pos: Pos


SExpr = Sym | SList


class Source:
    """A file name plus the `file:line:col: message` error format."""

    def __init__(self, name: str) -> None:
        self.name = name

    def error(self, pos: Pos, message: str) -> BadInput:
        return BadInput(f"{self.name}:{pos.line}:{pos.col}: {message}")


def tokenize(text: str) -> list[tuple[str, Pos]]:
    """Split HDDL text into `(`, `)` and symbols with their positions; `;` starts a comment."""
    tokens: list[tuple[str, Pos]] = []
    line, col, i, n = 1, 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line, col, i = line + 1, 1, i + 1
        elif ch.isspace():
            col, i = col + 1, i + 1
        elif ch == ";":
            while i < n and text[i] != "\n":
                i += 1
        elif ch in "()":
            tokens.append((ch, Pos(line, col)))
            col, i = col + 1, i + 1
        else:
            start, start_col = i, col
            while i < n and not text[i].isspace() and text[i] not in "();":
                i += 1
            col += i - start
            tokens.append((text[start:i].lower(), Pos(line, start_col)))
    return tokens


def parse_sexprs(text: str, source: str = "<hddl>") -> list[SExpr]:
    """Parse every top-level s-expression in `text`."""
    src = Source(source)
    stack: list[tuple[Pos, list[SExpr]]] = []
    top: list[SExpr] = []
    for tok, pos in tokenize(text):
        if tok == "(":
            stack.append((pos, []))
        elif tok == ")":
            if not stack:
                raise src.error(pos, "unbalanced ')': no list is open here; remove it")
            open_pos, items = stack.pop()
            done = SList(tuple(items), open_pos)
            (stack[-1][1] if stack else top).append(done)
        else:
            (stack[-1][1] if stack else top).append(Sym(tok, pos))
    if stack:
        raise src.error(stack[-1][0], "unclosed '(': add the missing ')'")
    return top
