"""3D LUT values, tetrahedral application and fitting in numpy, and Adobe .cube 1.0 files.

The table is indexed ``table[r, g, b] -> (R, G, B)``; in a .cube file the red index runs fastest.
Tetrahedral interpolation is what ffmpeg's ``lut3d`` and Resolve use by default, so a LUT we
return looks the same wherever it is applied.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# One lattice step along r, g or b: the moves from a cell's low corner to its high corner.
_AXIS_STEP = np.eye(3, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class LUT3D:
    """A cubic 3D LUT: ``table`` is float32 (N, N, N, 3) indexed [r, g, b]; domain per channel."""

    table: np.ndarray
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self):
        table = np.ascontiguousarray(self.table, dtype=np.float32)
        if table.ndim != 4 or table.shape[-1] != 3 or not (table.shape[0] == table.shape[1] == table.shape[2]):
            raise ValueError(f"LUT3D table must be (N, N, N, 3), got {table.shape}")
        if table.shape[0] < 2:
            raise ValueError(f"LUT3D needs at least 2 entries per axis, got {table.shape[0]}")
        if not np.isfinite(table).all():
            raise ValueError("LUT3D table holds NaN or Inf")
        low = tuple(float(v) for v in self.domain_min)
        high = tuple(float(v) for v in self.domain_max)
        if len(low) != 3 or len(high) != 3 or not all(h > l for l, h in zip(low, high)):
            raise ValueError(f"LUT3D domain must be 3 values with max > min, got {low} .. {high}")
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "domain_min", low)
        object.__setattr__(self, "domain_max", high)

    @property
    def size(self) -> int:
        return self.table.shape[0]

    @classmethod
    def identity(cls, size: int = 33) -> "LUT3D":
        return cls(lattice(size))

    @classmethod
    def from_function(cls, function, size: int = 33) -> "LUT3D":
        """Sample ``function((..., 3) float32 RGB) -> (..., 3)`` on the lattice over [0, 1]^3."""
        return cls(np.asarray(function(lattice(size)), dtype=np.float32))

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """Tetrahedral interpolation of float RGB, shape (..., 3); returns float32 of that shape."""
        rgb = np.asarray(rgb, dtype=np.float32)
        if rgb.ndim < 1 or rgb.shape[-1] != 3:
            raise ValueError(f"LUT3D.apply expects (..., 3) RGB, got shape {rgb.shape}")
        corners, weights = tetrahedra(rgb.reshape(-1, 3), self.size, self.domain_min, self.domain_max)
        table = self.table.reshape(-1, 3)
        out = weights[:, :1] * table[corners[:, 0]]
        for k in range(1, 4):
            out += weights[:, k:k + 1] * table[corners[:, k]]
        return out.reshape(rgb.shape).astype(np.float32, copy=False)


def tetrahedra(rgb: np.ndarray, size: int, domain_min=(0.0, 0.0, 0.0), domain_max=(1.0, 1.0, 1.0)):
    """Where tetrahedral interpolation reads a size^3 lattice for (M, 3) float32 RGB:
    -> (corners (M, 4) flat indices into the [r, g, b] table, weights (M, 4) float64 summing to 1)."""
    low = np.asarray(domain_min, dtype=np.float32)
    high = np.asarray(domain_max, dtype=np.float32)
    position = np.clip((rgb - low) / (high - low), 0.0, 1.0) * np.float32(size - 1)
    base = np.minimum(position.astype(np.int64), size - 2)
    fraction = position - base
    # Walk from the cell's low corner to its high corner along the axes in order of decreasing
    # fraction; the weights are the differences of the sorted fractions.
    order = np.argsort(-fraction, axis=1, kind="stable")
    sorted_fraction = np.take_along_axis(fraction, order, axis=1)
    strides = np.array([size * size, size, 1], dtype=np.int64)
    corner = base.copy()
    corners = [corner @ strides]
    weights = [1.0 - sorted_fraction[:, 0]]
    for step in range(3):
        corner += _AXIS_STEP[order[:, step]]
        corners.append(corner @ strides)
        upper = sorted_fraction[:, step + 1] if step < 2 else 0.0
        weights.append(sorted_fraction[:, step] - upper)
    return np.stack(corners, axis=1), np.stack(weights, axis=1)


def fit_lut(inputs: np.ndarray, outputs: np.ndarray, size: int = 25, smoothness: float = 1e-3,
            samples: int = 20000, iterations: int = 100, seed: int = 0) -> LUT3D:
    """Fit a smooth LUT with ``lut.apply(inputs) ≈ outputs``; arrays (..., 3) float in [0, 1].

    Regularised least squares through the same tetrahedral interpolation ``LUT3D.apply`` uses, so
    the LUT is applied exactly as it was fitted: minimise mean((lut(x) - y)^2) + smoothness *
    (mean of squared second differences of the table along r, g and b). Where the pixels say nothing
    (colours absent from them) the table continues smoothly from where they do. The problem is
    quadratic and sparse (each pixel reads 4 entries), so conjugate gradients from the identity
    solve it in a few dozen matrix-free steps.
    """
    rng = np.random.default_rng(seed)
    source = np.asarray(inputs, np.float32).reshape(-1, 3)
    target = np.asarray(outputs, np.float64).reshape(-1, 3)
    if len(source) > samples:
        pick = rng.choice(len(source), samples, replace=False)
        source, target = source[pick], target[pick]
    corners, weights = tetrahedra(source, size)
    data_scale = 1.0 / target.size
    smooth_scale = smoothness / ((size - 2) * size * size * 3)

    def read(table):            # A v: the interpolated value at every pixel
        flat = table.reshape(-1, 3)
        return sum(weights[:, k:k + 1] * flat[corners[:, k]] for k in range(4))

    def spread(values):         # A^T r: each pixel's value back onto the entries it read
        flat = np.stack([np.bincount(corners.ravel(), (weights * values[:, None, c]).ravel(), minlength=size ** 3)
                         for c in range(3)], axis=1)
        return flat.reshape(size, size, size, 3)

    def roughness_gradient(table):   # D^T D v for second differences along each axis
        out = np.zeros_like(table)
        for axis in range(3):
            d = np.diff(table, n=2, axis=axis)
            head = [slice(None)] * 4
            for shift, factor in ((0, 1.0), (1, -2.0), (2, 1.0)):
                head[axis] = slice(shift, shift + size - 2)
                out[tuple(head)] += factor * d
        return out

    def normal_times(table):
        return data_scale * spread(read(table)) + smooth_scale * roughness_gradient(table)

    solution = lattice(size).astype(np.float64)
    residual = data_scale * spread(target) - normal_times(solution)
    direction = residual.copy()
    norm = float((residual * residual).sum())
    for _ in range(iterations):
        product = normal_times(direction)
        step = norm / float((direction * product).sum())
        solution += step * direction
        residual -= step * product
        new_norm = float((residual * residual).sum())
        if new_norm ** 0.5 < 1e-10:
            break
        direction = residual + (new_norm / norm) * direction
        norm = new_norm
    return LUT3D(np.clip(solution, 0.0, 1.0).astype(np.float32))


def lattice(size: int) -> np.ndarray:
    """The identity table: (size, size, size, 3) float32 with entry [r, g, b] = (r, g, b) / (size - 1)."""
    if size < 2:
        raise ValueError(f"a LUT needs at least 2 entries per axis, got {size}")
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)


def read_cube(path) -> LUT3D:
    """Read an Adobe .cube 1.0 3D LUT. Raises ValueError naming the file and the problem."""
    path = Path(path)
    size = None
    domain_min, domain_max = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    rows: list[list[float]] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read ({error})") from None
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        keyword = words[0].upper()
        try:
            if keyword == "TITLE":
                continue
            if keyword == "LUT_3D_SIZE":
                size = int(words[1])
            elif keyword == "LUT_1D_SIZE":
                raise ValueError("is a 1D LUT; only 3D LUTs are supported")
            elif keyword == "DOMAIN_MIN":
                domain_min = tuple(float(v) for v in words[1:4])
            elif keyword == "DOMAIN_MAX":
                domain_max = tuple(float(v) for v in words[1:4])
            elif keyword[0].isalpha():
                continue  # keywords of other dialects (e.g. LUT_3D_INPUT_RANGE) carry no data we need
            else:
                if len(words) != 3:
                    raise ValueError(f"expected 3 numbers, got {len(words)}")
                rows.append([float(v) for v in words])
        except (ValueError, IndexError) as error:
            raise ValueError(f"{path}:{number}: {error}") from None
    if size is None:
        raise ValueError(f"{path}: no LUT_3D_SIZE line")
    if len(rows) != size ** 3:
        raise ValueError(f"{path}: LUT_3D_SIZE {size} needs {size ** 3} rows, found {len(rows)}")
    # File order is b (slowest), g, r (fastest): reshape to [b, g, r] and swap to [r, g, b].
    table = np.asarray(rows, dtype=np.float32).reshape(size, size, size, 3).transpose(2, 1, 0, 3)
    try:
        return LUT3D(table, domain_min, domain_max)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def write_cube(path, lut: LUT3D) -> None:
    """Write an Adobe .cube 1.0 file with a minimal header (ffmpeg 5.1 rejects some richer ones)."""
    header = [f"LUT_3D_SIZE {lut.size}"]
    if lut.domain_min != (0.0, 0.0, 0.0) or lut.domain_max != (1.0, 1.0, 1.0):
        header.append("DOMAIN_MIN " + " ".join(f"{v:.6f}" for v in lut.domain_min))
        header.append("DOMAIN_MAX " + " ".join(f"{v:.6f}" for v in lut.domain_max))
    rows = lut.table.transpose(2, 1, 0, 3).reshape(-1, 3)
    body = "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in rows.tolist())
    Path(path).write_text("\n".join(header) + "\n" + body + "\n", encoding="ascii")
