"""The torch encoder of the converted e5 (qa.index.e5_encoder) in a child process.

Loading it (torch, the 250k-piece tokenizer, the weights) costs a few CPU seconds, all holding
the GIL (`tokenizers` parses its file without releasing it), and the encoding that follows keeps
both cores of this machine busy. In a process of its own the model loads while a build reads and
chunks the corpus, and encodes while the build segments the passages, fits the LSA and extracts
the commitments; the parent never imports torch.

The child is `python -m qa.index.encoder_process DIRECTORY`: requests and replies are pickles on
its stdin and stdout, answered in order. (Not multiprocessing: its spawned children import the
parent's main script again.) A failure in the child, such as a directory it cannot read, is
raised again in the parent.
"""
from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np


def serve(directory: Path, requests, replies) -> None:
    """The child: load the encoder, say so (or why not), then encode each request until None."""
    try:
        from qa.index.e5_encoder import E5Encoder

        encoder = E5Encoder(directory)
    except Exception as exc:  # raised again in the parent, which decides what falls back
        pickle.dump(("error", exc), replies)
        replies.flush()
        return
    pickle.dump(("ready", encoder.prompts), replies)
    replies.flush()
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        if request is None:
            return
        try:
            reply = ("ok", encoder.encode(*request))
        except Exception as exc:
            reply = ("error", exc)
        pickle.dump(reply, replies)
        replies.flush()


class EncoderProcess:
    """`encode(texts, prompt_name)` and `prompts` as E5Encoder has them, computed in a child
    process that starts loading when this object is made. Safe to share between threads."""

    def __init__(self, directory: Path):
        self._process = subprocess.Popen(
            [sys.executable, "-m", "qa.index.encoder_process", str(directory)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._lock = threading.Lock()
        self._prompts: dict | None = None

    def _receive(self):
        try:
            kind, value = pickle.load(self._process.stdout)
        except (EOFError, pickle.UnpicklingError) as exc:
            raise RuntimeError(f"向量化子进程意外退出（退出码 {self._process.poll()}）") from exc
        if kind == "error":
            raise value
        return value

    def wait(self) -> None:
        """Block until the model is loaded; raises what loading raised in the child."""
        with self._lock:
            if self._prompts is None:
                self._prompts = self._receive()

    @property
    def prompts(self) -> dict:
        self.wait()
        return self._prompts

    def encode(self, texts: list[str], prompt_name: str | None = None) -> np.ndarray:
        self.wait()
        with self._lock:
            try:
                pickle.dump((list(texts), prompt_name), self._process.stdin)
                self._process.stdin.flush()
            except OSError as exc:
                raise RuntimeError(f"向量化子进程意外退出（退出码 {self._process.poll()}）") from exc
            return self._receive()

    def close(self) -> None:
        """Stop the child (its memory goes with it)."""
        with self._lock:
            if self._process.poll() is None:
                try:
                    self._process.stdin.close()  # the child reads EOF and returns
                    self._process.wait(10)
                except (OSError, subprocess.TimeoutExpired):
                    self._process.kill()
                    self._process.wait()
            self._process.stdout.close()


if __name__ == "__main__":
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it closes our stdin
    replies = os.fdopen(os.dup(1), "wb")  # the pipe to the parent; anything printed goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(Path(sys.argv[1]), sys.stdin.buffer, replies)
