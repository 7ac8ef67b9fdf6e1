"""One gazetteer: the national divisions plus a corpus's own places, and finding them in text.

A corpus adds its own places: each document's place with its ancestors, and the towns and villages
under it that its documents name, with the short forms people write ("…镇" without 镇), and for
English questions the pinyin of the places documents are about and their ancestors (worked out on
the first question written in latin letters, since the pinyin library's phrase tables take a
second and 40 MB).
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import cached_property

from qa.ingest.divisions import (MIN_LOCAL_NAME, VILLAGE_SUFFIXES, Divisions, Place, name_starts,
                                 place_from_path, short_forms)
from qa.text import simplified

MAX_NAME = 16  # characters: longer runs are never a place name
VILLAGE_END = re.compile("|".join(VILLAGE_SUFFIXES))


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    text: str  # as written: "五里界街", "jiangxia", "武汉市"
    places: tuple[Place, ...]  # every place of that name (a name can recur in several counties)



def _whole_word(text: str, start: int, end: int) -> bool:
    return ((start == 0 or not text[start - 1].isascii() or not text[start - 1].isalnum())
            and (end == len(text) or not text[end].isascii() or not text[end].isalnum()))



@dataclass
class OwnPlace:
    """A place of the corpus, as an index stores it (places.json)."""

    path: tuple[str, ...]
    forms: tuple[str, ...] = ()  # short forms, besides the full name
    documents: tuple[str, ...] = ()  # files whose place this is

    @property
    def place(self) -> Place:
        return Place(tuple(self.path))

    def to_json(self) -> dict:
        return {"path": list(self.path), "forms": list(self.forms), "documents": list(self.documents)}

    @classmethod
    def from_json(cls, data: dict) -> "OwnPlace":
        return cls(tuple(data["path"]), tuple(data.get("forms", ())), tuple(data.get("documents", ())))


@dataclass
class Gazetteer:
    """The national divisions plus a corpus's own places: what text names, at any level."""

    own: list[OwnPlace] = field(default_factory=list)
    divisions: Divisions | None = None

    def __post_init__(self):
        self._own_by_form: dict[str, list[Place]] = {}
        for entry in self.own:
            for form in (entry.path[-1],) + tuple(entry.forms):
                places = self._own_by_form.setdefault(form, [])
                if entry.place not in places:
                    places.append(entry.place)
        self.document_places = {e.path[-1]: e.place for e in self.own if e.documents}

    @cached_property
    def _longest(self) -> int:
        return max([MAX_NAME] + [len(f) for f in self._own_by_form])

    @cached_property
    def _pinyin(self) -> dict[str, list[Place]]:
        """"jiangxia" → the place: the pinyin of the places documents are about, and of their
        ancestors, written without their suffix."""
        found: dict[str, list[Place]] = {}
        for entry in self.own:
            if entry.forms or entry.documents:
                stem = next((f for f in entry.forms if not f.endswith("街")), entry.path[-1])
                found.setdefault(pinyin(stem), []).append(entry.place)
        return found

    @cached_property
    def _starts(self) -> dict[str, int]:
        """The first two characters of every Chinese name known but villages' → its longest such
        name: most positions of a text start none, so no lookup is tried there."""
        starts = dict(self.divisions.name_starts) if self.divisions is not None else {}
        for start, longest in name_starts(self._own_by_form).items():
            starts[start] = max(longest, starts.get(start, 0))
        return starts

    def _lookup(self, candidate: str) -> list[Place]:
        if candidate.isascii():
            return self._pinyin.get(candidate, []) if candidate.isalpha() else []
        own = self._own_by_form.get(candidate)
        if own:
            return own
        if self.divisions is None:
            return []
        return self.divisions.find(candidate) or self.divisions.find_short(candidate)

    def find(self, text: str) -> list[Mention]:
        """Places the text names, longest name first at each position, left to right."""
        mentions = []
        i, n = 0, len(text)
        village_ends = [m.end() for m in VILLAGE_END.finditer(text)] if self.divisions else []
        while i < n:
            for length in self._lengths(text, i, village_ends):
                candidate = text[i:i + length]
                if candidate.isascii() and not _whole_word(text, i, i + length):
                    continue  # "jiangxia" as a word, never inside another
                places = self._lookup(candidate)
                if places:
                    mentions.append(Mention(i, i + length, candidate, tuple(places)))
                    i += length
                    break
            else:
                i += 1
        return mentions

    def _lengths(self, text: str, i: int, village_ends: list[int]) -> list[int] | range:
        """The lengths a name at `i` can have, longest first: up to the longest name starting
        with its two characters, and up to each village suffix ahead (village names, 650,000 of
        them, are known only by hash)."""
        if text[i].isascii():
            return range(min(self._longest, len(text) - i), 1, -1)
        longest = min(self._starts.get(text[i:i + 2], 0), len(text) - i)
        first = bisect_left(village_ends, i + MIN_LOCAL_NAME)
        villages = [end - i for end in village_ends[first:first + MAX_NAME] if end - i <= MAX_NAME]
        if not villages:
            return range(longest, 1, -1)
        return sorted({*range(2, longest + 1), *villages}, reverse=True)

    def forms_of(self, name: str) -> list[str]:
        """Every way the corpus writes a place: its full name and its short forms."""
        forms = [name]
        for entry in self.own:
            if entry.path[-1] == name:
                forms.extend(f for f in entry.forms if f not in forms)
        return forms

    def terms(self) -> set[str]:
        """Names a tokenizer must keep whole: the corpus's places and their short forms."""
        return {form for e in self.own for form in (e.path[-1],) + e.forms}


