#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtualenv with the CPU build of torch installed first
# (a bare `torch` requirement would pull several GB of CUDA packages), the package with its
# test extras, and Debian's chromium for the browser test. Safe to run again.
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
.venv/bin/pip install --quiet -e ".[test]"

if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "安装 Debian chromium（浏览器测试需要）…"
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
    || echo "警告：chromium 安装失败，浏览器测试将被跳过。" >&2
fi
echo "环境就绪：.venv"
