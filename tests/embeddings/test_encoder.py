from pathlib import Path

import numpy as np
import pytest

from embeddings.encoder import Encoder, OnnxInt8Encoder, make_encoder

TEXTS = ["CT makes a popping sound and the images have streaks", "knee coil not recognised"]


def test_onnx_int8_and_torch_encoders_agree(encoder: Encoder, tmp_path: Path) -> None:
    torch = make_encoder("torch", cache_dir=tmp_path)
    a, b = encoder.encode(TEXTS), torch.encode(TEXTS)
    assert a.shape == b.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.98
    assert encoder.name != torch.name, "switching backend must invalidate a persisted index"


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(ValueError, match="onnx-int8"):
        make_encoder("tensorflow", cache_dir=tmp_path)  # type: ignore[arg-type]


def test_onnx_runtime_encoder_gives_sentence_transformers_vectors(encoder: Encoder) -> None:
    """Serving the export with onnxruntime directly must not change a single ranking."""
    from sentence_transformers import SentenceTransformer

    assert isinstance(encoder, OnnxInt8Encoder)
    reference = SentenceTransformer(
        str(encoder.folder),
        backend="onnx",
        device="cpu",
        local_files_only=True,
        model_kwargs={"file_name": encoder.file_name},
    )
    long_text = " ".join(["the gantry grinds and the table will not move"] * 60)
    texts = [*TEXTS, "HV-417", long_text, ""]
    for chunk in [*([t] for t in texts), texts]:  # alone and as one padded batch
        ours = encoder.encode(chunk)
        theirs = reference.encode(chunk, normalize_embeddings=True, convert_to_numpy=True)
        assert (ours * theirs).sum(axis=1).min() > 0.9999
    # more texts than one batch, many of equal length: the same batches as
    # sentence-transformers, since int8 activations are scaled per batch
    many = [f"case {i:03d}: the table is stuck" for i in range(60)] + TEXTS * 5
    ours = encoder.encode(many)
    theirs = reference.encode(many, batch_size=64, normalize_embeddings=True)
    assert (ours * theirs).sum(axis=1).min() > 0.9999
    reference.max_seq_length = 32
    ours = encoder.encode([long_text], max_tokens=32)
    theirs = reference.encode([long_text], normalize_embeddings=True, convert_to_numpy=True)
    assert float((ours * theirs).sum()) > 0.9999
    assert float((ours * encoder.encode([long_text])).sum()) < 0.9999, "max_tokens truncates"
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_export_works_for_every_x86_scheme(encoder: Encoder, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """AVX2 and VNNI exports name their weights differently (quint8 / qint8); both must
    load. The session encoder covers this CPU's scheme; this covers the other one."""
    import embeddings.encoder as module

    assert isinstance(encoder, OnnxInt8Encoder)
    other = "avx2" if module.quantization_config() == "avx512_vnni" else "avx512_vnni"
    monkeypatch.setattr(module, "quantization_config", lambda: other)
    exported = OnnxInt8Encoder(module.packaged_model_path(), cache_dir=tmp_path, threads=1)
    assert (exported.folder / exported.file_name).exists()
    assert other in exported.file_name
    assert exported.name != encoder.name, "vectors of two schemes must not share an index"
    assert (exported.encode(TEXTS) * encoder.encode(TEXTS)).sum(axis=1).min() > 0.98


def test_tokenize_text_gives_what_the_model_is_fed(encoder: Encoder) -> None:
    assert isinstance(encoder, OnnxInt8Encoder)
    ids, mask = encoder.tokenize("knee coil not recognised")
    assert len(ids) == len(mask) > 2  # [CLS] ... [SEP]
    assert set(mask) == {1}
    long_ids, _ = encoder.tokenize(" ".join(["gantry"] * 400), max_tokens=32)
    assert len(long_ids) == 32


def test_encode_unreadable_model_raises_instead_of_hanging(
    encoder: Encoder, tmp_path: Path
) -> None:
    """The session opens on a thread of its own; a model it cannot open must fail the
    first encode (the service's start-up), not leave it waiting."""
    import shutil

    assert isinstance(encoder, OnnxInt8Encoder)
    cache = tmp_path / "models"
    shutil.copytree(encoder.folder, cache / encoder.folder.name)
    (cache / encoder.folder.name / encoder.file_name).write_bytes(b"not an onnx model")
    broken = OnnxInt8Encoder(cache_dir=cache, threads=1)
    assert broken.folder == cache / encoder.folder.name
    with pytest.raises(Exception, match=r"Protobuf parsing failed"):
        broken.encode(["tube arcing"])
