"""Stylisation operators: shock filter and pencil drawing.

Both run on luminance and keep the chroma: in full-range YUV (BT.601),
replacing Y by Y' adds ``Y' - Y`` to each of R, G and B, which is what
:func:`replace_luminance` does.
"""

from __future__ import annotations

import functools

import numpy as np

from paramops.operators.fields import lay_tile
from paramops.operators.laplacian import luminance

# Shock filter: the time step and iteration count of the paper's training
# data (Gilboa's Osher-Rudin code: 15 steps of dt = 0.1 on the Y channel);
# the sign is taken on a Gaussian-smoothed image (Alvarez-Mazorra) so that
# noise does not flip it.
SHOCK_ITERATIONS = 15
SHOCK_DT = 0.1
SHOCK_SIGMA = 1.0

# Pencil drawing (Lu, Xu, Jia 2012), parameters of the paper's training data
# (PencilDrawing(im, 8, 1, 8, 1, 1)): line segments of 2 * 8 + 1 px in 8
# directions, drawn 1 + 2 * 1 px wide.
STROKE_HALF_LENGTH = 8
STROKE_HALF_WIDTH = 1
STROKE_DIRECTIONS = 8
# How far a pixel of stroke_sum reaches: the wide line, the thin line that
# chose its direction, the forward difference and the 3x3 median.
STROKE_RADIUS = 2 * STROKE_HALF_LENGTH + 2
# Tone model of the paper (on 0-255): bright layer (Laplacian at white,
# sigma_b = 9), mid layer (uniform on [105, 225]), dark layer (Gaussian at 90,
# sigma_d = 11), weighted 52 : 37 : 11. Each layer is a normalised density, so
# the weights are the layers' shares (a public implementation normalises the
# Gaussian by 1 / sqrt(2 pi sigma_d), weighing the dark layer 3.3 times more).
TONE_SIGMA_B = 9.0
TONE_UA, TONE_UB = 105.0, 225.0
TONE_MU_D, TONE_SIGMA_D = 90.0, 11.0
TONE_WEIGHTS = (52.0, 37.0, 11.0)
# Texture rendering: smoothness weight of beta (the paper's lambda) and the
# conjugate-gradient budget (as in the public code: tolerance 1e-6, 60 steps).
TEXTURE_LAMBDA = 0.2
TEXTURE_CG_TOL = 1e-6
TEXTURE_CG_ITERATIONS = 60
# Procedural pencil texture: a tile of hatching tiled over the image, so the
# stroke scale does not depend on the image size.
TEXTURE_SIZE = 256
TEXTURE_SEED = 2012


def replace_luminance(rgb: np.ndarray, lum: np.ndarray, new_lum: np.ndarray) -> np.ndarray:
    """Set the YUV luminance of ``rgb`` (whose luminance is ``lum``) to ``new_lum``, keeping U and V."""
    return rgb + (new_lum - lum)[..., None]


def _neumann_pad(image: np.ndarray) -> np.ndarray:
    return np.pad(image, 1, mode="edge")


