"""China's administrative divisions: places, their levels and short forms, and the national table.

The divisions (province › city › county › town or street › village or community, about 700,000
names) are jionlp's data file, read once per process and never changed. Short forms of places
count only down to county level, and a county's only when it is not also a common word (a county's
short form can be "和平" or "新华").
"""
from __future__ import annotations

import hashlib
import importlib.util
import marshal
import re
import zipfile
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np

from qa.machine_cache import cache_path, read_cache, write_cache
from qa.text import jieba_frequencies

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
LEVELS_FILE = DATA_DIR / "place_levels.tsv"
DIVISIONS_FILE = "dictionary/china_location.zip"  # inside the jionlp package
# Below city level a two-character full name ("和县", "王村", a town called "社区") is mostly a
# piece of other words ("乡镇和县城"); such places are found by their full names of 3 or more.
MIN_LOCAL_NAME = 3
# A county's short form that jieba's dictionary counts this often is read as a word ("和平",
# "新华", "城区"), not a place; the full name is still recognised.
COMMON_WORD_FREQ = 100
# How a town or street is written short: "…镇" → "…", "…街道" → "…街" and "…".
SHORT_SUFFIXES = ("街道", "镇", "乡")
VILLAGE_SUFFIXES = ("村", "社区", "嘎查", "居委会")
SEP = " › "


@lru_cache(maxsize=1)
def place_levels() -> tuple[tuple[str, str], ...]:
    """(suffix, level) pairs from the data file, longest suffix first."""
    pairs = []
    for line in LEVELS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            suffix, level = line.split("\t")
            pairs.append((suffix.strip(), level.strip()))
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


def level_of(name: str) -> str:
    """The level a place name's ending says (镇, 区, 街道…); '' when it says none."""
    return next((level for suffix, level in place_levels() if name.endswith(suffix)
                 and len(name) > len(suffix)), "")


def short_forms(name: str) -> list[str]:
    """How a town or street is written without its suffix ("…街道" → "…街", "…")."""
    for suffix in SHORT_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            stem = name[:-len(suffix)]
            return [stem + "街", stem] if suffix == "街道" else [stem]
    return []


@dataclass(frozen=True)
class Place:
    """A place and its ancestors, from the province down (the last element is the place)."""

    path: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def level(self) -> str:
        return level_of(self.name)

    @property
    def display(self) -> str:
        """湖北省 › 武汉市 › 江夏区 › 五里界街道"""
        return SEP.join(self.path)

    def within(self, other: "Place") -> bool:
        """Whether this place is `other` or lies inside it."""
        return self.path[:len(other.path)] == other.path



def place_from_path(path: str) -> Place | None:
    """A Place from its display form ("湖北省 › 武汉市 › 江夏区")."""
    parts = tuple(p.strip() for p in (path or "").split(SEP.strip()) if p.strip())
    return Place(parts) if parts else None


def _dedupe(path: Iterable[str]) -> tuple[str, ...]:
    """Municipalities appear twice (上海市 › 上海市 › 浦东新区): once is enough."""
    out: list[str] = []
    for name in path:
        if not out or out[-1] != name:
            out.append(name)
    return tuple(out)


