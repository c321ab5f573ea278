"""Edge-preserving smoothing reference operators: L0, WLS, RTV, RGF, WMF and WLS detail enhancement.

Every operator takes float32 RGB of shape (H, W, 3) in [0, 1] (any H, W >= 2)
and returns float32 RGB of the same shape; :func:`paramops.reference` does the
validation, conversion and final clipping. Parameters are keyword arguments
named as in the registry; constants that are not user parameters (WLS
``alpha``, RGF ``sigma_r`` and ``iterations``) are read from the registry
spec's ``extra``.

WLS and RTV share one solver: both minimise
``sum (u - f)^2 + sum_edges w_e (u_p - u_q)^2`` over the 4-connected pixel
grid, i.e. solve the screened Poisson system ``(I + L_w) u = f`` built by
:func:`five_point_matrix`, factorised once and solved for the three channels
by :func:`solve_five_point`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from paramops.operators.registry import get_operator

if TYPE_CHECKING:
    from scipy.sparse import csc_matrix

# Farbman et al.'s ``smallNum``: keeps WLS weights finite where the guide is flat.
WLS_EPS = 1e-4
# Floor under the luminance before the log that guides WLS: with the original
# code's machine epsilon, exactly-black 8-bit pixels sit 30+ log units below
# their neighbours and turn dark noise into edges.
WLS_LOG_FLOOR = 1e-4

# Xu et al. 2011 (L0Smoothing.m): beta grows by KAPPA from 2*lam up to L0_BETA_MAX.
L0_KAPPA = 2.0
L0_BETA_MAX = 1e5

# Xu et al. 2012 (tsmooth.m): floor of the windowed variation and of the
# halved Gaussian scale.
RTV_WINDOW_EPS = 1e-3
RTV_MIN_SIGMA = 0.5

# Weighted median (Zhang et al. 2014): range sigma of the exponential weights
# on the 0-255 scale of the 8-bit joint image (OpenCV's default),
# and the seed of OpenCV's k-means colour clustering of the joint image, which
# is otherwise random from call to call.
WMF_SIGMA = 25.5
WMF_SEED = 0

# WLS multi-scale detail exaggeration (Farbman et al. 2008, Fig. 1): two WLS
# decompositions of the input, fine to coarse, and the gains of the fine
# (input - fine base) and medium (fine base - coarse base) detail layers.
ENHANCE_LAMS = (0.125, 1.0)
ENHANCE_GAINS = (2.5, 1.5)


def five_point_matrix(wx: np.ndarray, wy: np.ndarray) -> csc_matrix:
    """Sparse matrix ``I + L_w`` of weighted-Laplacian smoothing on an H x W grid.

    ``L_w`` is the graph Laplacian of the 4-connected grid with edge weights
    ``wx`` and ``wy``, so ``(I + L_w) u = f`` minimises
    ``sum (u - f)^2 + sum w (u_p - u_q)^2``.

    Parameters
    ----------
    wx : ndarray, shape (H, W - 1)
        Non-negative weight between pixel (i, j) and its right neighbour (i, j + 1).
    wy : ndarray, shape (H - 1, W)
        Non-negative weight between pixel (i, j) and the pixel below, (i + 1, j).

    Returns
    -------
    scipy.sparse.csc_matrix, shape (H*W, H*W)
        Symmetric positive definite; pixels numbered row-major (C order),
        i.e. it acts on ``image.reshape(H * W, ...)``.
    """
    import scipy.sparse as sp

    wx = np.asarray(wx, dtype=np.float64)
    wy = np.asarray(wy, dtype=np.float64)
    h, w = wy.shape[0] + 1, wx.shape[1] + 1
    if wx.ndim != 2 or wy.ndim != 2 or wx.shape != (h, w - 1):
        raise ValueError(f"need wx of shape (H, W-1) and wy of shape (H-1, W), got {wx.shape} and {wy.shape}")
    # Zero weight in the last column stops the row-major numbering from
    # linking the end of one row to the start of the next.
    east = np.zeros((h, w))
    east[:, :-1] = wx
    south = np.zeros((h, w))
    south[:-1, :] = wy
    east, south = east.ravel(), south.ravel()
    diagonal = 1.0 + east + south
    diagonal[1:] += east[:-1]
    diagonal[w:] += south[:-w]
    return sp.diags(
        [diagonal, -east[:-1], -east[:-1], -south[:-w], -south[:-w]],
        [0, 1, -1, w, -w],
        shape=(h * w, h * w),
        format="csc",
    )


def solve_five_point(wx: np.ndarray, wy: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``(I + L_w) u = rhs`` channel by channel with one sparse factorisation.

    Parameters
    ----------
    wx, wy : ndarray
        Edge weights, see :func:`five_point_matrix`.
    rhs : ndarray, shape (H, W) or (H, W, C)
        Right-hand side (the image to smooth).

    Returns
    -------
    ndarray of float64, shape of ``rhs``
    """
    from scipy.sparse.linalg import splu

    matrix = five_point_matrix(wx, wy)
    # The matrix is symmetric and diagonally dominant: no pivoting is needed,
    # and a symmetric fill-reducing ordering halves the fill-in of the default.
    lu = splu(matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    flat = np.asarray(rhs, dtype=np.float64).reshape(matrix.shape[0], -1)
    return lu.solve(flat).reshape(np.shape(rhs))


def _wls_weights(rgb: np.ndarray, lam: float, alpha: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    from skimage.color import rgb2gray

    if alpha is None:
        alpha = float(get_operator("wls").extra["alpha"])

    guide = np.log(rgb2gray(rgb).astype(np.float64) + WLS_LOG_FLOOR)
    wx = lam / (np.abs(np.diff(guide, axis=1)) ** alpha + WLS_EPS)
    wy = lam / (np.abs(np.diff(guide, axis=0)) ** alpha + WLS_EPS)
    return wx, wy


def wls_matrix(rgb: np.ndarray, *, lam: float, alpha: float | None = None) -> csc_matrix:
    """The linear system matrix that :func:`wls_smooth` solves for each channel.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3)
        Float RGB in [0, 1]; its log-luminance sets the smoothness weights.
    lam : float
        Smoothing weight, see :func:`wls_smooth`.
    alpha : float, optional
        Gradient exponent; the registry's ``wls`` ``extra["alpha"]`` if omitted.

    Returns
    -------
    scipy.sparse.csc_matrix, shape (H*W, H*W)
        ``A`` with ``A @ out[..., c].ravel() == rgb[..., c].ravel()``.
    """
    return five_point_matrix(*_wls_weights(rgb, lam, alpha))


def wls_smooth(rgb: np.ndarray, *, lam: float) -> np.ndarray:
    """Weighted least squares edge-preserving smoothing (Farbman et al. 2008).

    Minimises ``sum (u - g)^2 + lam * sum a(g) |grad u|^2`` for each channel
    with affinities ``a = 1 / (|grad log Y|^alpha + 1e-4)`` from the
    log-luminance ``Y`` of the input (``alpha`` from the registry, 1.2).

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3)
        Float32 RGB in [0, 1], H, W >= 2.
    lam : float
        Smoothing weight, registry range [0.1, 10]: larger smooths more.

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
    """
    return solve_five_point(*_wls_weights(rgb, lam), rgb).astype(np.float32)


def wls_enhance(rgb: np.ndarray) -> np.ndarray:
    """Multi-scale detail exaggeration with WLS decompositions (Farbman et al. 2008, Fig. 1).

    The input ``g`` is smoothed twice with :func:`wls_smooth` (``lam`` 0.125
    and 1.0, both from ``g``) into a fine base ``b1`` and a coarse base ``b2``;
    the result is ``b2 + 1.5 (b1 - b2) + 2.5 (g - b1)``: medium details
    boosted 1.5x, fine details 2.5x, per RGB channel. Values may leave [0, 1];
    :func:`paramops.reference` clips them.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3)
        Float32 RGB in [0, 1], H, W >= 2.

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
    """
    fine_lam, coarse_lam = ENHANCE_LAMS
    fine_gain, medium_gain = ENHANCE_GAINS
    image = rgb.astype(np.float32)
    fine_base = wls_smooth(image, lam=fine_lam)
    coarse_base = wls_smooth(image, lam=coarse_lam)
    return coarse_base + medium_gain * (fine_base - coarse_base) + fine_gain * (image - fine_base)


def l0_smooth(rgb: np.ndarray, *, lam: float) -> np.ndarray:
    """L0 gradient minimisation (Xu et al. 2011), as in the authors' L0Smoothing.m.

    Half-quadratic splitting with circular forward differences, solved in the
    Fourier domain; kappa 2, beta from ``2 * lam`` up to 1e5.

    ``cv2.ximgproc.l0Smooth`` is not used: in opencv-contrib 5.0.0 it mixes
    replicate-border gradients with a circular Fourier solve, so its output
    drifts in mean and blows up at the borders (values far outside [0, 1]),
    and it overwrites float32 input in place.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3)
        Float32 RGB in [0, 1], H, W >= 2.
    lam : float
        Weight of the count of non-zero gradients, registry range
        [0.002, 0.2]: larger flattens more.

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
    """
    from scipy import fft

    h, w, _ = rgb.shape
    image = rgb.astype(np.float64)
    # |FFT|^2 of the circular forward difference along each axis.
    ky = 2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(h) / h)
    kx = 2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(w // 2 + 1) / w)
    gradient_power = (ky[:, None] + kx[None, :])[..., None]
    image_hat = fft.rfft2(image, axes=(0, 1))
    smooth = image
    beta = 2.0 * lam
    while beta < L0_BETA_MAX:
        dx = np.roll(smooth, -1, axis=1) - smooth
        dy = np.roll(smooth, -1, axis=0) - smooth
        flat = (dx**2 + dy**2).sum(axis=2) < lam / beta
        dx[flat] = 0.0
        dy[flat] = 0.0
        divergence = (np.roll(dx, 1, axis=1) - dx) + (np.roll(dy, 1, axis=0) - dy)
        numerator = image_hat + beta * fft.rfft2(divergence, axes=(0, 1))
        smooth = fft.irfft2(numerator / (1.0 + beta * gradient_power), s=(h, w), axes=(0, 1))
        beta *= L0_KAPPA
    return smooth.astype(np.float32)


def _forward_differences(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y forward differences, zero in the last column and row (tsmooth.m's padded ``diff``)."""
    dx = np.zeros_like(image)
    dx[:, :-1] = np.diff(image, axis=1)
    dy = np.zeros_like(image)
    dy[:-1, :] = np.diff(image, axis=0)
    return dx, dy


def _rtv_weights(image: np.ndarray, sigma: float, sharpness: float) -> tuple[np.ndarray, np.ndarray]:
    """Edge weights of one RTV iteration (tsmooth.m's computeTextureWeights), unscaled by lambda."""
    from scipy import ndimage

    channels = image.shape[2]
    dx, dy = _forward_differences(image)
    inverse_total = 1.0 / np.maximum(np.sqrt(dx**2 + dy**2).sum(axis=2) / channels, sharpness)
    # tsmooth.m's kernel: odd size round(5 sigma) | 1. It convolves with zero
    # padding, which invents an edge along the frame; reflect instead.
    radius = (int(np.floor(5.0 * sigma + 0.5)) | 1) // 2
    blurred = ndimage.gaussian_filter(image, sigma, axes=(0, 1), radius=radius, mode="reflect")
    window_x = np.abs(np.diff(blurred, axis=1)).sum(axis=2) / channels
    window_y = np.abs(np.diff(blurred, axis=0)).sum(axis=2) / channels
    wx = inverse_total[:, :-1] / np.maximum(window_x, RTV_WINDOW_EPS)
    wy = inverse_total[:-1, :] / np.maximum(window_y, RTV_WINDOW_EPS)
    return wx, wy


def rtv_smooth(
    rgb: np.ndarray, *, lam: float, sigma: float, sharpness: float, iterations: float
) -> np.ndarray:
    """Relative total variation texture removal (Xu et al. 2012), as in the authors' tsmooth.m.

    Each iteration recomputes the RTV weights from the current estimate at
    Gaussian scale ``sigma`` and solves the weighted least squares system with
    the input as data term (exactly, by sparse factorisation, where tsmooth.m
    may use a loose PCG); the scale is then halved, down to 0.5 px.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3)
        Float32 RGB in [0, 1], H, W >= 2.
    lam : float
        Smoothing weight, registry range [0.002, 0.05]; halved internally as
        in tsmooth.m.
    sigma : float
        Initial Gaussian scale of the windowed variation, in pixels [1, 6].
    sharpness : float
        Floor of the total variation in the weights, [0.01, 0.03]: smaller
        keeps edges crisper.
    iterations : float
        Number of outer iterations, an integer-valued float in [1, 6].

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
    """
    image = rgb.astype(np.float64)
    smooth = image
    scale = float(sigma)
    half_lam = lam / 2.0
    for _ in range(int(round(iterations))):
        wx, wy = _rtv_weights(smooth, scale, sharpness)
        smooth = solve_five_point(half_lam * wx, half_lam * wy, image)
        scale = max(scale / 2.0, RTV_MIN_SIGMA)
    return smooth.astype(np.float32)


def rgf_smooth(rgb: np.ndarray, *, sigma_s: float) -> np.ndarray:
    """Rolling guidance filter (Zhang et al. 2014) with OpenCV's joint bilateral filter.

    As in the paper, the first iteration is a Gaussian blur (a bilateral
    filter with constant guidance) that removes structures smaller than
    ``sigma_s``; each further iteration re-filters the input with
    ``cv2.ximgproc.jointBilateralFilter`` guided by the previous result.
    ``cv2.ximgproc.rollingGuidanceFilter`` is not used because it guides its
    first iteration by the input itself, which keeps small high-contrast
    texture. ``sigma_r`` (0.05) and the number of iterations (4, the Gaussian
    step included) come from the registry; OpenCV applies ``sigma_r`` to the
    L1 colour distance summed over the channels, in the data's [0, 1] units.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3)
        Float32 RGB in [0, 1], H, W >= 2.
    sigma_s : float
        Spatial sigma in pixels, registry range [1, 10]. The window is
        OpenCV's default for it, ``2 * round(1.5 * sigma_s) + 1`` pixels wide.

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
    """
    import cv2

    extra = get_operator("rgf").extra
    sigma_r = float(extra["sigma_r"])
    sigma_s = float(sigma_s)
    window = 2 * max(round(1.5 * sigma_s), 1) + 1
    image = np.ascontiguousarray(rgb, dtype=np.float32)
    guidance = cv2.GaussianBlur(image, (window, window), sigma_s)
    for _ in range(int(extra["iterations"]) - 1):
        guidance = cv2.ximgproc.jointBilateralFilter(guidance, image, window, sigma_r, sigma_s)
    return guidance


def wmf_smooth(rgb: np.ndarray, *, radius: float) -> np.ndarray:
    """Weighted median filter (Zhang et al. 2014) guided by the image itself, via OpenCV.

    ``cv2.ximgproc.weightedMedianFilter`` needs an 8-bit joint image: the
    guide is the input rounded to uint8 (``rint(255 * rgb)``), while the
    filtered source stays float32 (OpenCV quantises it adaptively to 256
    levels per channel). Weights are exponential with range sigma 25.5 on the
    0-255 scale. OpenCV clusters the colours of a 3-channel joint image by
    k-means with its global RNG, so the RNG is seeded before every call to
    make the output reproducible.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3)
        Float32 RGB in [0, 1], H, W >= 2.
    radius : float
        Window radius in pixels, an integer-valued float in [1, 10].

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
    """
    import cv2

    image = np.ascontiguousarray(rgb, dtype=np.float32)
    joint = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    cv2.setRNGSeed(WMF_SEED)
    return cv2.ximgproc.weightedMedianFilter(joint, image, int(radius), WMF_SIGMA)
