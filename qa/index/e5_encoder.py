"""Bulk encoding with the converted multilingual-e5-small, without sentence-transformers.

The converted directory (qa.index.e5_convert) is a plain BERT encoder with mean pooling and
normalisation. Loading it through sentence-transformers imports that library and transformers
and builds a randomly initialised `BertModel` (a 250k-row vocabulary) before the weights
replace it: about 7 CPU seconds here. This module reads the same files directly: the weights
from `model.safetensors` onto modules created without initialisation, the tokenizer from
`tokenizer.json` through `tokenizers`, the prompts, the length limit and the pooling from the
sentence-transformers configs. It computes what `SentenceTransformer.encode` computes, op for
op (BERT's layers as transformers writes them, scaled-dot-product attention with a boolean
padding mask, mean pooling over the prompt too), so its vectors agree with that path at cosine
≥ 0.99999 (tested), in about 1.5 s of start-up.

Where the CPU computes bfloat16 natively (AMX / AVX-512 BF16) the matrix products run in it
under autocast (LayerNorm and softmax stay float32), as before: 2.5× faster than float32 here,
at cosine ≥ 0.9999 to float32.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

BATCH = 8  # texts per forward pass, sorted by length. CMRC-200 passages: 6 % less CPU than 16 (1.2 %
# of the tokens padding rather than 3.4 %, smaller activations); 32 and 64 were slower still


def bf16_supported() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def mapped_safetensors(path: Path) -> dict:
    """The float32 tensors of a safetensors file, mapped copy-on-write rather than read: only the
    pages used are loaded, so the 250k-row word embedding (384 MB) costs the rows a corpus uses.
    (safetensors' own loader copies every tensor into memory.)"""
    import struct

    import torch

    with open(path, "rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(size))
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"unsupported dtype {info['dtype']} for {name}")
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if end - start != 4 * int(np.prod(shape)):
            raise ValueError(f"damaged tensor {name}")
        array = np.memmap(path, dtype="<f4", mode="c", offset=8 + size + start, shape=shape)
        tensors[name] = torch.from_numpy(array)
    return tensors


def _bert_modules(config: dict):
    """BERT's layers (names as in transformers' BertModel, so its state dict loads as is)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    eps = config["layer_norm_eps"]
    if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type",
                                                                   "absolute") != "absolute":
        raise ValueError("unsupported BERT variant")

    class Embeddings(nn.Module):
        def __init__(self):
            super().__init__()
            # given an (empty) weight, an embedding skips its random normal_ initialisation: on
            # the meta device that one call imports torch._dynamo, ~2 CPU seconds
            self.word_embeddings, self.position_embeddings, self.token_type_embeddings = (
                nn.Embedding(rows, hidden, _weight=torch.empty(rows, hidden))
                for rows in (config["vocab_size"], config["max_position_embeddings"],
                             config["type_vocab_size"]))
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

        def forward(self, ids):
            positions = torch.arange(ids.shape[1]).unsqueeze(0)
            summed = (self.word_embeddings(ids) + self.token_type_embeddings(torch.zeros_like(ids))
                      + self.position_embeddings(positions))
            return self.LayerNorm(summed)

    class Dense(nn.Module):  # a projection followed by a residual LayerNorm
        def __init__(self, inputs):
            super().__init__()
            self.dense = nn.Linear(inputs, hidden)
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

        def forward(self, states, residual):
            return self.LayerNorm(self.dense(states) + residual)

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))

        def forward(self, states, mask):
            batch, length = states.shape[:2]

            def split(projection):
                return projection(states).view(batch, length, heads, -1).transpose(1, 2)

            context = F.scaled_dot_product_attention(split(self.query), split(self.key),
                                                     split(self.value), attn_mask=mask)
            return context.transpose(1, 2).reshape(batch, length, hidden)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.self = SelfAttention()
            self.output = Dense(hidden)

    class Intermediate(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(hidden, config["intermediate_size"])

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = Attention()
            self.intermediate = Intermediate()
            self.output = Dense(config["intermediate_size"])

        def forward(self, states, mask):
            attended = self.attention.output(self.attention.self(states, mask), states)
            return self.output(F.gelu(self.intermediate.dense(attended)), attended)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.ModuleList(Layer() for _ in range(config["num_hidden_layers"]))

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = Embeddings()
            self.encoder = Encoder()

        def forward(self, ids, mask):
            """Token states of a padded batch; `mask` is 1 on tokens, 0 on padding."""
            keys = None if bool(mask.all()) else mask.bool()[:, None, None, :]
            states = self.embeddings(ids)
            for layer in self.encoder.layer:
                states = layer(states, keys)
            return states

    return Bert


class E5Encoder:
    """`encode(texts, prompt_name)` as sentence-transformers computes it for this directory."""

    def __init__(self, directory: Path):
        import torch
        from tokenizers import Tokenizer

        directory = Path(directory)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        settings = json.loads((directory / "sentence_bert_config.json").read_text(encoding="utf-8"))
        pooling = json.loads((directory / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        if not (pooling.get("pooling_mode_mean_tokens") and pooling.get("include_prompt", True)):
            raise ValueError("unsupported pooling")
        self.prompts = json.loads((directory / "config_sentence_transformers.json")
                                  .read_text(encoding="utf-8")).get("prompts", {})
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(settings.get("max_seq_length", 512))
        self.pad_id = config.get("pad_token_id", 0)
        with torch.device("meta"):  # no random initialisation: the weights are assigned below
            model = _bert_modules(config)()
        weights = {k: v for k, v in mapped_safetensors(directory / "model.safetensors").items()
                   if not k.startswith("pooler.")}
        model.load_state_dict(weights, strict=True, assign=True)
        self.bf16 = bf16_supported()
        if self.bf16:  # what autocast would cast them to in every batch, once
            for module in model.modules():
                if isinstance(module, torch.nn.Linear):
                    module.to(torch.bfloat16)
        self.model = model.eval().requires_grad_(False)

    def tokens(self, texts: list[str], prompt_name: str | None = None) -> list[list[int]]:
        prompt = self.prompts.get(prompt_name, "") if prompt_name else ""
        return [e.ids for e in self.tokenizer.encode_batch([prompt + t for t in texts])]

    def encode(self, texts: list[str], prompt_name: str | None = None,
               batch_size: int = BATCH, workers: int | None = None) -> np.ndarray:
        """L2-normalised float32 rows, in the order of `texts`.

        Batches run on `workers` threads (default: torch's thread count, so OMP_NUM_THREADS=1
        gives one), each computing its batch on one core. Splitting the work by batch instead of
        inside each matrix product avoids OpenMP's per-operation barriers: on this 2-core machine,
        shared with other jobs, 38 CPU seconds instead of 53 for the same 388 passages."""
        import torch

        ids = self.tokens(texts, prompt_name)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first, as ST does
        batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
        out = np.zeros((len(ids), self.model.embeddings.word_embeddings.embedding_dim), np.float32)

        def run(rows: list[int]) -> None:
            out[rows] = self._forward([ids[i] for i in rows])

        workers = max(1, min(workers or torch.get_num_threads(), len(batches)))
        if workers == 1:
            for rows in batches:
                run(rows)
            return out
        from concurrent.futures import ThreadPoolExecutor

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, batches))
        finally:
            torch.set_num_threads(threads)
        return out

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        """Mean-pooled, normalised rows of one batch (longest first). Autocast and inference mode
        are per thread, so they are entered here."""
        import torch

        length = len(ids[0])
        batch = torch.full((len(ids), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), length), dtype=torch.long)
        for r, row in enumerate(ids):
            batch[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            states = self.model(batch, mask).float()
            weights = mask.unsqueeze(-1).float()
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
