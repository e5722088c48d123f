"""Subspaces: what a linear autoencoder should learn, and how far from it a W is.

Subspaces of R^n are given as the row space of a matrix (m, n), the layout of the tied
autoencoder's W. Everything is computed in float64 whatever the input dtype.
"""

import numpy as np

from nnctl.errors import ModelError


def pca_subspace(X, m, center=False):
    """The top-m principal directions of the data, as orthonormal rows (m, n) float64.

    Inputs: X (N, d_1..d_k), flattened to (N, n); 0 < m <= n.
    - center=False (the default): eigenvectors of the uncentred second-moment matrix X^T X / N.
      This is what the homework's tied autoencoder, which has no bias, converges to: its loss
      is 1/2 tr((I - P) X^T X / N) for the projection P = W^T W when W W^T = I. On data whose
      mean was subtracted (preprocess subtract_mean) it is the same as center=True.
    - center=True: eigenvectors of the covariance (X - mean)^T (X - mean) / N, classical PCA;
      the subspace the decoder rows W2 of a linear model with biases (Autoencoder(tied=False))
      converge to.
    Rows are in order of decreasing variance, each with an arbitrary sign. When the m-th and
    (m+1)-th eigenvalues are equal the subspace is not unique and one of them is returned.
    """
    X = np.asarray(X, dtype=np.float64)
    X = X.reshape(X.shape[0], -1)
    n = X.shape[1]
    if not 0 < m <= n:
        raise ModelError(f"pca_subspace needs 0 < m <= n = {n}, got m={m}")
    if center:
        X = X - X.mean(axis=0)
    # eigh of the n x n matrix costs O(N n^2 + n^3), less than an SVD of X when N >> n.
    _, vectors = np.linalg.eigh(X.T @ X / X.shape[0])  # eigenvalues ascending
    return np.ascontiguousarray(vectors[:, ::-1][:, :m].T)


def _orthonormal_basis(A, name):
    """Orthonormal columns (n, m) spanning the row space of A (m, n); A must have full row rank."""
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] == 0 or A.shape[0] > A.shape[1]:
        raise ModelError(f"{name} must be a matrix (m, n) with 0 < m <= n, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ModelError(f"{name} holds NaN or infinite values (did training diverge?)")
    Q, R = np.linalg.qr(A.T)
    diag = np.abs(np.diag(R))
    if diag.min() <= 1e-10 * max(diag.max(), np.finfo(np.float64).tiny):
        raise ModelError(
            f"the rows of {name} are linearly dependent: they span no {A.shape[0]}-d space"
        )
    return Q


def principal_angles(A, B):
    """Principal angles, in degrees and ascending, between the row spaces of A (m, n), B (m', n).

    Returns min(m, m') angles in [0, 90]: 0 for a shared direction, 90 for orthogonal ones;
    the largest says how far apart the spaces are (0 for identical ones).
    Björck & Golub (1973): with orthonormal bases Qa, Qb (from QR), the cosines are the
    singular values of Qa^T Qb. Small angles are taken from their sines instead (singular
    values of Qb - Qa Qa^T Qb), since arccos cannot resolve angles below about 1e-6 degrees
    (as scipy.linalg.subspace_angles does).
    """
    Qa, Qb = _orthonormal_basis(A, "A"), _orthonormal_basis(B, "B")
    if Qa.shape[1] < Qb.shape[1]:
        Qa, Qb = Qb, Qa  # the angles are symmetric; the sines below need Qb the smaller
    overlap = Qa.T @ Qb
    cosines = np.linalg.svd(overlap, compute_uv=False)  # descending: smallest angle first
    sines = np.linalg.svd(Qb - Qa @ overlap, compute_uv=False)[::-1]  # ascending, paired
    angles = np.where(
        cosines**2 >= 0.5,
        np.arcsin(np.clip(sines, 0.0, 1.0)),
        np.arccos(np.clip(cosines, 0.0, 1.0)),
    )
    return np.sort(np.degrees(angles))


def orthonormality_error(W):
    """||W W^T - I||_F for W (m, n): 0 exactly when the m rows are orthonormal."""
    W = np.asarray(W, dtype=np.float64)
    return float(np.linalg.norm(W @ W.T - np.eye(W.shape[0])))
