"""The fault in a whole help-desk ticket: the sentences that describe it, without the
greeting, sign-off, signature, contact lines, disclaimers and quoted reply chain.

A short typed query comes back unchanged (`fault_text`), so its ranking stays as it was.
Everything here is structure of e-mails and ticket forms, not vocabulary of one library:
which of the remaining sentences describe the fault is left to a scorer (`library_scorer`:
each sentence's best cosine to the library's headlines) and to the identifiers the
library knows (`library_names`: error codes and models).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from embeddings.exact import query_keys

if TYPE_CHECKING:
    from embeddings.encoder import Encoder
    from embeddings.hybrid import HybridIndex

# a typed query: at most this many characters, or one sentence, comes back unchanged
SHORT_CHARS = 200
# sentences scored per ticket at most (identifier sentences are kept without a score)
MAX_SCORED = 24
# sentences kept at most, best first, within MAX_CHARS (about what the encoder reads of a
# query: 256 word pieces)
MAX_KEPT = 12
MAX_CHARS = 1000
# kept: within this much of the best sentence's score (the score tells chatter from the
# fault far better than it ranks the sentences of the fault among themselves)
MARGIN = 0.3
# a message of fewer words than this is a reply on top of the chain, which is then read too
CHAIN_WORDS = 40
# a line at least this long that runs on without a full stop was wrapped by the mail client
WRAP_CHARS = 60
# tokens of a sentence the scorer encodes (a sentence is rarely longer; it bounds the cost)
SCORE_TOKENS = 48

Scorer = Callable[[Sequence[str]], Sequence[float]]
Names = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class Extract:
    """What `fault_text` found: `text` is what the ranking is given."""

    text: str
    kept: tuple[str, ...]  # the sentences kept, in the ticket's order
    dropped: int  # sentences left out (greetings, signatures, quoted chain, chatter)
    whole: bool  # the input came back unchanged (a typed query, or nothing to leave out)


# words after which a full stop does not end the sentence
_ABBREVIATIONS = frozenset(
    {"dr", "mr", "mrs", "ms", "st", "no", "nos", "vs", "etc", "approx", "eg", "ie", "e.g"}
    | {"i.e", "fig", "ext", "tel", "mob", "ref", "dept", "inc", "ltd"}
)
_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_BULLET = re.compile(r"^(?:[-*\u2022\u00b7\u25aa\u25e6\u2023+]|\d{1,2}[.)]|[a-z][)])\s+")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9 /&()'.-]{0,30}?)\s*:(?:\s+(.*))?$")
_QUOTE_LINE = re.compile(r"^\s*>")
_QUOTE_MARKS = re.compile(r"^\s*(?:>\s?)+", re.MULTILINE)
# where a reply chain or forwarded message starts (Gmail, Outlook, Apple Mail, ticket tools)
_REPLY_HEADER = re.compile(
    r"^\s*(?:On\b[^\n]{0,200}?(?:\n[^\n]{0,200}?)?\bwrote:\s*$"
    r"|-{2,}\s*(?:original|previous)\b[^\n]*$"
    r"|_{8,}\s*$"
    r"|From:[^\n]*\n(?:[^\n]*\n){0,2}\s*(?:Sent|Date|To|Subject):)",
    re.IGNORECASE | re.MULTILINE,
)
# a forwarded message is the ticket itself, not an earlier conversation
_FORWARD = re.compile(
    r"^\s*(?:-{2,}\s*forwarded message\s*-*|begin forwarded message:?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_PS = re.compile(r"^p\.?\s?s\b", re.IGNORECASE)
_SIG_DELIMITER = re.compile(r"^--\s*$")
# a greeting and whom it greets ("Hi IT / imaging support,", "Morning all -"); a time of
# day greets only when a name or punctuation follows it ("Morning scans fail" does not)
_GREETING = re.compile(
    r"^(?:(?i:hi|hello|hey|hiya|dear|greetings)\b"
    r"|(?i:good\s+)?(?i:morning|afternoon|evening)"
    r"(?=\s*(?:[,!.:;\u2013\u2014-]|$|(?i:all|team|everyone|folks|both|there)\b|[A-Z]))"
    r"|(?i:to whom it may concern))"
)
_GREETING_END = re.compile(r"[,!:;\u2013\u2014]|\s-\s|\.(?:\s|$)")
_CLOSING = re.compile(
    r"^(?:(?:many|kind|best|warm|warmest|with)\s+)?(?:thanks|thank you|thankyou|thx"
    r"|cheers|regards|best wishes|best|sincerely|yours(?: sincerely| faithfully)?|respectfully"
    r"|all the best|speak soon|tia)\b",
    re.IGNORECASE,
)
# thanks as a sentence of its own ("Thank you for looking at this.")
_THANKS = re.compile(r"^(?:many\s+)?(?:thanks|thank you|thankyou|thx|cheers|tia)\b", re.IGNORECASE)
_SENT_FROM = re.compile(r"^(?:sent from|get outlook for)\b", re.IGNORECASE)
_DISCLAIMER = re.compile(
    r"\b(?:confidential|intended (?:solely|only) for|privileged|disclaimer|before printing"
    r"|unsubscribe|virus(?:es)? (?:free|checked|scanned)|legally binding)\b",
    re.IGNORECASE,
)
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# a phone number (groups of digits: not an IP address, a date or a measurement) or an
# extension, bleep or pager number
_PHONE = re.compile(
    r"(?<![\w.])(?:\+\d{1,3}[\s-]?)?\(?0?\d{2,5}\)?[\s-]\d{3,4}[\s-]?\d{3,4}(?![\w.])"
    r"|\b(?:ext(?:ension)?|tel(?:ephone)?|phone|mob(?:ile)?|bleep|pager|fax)\.?\s*"
    r"(?:no\.?\s*)?:?\s*\+?\d[\d -]{2,}",
    re.IGNORECASE,
)
_CONTACT_KEYS = re.compile(
    r"^(?:name|caller|reported by|raised by|requester|requested by|submitted by|contact"
    r"|from|to|cc|bcc|date|sent|e-?mail|phone|tel|mobile|ext|extension|bleep|role"
    r"|job title|site|location|department|dept|address|ward|room|assignment group|assigned to"
    r"|impact|urgency|priority|severity|state|status|category|ticket|incident|case|reference"
    r"|ref|id|submitted via|channel|opened|created|updated|due)\b",
    re.IGNORECASE,
)
# a person named by title: "Mr Bamford", "Dr. A. Khan", "Prof Lee's"
_TITLED_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sr|Sister)\.?(?:\s+[A-Z][.\w'-]*){1,2}")
# a generic error code: capitals and digits such as "E1620", "DAS-318", "HX-E2215"
_CODE = re.compile(r"\b[A-Z]{1,4}[- ]?[A-Z]?\d{3,5}\b")
_WORD = re.compile(r"[A-Za-z0-9][\w'/-]*")


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _split_quoted(text: str) -> tuple[str, str]:
    """The message and the reply chain below it (lines quoted with ">" are chain too)."""
    forwards = [found.end() for found in _FORWARD.finditer(text)]

    def forwarded(header: re.Match[str]) -> bool:
        # the sender, date and subject lines of a forward are not a reply's
        return any(
            end <= header.start() and not text[end : header.start()].strip() for end in forwards
        )

    header = next((h for h in _REPLY_HEADER.finditer(text) if not forwarded(h)), None)
    main, chain = (text[: header.start()], text[header.end() :]) if header else (text, "")
    main = _FORWARD.sub("", main)
    lines = main.split("\n")
    own = [line for line in lines if not _QUOTE_LINE.match(line)]
    quoted = [line for line in lines if _QUOTE_LINE.match(line)]
    return "\n".join(own), _QUOTE_MARKS.sub("", "\n".join([*quoted, chain]))


def _is_signature_line(line: str) -> bool:
    """A line of a signature block: short (name, title, organisation), contact or legal."""
    stripped = line.strip()
    if not stripped or _DISCLAIMER.search(stripped) or _SENT_FROM.match(stripped):
        return True
    if _PHONE.search(stripped) or _EMAIL.search(stripped) or _URL.search(stripped):
        return True
    if _CODE.search(stripped) or _PS.match(stripped):
        return False  # "PS the code was E1620": the fault after all
    return _words(stripped) <= 8 and not stripped.endswith((".", "?", "!"))


def _sign_off(line: str) -> bool:
    """A closing on a line of its own, possibly with a name ("Thanks, Jo")."""
    match = _CLOSING.match(line.strip())
    return match is not None and _words(line.strip()[match.end() :]) <= 4


def _lines(part: str) -> tuple[list[tuple[str, str | None]], int]:
    """Logical lines (hard-wrapped lines joined), each with its key when it is a form
    field ("Key: value", then the line is the value), and how many lines of signature
    blocks (after a sign-off or "--") were left out."""
    raw = part.split("\n")
    out: list[tuple[list[str], str | None]] = []  # the physical lines of each logical one
    in_signature = False
    left_out = 0
    for line in raw:
        stripped = line.strip()
        if in_signature:
            if _is_signature_line(stripped):
                left_out += bool(stripped)
                continue
            in_signature = False  # prose again (a P.S., a second paragraph)
        if _SIG_DELIMITER.match(stripped) or _SENT_FROM.match(stripped) or _sign_off(stripped):
            in_signature = True
            left_out += 1
            continue
        if not stripped:
            out.append(([], None))
            continue
        bullet = _BULLET.match(stripped)
        if bullet:
            out.append(([stripped[bullet.end() :]], None))
            continue
        field = _FIELD.match(stripped)
        if field and _words(field.group(1)) <= 4 and not _URL.match(stripped):
            out.append(([field.group(2) or ""], field.group(1)))
            continue
        previous = out[-1][0][-1] if out and out[-1][0] and out[-1][1] is None else ""
        # a line broken by the mail client: the previous one ran on without a full stop
        wrapped = (
            previous
            and not previous.endswith((".", "!", "?", ":", ";"))
            and (stripped[0].islower() or len(previous) >= WRAP_CHARS)
        )
        if wrapped:
            out[-1][0].append(stripped)
        else:
            out.append(([stripped], None))
    return [(" ".join(lines), key) for lines, key in out if lines], left_out


def _sentences(line: str) -> list[str]:
    """Sentence split of one logical line, not after abbreviations or inside numbers."""
    out: list[str] = []
    start = 0
    for found in _BREAK.finditer(line):
        # the word before the break (a bounded look-back: no quadratic scan of long lines)
        before = line[max(start, found.start() - 24) : found.start()].rsplit(None, 1)
        last = before[-1].rstrip(".").lower() if before else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        out.append(line[start : found.start()].strip())
        start = found.end()
    out.append(line[start:].strip())
    return [s for s in out if s]


def _strip_greeting(sentence: str) -> str:
    """The sentence without a leading greeting ("Hi all, the CT ..." -> "the CT ...");
    empty when it is only a greeting."""
    if not _GREETING.match(sentence):
        return sentence
    end = _GREETING_END.search(sentence)
    if end and _words(sentence[: end.start()]) <= 5:
        return sentence[end.end() :].strip()
    return "" if _words(sentence) <= 3 else sentence


def _segments(part: str, names: Names) -> tuple[list[str], int]:
    """The sentences of a part that may describe the fault, and how many were left out
    (a contact field stays when it `names` an identifier: "Location: CT 2, Aurion 64")."""
    kept: list[str] = []
    lines, dropped = _lines(part)
    for line, key in lines:
        contact = key is not None and (_CONTACT_KEYS.match(key) or _only_contact(line))
        if key is not None and (not line or (contact and not names(line))):
            dropped += 1
            continue
        for sentence in _sentences(line):
            text = _strip_greeting(sentence)
            if (
                (_words(text) < 2 and not _CODE.search(text))
                or _sign_off(text)
                or (_THANKS.match(text) and _words(text) <= 8)
                or _DISCLAIMER.search(text)
                or _only_contact(text)
            ):
                dropped += 1
                continue
            kept.append(_clean(text))
    return kept, dropped


def _only_contact(text: str) -> bool:
    """A phone number, extension, e-mail address or link with a few words around it."""
    rest, found = text, 0
    for pattern in (_URL, _EMAIL, _PHONE):
        rest, n = pattern.subn(" ", rest)
        found += n
    return bool(found) and _words(rest) <= 6


def _clean(text: str) -> str:
    """A sentence without links, addresses, phone numbers and titled names (noise to the
    ranking: "Mr Smith" would even read as MR)."""
    for pattern in (_URL, _EMAIL, _PHONE, _TITLED_NAME):
        text = pattern.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip(" -\u2013\u2014")


def codes_in(text: str) -> list[str]:
    """Generic error codes in a text (capitals and digits: "E1620", "DAS-318")."""
    return _CODE.findall(text)


def fault_text(
    text: str,
    *,
    score: Scorer | None = None,
    names: Names | None = None,
    short_chars: int = SHORT_CHARS,
    max_kept: int = MAX_KEPT,
    max_chars: int = MAX_CHARS,
    margin: float = MARGIN,
    max_scored: int = MAX_SCORED,
) -> Extract:
    """The part of a long text that describes the fault, for the ranking.

    A text of at most `short_chars` characters, or of one sentence of at most `max_chars`,
    comes back unchanged (a typed query ranks as before; a longer single sentence is cut
    to `max_chars`). Otherwise greetings, sign-offs, signature blocks,
    contact lines, disclaimers, empty form fields and contact fields are left out, and so
    is the reply chain unless the message itself describes nothing. Of the rest, every
    sentence naming an identifier (`names`, else a generic error-code pattern) is kept,
    and the best-scored sentences (`score`: higher is more like a fault the library
    knows) within `margin` of the best, `max_kept` and `max_chars` at most; without
    `score` the first sentences that fit. Kept sentences keep the ticket's order.
    """
    if len(text.strip()) <= short_chars:
        return Extract(text, (text.strip(),), 0, True)
    message, chain = _split_quoted(
        text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    )
    find = names or codes_in
    found, dropped = _segments(message, find)
    chain_found, chain_dropped = _segments(chain, find)
    dropped += chain_dropped
    if sum(_words(s) for s in found) < CHAIN_WORDS:
        # a forward or "still broken, see below": the chain describes the fault
        found = found + chain_found
    else:
        dropped += len(chain_found)
    if len(found) + dropped <= 1:
        if len(text.strip()) <= max_chars:
            return Extract(text, (text.strip(),), 0, True)
        # one sentence longer than any typed query (a pasted log): what the encoder reads
        clipped = _clip(" ".join(text.split()), max_chars)
        return Extract(clipped, (clipped,), 0, False)
    found = [_clip(s, max_chars) for s in found]
    named = [bool(find(s)) for s in found]
    chosen = _choose(found, named, score, max_kept, max_chars, margin, max_scored)
    kept = tuple(found[i] for i in sorted(chosen))
    dropped += len(found) - len(kept)
    if not kept:
        return Extract(text, (text.strip(),), 0, True)
    if dropped == 0:
        return Extract(text, kept, 0, True)
    return Extract(" ".join(_sentence_end(s) for s in kept), kept, dropped, False)


def _clip(text: str, chars: int) -> str:
    """The text cut to at most `chars` characters, at a word boundary."""
    if len(text) <= chars:
        return text
    cut = text[: chars + 1]
    # a cut right after a word keeps that word; a cut inside one drops it
    head = cut.rstrip() if cut[-1].isspace() else cut.rsplit(None, 1)[0]
    return head[:chars]


def _sentence_end(sentence: str) -> str:
    """The sentence with a full stop, so that kept lines still read as sentences."""
    return sentence if sentence.endswith((".", "!", "?")) else f"{sentence}."


def _choose(
    found: Sequence[str],
    named: Sequence[bool],
    score: Scorer | None,
    max_kept: int,
    max_chars: int,
    margin: float,
    max_scored: int,
) -> set[int]:
    """Indices of the sentences kept: those naming identifiers, then the best scored."""
    first = [i for i, n in enumerate(named) if n]
    rest = [i for i, n in enumerate(named) if not n][:max_scored]
    if score is not None and rest:
        scores = [float(x) for x in score([found[i] for i in rest])]
        best = max(scores)
        ranked = sorted(zip(scores, rest, strict=True), key=lambda pair: -pair[0])
        rest = [i for s, i in ranked if s >= best - margin]
    # the best-scored sentence first: lines naming a model (where the caller is) must not
    # crowd out the symptom
    lead = rest[:1] if score is not None else []
    chosen: set[int] = set()
    used = 0
    for i in dict.fromkeys([*lead, *first, *rest]):
        size = len(found[i])
        if chosen and (len(chosen) >= max_kept or used + size > max_chars):
            continue
        chosen.add(i)
        used += size
    return chosen


def library_scorer(
    index: HybridIndex, *, encoder: Encoder | None = None, max_tokens: int = SCORE_TOKENS
) -> Scorer:
    """Each sentence's best cosine to the headlines of the index, in one batched encode
    (by `encoder`, else the index's own)."""

    def score(sentences: Sequence[str]) -> list[float]:
        vectors = (encoder or index.encoder).encode(list(sentences), max_tokens=max_tokens)
        with index.lock.read():
            best, _ = index.headline.search(vectors, 1)
        return [float(row[0]) for row in best]

    return score


def library_names(index: HybridIndex) -> Names:
    """The error codes and models of the index that a sentence names (in any spelling, as
    its exact lanes match them), plus generic codes."""

    def names(sentence: str) -> list[str]:
        keys = query_keys(sentence)  # once for both lanes: every sentence is looked up
        with index.lock.read():
            found = [*index.codes.match(keys).values(), *index.models.match(keys).values()]
        return sorted({name for names in found for name in names}) + codes_in(sentence)

    return names
