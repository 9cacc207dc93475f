"""Tokens of ksqlDB's SQL, statement splitting and variable substitution (``DEFINE`` / ``${name}``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidArgument


class SqlError(InvalidArgument):
    """A statement outside the supported subset, or wrong; the message names the construct."""


_TOK = re.compile(
    r"""\s*(?:
    (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^']|'')*')
  | (?P<qid>`[^`]+`|"[^"]+")
  | (?P<id>[A-Za-z_][A-Za-z0-9_@]*)
  | (?P<op>:=|->|\|\||<>|!=|<=|>=|[=<>+\-*/%(),;.\[\]:])
    )""",
    re.VERBOSE | re.DOTALL,
)


@dataclass
class Tok:
    kind: str  # num str id qid op end
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "id" else self.text


def tokenize(sql: str) -> list[Tok]:
    toks: list[Tok] = []
    i = 0
    while i < len(sql):
        if not sql[i:].strip():
            break
        m = _TOK.match(sql, i)
        if m is None or m.end() == i:
            raise SqlError(f"unexpected character {sql[i:].lstrip()[:1]!r} at position {i}")
        kind = m.lastgroup or "op"
        i = m.end()
        if kind == "comment":
            continue
        text = m.group(kind)
        if kind == "str":
            text = text[1:-1].replace("''", "'")
        elif kind == "qid":
            text = text[1:-1]
        toks.append(Tok(kind, text, m.start(kind)))
    toks.append(Tok("end", "", len(sql)))
    return toks


def split_statements(sql: str) -> list[str]:
    """Statements separated by ';' outside string literals, quoted identifiers and comments."""
    out: list[str] = []
    buf: list[str] = []
    i = 0
    quote: str | None = None
    while i < len(sql):
        ch = sql[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "'`\"":
            quote = ch
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            buf.append(sql[i:end])
            i = end
            continue
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = len(sql) if end < 0 else end + 2
            buf.append(sql[i:end])
            i = end
            continue
        elif ch == ";":
            text = "".join(buf).strip()
            if _has_content(text):
                out.append(text)
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    text = "".join(buf).strip()
    if _has_content(text):
        out.append(text)
    return out


def _has_content(text: str) -> bool:
    return bool(re.sub(r"--[^\n]*|/\*.*?\*/", "", text, flags=re.DOTALL).strip())


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(statement: str, variables: dict[str, str]) -> str:
    """Replace ``${name}`` with a variable's value (outside nothing: ksqlDB substitutes everywhere)."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1).upper()
        if name not in variables:
            raise SqlError(f"Variable {m.group(1)!r} is not defined.", hint=f"DEFINE {m.group(1)} = '...'; first.")
        return variables[name]

    return _VAR.sub(repl, statement)
