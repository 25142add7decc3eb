"""Attribute projections: the ``pick`` and ``omit`` parameters (clause 4.21).

``pick=id,locatedAt{id,name}`` names members of the entity and, in braces,
members of the entity a Relationship links to (for ``join``, 4.5.23). Names are
separated by ``,`` or ``|``; braces nest one level per hop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from boulevard.errors import BadRequestData
from boulevard.ngsild.model import check_name

_TOKEN = re.compile(r"[{}]|[,|]|[^{},|]+")


@dataclass(frozen=True)
class Projection:
    """Member names, each with the projection of its linked entity (None: none given)."""

    names: dict[str, Projection | None]

    def depth(self) -> int:
        """Hops into linked entities: 0 for a flat list of names."""
        return max((1 + p.depth() for p in self.names.values() if p is not None), default=0)

    def picked(self, member: str) -> bool:
        return member in self.names

    def omitted(self, member: str) -> bool:
        """For omit: a name with braces keeps the member and omits inside the linked entity."""
        return member in self.names and self.names[member] is None

    def inner(self, member: str) -> Projection | None:
        return self.names.get(member)


def parse_projection(text: str, what: str) -> Projection:
    tokens = [t.strip() for t in _TOKEN.findall(text)]
    pos = 0

    def names() -> Projection:
        nonlocal pos
        out: dict[str, Projection | None] = {}
        while True:
            if pos >= len(tokens) or tokens[pos] in ("{", "}", ",", "|") or not tokens[pos]:
                raise BadRequestData(f"invalid {what} {text!r}: a name is missing")
            name = tokens[pos]
            if name not in ("id", "type"):
                check_name(name, f"{what} name")
            pos += 1
            inner: Projection | None = None
            if pos < len(tokens) and tokens[pos] == "{":
                pos += 1
                inner = names()
                if pos >= len(tokens) or tokens[pos] != "}":
                    raise BadRequestData(f"invalid {what} {text!r}: unbalanced braces")
                pos += 1
            out[name] = inner
            if pos < len(tokens) and tokens[pos] in (",", "|"):
                pos += 1
                continue
            return Projection(out)

    result = names()
    if pos != len(tokens):
        raise BadRequestData(f"invalid {what} {text!r}")
    return result
