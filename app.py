"""Start the web app: `python app.py [--host H] [--port P]` (or QA_HOST / QA_PORT)."""
from __future__ import annotations

import argparse
import sys

from qa.config import Config
from qa.errors import QAError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="规划文件问答网页版")
    parser.add_argument("--host", help="监听地址（默认 127.0.0.1，或 QA_HOST）")
    parser.add_argument("--port", type=int, help="端口（默认 7860，或 QA_PORT）")
    args = parser.parse_args(argv)
    config = Config.from_env(host=args.host, port=args.port)
    from qa.app.web import Runtime, build_app, launch

    try:
        print("正在检查索引并加载（必要时先构建索引）…", file=sys.stderr)
        runtime = Runtime(config, progress=True)  # builds a missing or stale index first
    except QAError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    launch(build_app(runtime), config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
