from pathlib import Path

import numpy as np

from embeddings.encoder import Encoder, make_encoder

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
