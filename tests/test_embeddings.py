"""gptcore.embeddings: PCA, cosine similarity matrices and nearest vocabulary tokens."""

import time

import numpy as np
import pytest
import torch

import gptcore.embeddings as embeddings
from gptcore import PRESETS, build_model
from gptcore.embeddings import cosine_similarity_matrix, nearest_tokens, normalized_token_embeddings, pca_2d


def distances(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)


def test_pca_recovers_a_plane_hidden_in_many_dimensions():
    rng = np.random.default_rng(0)
    flat = rng.normal(size=(40, 2)) * [3.0, 1.0]  # a 2-D cloud, wider along its first axis
    basis, _ = np.linalg.qr(rng.normal(size=(50, 2)))  # two orthonormal directions in 50-D
    vectors = flat @ basis.T + 7.0  # shifted: PCA must centre the data itself
    coords, ratio = pca_2d(vectors)
    assert coords.shape == (40, 2) and ratio.shape == (2,)
    # Up to rotation and reflection the picture is the original plane: every distance is kept.
    np.testing.assert_allclose(distances(coords), distances(flat), atol=1e-9)
    assert ratio.sum() == pytest.approx(1.0)
    assert ratio[0] > ratio[1] > 0.05


def test_pca_finds_the_axis_of_largest_variance_first():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = rng.normal(size=200)
    vectors = np.stack([0.1 * y, 5.0 * x, np.zeros(200)], axis=1)  # most variance along dimension 1
    coords, ratio = pca_2d(vectors)
    assert abs(np.corrcoef(coords[:, 0], x)[0, 1]) > 0.999
    assert abs(np.corrcoef(coords[:, 1], y)[0, 1]) > 0.999
    total = vectors.var(axis=0).sum()
    assert ratio[0] == pytest.approx(vectors[:, 1].var() / total)


def test_explained_variance_is_a_share_of_the_total():
    coords, ratio = pca_2d(np.random.default_rng(2).normal(size=(30, 100)))
    assert np.all(ratio >= 0) and ratio[0] >= ratio[1]
    assert ratio.sum() <= 1.0
    assert ratio.sum() < 0.5  # 30 random points in 100-D: two directions cannot hold most of it
    assert coords[:, 0].var() >= coords[:, 1].var()


def test_pca_with_one_or_two_points_or_identical_vectors():
    coords, ratio = pca_2d(np.ones((1, 8)))
    assert coords.shape == (1, 2) and not coords.any() and not ratio.any()

    a, b = np.zeros(8), np.arange(8.0)
    coords, ratio = pca_2d(np.stack([a, b]))
    assert ratio.tolist() == pytest.approx([1.0, 0.0])
    assert not coords[:, 1].any()  # only one direction of variation exists
    assert abs(coords[0, 0] - coords[1, 0]) == pytest.approx(np.linalg.norm(b - a))

    coords, ratio = pca_2d(np.full((5, 3), 2.5))
    assert not coords.any() and not ratio.any()
    assert np.isfinite(coords).all()


def test_pca_picture_does_not_flip_with_row_order():
    vectors = np.random.default_rng(3).normal(size=(12, 6))
    order = np.random.default_rng(4).permutation(12)
    coords, _ = pca_2d(vectors)
    shuffled, _ = pca_2d(vectors[order])
    np.testing.assert_allclose(shuffled, coords[order], atol=1e-9)


def test_pca_accepts_tensors_and_rejects_a_single_vector():
    coords, _ = pca_2d(torch.randn(5, 4, requires_grad=True))
    assert coords.shape == (5, 2)
    with pytest.raises(ValueError, match="2-D array"):
        pca_2d(np.arange(4.0))


def test_cosine_matrix_is_symmetric_with_ones_on_the_diagonal():
    vectors = np.random.default_rng(5).normal(size=(9, 16)).astype(np.float32)
    sims = cosine_similarity_matrix(vectors)
    assert sims.shape == (9, 9)
    np.testing.assert_array_equal(sims, sims.T)
    np.testing.assert_allclose(np.diag(sims), 1.0)
    assert sims.min() >= -1.0 and sims.max() <= 1.0
    expected = torch.nn.functional.cosine_similarity(
        torch.tensor(vectors[2], dtype=torch.float64), torch.tensor(vectors[7], dtype=torch.float64), dim=0
    )
    assert sims[2, 7] == pytest.approx(float(expected))


