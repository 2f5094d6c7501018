"""Photo datasets split by photo, and synthetic clips made from one photo.

Splits are by photo, never by crop (paper §4.3: 2/3 train, 1/6 test, 1/6 validation): photos are
ordered by a hash of their file name and cut into the three shares, so the split is deterministic,
does not depend on the order the file system lists them in, and crops of one photo never cross it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from colorgrade.models.detunes import MixtureSampler

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def list_photos(folders) -> list[Path]:
    """Every image file directly inside the given folders, sorted by name."""
    photos = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"photo folder not found: {folder}")
        photos += [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    if not photos:
        raise FileNotFoundError(f"no photos ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, folders))}")
    return sorted(photos, key=lambda p: p.name)


def split_photos(photos: list[Path]) -> dict[str, list[Path]]:
    """{"train": 2/3, "test": 1/6, "validation": 1/6} of the photos, deterministic by file name."""
    ranked = sorted(photos, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())
    n = len(ranked)
    n_test = max(1, round(n / 6)) if n >= 3 else 0
    n_validation = n_test
    n_train = n - n_test - n_validation
    return {"train": sorted(ranked[:n_train], key=lambda p: p.name),
            "test": sorted(ranked[n_train:n_train + n_test], key=lambda p: p.name),
            "validation": sorted(ranked[n_train + n_test:], key=lambda p: p.name)}


def load_photo(path, max_side: int | None = None) -> np.ndarray:
    """An image file -> float32 (H, W, 3) sRGB in [0, 1], optionally downscaled to ``max_side``."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        if max_side and max(image.size) > max_side:
            scale = max_side / max(image.size)
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.Resampling.LANCZOS)
        return np.asarray(image, dtype=np.float32) / 255.0


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) numpy -> (1, 3, H, W) tensor."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0)


