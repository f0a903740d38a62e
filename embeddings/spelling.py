"""Spelling correction of queries against the library's own words (SymSpell).

The BM25 lane finds nothing for a misspelled word ("scaner"): the query's words that
the library does not know are replaced by the closest library word before BM25 sees
them. Words the library, the glossary or everyday English know are left as typed, and
so are identifiers (error codes, model names: anything with a digit).
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import orjson
from symspellpy import SymSpell, Verbosity

FORMAT = 1
# a word as typed: letters, with inner apostrophes ("won't"); digits and "_" split words
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
# what a word is part of: a run without spaces; one holding a digit, "_" or "@" is an
# identifier (HV-417, Aurion128, AE_TITLE, an e-mail address) and is left as typed
_IDENTIFIER = re.compile(r"[\d_@]")
# everyday English (symspellpy's own frequency list, 82,765 words with their counts): a
# word typed right but absent from the library is not turned into another library word...
_ENGLISH = "frequency_dictionary_en_82_765.txt"
# ...unless a library word one edit away is this many times as common in English: a
# typo then explains the word better than a choice of it ("tittle" for "title", not
# "cutout" for "output"; a noisy channel with one slip in 1,000 words typed)
_SLIP = 1_000
# unknown words already looked up, and whole queries already corrected (queries repeat,
# and a search's text is corrected once for BM25 and once to show it): a dict look-up
_MEMO = 4096


@dataclass(frozen=True)
class Correction:
    """A text with its misspelled words replaced, and each (typed, corrected) change."""

    text: str
    changes: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        """Whether any word was changed."""
        return bool(self.changes)


def words(text: str) -> list[str]:
    """The words of a text, lowercased, as the vocabulary keeps them ("won't" also as
    "wont", the way callers type it)."""
    found: list[str] = _WORD.findall(text.lower().replace("’", "'"))
    if "'" in text or "’" in text:
        found += [w.replace("'", "") for w in found if "'" in w]
    return found


def count_words(texts: Iterable[str]) -> Counter[str]:
    """How often each of `words` occurs in these texts (counted before a write takes its
    lock, so that searches wait only for the merge)."""
    counted: Counter[str] = Counter()
    for text in texts:
        counted.update(words(text))  # a list per text: counted in C, not word by word
    return counted


def _chunk(text: str, start: int, stop: int) -> str:
    """The run of text without spaces that holds text[start:stop]."""
    while start and not text[start - 1].isspace():
        start -= 1
    while stop < len(text) and not text[stop].isspace():
        stop += 1
    return text[start:stop]


class Speller:
    """The library's vocabulary (word -> count) and the corrections it suggests.

    A typed word is corrected only when it has at least `min_length` letters, no digit
    near it, and is neither in the vocabulary nor in `known` (the glossary) nor everyday
    English; it becomes the most frequent of the closest vocabulary words, within edit
    distance 1, or 2 for words of `long_length` letters or more. With `analyze` (BM25's
    analyzer), a correction that BM25 would search as the same terms is not made
    ("whirrs" is not shown as corrected to "whirr").

    Writes (`add`, `clear`, `replace`) must not overlap corrections: `HybridIndex` takes
    its lock for them. A vocabulary grown by `add` is searchable at once; one taken whole
    (`replace`, at a load) needs its look-up structure built first, which takes seconds
    for a large library: `prepare` builds it (a start runs it behind the load), and the
    first unknown word before then waits for it, once. Counts only grow: a removed or
    rewritten document's words stay known until the vocabulary is read again (a rebuild).
    """

    def __init__(
        self,
        *,
        known: Iterable[str] = (),
        min_length: int = 4,
        long_length: int = 6,
        max_distance: int = 2,
        english: bool = True,
        analyze: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        self.analyze = analyze
        self.min_length = min_length
        self.long_length = long_length
        self.max_distance = max_distance
        self.english = english
        self._counts: dict[str, int] = {}
        self._known = frozenset(w for text in known for w in words(text))
        self._english: dict[str, int] | None = None
        self._english_top = 0  # the count of the commonest English word
        self._memo: dict[str, str | None] = {}
        self._corrected: dict[str, Correction] = {}
        self._forgotten = 0  # how often those were dropped
        self._lock = threading.Lock()  # the writes, and a built structure's swap
        self._build_lock = threading.Lock()  # one build at a time
        self._epoch = 0  # changes with `replace`: a build from before it is dropped
        self._symspell: SymSpell | None = self._new_symspell()
        self.generation = 0  # changes with every write: a save of the same state is skipped
        # False while the vocabulary is read again from the texts: a word not read yet
        # would be "corrected" into another, so nothing is corrected meanwhile
        self.complete = True

    def __len__(self) -> int:
        return len(self._counts)

    @property
    def ready(self) -> bool:
        """Whether the look-up structure is built."""
        return self._symspell is not None

    # -- writes ----------------------------------------------------------------------

    def add(self, texts: Iterable[str]) -> None:
        """Count the words of these texts (documents indexed or indexed again)."""
        self.add_counts(count_words(texts))

    def add_counts(self, counted: Mapping[str, int]) -> None:
        """Add words already counted (`count_words`)."""
        if not counted:
            return
        with self._lock:
            for word, n in counted.items():
                self._counts[word] = self._counts.get(word, 0) + n
                if self._symspell is not None:
                    self._symspell.create_dictionary_entry(word, n)
            self._forget()
            self.generation += 1

    def clear(self) -> None:
        """Forget every word."""
        self.replace({})

    def replace(self, counts: Mapping[str, int], *, complete: bool = True) -> None:
        """Take this vocabulary instead (one loaded from disk; `complete` False: one about
        to be read from the texts, which corrects nothing until it is complete again)."""
        with self._lock:
            self._counts = dict(counts)
            # an empty one is built already; words added later go in one by one
            self._symspell = None if counts else self._new_symspell()
            self._epoch += 1
            self._forget()
            self.complete = complete
            self.generation += 1

    def _forget(self) -> None:
        """Drop what was worked out for the previous vocabulary (under the writes' lock)."""
        self._memo = {}
        self._corrected = {}
        self._forgotten += 1

    # -- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the vocabulary atomically."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(orjson.dumps({"format": FORMAT, "words": self._counts}))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @staticmethod
    def read(path: Path) -> dict[str, int]:
        """A saved vocabulary; OSError when it is missing, ValueError when it is not one."""
        data = orjson.loads(path.read_bytes())
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path.name}: not a vocabulary of format {FORMAT}")
        counts = data.get("words")
        if not isinstance(counts, dict) or not all(
            isinstance(n, int) and n > 0 for n in counts.values()
        ):
            raise ValueError(f"{path.name}: malformed word counts")
        return counts

    # -- the look-up structure -------------------------------------------------------

    def prepare(self) -> None:
        """Build the look-up structure now, if it is not built (blocks until it is)."""
        while not self.ready:
            self._build()

    def _new_symspell(self) -> SymSpell:
        # a prefix of 5 letters: a quarter of the memory of the default 7 and half the
        # build time, the same corrections on the dev queries
        return SymSpell(max_dictionary_edit_distance=self.max_distance, prefix_length=5)

    def _build(self) -> None:
        """Build the look-up structure from a copy of the counts, outside the writes'
        lock (a write goes on meanwhile), then add what was counted since."""
        with self._build_lock:
            if self.english:
                self._english_words()  # here too: the first correction then waits for neither
            with self._lock:
                if self._symspell is not None:
                    return
                counts, epoch = dict(self._counts), self._epoch
            built = self._new_symspell()
            for word, n in counts.items():
                built.create_dictionary_entry(word, n)
            with self._lock:
                if epoch != self._epoch:
                    return  # replaced meanwhile: the next word that needs it builds again
                for word, n in self._counts.items():
                    if n > counts.get(word, 0):
                        built.create_dictionary_entry(word, n - counts.get(word, 0))
                self._symspell = built
                self._forget()  # the words left as typed meanwhile

    def _english_words(self) -> dict[str, int]:
        """Everyday English (word -> count), read at its first use."""
        if self._english is None:
            listed = resources.files("symspellpy").joinpath(_ENGLISH).read_text("utf-8")
            counts = (line.split(" ", 1) for line in listed.splitlines() if " " in line)
            english = {word: int(n) for word, n in counts}
            self._english_top = max(english.values(), default=0)
            self._english = english
        return self._english

    # -- corrections -----------------------------------------------------------------

    def correct(self, text: str) -> Correction:
        """The text with each unknown word of `min_length` letters or more replaced by the
        closest library word (the rest of the text as typed)."""
        done = self._corrected.get(text)
        if done is None:
            if not self.complete:
                return Correction(text)
            seen = self._forgotten
            done = self._correct(text)
            with self._lock:
                # not if a build finished meanwhile: the text may read otherwise now
                if seen == self._forgotten:
                    if len(self._corrected) >= _MEMO:
                        self._corrected.clear()
                    self._corrected[text] = done
        return done

    def _correct(self, text: str) -> Correction:
        counts, known, memo = self._counts, self._known, self._memo
        # the usual query: every word known or already left as typed, found in one pass
        # over the lowercased text
        if all(
            len(w) < self.min_length or w in counts or w in known or memo.get(w, w) is None
            for w in _WORD.findall(text.lower().replace("’", "'"))
        ):
            return Correction(text)
        out: list[str] = []
        changes: list[tuple[str, str]] = []
        end = 0
        for m in _WORD.finditer(text):
            typed = m.group()
            if len(typed) < self.min_length:
                continue  # too short to tell a typo from another word
            word = typed.lower().replace("’", "'")
            if word in counts or word in known:
                continue
            start, stop = m.span()
            if _IDENTIFIER.search(_chunk(text, start, stop)):
                continue
            shouting = text.isupper()
            if typed.isupper() and not shouting:
                continue  # an acronym
            fixed = self._fix(word)
            if fixed is None:
                continue
            if typed[:1].isupper():
                fixed = fixed.upper() if shouting else fixed.capitalize()
            out += (text[end:start], fixed)
            end = stop
            changes.append((typed, fixed))
        if not changes:
            return Correction(text)
        out.append(text[end:])
        return Correction("".join(out), tuple(changes))

    def _fix(self, word: str) -> str | None:
        """The library word an unknown lowercased word stands for, or None to leave it as
        typed (remembered until the vocabulary changes)."""
        if word in self._memo:
            return self._memo[word]
        symspell = self._symspell
        if symspell is None:
            # the first unknown word after a load waits for the build (a start begins it
            # behind the load): a misspelling is never searched as typed
            self._build()
            symspell = self._symspell
            if symspell is None:  # replaced meanwhile: as typed this once
                return None
        english = self._english_words() if self.english else {}
        typed_english = english.get(word, 0)
        distance = 1 if typed_english or len(word) < self.long_length else 2
        # an English word no word is `_SLIP` times as common as stays: no look-up needed
        found = (
            symspell.lookup(
                word, Verbosity.CLOSEST, max_edit_distance=min(self.max_distance, distance)
            )
            if typed_english * _SLIP <= self._english_top
            else []
        )
        fixed: str | None = None
        if found:
            # the closest, then the most frequent; the word itself breaks a tie of counts
            best = str(min(found, key=lambda s: (s.distance, -s.count, s.term)).term)
            chosen = not typed_english or english.get(best, 0) >= _SLIP * typed_english
            # a correction BM25 would search as the same terms is not one ("whirrs")
            same = self.analyze is not None and self.analyze(word) == self.analyze(best)
            fixed = best if chosen and not same else None
        if len(self._memo) >= _MEMO:
            self._memo.clear()
        self._memo[word] = fixed
        return fixed