def test_cosine_ignores_length_and_sees_opposites():
    v = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [-1.0, -2.0, -3.0], [3.0, 0.0, -1.0]])
    sims = cosine_similarity_matrix(v)
    assert sims[0, 1] == pytest.approx(1.0)
    assert sims[0, 2] == pytest.approx(-1.0)
    assert sims[0, 3] == pytest.approx(0.0)


def test_cosine_of_a_zero_vector_is_zero_not_nan():
    sims = cosine_similarity_matrix(np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert np.isfinite(sims).all()
    assert sims.tolist() == [[0.0, 0.0], [0.0, 1.0]]


@pytest.fixture
def twin_model():
    """A tiny model in which token 1000's embedding is token 42's, scaled (cosine exactly 1)."""
    model = build_model(PRESETS["tiny"], seed=11)
    with torch.no_grad():
        model.tok_emb.weight[1000] = 3.0 * model.tok_emb.weight[42]
    return model


def test_a_token_whose_embedding_is_a_copy_is_found_first(twin_model):
    ids, sims = nearest_tokens(twin_model, [42, 1000], k=5)
    assert ids.shape == sims.shape == (2, 5)
    assert ids[0, 0] == 1000 and ids[1, 0] == 42
    assert sims[:, 0] == pytest.approx([1.0, 1.0], abs=1e-5)


def test_nearest_tokens_match_a_brute_force_search_and_leave_the_token_out(tiny_model):
    query = [6109, 3626, 6100, 345, 50256, 0]
    ids, sims = nearest_tokens(tiny_model, query, k=4)
    weight = tiny_model.tok_emb.weight.detach().double().numpy()
    unit = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    for row, token in enumerate(query):
        scores = unit @ unit[token]
        scores[token] = -np.inf
        best = np.argsort(-scores)[:4]
        assert ids[row].tolist() == best.tolist()
        np.testing.assert_allclose(sims[row], scores[best], atol=1e-5)
        assert token not in ids[row]
        assert np.all(np.diff(sims[row]) <= 0)  # best first


def test_nearest_tokens_same_in_chunks_and_with_a_kept_normalised_matrix(tiny_model, monkeypatch):
    query = list(range(0, 50000, 997))
    whole = nearest_tokens(tiny_model, query, k=3)
    monkeypatch.setattr(embeddings, "_CHUNK_ROWS", 7)
    chunked = nearest_tokens(tiny_model, query, k=3, normalized=normalized_token_embeddings(tiny_model))
    np.testing.assert_array_equal(chunked[0], whole[0])
    np.testing.assert_allclose(chunked[1], whole[1], atol=1e-6)  # matrix products round differently by size


def test_nearest_tokens_leave_the_model_alone(tiny_model):
    before = tiny_model.tok_emb.weight.detach().clone()
    unit = normalized_token_embeddings(tiny_model)
    nearest_tokens(tiny_model, [1, 2, 3], normalized=unit)
    assert torch.equal(tiny_model.tok_emb.weight, before)
    assert tiny_model.tok_emb.weight.grad is None
    assert not unit.requires_grad
    assert torch.allclose(unit.norm(dim=1), torch.ones(unit.shape[0]))


def test_nearest_tokens_name_what_is_wrong(tiny_model):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        nearest_tokens(tiny_model, [50257])
    with pytest.raises(ValueError, match="k must be"):
        nearest_tokens(tiny_model, [1], k=0)
    with pytest.raises(ValueError, match="normalized_token_embeddings"):
        nearest_tokens(tiny_model, [1], normalized=torch.zeros(3, 3))
    ids, sims = nearest_tokens(tiny_model, [])
    assert ids.shape == sims.shape == (0, 5)


def test_nearest_tokens_are_quick_for_the_124m_model(book_model):
    unit = normalized_token_embeddings(book_model)
    query = [6109, 3626, 6100, 345, 3371, 262, 1657, 286]
    nearest_tokens(book_model, query, normalized=unit)  # warm-up
    start = time.perf_counter()
    ids, _ = nearest_tokens(book_model, query, normalized=unit)
    elapsed = time.perf_counter() - start
    assert ids.shape == (8, 5)
    assert elapsed < 1.0, f"{elapsed:.3f} s for 8 tokens against 50,257 (a few tens of ms expected)"