def _minmod_gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Upwind |grad I| of Osher and Rudin: per axis, the smaller one-sided difference, 0 at extrema."""
    p = _neumann_pad(image)
    c = p[1:-1, 1:-1]
    squared = np.zeros_like(image)
    for back, fwd in ((c - p[1:-1, :-2], p[1:-1, 2:] - c), (c - p[:-2, 1:-1], p[2:, 1:-1] - c)):
        d = np.minimum(np.abs(back), np.abs(fwd))
        d[back * fwd < 0] = 0.0
        squared += d * d
    return np.sqrt(squared)


def _second_derivative_along_gradient(image: np.ndarray) -> np.ndarray:
    """I_nn = (Ix^2 Ixx + 2 Ix Iy Ixy + Iy^2 Iyy) / |grad I|^2, with central differences."""
    p = _neumann_pad(image)
    c = p[1:-1, 1:-1]
    ix = (p[1:-1, 2:] - p[1:-1, :-2]) / 2
    iy = (p[2:, 1:-1] - p[:-2, 1:-1]) / 2
    ixx = p[1:-1, 2:] + p[1:-1, :-2] - 2 * c
    iyy = p[2:, 1:-1] + p[:-2, 1:-1] - 2 * c
    ixy = (p[2:, 2:] - p[2:, :-2] - p[:-2, 2:] + p[:-2, :-2]) / 4
    return (ix * ix * ixx + 2 * ix * iy * ixy + iy * iy * iyy) / (ix * ix + iy * iy + np.float32(1e-8))


def shock_filter(rgb: np.ndarray) -> np.ndarray:
    """Shock filter (Osher and Rudin 1990): turns blurred edges into steps.

    Iterates ``I <- I - dt * sign(I_nn(G_sigma * I)) * |grad I|`` on the
    luminance, 15 times with ``dt = 0.1`` (the paper's training setting):
    ``I_nn`` is the second derivative along the gradient of the image smoothed
    by a Gaussian of ``sigma = 1`` px (Alvarez and Mazorra's regularisation)
    and ``|grad I|`` the upwind (minmod) gradient magnitude, so pixels on
    either side of an inflection move toward the nearer plateau. Chroma is
    kept (YUV).

    Parameters
    ----------
    rgb : ndarray of float32, shape (H, W, 3)
        Values in [0, 1]; H, W >= 2.

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
    """
    import cv2

    lum = luminance(rgb)
    out = lum.copy()
    dt = np.float32(SHOCK_DT)
    for _ in range(SHOCK_ITERATIONS):
        smooth = cv2.GaussianBlur(out, (0, 0), SHOCK_SIGMA, borderType=cv2.BORDER_REPLICATE)
        out = out - dt * np.sign(_second_derivative_along_gradient(smooth)) * _minmod_gradient_magnitude(out)
    return replace_luminance(rgb, lum, out)


def line_kernel(angle: float, *, half_length: int, half_width: int) -> np.ndarray:
    """A (2 * half_length + 1)-square kernel holding an anti-aliased line through its centre.

    The line is ``2 * half_width + 1`` px wide and makes ``angle`` radians with
    the x axis (counter-clockwise, y pointing up).
    """
    coords = np.arange(-half_length, half_length + 1, dtype=np.float32)
    x, y = np.meshgrid(coords, -coords)
    along = x * np.cos(angle) + y * np.sin(angle)
    across = -x * np.sin(angle) + y * np.cos(angle)
    inside = np.clip(half_width + 1.0 - np.abs(across), 0.0, 1.0)
    inside *= np.clip(half_length + 1.0 - np.abs(along), 0.0, 1.0)
    return inside.astype(np.float32)


def stroke_sum(gray: np.ndarray) -> np.ndarray:
    """Lu et al.'s strokes before normalisation: float32, (H, W), 0 or more (to float rounding).

    Gradient magnitudes of the 3x3-median-filtered image are given to the line
    direction (of 8) with the strongest response to the line-kernel
    convolution, then each direction's share is drawn with a wider line of
    that direction, and the directions are summed.
    """
    import cv2

    gray = cv2.medianBlur(np.ascontiguousarray(gray, dtype=np.float32), 3)
    padded = np.pad(gray, ((0, 1), (0, 1)), mode="edge")
    edges = np.hypot(np.diff(padded, axis=1)[:-1], np.diff(padded, axis=0)[:, :-1]).astype(np.float32)
    angles = [np.pi * n / STROKE_DIRECTIONS for n in range(STROKE_DIRECTIONS)]
    thin = [line_kernel(a, half_length=STROKE_HALF_LENGTH, half_width=0) for a in angles]
    wide = [line_kernel(a, half_length=STROKE_HALF_LENGTH, half_width=STROKE_HALF_WIDTH) for a in angles]
    responses = np.stack([cv2.filter2D(edges, -1, k, borderType=cv2.BORDER_REFLECT) for k in thin])
    best = np.argmax(responses, axis=0)
    strokes = np.zeros_like(edges)
    for n, kernel in enumerate(wide):
        share = np.where(best == n, edges, np.float32(0.0))
        strokes += cv2.filter2D(share, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return strokes


def stroke_map(gray: np.ndarray) -> np.ndarray:
    """Lu et al.'s stroke layer S in [0, 1] (1 = paper, 0 = darkest stroke): :func:`stroke_sum`
    normalised to [0, 1] by its range over the whole image, inverted."""
    strokes = stroke_sum(gray)
    lo, hi = float(strokes.min()), float(strokes.max())
    if hi - lo <= 1e-12:
        return np.ones_like(strokes)
    return 1.0 - (strokes - lo) / np.float32(hi - lo)


def luminance_strokes(rgb: np.ndarray) -> np.ndarray:
    """:func:`stroke_sum` of an RGB image's luminance, whose range :func:`pencil_drawing` divides its
    strokes by: a number of the whole image that no crop of it can tell (image field ``"pencil_strokes"``,
    :mod:`paramops.operators.fields`).

    Parameters
    ----------
    rgb : ndarray of float32, shape (H, W, 3)
        Values in [0, 1]; H, W >= 2.

    Returns
    -------
    ndarray of float32, shape (H, W)
        0 or more. A pixel's value depends only on the pixels within
        ``STROKE_RADIUS`` of it (and where the image ends). Both hold to float
        rounding.
    """
    return stroke_sum(luminance(rgb))


def tone_histogram() -> np.ndarray:
    """Lu et al.'s target tone distribution over the 256 gray levels (sums to 1)."""
    v = np.arange(256, dtype=np.float64)
    bright = np.exp(-(255.0 - v) / TONE_SIGMA_B) / TONE_SIGMA_B
    mid = ((v >= TONE_UA) & (v <= TONE_UB)) / (TONE_UB - TONE_UA)
    dark = np.exp(-((v - TONE_MU_D) ** 2) / (2 * TONE_SIGMA_D**2)) / (np.sqrt(2 * np.pi) * TONE_SIGMA_D)
    w1, w2, w3 = TONE_WEIGHTS
    hist = w1 * bright + w2 * mid + w3 * dark
    return hist / hist.sum()


def tone_map(gray: np.ndarray) -> np.ndarray:
    """Match the histogram of ``gray`` (in [0, 1]) to :func:`tone_histogram`: Lu et al.'s tone layer J."""
    levels = np.clip(np.rint(gray * 255.0), 0, 255).astype(np.intp)
    counts = np.bincount(levels.ravel(), minlength=256)
    # Mid-bin cumulative frequencies, so a flat image maps to the target's median.
    source_cdf = (np.cumsum(counts) - counts / 2) / levels.size
    target_cdf = np.cumsum(tone_histogram())
    mapping = np.interp(source_cdf, target_cdf, np.arange(256.0)) / 255.0
    return mapping.astype(np.float32)[levels]


@functools.lru_cache(maxsize=1)
def pencil_texture() -> np.ndarray:
    """A tileable procedural pencil-hatching texture, float32 in (0, 1), fixed seed.

    White noise smeared along a diagonal 41 px line (circular
    convolution, so the tile wraps seamlessly) gives parallel graphite
    streaks; values are mapped to mean 0.7 and standard deviation 0.12, a
    light pencil tone.
    """
    rng = np.random.default_rng(TEXTURE_SEED)
    noise = rng.random((TEXTURE_SIZE, TEXTURE_SIZE))
    kernel = np.zeros((TEXTURE_SIZE, TEXTURE_SIZE))
    streak = line_kernel(np.pi / 4 + 0.15, half_length=20, half_width=0)
    r = streak.shape[0] // 2
    kernel[:streak.shape[0], :streak.shape[1]] = streak
    kernel = np.roll(kernel, (-r, -r), axis=(0, 1))
    streaks = np.real(np.fft.ifft2(np.fft.fft2(noise) * np.fft.fft2(kernel)))
    streaks = (streaks - streaks.mean()) / streaks.std()
    texture = np.clip(0.7 - 0.12 * streaks, 0.05, 0.98).astype(np.float32)
    texture.setflags(write=False)  # cached and shared
    return texture


def _graph_laplacian(x: np.ndarray) -> np.ndarray:
    """D_x^T D_x x + D_y^T D_y x for forward differences with Neumann boundaries."""
    out = np.zeros_like(x)
    for axis in (0, 1):
        d = np.diff(x, axis=axis)
        lead = [slice(None)] * 2
        trail = [slice(None)] * 2
        lead[axis], trail[axis] = slice(None, -1), slice(1, None)
        out[tuple(lead)] -= d
        out[tuple(trail)] += d
    return out


def texture_exponent(log_texture: np.ndarray, log_tone: np.ndarray) -> np.ndarray:
    """Solve Lu et al.'s ``min |beta ln H - ln J|^2 + lambda |grad beta|^2`` for beta.

    The normal equations ``(diag(ln H^2) + lambda L) beta = ln H ln J`` (L the
    4-neighbour graph Laplacian) are solved by Jacobi-preconditioned conjugate
    gradients from beta = 0, at most 60 steps or a relative residual of 1e-6.
    """
    lam = np.float32(TEXTURE_LAMBDA)
    h2 = log_texture * log_texture
    degree = np.full_like(h2, 4.0)
    degree[[0, -1], :] -= 1
    degree[:, [0, -1]] -= 1
    inv_diag = 1.0 / (h2 + lam * degree)

    def apply(x: np.ndarray) -> np.ndarray:
        return h2 * x + lam * _graph_laplacian(x)

    b = log_texture * log_tone
    beta = np.zeros_like(b)
    residual = b.copy()
    z = inv_diag * residual
    direction = z.copy()
    rz = _dot(residual, z)
    stop = TEXTURE_CG_TOL**2 * _dot(b, b)
    for _ in range(TEXTURE_CG_ITERATIONS):
        if _dot(residual, residual) <= stop:
            break
        a_dir = apply(direction)
        step = np.float32(rz / _dot(direction, a_dir))
        beta += step * direction
        residual -= step * a_dir
        z = inv_diag * residual
        rz_next = _dot(residual, z)
        direction = z + np.float32(rz_next / rz) * direction
        rz = rz_next
    return beta


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # numpy's own float64 sum, not BLAS: the same bits whatever the thread count.
    return float(np.sum(a * b, dtype=np.float64))


def pencil_drawing(rgb: np.ndarray, *, texture_origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Colour pencil drawing (Lu, Xu and Jia 2012, "Combining sketch and tone").

    On the luminance Y: the stroke layer S (:func:`stroke_map`, line segments
    of 17 px in 8 directions), the tone layer J (:func:`tone_map`, histogram
    matched to the paper's three-part pencil tone model) and the texture layer
    ``T = H^beta`` that renders J with the procedural pencil texture H
    (:func:`pencil_texture`, tiled) by solving for a smooth exponent beta
    (:func:`texture_exponent`). Y becomes ``S * T`` and U, V are kept.

    Parameters
    ----------
    rgb : ndarray of float32, shape (H, W, 3)
        Values in [0, 1]; H, W >= 2.
    texture_origin : (int, int), optional
        The (row, column) of the texture tile that lies at the image's
        top-left pixel, in px; any integers (taken modulo the 256 px tile).
        The registry's operator lays the tile from the corner, (0, 0); its
        field (:mod:`paramops.operators.fields`, ``"pencil_paper"``) is this
        tile.

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
    """
    lum, strokes, texture = pencil_layers(rgb, texture_origin=texture_origin)
    return replace_luminance(rgb, lum, strokes * texture)


def pencil_layers(
    rgb: np.ndarray, *, texture_origin: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The luminance Y, the stroke layer S and the texture layer T of :func:`pencil_drawing`, each
    float32 (H, W); the drawing's luminance is ``S * T``. Parameters as :func:`pencil_drawing`'s."""
    lum = luminance(rgb)
    texture = lay_tile(pencil_texture(), lum.shape, texture_origin)
    tone = np.clip(tone_map(lum), 1.0 / 255.0, 1.0)
    log_texture = np.log(texture)
    beta = texture_exponent(log_texture, np.log(tone))
    return lum, stroke_map(lum), np.exp(beta * log_texture)