def to_numpy(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) tensor -> (B, H, W, 3) float32 numpy."""
    return images.detach().permute(0, 2, 3, 1).contiguous().cpu().numpy().astype(np.float32, copy=False)


class PhotoSet:
    """One split of photos held in memory, each squashed to one working size, for batched random crops.

    Squashing to a common size (as the paper squashed to 224x224) lets one ``grid_sample`` call cut
    a whole batch of crops, on the CPU or the GPU alike.
    """

    def __init__(self, paths: list[Path], size: tuple[int, int] = (320, 320), device=None):
        if not paths:
            raise ValueError("PhotoSet needs at least one photo")
        self.paths = list(paths)
        images = [to_tensor(load_photo(p, max_side=2 * max(size))) for p in self.paths]
        self.images = torch.cat([F.interpolate(i, size=size, mode="bilinear", align_corners=False,
                                               antialias=True).clamp(0, 1) for i in images]).to(device)

    def __len__(self):
        return len(self.images)

    def random_crops(self, batch: int, size: tuple[int, int], generator: torch.Generator,
                     composite_share: float = 0.0) -> torch.Tensor:
        """(B, 3, h, w) crops of random photos, each 50-100 % of the photo's side, randomly mirrored.

        ``composite_share`` of them get a rectangle (20-60 % of each side) cut from another random
        crop pasted in: two well-graded pictures side by side are still a well-graded picture, so
        this makes new "clean" scenes from a few dozen photos, and a network can no longer
        recognise the photo and recall its colours instead of judging them.
        """
        crops = self._crops(batch, size, generator)
        if composite_share <= 0:
            return crops
        rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
        donors = self._crops(batch, size, generator)
        height, width = size
        y, x = torch.arange(height)[:, None], torch.arange(width)[None, :]
        sides = (0.2 + 0.4 * rand(batch, 2)) * torch.tensor([height, width])
        corners = rand(batch, 2) * (torch.tensor([height, width]) - sides)
        inside = ((y >= corners[:, 0, None, None]) & (y < (corners[:, 0] + sides[:, 0])[:, None, None])
                  & (x >= corners[:, 1, None, None]) & (x < (corners[:, 1] + sides[:, 1])[:, None, None]))
        inside &= (rand(batch) < composite_share)[:, None, None]
        return torch.where(inside[:, None].to(crops.device), donors, crops)

    def _crops(self, batch: int, size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
        rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
        which = torch.randint(len(self.images), (batch,), generator=generator)
        scale = 0.5 + 0.5 * rand(batch)
        mirror = torch.where(rand(batch) < 0.5, -1.0, 1.0)
        theta = torch.zeros(batch, 2, 3)
        theta[:, 0, 0], theta[:, 1, 1] = scale * mirror, scale
        theta[:, :, 2] = (rand(batch, 2) * 2 - 1) * (1 - scale)[:, None]
        theta = theta.to(self.images.device)
        grid = F.affine_grid(theta, (batch, 3, *size), align_corners=False)
        return F.grid_sample(self.images[which.to(self.images.device)], grid, mode="bilinear",
                             align_corners=False)


@dataclass
class SyntheticClip:
    """A clip made from one photo: what the camera gave, what the grader wants, and why they differ."""

    inputs: np.ndarray      # (F, H, W, 3) float32, detuned frames with sensor noise
    targets: np.ndarray     # (F, H, W, 3) float32, the same frames with the detune undone (noise kept)
    magnitudes: np.ndarray  # (F, E) per-frame error magnitudes, columns as MixtureSampler.names
    order: list[int]        # order the errors were applied in


def synthesise_clip(photo: np.ndarray, frames: int, size: tuple[int, int], generator: torch.Generator,
                    min_errors: int = 1, max_errors: int = 3, noise: float = 0.01,
                    drift: float = 0.25) -> SyntheticClip:
    """A clip of ``frames`` frames at ``size`` (height, width) from one photo.

    A crop window pans and zooms smoothly across the photo; sensor noise (Gaussian, ``noise`` in
    [0, 1] units) belongs to the scene and is in both input and target; the detune's magnitudes
    drift linearly by up to ``drift`` of their value over the clip, as light changes during a take.
    """
    if frames < 1:
        raise ValueError("a clip needs at least one frame")
    g = generator
    image = to_tensor(photo)
    _, _, height, width = image.shape
    aspect = size[1] / size[0]
    rand = lambda: float(torch.rand(1, generator=g))  # noqa: E731
    zoom_start, zoom_end = 0.6 + 0.3 * rand(), 0.6 + 0.3 * rand()
    centre_start = torch.tensor([0.3 + 0.4 * rand(), 0.3 + 0.4 * rand()])
    centre_end = torch.tensor([0.3 + 0.4 * rand(), 0.3 + 0.4 * rand()])
    # Crop windows as affine grids (normalised coordinates), one per frame.
    t = torch.linspace(0, 1, frames)
    zoom = zoom_start + (zoom_end - zoom_start) * t
    centre = centre_start + (centre_end - centre_start) * t[:, None]
    crop_h = zoom * min(1.0, (width / aspect) / height)
    crop_w = crop_h * aspect * height / width
    theta = torch.zeros(frames, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = crop_w, crop_h
    theta[:, 0, 2] = (centre[:, 0] * 2 - 1) * (1 - crop_w)
    theta[:, 1, 2] = (centre[:, 1] * 2 - 1) * (1 - crop_h)
    grid = F.affine_grid(theta, (frames, 3, *size), align_corners=False)
    clean = F.grid_sample(image.expand(frames, -1, -1, -1), grid, mode="bilinear", align_corners=False)
    clean = (clean + noise * torch.randn(clean.shape, generator=g)).clamp(0, 1)

    sampler = MixtureSampler(g, min_errors, max_errors)
    start, order = sampler.sample(1)
    change = 1 + drift * (torch.rand(1, start.shape[1], generator=g) * 2 - 1)
    magnitudes = start * (1 + (change - 1) * t[:, None])
    inputs = MixtureSampler.apply(clean, magnitudes, order)
    return SyntheticClip(to_numpy(inputs), to_numpy(clean), magnitudes.numpy(), order)
