"""Reduce the fitted vectors to the chosen width, keeping the directions that carry the most of them."""

from __future__ import annotations

import numpy as np

from core.errors import AdaptError


def project(vectors: np.ndarray, dims: int) -> np.ndarray:
    """Project onto the top-`dims` eigenvectors of the uncentred second moment, largest first, so the first
    dimensions carry the most (NAME@128d keeps a good prefix).

    Not re-centred on purpose: the vectors were centred before weighting and fitting, and model2vec's PCA, which
    re-centres after weighting, lost SciFact 0.11 nDCG@10 in the experiment behind issue 19."""
    width = vectors.shape[1]
    if not 0 < dims <= width:
        raise AdaptError(f"{dims} dimensions cannot be kept from a teacher of {width}: pick 1 to {width}.")
    data = vectors.astype(np.float64)
    values, vecs = np.linalg.eigh(data.T @ data)
    top = vecs[:, np.argsort(values)[::-1][:dims]]
    # An eigenvector's sign is arbitrary: fix it (largest entry positive) so a rebuild gives the same model.
    top *= np.sign(top[np.abs(top).argmax(axis=0), np.arange(dims)])
    return (data @ top).astype(np.float32)
