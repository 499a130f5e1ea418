"""Looking at embedding vectors: a 2-D PCA, cosine similarities, and nearest vocabulary tokens.

Everything returns NumPy arrays, computed without autograd:

    coords, ratio = pca_2d(trace.tok_emb)                 # (n, 2), (2,)
    sims = cosine_similarity_matrix(trace.pos_emb)         # (n, n), diagonal 1
    ids, sims = nearest_tokens(model, [6109, 3626], k=5)   # (2, 5) ids and their cosine similarity

`nearest_tokens` compares against the whole token embedding matrix (50,257 rows for GPT-2).
Normalising that matrix is most of the work for a short prompt, so a caller that asks many times
can normalise once with `normalized_token_embeddings(model)` and pass the result in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .model import GPTModel

__all__ = ["cosine_similarity_matrix", "nearest_tokens", "normalized_token_embeddings", "pca_2d"]

# Rows of the (prompt tokens x vocabulary) similarity matrix computed at once: 256 x 50,257
# float32 is 51 MB, so a 1,024-token prompt never needs the whole 200 MB matrix in memory.
_CHUNK_ROWS = 256


def _as_matrix(vectors: np.ndarray | torch.Tensor | Sequence[Sequence[float]], what: str) -> np.ndarray:
    if isinstance(vectors, torch.Tensor):
        vectors = vectors.detach().cpu().numpy()
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"{what} expects a 2-D array (one vector per row), got shape {matrix.shape}")
    return matrix


def pca_2d(vectors: np.ndarray | torch.Tensor | Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Project vectors (n, d) onto their two main directions of variation.

    Returns ``coords`` (n, 2) and ``explained_variance_ratio`` (2,): the share of the total
    variance along each of the two directions (they sum to at most 1). Computed with an SVD of the
    centred data. Where there is less variation than two directions can hold (n = 1, n = 2, or
    identical vectors) the missing coordinates and ratios are 0. Each direction's sign is fixed so
    that its largest loading is positive, so the picture does not flip between runs.
    """
    matrix = _as_matrix(vectors, "pca_2d")
    n, d = matrix.shape
    coords = np.zeros((n, 2))
    ratio = np.zeros(2)
    if n < 2 or d == 0:
        return coords, ratio
    centred = matrix - matrix.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)  # u (n, r), s (r,), vt (r, d)
    total = float(np.sum(s**2))
    if total <= 0.0:  # all vectors identical: no direction to show
        return coords, ratio
    # Directions whose variance is rounding noise (n = 2 has only one real one) count as absent.
    keep = min(2, int(np.sum(s**2 > total * 1e-12)))
    for i in range(keep):
        sign = 1.0 if vt[i, np.argmax(np.abs(vt[i]))] >= 0 else -1.0
        coords[:, i] = sign * u[:, i] * s[i]
        ratio[i] = s[i] ** 2 / total
    return coords, ratio


def cosine_similarity_matrix(vectors: np.ndarray | torch.Tensor | Sequence[Sequence[float]]) -> np.ndarray:
    """(n, n) cosine similarity between every pair of rows; symmetric, 1 on the diagonal.

    A zero vector has no direction: its row and column are 0 (its diagonal entry too).
    """
    matrix = _as_matrix(vectors, "cosine_similarity_matrix")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    sims = unit @ unit.T
    sims = (sims + sims.T) / 2  # exactly symmetric, whatever order the matrix product summed in
    np.fill_diagonal(sims, (norms[:, 0] > 0).astype(np.float64))
    return np.clip(sims, -1.0, 1.0)


def normalized_token_embeddings(model: GPTModel) -> torch.Tensor:
    """The token embedding matrix (vocab, emb_dim) with every row scaled to length 1 (a copy)."""
    with torch.no_grad():
        weight = model.tok_emb.weight.detach()
        return weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)


def nearest_tokens(
    model: GPTModel,
    token_ids: Sequence[int] | np.ndarray | torch.Tensor,
    k: int = 5,
    normalized: torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k vocabulary tokens whose embeddings point most nearly the same way as each token's.

    Compares each token's row of ``model.tok_emb.weight`` with every row by cosine similarity and
    leaves the token itself out. Returns ``(neighbour_ids, similarities)``, both (n, k), best
    first. ``normalized`` is ``normalized_token_embeddings(model)``, if the caller kept it.
    """
    ids = torch.as_tensor(np.asarray(token_ids, dtype=np.int64)).reshape(-1)
    vocab_size = model.tok_emb.weight.shape[0]
    if not 1 <= k < vocab_size:
        raise ValueError(f"k must be between 1 and {vocab_size - 1} (the vocabulary less the token), got {k}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
        raise ValueError(f"token id {bad} is outside the vocabulary [0, {vocab_size})")
    if normalized is None:
        normalized = normalized_token_embeddings(model)
    elif tuple(normalized.shape) != tuple(model.tok_emb.weight.shape):
        raise ValueError(
            f"normalized has shape {tuple(normalized.shape)} but this model's tok_emb.weight is "
            f"{tuple(model.tok_emb.weight.shape)}; pass normalized_token_embeddings(model)"
        )
    neighbour_ids = np.zeros((len(ids), k), dtype=np.int64)
    similarities = np.zeros((len(ids), k), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(ids), _CHUNK_ROWS):
            chunk = ids[start : start + _CHUNK_ROWS].to(normalized.device)
            sims = normalized[chunk] @ normalized.T  # (chunk, vocab) cosine similarities
            sims[torch.arange(len(chunk), device=normalized.device), chunk] = -torch.inf  # not its own neighbour
            top = torch.topk(sims, k, dim=1)  # sorted, best first
            neighbour_ids[start : start + len(chunk)] = top.indices.cpu().numpy()
            similarities[start : start + len(chunk)] = top.values.cpu().numpy()
    return neighbour_ids, similarities


def position_vectors(model: GPTModel, n: int) -> np.ndarray:
    """(n, d) the first n positions' learned position embeddings, as a NumPy copy."""
    with torch.no_grad():
        return model.pos_emb.weight[:n].detach().numpy().copy()


def token_vectors(model: GPTModel, token_ids: Sequence[int]) -> np.ndarray:
    """(n, d) the token embeddings of ``token_ids``, as a NumPy copy."""
    with torch.no_grad():
        return model.tok_emb.weight[list(token_ids)].detach().cpu().numpy()
