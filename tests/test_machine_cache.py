"""The per-machine caches of installed data: jieba's dictionary read back exactly as jieba
builds it, and a damaged or foreign cache file never used."""
from __future__ import annotations

import os
import subprocess
import sys

import jieba
import pytest

from qa import text
from qa.machine_cache import cache_path, read_cache, write_cache


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """Caches in this test's folder, and a fresh read of jieba's dictionary."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    text.jieba_base.cache_clear()
    yield tmp_path
    text.jieba_base.cache_clear()


def jieba_own() -> jieba.Tokenizer:
    reference = jieba.Tokenizer()
    reference.check_initialized()
    return reference


def test_the_cached_dictionary_is_jiebas_own(own_tmp):
    first = text.jieba_base()  # no cache yet: jieba reads its dictionary and the cache is written
    cache = cache_path("qa-jieba", text.JIEBA_DICT, text.JIEBA_CACHE_VERSION, "bin")
    assert cache.parent == own_tmp and cache.exists()
    text.jieba_base.cache_clear()
    second = text.jieba_base()  # from the cache
    reference = jieba_own()
    assert second.FREQ == reference.FREQ == first.FREQ
    assert second.total == reference.total and second.initialized
    sentence = "全社会研发经费投入强度达到3.8%"
    assert list(second.cut_for_search(sentence)) == list(reference.cut_for_search(sentence))


def test_a_damaged_cache_is_read_again_from_jieba(own_tmp):
    cache = cache_path("qa-jieba", text.JIEBA_DICT, text.JIEBA_CACHE_VERSION, "bin")
    packed = text._pack_frequencies({"研发": 5, "研": 0}, 5)
    write_cache(cache, packed[:20])  # cut short inside the frequencies
    base = text.jieba_base()
    assert base.FREQ == jieba_own().FREQ
    assert text._unpack_frequencies(read_cache(cache))[0] == base.FREQ  # rewritten whole
    write_cache(cache, packed.replace("研发".encode(), "研\n发".encode()))  # a word too many
    text.jieba_base.cache_clear()
    assert text.jieba_base().FREQ == base.FREQ


def test_caches_are_named_by_content_not_by_install_time(tmp_path):
    first, second = tmp_path / "a" / "dict.txt", tmp_path / "b" / "dict.txt"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text("研发 5\n", encoding="utf-8")
    os.utime(second, (0, 0))  # another install of the same package, written at another time
    assert cache_path("qa-jieba", first, 1, "bin") == cache_path("qa-jieba", second, 1, "bin")
    second.write_text("研发 6\n", encoding="utf-8")
    assert cache_path("qa-jieba", first, 1, "bin") != cache_path("qa-jieba", second, 1, "bin")
    assert cache_path("qa-jieba", first, 1, "bin") != cache_path("qa-jieba", first, 2, "bin")


def test_pack_round_trip_and_line_breaks():
    freq = {"研发": 12, "研": 0, "a b": 3}
    assert text._unpack_frequencies(text._pack_frequencies(freq, 15)) == (freq, 15)
    assert text._pack_frequencies({"a\nb": 1}, 1) is None


def test_the_cache_is_named_after_its_source(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    source = tmp_path / "data.txt"
    source.write_text("one")
    before = cache_path("stem", source, 1, "bin")
    source.write_text("three")
    assert cache_path("stem", source, 1, "bin") != before != cache_path("stem", source, 2, "bin")


def test_a_cold_process_reads_the_cache_not_jiebas(tmp_path):
    """A second process takes jieba's dictionary from the cache: jieba does not read its own."""
    env = {"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = ("import jieba\n"
            "calls = []\n"
            "initialize = jieba.Tokenizer.initialize\n"
            "jieba.Tokenizer.initialize = lambda self, *a: calls.append(1) or initialize(self, *a)\n"
            "from qa.text import jieba_base\n"
            "print(len(jieba_base().FREQ), len(calls))\n")
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    words = int(first.stdout.split()[0])
    assert words > 300_000 and first.stdout.split()[1] == "1"  # jieba's own, once
    assert second.stdout.split() == [str(words), "0"]
