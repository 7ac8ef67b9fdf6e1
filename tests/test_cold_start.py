"""What a cold `qa ask` loads: none of the heavy packages only a build or the web app needs
(llama-index alone took 1.5 s of a 3 s cold start)."""
from __future__ import annotations

import json
import subprocess
import sys

BUILD_ONLY = ("llama_index", "torch", "sklearn", "sentence_transformers", "transformers", "gradio",
              "sqlalchemy")


def test_a_cold_ask_imports_no_build_package(built):
    code = ("import json, sys\n"
            "from qa.app.cli import main\n"
            f"main(['--corpus', {str(built.corpus_dir)!r}, '--index', {str(built.index_dir)!r}, 'ask', '--json',"
            " '张家窝镇研发投入强度目标是多少？'])\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"QA_EMBED_MODEL": "lsa", "PATH": "/usr/bin:/bin"}).stdout.splitlines()
    answer, loaded = json.loads(out[0]), set(json.loads(out[1]))
    assert answer["citations"] and not answer["abstained"]
    assert loaded.isdisjoint(BUILD_ONLY), loaded.intersection(BUILD_ONLY)


def test_the_build_still_chunks_into_llama_index_nodes():
    from llama_index.core import Document
    from llama_index.core.schema import TextNode

    from qa.ingest.node_parser import HeadingNodeParser

    nodes = HeadingNodeParser().get_nodes_from_documents(
        [Document(text="第一章 总则\n一、目标\n全社会研发经费投入强度达到3.8%。\n", metadata={"doc": "t"})])
    assert nodes and all(isinstance(n, TextNode) for n in nodes)
    assert nodes[0].metadata["heading"] == "第一章 总则 › 一、目标"
