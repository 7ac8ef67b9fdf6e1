"""Synthetic k× corpora: the real documents plus variants with other towns, years and numbers.

Exact copies would flatter BM25 and LSA (identical rows, a vocabulary that never grows), so each
variant renames places, shifts years and perturbs every other figure deterministically. Replica 0
is the real corpus, unchanged, so the dev questions stay answerable at every scale.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

TOWNS = ("杨柳青", "中北", "精武", "大寺", "王稳庄", "辛口", "李七庄", "赤龙南", "西营门", "津门湖",
         "大邱庄", "蔡公庄", "子牙", "团泊", "陈官屯", "唐官屯", "独流", "良王庄", "杨成庄", "双塘",
         "沿庄", "梁头", "中旺", "王口", "大丰堆", "小王庄", "宜兴埠", "天穆", "双街", "青光")
DISTRICTS = ("北辰", "东丽", "津南", "武清", "宝坻", "宁河", "蓟州", "滨海", "南开", "河西", "红桥")
YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")
NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?![\d.])")


def _names(replica: int) -> dict[str, str]:
    """Place substitutions of one replica: distinct town and district names, suffixed past 30."""
    town = TOWNS[(replica - 1) % len(TOWNS)]
    district = DISTRICTS[(replica - 1) % len(DISTRICTS)]
    round_ = (replica - 1) // len(TOWNS)
    suffix = "" if round_ == 0 else "东西南北新"[round_ % 5]
    return {"张家窝": town + suffix, "静海": district + "海" + suffix, "西青": district + suffix}


def _shift_years(text: str, shift: int) -> str:
    return YEAR.sub(lambda m: str(int(m.group(1)) + shift), text)


def _perturb(text: str, replica: int) -> str:
    """Scale every figure that is not a year by a factor fixed per replica and position."""
    def change(m: re.Match) -> str:
        raw = m.group(1)
        value = float(raw)
        if value < 10 or YEAR.fullmatch(raw):
            return raw  # item numbers and years keep their meaning
        factor = 1 + ((replica * 37 + m.start()) % 41 - 20) / 200.0  # ±10 %
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        new = round(value * factor, decimals)
        return f"{new:.{decimals}f}" if decimals else str(int(new))
    return NUMBER.sub(change, text)


def variant(text: str, replica: int) -> str:
    """One replica's version of a text (replica 0 is the text itself)."""
    if replica == 0:
        return text
    for old, new in _names(replica).items():
        text = text.replace(old, new)
    shift = (replica % 7) - 3 or 4
    return _perturb(_shift_years(text, shift), replica)


def make_corpus(source: Path, target: Path, factor: int) -> Path:
    """Write `factor` replicas of the corpus at `source` into `target` with a matching catalog."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    catalog = json.loads((source / "catalog.json").read_text(encoding="utf-8"))
    out_catalog: dict[str, dict] = {}
    files = sorted(p for p in source.glob("*.txt"))
    for replica in range(factor):
        for path in files:
            name = path.name if replica == 0 else f"{path.stem}__r{replica:03d}.txt"
            (target / name).write_text(variant(path.read_text(encoding="utf-8"), replica),
                                       encoding="utf-8")
            entry = catalog.get(path.name)
            if entry:
                out_catalog[name] = {k: variant(v, replica) if isinstance(v, str) else v
                                     for k, v in entry.items()}
                out_catalog[name]["source"] = name
    (target / "catalog.json").write_text(json.dumps(out_catalog, ensure_ascii=False, indent=1),
                                         encoding="utf-8")
    return target


def append_paragraph(corpus: Path) -> Path:
    """The incremental-rebuild edit: one new paragraph at the end of one document."""
    path = sorted(corpus.glob("*.txt"))[0]
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n\n（补充）2025年新增智慧社区服务站3处，总投资1280万元，由镇政府牵头负责实施。\n")
    return path