def pinyin(text: str) -> str:
    """"江夏" → "jiangxia": how English questions write a Chinese place."""
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(text)).lower()


def forms_of(place: Place, divisions: Divisions | None) -> tuple[str, ...]:
    """Short forms a place is written in (the divisions' own, "…镇" without 镇)."""
    forms = list(short_forms(place.name))
    if divisions is not None:
        forms += divisions.short_forms_of(place)
    return tuple(dict.fromkeys(f for f in forms if f != place.name))


def named_places(place: Place, text: str, divisions: Divisions | None) -> list[str]:
    """Places under a document's own place that its text names (its towns, their villages), as
    display paths: the corpus's own small places, which a question may ask about."""
    if divisions is None or not divisions.knows(place.name):
        return []
    found = []
    below = divisions.children(place)
    for child in below + [g for c in below if c.level in ("镇", "乡", "街道")
                          for g in divisions.children(c)]:
        if len(child.name) >= MIN_LOCAL_NAME and child.name in text:
            found.append(child.display)
    return found


def corpus_places(documents: dict[str, dict], divisions: Divisions | None) -> list[OwnPlace]:
    """A corpus's own places from its documents' metadata (`place_path`, `named_places`): each
    document's place (with the documents it belongs to), its ancestors and the places its text
    names, each with its short forms."""
    owners: dict[tuple[str, ...], list[str]] = {}
    named: set[tuple[str, ...]] = set()
    for doc, metadata in sorted(documents.items()):
        place = place_from_path(simplified(metadata.get("place_path") or metadata.get("place", "")))
        if place is None:
            continue
        owners.setdefault(place.path, []).append(doc)
        for depth in range(1, len(place.path)):
            named.add(place.path[:depth])
        named.update(p.path for p in map(place_from_path, metadata.get("named_places", [])) if p)
    places = []  # in simplified script: what questions and passages are matched in
    for path in sorted(set(owners) | named):
        place = Place(path)
        own = path in owners or any(path == owner[:len(path)] for owner in owners)
        forms = forms_of(place, divisions) if own else ()
        places.append(OwnPlace(path, forms, tuple(owners.get(path, ()))))
    return places
