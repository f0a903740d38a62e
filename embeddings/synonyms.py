"""Query expansion from a glossary of equivalent terms (caller words <-> engineer words)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

Analyzer = Callable[[str], Sequence[str]]


class GlossaryError(ValueError):
    """A malformed glossary file, with the entry at fault."""


def read_groups(path: Path) -> list[list[str]]:
    """The groups of a glossary file: a YAML list of lists of terms."""
    # libyaml where PyYAML has it: the pure-Python parser slowed every start-up
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or []
    except yaml.YAMLError as exc:
        raise GlossaryError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, list):
        raise GlossaryError(f"{path}: expected a list of groups")
    for n, group in enumerate(data, start=1):
        if not isinstance(group, list) or not all(isinstance(t, str) for t in group):
            raise GlossaryError(f"{path}: entry {n} must be a list of strings")
    return data


@dataclass(frozen=True)
class Expansion:
    """The glossary groups a query named: for each, its terms not already in the query."""

    groups: tuple[tuple[str, ...], ...] = ()

    def terms(self, per_group: int | None = None) -> list[str]:
        """The equivalents in glossary order, each once; at most `per_group` from each
        group when given."""
        out: list[str] = []
        for group in self.groups:
            taken = 0
            for term in group:
                if per_group is not None and taken >= per_group:
                    break
                if term not in out:
                    out.append(term)
                    taken += 1
        return out


class Glossary:
    """Groups of equivalent terms; a query naming one term is expanded with the others.

    Terms are compared after the given analyzer (lowercase, stop words, stemming), so
    "beds" matches "bed" and "won't turn on" matches "wont turn on".
    """

    def __init__(self, groups: Iterable[Sequence[str]], analyze: Analyzer) -> None:
        self._analyze = analyze
        self.groups: list[list[str]] = []
        # first analysed term -> [(analysed phrase, group index)]
        self._starts: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        self._analysed: list[list[tuple[str, frozenset[str]]]] = []
        for group in groups:
            terms = [t.strip() for t in group if t and t.strip()]
            if len(terms) < 2:
                continue
            gi = len(self.groups)
            self.groups.append(terms)
            analysed = []
            for term in terms:
                key = tuple(analyze(term))
                analysed.append((term, frozenset(key)))
                if key:
                    self._starts.setdefault(key[0], []).append((key, gi))
            # analysed once here, not for every query that names the group
            self._analysed.append(analysed)

    def __len__(self) -> int:
        return len(self.groups)

    def match(self, text: str) -> Expansion:
        """The groups the text names (in the order it names them), each with its terms
        that the text does not already contain."""
        tokens = self._analyze(text)
        present = set(tokens)
        hit_groups: list[int] = []
        for i, token in enumerate(tokens):
            for key, gi in self._starts.get(token, ()):
                if tuple(tokens[i : i + len(key)]) == key and gi not in hit_groups:
                    hit_groups.append(gi)
        return Expansion(
            tuple(
                tuple(term for term, terms in self._analysed[gi] if terms and not terms <= present)
                for gi in hit_groups
            )
        )

    def expand(self, text: str, *, per_group: int | None = None) -> list[str]:
        """Terms equivalent to those in the text, not already in it (in glossary order);
        at most `per_group` from each matched group when given."""
        return self.match(text).terms(per_group)
