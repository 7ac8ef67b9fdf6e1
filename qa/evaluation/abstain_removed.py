"""On-topic unanswerable questions for `qa train-abstention`, built from CMRC 2018 train.

Withholding a question's whole passage from what is read (abstain_training.cmrc_examples) makes
an unanswerable question of another kind than the product meets: the topic is gone with the
passage, and the index still holds every word of it. A question the documents cannot answer
usually names something they do discuss and asks for an attribute they never give (a vehicle
count next to a paragraph on the vehicle industry, a pension amount next to care-home beds).

Such questions are made here from public data in a general way: the same CMRC passages are
indexed as a corpus of their own, but in each passage the one sentence that holds the answer to
one of its questions is removed; that question, asked against this corpus, keeps its topic (the
rest of its passage) and has lost its answer, from what is read and from the index alike. A
question is kept only when no passage it reads still holds a reference answer.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from qa.evaluation.gold import norm

SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")
MIN_LEFT = 2  # sentences a passage keeps, at least, once the answer's is removed


def removed_corpus(work: Path, path: Path, limit: int) -> list[tuple]:
    """Write the first `limit` CMRC passages of `path` into work/corpus, each without the sentence
    answering one of its questions (the k-th passage's k-th such question, in turn, so questions
    of every position are asked); (question, id, doc, answers) of the questions whose answer went."""
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    paragraphs = [p for article in data for p in article["paragraphs"]][:limit or None]
    questions = []
    for number, para in enumerate(paragraphs):
        pieces = [p for p in SENTENCE_END.split(para["context"].strip()) if p.strip()]
        answerable = []
        for qa in para["qas"]:
            refs = [norm(a["text"]) for a in qa["answers"] if norm(a["text"])]
            holding = [i for i, piece in enumerate(pieces) if any(r in norm(piece) for r in refs)]
            if refs and len(holding) == 1:
                answerable.append((qa, holding[0]))
        text = "".join(pieces)
        if answerable and len(pieces) - 1 >= MIN_LEFT:
            qa, at = answerable[number % len(answerable)]
            text = "".join(pieces[:at] + pieces[at + 1:])
            questions.append((qa["question"], qa["id"], f"{para['id']}.txt", [a["text"] for a in qa["answers"]]))
        target = corpus / f"{para['id']}.txt"
        if not target.exists() or target.read_text(encoding="utf-8") != text.strip() + "\n":
            target.write_text(text.strip() + "\n", encoding="utf-8")
    return questions


def removed_examples(answerer, questions: list[tuple], folds: dict[str, int]) -> list:
    """Each question asked against the corpus without its answer sentence: a negative, in the
    fold of its passage, when no passage read holds a reference answer."""
    from qa.evaluation.abstain_training import Example, ask_recorded, retrieve

    out = []
    for question, qid, doc, answers in questions:
        refs = [norm(a) for a in answers if norm(a)]
        query, read = retrieve(answerer, question)
        if any(r in norm(n.node.get_content()) for n in read for r in refs):
            continue
        values, _ = ask_recorded(answerer, question, query, read)
        out.append(Example("cmrc-removed", folds[doc], qid, 0, values))
    return out
