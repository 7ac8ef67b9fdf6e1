"""The layout shows the flow: stage subpackages import only stages before them."""
from __future__ import annotations

import re

from qa.config import PROJECT_ROOT

STAGES = ("ingest", "commitments", "index", "search", "answer", "app")


def test_imports_flow_one_way_from_ingest_to_app():
    backward = []
    for path in sorted((PROJECT_ROOT / "qa").glob("*/*.py")):
        stage = path.parent.name
        if stage not in STAGES:
            continue
        for imported in re.findall(r"^\s*(?:from|import) qa\.(\w+)", path.read_text(encoding="utf-8"), re.M):
            if imported in STAGES and STAGES.index(imported) > STAGES.index(stage):
                backward.append((path.relative_to(PROJECT_ROOT).as_posix(), imported))
    assert backward == []


def test_every_stage_says_what_comes_in_and_goes_out():
    import importlib

    for stage in STAGES + ("evaluation",):
        doc = importlib.import_module(f"qa.{stage}").__doc__ or ""
        assert " in" in doc and " out" in doc, stage
