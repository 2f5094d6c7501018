"""Photo datasets split by photo, a decoded-photo cache, and synthetic clips made from one photo.

Splits are by photo, never by crop (paper §4.3: 2/3 train, 1/6 test, 1/6 validation). Each photo's
share is fixed by a hash of its file name alone (``split_of``), so adding photos to a folder never
moves another photo between the shares, and crops of one photo never cross them.

Licences: a folder's MANIFEST.tsv may carry a ``licence`` column; rows whose licence starts with
``RESEARCH-ONLY`` may train and evaluate but never ship, and ``licence="permissive"`` leaves them out.
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from colorgrade.models.detunes import MixtureSampler

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
LICENCES = ("any", "permissive")
RESEARCH_ONLY = "RESEARCH-ONLY"
CACHE_DIR = Path("runs/cache")


def list_photos(folders, licence: str = "any") -> list[Path]:
    """Every image file directly inside the given folders, sorted by name; ``licence="permissive"``
    leaves out the rows their folder's MANIFEST.tsv marks research-only."""
    if licence not in LICENCES:
        raise ValueError(f"licence must be one of {', '.join(LICENCES)}, got {licence!r}")
    photos = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"photo folder not found: {folder}")
        excluded = research_only(folder) if licence == "permissive" else set()
        photos += [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in excluded]
    if not photos:
        raise FileNotFoundError(f"no photos ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, folders))}")
    return sorted(photos, key=lambda p: p.name)


def research_only(folder: Path) -> set[str]:
    """File names a folder's MANIFEST.tsv marks research-only (none when it has no manifest or no licence column)."""
    return {name for name, licence in manifest_licences(folder).items() if licence.startswith(RESEARCH_ONLY)}


def licence_summary(photos: list[Path]) -> list[str]:
    """One line per folder of ``photos``: how many, and which licences, research-only ones named with
    their counts (what a weights card must say about its data)."""
    lines = []
    for folder in sorted({Path(p).parent for p in photos}):
        names = {Path(p).name for p in photos if Path(p).parent == folder}
        licences = manifest_licences(folder)
        if not licences:
            lines.append(f"{folder}: {len(names)} photos (no licence column; see the folder's LICENSES.md)")
            continue
        research = Counter(licence for licence in map(licences.get, names) if (licence or "").startswith(RESEARCH_ONLY))
        permissive = len(names) - sum(research.values())
        named = "; ".join(f"{count} {licence}" for licence, count in research.most_common())
        lines.append(f"{folder}: {len(names)} photos, {permissive} under permissive licences"
                     + (f", research-only: {named}" if research else ""))
    return lines


def manifest_licences(folder: Path) -> dict[str, str]:
    """File name -> licence from a folder's MANIFEST.tsv (empty when it has no manifest or no licence column)."""
    manifest = Path(folder) / "MANIFEST.tsv"
    if not manifest.exists():
        return {}
    with manifest.open(newline="", encoding="utf-8") as handle:
        return {row["file"]: row["licence"] for row in csv.DictReader(handle, delimiter="\t") if row.get("licence")}


def split_of(photo: Path) -> str:
    """"train" (4 in 6), "test" (1 in 6) or "validation" (1 in 6), by a hash of the file name alone."""
    bucket = int(hashlib.sha256(Path(photo).name.encode()).hexdigest(), 16) % 6
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def split_photos(photos: list[Path]) -> dict[str, list[Path]]:
    """{"train": ~2/3, "test": ~1/6, "validation": ~1/6} of the photos, each photo's share fixed by ``split_of``."""
    split = {"train": [], "test": [], "validation": []}
    for photo in sorted(photos, key=lambda p: Path(p).name):
        split[split_of(photo)].append(photo)
    # A handful of photos (tests, a user's small folder) can leave a share empty; lend it the train
    # photo with the lowest hash, so every share has one. Large sets never get here.
    for share in ("test", "validation"):
        if not split[share] and len(split["train"]) > 1:
            lent = min(split["train"], key=lambda p: hashlib.sha256(Path(p).name.encode()).hexdigest())
            split["train"].remove(lent)
            split[share].append(lent)
    return split


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