class Divisions:
    """China's administrative divisions from jionlp's data file; shared read-only by every index.

    Parsed once per machine: the tables are cached beside jieba's own dictionary cache (in the
    temporary folder), keyed by the data file, so a process loads them in a fraction of a second.
    """

    LINE = re.compile(r"^(\t*)([^\t\r\n]+)(?:\t\d+\t([^\t\r\n]*))?\r?$", re.M)
    CACHE_VERSION = 5  # bump when what `parse` returns changes
    # Tables hold plain strings (a place's path joined by tabs, several paths by newlines): a
    # machine's cache of them loads several times faster than one of lists and tuples.
    PATH_SEP, PATHS_SEP = "\t", "\n"

    def __init__(self, by_name: dict, by_short: dict, villages: dict, village_hashes: bytes,
                 starts: dict | None = None):
        self._by_name: dict[str, str] = by_name  # full name → paths
        self._by_short: dict[str, str] = by_short  # 辽宁, 江夏, …街 → paths
        self._villages: dict[str, str] = villages  # a town's path → its villages, one a line
        # every village and community name, as sorted stable hashes: membership without holding
        # 650,000 strings
        self._village_hashes = np.frombuffer(village_hashes, dtype=np.uint64)
        # the first two characters of every full or short name above villages → its longest
        self.name_starts: dict[str, int] = starts or {}

    @staticmethod
    def parse(text: str, word_freq: dict[str, int]) -> tuple[dict, dict, dict, bytes, dict]:
        by_name: dict[str, list[tuple[str, ...]]] = {}
        by_short: dict[str, list[tuple[str, ...]]] = {}
        villages: dict[tuple[str, ...], list[str]] = {}
        hashes = []
        path: list[str] = []
        town: tuple[str, ...] = ()
        for match in Divisions.LINE.finditer(text):
            depth, name, short = len(match.group(1)), match.group(2).strip(), match.group(3)
            if depth >= 4:
                villages.setdefault(town, []).append(name)
                hashes.append(_stable_hash(name))
                continue
            path[depth:] = [name]
            place = _dedupe(path)
            if (depth < 2 or len(name) >= MIN_LOCAL_NAME) and place not in by_name.setdefault(name, []):
                by_name[name].append(place)
            town = place if depth == 3 else ()
            forms = [short.strip()] if short and (depth < 2 or word_freq.get(short.strip(), 0)
                                                  < COMMON_WORD_FREQ) else []
            if depth == 3 and name.endswith("街道"):
                forms.append(name[:-1])  # "…街道" is written "…街"
            for form in forms:
                if form != name and len(form) >= 2 and place not in by_short.setdefault(form, []):
                    by_short[form].append(place)
        packed = np.unique(np.array(hashes, dtype=np.uint64)).tobytes()
        join = Divisions._joined
        by_name = {k: join(v) for k, v in by_name.items() if v}
        return (by_name, {k: join(v) for k, v in by_short.items()},
                {Divisions.PATH_SEP.join(t): "\n".join(v) for t, v in villages.items() if t}, packed,
                name_starts([*by_name, *by_short]))

    @staticmethod
    def _joined(paths: list[tuple[str, ...]]) -> str:
        return Divisions.PATHS_SEP.join(Divisions.PATH_SEP.join(p) for p in paths)

    @staticmethod
    def _places(joined: str | None) -> list[Place]:
        if not joined:
            return []
        return [Place(tuple(p.split(Divisions.PATH_SEP))) for p in joined.split(Divisions.PATHS_SEP)]

    def knows(self, name: str) -> bool:
        """Whether a province, city, county or town bears this full name."""
        return name in self._by_name

    def short_forms_of(self, place: Place) -> list[str]:
        """The divisions' own short forms of a place ("辽宁", "…街")."""
        return self._forms_by_path.get(self.PATH_SEP.join(place.path), [])

    @cached_property
    def _forms_by_path(self) -> dict[str, list[str]]:
        forms: dict[str, list[str]] = {}
        for form, paths in self._by_short.items():
            for path in paths.split(self.PATHS_SEP):
                forms.setdefault(path, []).append(form)
        return forms

    @cached_property
    def _children_by_path(self) -> dict[str, list[str]]:
        """Each place's path → the paths of the places directly under it (above villages)."""
        children: dict[str, list[str]] = {}
        for paths in self._by_name.values():
            for path in paths.split(self.PATHS_SEP):
                parent, _, _ = path.rpartition(self.PATH_SEP)
                if parent:
                    children.setdefault(parent, []).append(path)
        return children

    @classmethod
    @lru_cache(maxsize=1)
    def load(cls) -> "Divisions":
        """From the installed jionlp package (its data, not its code), through the cache."""
        spec = importlib.util.find_spec("jionlp")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("jionlp is not installed: pip install jionlp")
        source = Path(list(spec.submodule_search_locations)[0]) / DIVISIONS_FILE
        cache = cache_path("qa-divisions", source, cls.CACHE_VERSION, "marshal")
        data = read_cache(cache)
        if data is not None:
            try:
                return cls(*marshal.loads(data))
            except (ValueError, EOFError, TypeError):
                pass
        tables = cls.parse(_read_zip(source), jieba_frequencies())
        write_cache(cache, marshal.dumps(tables))
        return cls(*tables)

    def is_village(self, name: str) -> bool:
        key = _stable_hash(name)
        at = int(np.searchsorted(self._village_hashes, key))
        return at < len(self._village_hashes) and int(self._village_hashes[at]) == key

    def children(self, place: Place) -> list[Place]:
        """Places directly under `place`: the towns of a county, the villages of a town."""
        key = self.PATH_SEP.join(place.path)
        if key in self._villages:
            return [Place(place.path + (v,)) for v in self._villages[key].split("\n")]
        return [Place(tuple(p.split(self.PATH_SEP))) for p in self._children_by_path.get(key, ())]

    def find(self, name: str) -> list[Place]:
        """Places of exactly this full name (a village only as a name without its ancestors)."""
        found = self._places(self._by_name.get(name))
        if found:
            return found
        if len(name) >= MIN_LOCAL_NAME and name.endswith(VILLAGE_SUFFIXES) and self.is_village(name):
            return [Place((name,))]
        return []

    def find_short(self, form: str) -> list[Place]:
        return self._places(self._by_short.get(form))


def name_starts(names) -> dict[str, int]:
    """Each name's first two characters → the longest name starting with them: a text position
    whose two characters start no name needs no lookup, and one that does only up to that length."""
    starts: dict[str, int] = {}
    for name in names:
        if len(name) >= 2 and starts.get(name[:2], 0) < len(name):
            starts[name[:2]] = len(name)
    return starts


def _stable_hash(name: str) -> int:
    """The same 64-bit number for a name in every process (Python's hash() is salted)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def _read_zip(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(archive.namelist()[0]).decode("utf-8")