def cached_photos(paths: list[Path], size: tuple[int, int], cache_dir: Path = CACHE_DIR) -> np.ndarray:
    """The photos squashed to ``size`` (height, width), as one (N, H, W, 3) uint8 array memory-mapped from
    ``cache_dir``: decoded once (with a progress bar), so a training step never waits on JPEG decoding.

    The cache file is named by a digest of the paths, their sizes and modification times and ``size``:
    a changed photo or folder makes a new one.
    """
    paths = [Path(p) for p in paths]
    key = json.dumps([size, [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]])
    path = Path(cache_dir) / f"photos-{size[0]}x{size[1]}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")
        array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(len(paths), *size, 3))
        for i, photo in enumerate(tqdm(paths, desc=f"decoding photos to {size[1]}x{size[0]}", unit="photo",
                                       disable=len(paths) < 50)):
            with Image.open(photo) as image:
                array[i] = np.asarray(image.convert("RGB").resize((size[1], size[0]), Image.Resampling.BOX,
                                                                  reducing_gap=3.0))
        array.flush()
        del array
        partial.replace(path)   # whole or absent: an interrupted run leaves no half-written cache
    return np.load(path, mmap_mode="r")


class PhotoSet:
    """One split of photos, each squashed to one working size (uint8, from the photo cache), for batched
    random crops.

    Squashing to a common size (as the paper squashed to 224x224) lets one ``grid_sample`` call cut
    a whole batch of crops, on the CPU or the GPU alike. Only the photos a batch draws are turned
    into floats.
    """

    def __init__(self, paths: list[Path], size: tuple[int, int] = (320, 320), device=None,
                 cache_dir: Path = CACHE_DIR):
        if not paths:
            raise ValueError("PhotoSet needs at least one photo")
        self.paths = list(paths)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        cache = cached_photos(self.paths, size, cache_dir)
        # On a GPU every photo moves to its memory once; on the CPU they stay memory-mapped, and a
        # batch reads only the photos it draws.
        self.images = torch.from_numpy(np.array(cache)).to(self.device) if self.device.type != "cpu" else cache

    def __len__(self):
        return len(self.images)

    def photos(self, which: torch.Tensor) -> torch.Tensor:
        """The photos at indices ``which`` as (B, 3, H, W) float in [0, 1], on the set's device."""
        if isinstance(self.images, np.ndarray):
            chosen = torch.from_numpy(self.images[which.cpu().numpy()])
        else:
            chosen = self.images[which.to(self.device)]
        return chosen.to(self.device).permute(0, 3, 1, 2).float() / 255.0

    def random_crops(self, batch: int, size: tuple[int, int], generator: torch.Generator,
                     composite_share: float = 0.0, which: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, h, w) crops of random photos (or of the photos at indices ``which``), each 50-100 % of the
        photo's side, randomly mirrored.

        ``composite_share`` of them get a rectangle (20-60 % of each side) cut from another random
        crop pasted in: two well-graded pictures side by side are still a well-graded picture, so
        this makes new "clean" scenes from a few dozen photos, and a network can no longer
        recognise the photo and recall its colours instead of judging them.
        """
        crops = self._crops(batch, size, generator, which)
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

    def _crops(self, batch: int, size: tuple[int, int], generator: torch.Generator,
               which: torch.Tensor | None = None) -> torch.Tensor:
        rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
        if which is None:
            which = torch.randint(len(self.images), (batch,), generator=generator)
        scale = 0.5 + 0.5 * rand(batch)
        mirror = torch.where(rand(batch) < 0.5, -1.0, 1.0)
        theta = torch.zeros(batch, 2, 3)
        theta[:, 0, 0], theta[:, 1, 1] = scale * mirror, scale
        theta[:, :, 2] = (rand(batch, 2) * 2 - 1) * (1 - scale)[:, None]
        theta = theta.to(self.device)
        grid = F.affine_grid(theta, (batch, 3, *size), align_corners=False)
        return F.grid_sample(self.photos(which), grid, mode="bilinear", align_corners=False)


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
