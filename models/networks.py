"""The networks, in one module (as pytorch-CycleGAN-and-pix2pix keeps them).

``AnalysisNet``: the paper's VGG-style classifier (§4.1), and past it a corrector that judges a
frame by what a colour error looks like whatever the scene (``colour_statistics``): the chromaticity
of the frame's grey world, white patch and grey edges in linear light, a log-chroma histogram,
per-channel percentiles and histograms. Colour constancy learned this from little data; a CNN on a
thumbnail learns the photos instead. The classifier reads both; the correction and its confidence
read the statistics alone.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from colorgrade.models.differentiable_colour import luma_rec709, srgb_to_linear
from colorgrade.models.detunes import LABELS

HISTOGRAM_BINS = 32
CHROMA_BINS = 12
CHROMA_RANGE = 1.5          # log-chroma histogram spans +-1.5 (a factor of e^1.5 between channels)
PERCENTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
CDL_SIZE = 10
STATISTICS_SIZE = CHROMA_BINS ** 2 + 4 * HISTOGRAM_BINS + 4 * len(PERCENTILES) + 3 * 2 + 4
STATISTICS_SIDE = 64
_EPS = 1e-4


def _conv_block(channels_in: int, channels_out: int, convs: int) -> nn.Sequential:
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(channels_in if i == 0 else channels_out, channels_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(channels_out), nn.ReLU(inplace=True)]
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def channel_histograms(images: torch.Tensor, bins: int = HISTOGRAM_BINS) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 4 * bins): normalised histograms of R, G, B and Rec.709 luma."""
    luma = luma_rec709(images)
    planes = torch.cat([images, luma], dim=1).flatten(2)  # (B, 4, H*W)
    index = (planes.clamp(0, 1) * (bins - 1)).round().long()
    counts = torch.zeros(*planes.shape[:2], bins, device=images.device, dtype=images.dtype)
    counts.scatter_add_(2, index, torch.ones_like(planes))
    return (counts / planes.shape[-1]).flatten(1)


def log_ratios(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3) positive -> (B, 2): log(R/G), log(B/G), the chromaticity of a colour whatever its brightness."""
    log = torch.log(rgb.clamp_min(_EPS))
    return torch.stack([log[:, 0] - log[:, 1], log[:, 2] - log[:, 1]], dim=1)


def grey_edges(linear: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) linear light -> (B, 3): mean absolute horizontal plus vertical difference per channel,
    whose chromaticity is the grey-edge estimate of the light."""
    return ((linear[..., 1:, :] - linear[..., :-1, :]).abs().mean((2, 3))
            + (linear[..., 1:] - linear[..., :-1]).abs().mean((2, 3)))


def log_chroma_histogram(pixels: torch.Tensor, weight: torch.Tensor, bins: int, extent: float) -> torch.Tensor:
    """Pixels (B, 3, N) of linear light, weights (B, N) -> (B, bins * bins): the weighted histogram of
    (log G/R, log G/B) over [-extent, extent] on both axes (values outside go to the edge bins), summing to 1."""
    log = torch.log(pixels.clamp_min(_EPS))
    def to_bin(x):  # noqa: E306
        return ((x / extent + 1) / 2 * bins).long().clamp(0, bins - 1)
    cells = to_bin(log[:, 1] - log[:, 0]) * bins + to_bin(log[:, 1] - log[:, 2])
    counts = torch.zeros(pixels.shape[0], bins * bins, device=pixels.device, dtype=pixels.dtype)
    counts.scatter_add_(1, cells, weight)
    return counts / weight.sum(1, keepdim=True).clamp_min(_EPS)


@torch.no_grad()
def colour_statistics(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) encoded RGB in [0, 1] -> (B, STATISTICS_SIZE) features of the colour error, not the scene.

    - log-chroma histogram (log G/R against log G/B of linear light, weighted by luminance);
    - R, G, B and luma histograms and percentiles (where the blacks, mid-tones and highlights sit);
    - the chromaticity (log R/G, log B/G, linear light) of the grey world (mean), the white patch
      (99th percentile) and the grey edge (mean gradient magnitude), and the mean luminance in stops.
    """
    if images.shape[-1] > STATISTICS_SIDE:   # statistics need no more pixels than this; sorting them costs
        images = F.adaptive_avg_pool2d(images, STATISTICS_SIDE)
    linear = srgb_to_linear(images)
    pixels = linear.flatten(2)                                      # (B, 3, N)
    weight = luma_rec709(linear).flatten(1)                          # (B, N)
    chroma = log_chroma_histogram(pixels, weight, CHROMA_BINS, CHROMA_RANGE)

    encoded = torch.cat([images, luma_rec709(images)], dim=1).flatten(2)  # (B, 4, N)
    quantiles = torch.quantile(encoded, encoded.new_tensor(PERCENTILES), dim=2).permute(1, 2, 0).flatten(1)

    grey_world = pixels.mean(2)
    white_patch = torch.quantile(pixels, 0.99, dim=2)
    brightness = torch.log2(weight.mean(1, keepdim=True).clamp_min(_EPS))
    scalars = torch.cat([log_ratios(grey_world), log_ratios(white_patch), log_ratios(grey_edges(linear)), brightness,
                         pixels.amax(2)], dim=1)
    return torch.cat([chroma, channel_histograms(images), quantiles, scalars], dim=1)


class AnalysisNet(nn.Module):
    """Thumbnail (B, 3, S, S) -> (class logits (B, 25), raw CDL (B, 10), confidence logit (B,)).

    Classifier: five VGG blocks (3x3 convs, batch norm, ReLU, max pool), global average pooling,
    joined with the colour statistics; as in the paper, dropout follows the last batch-normalised
    layers. Corrector: the colour statistics alone, through an MLP, to a raw CDL (made valid by
    ``cdl_from_head``: bounded, identity at zero) and a confidence logit (the probability that
    applying the CDL makes the frame better; the served correction is shrunk toward identity by it).
    """

    def __init__(self, width: int = 32, dropout: float = 0.3):
        super().__init__()
        widths = [width, width * 2, width * 4, width * 6, width * 8]
        convs = [1, 1, 2, 2, 2]
        blocks, channels = [], 3
        for w, n in zip(widths, convs):
            blocks.append(_conv_block(channels, w, n))
            channels = w
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.statistics = nn.Sequential(nn.Linear(STATISTICS_SIZE, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
                                        nn.Dropout(dropout), nn.Linear(256, 128), nn.BatchNorm1d(128),
                                        nn.ReLU(inplace=True))
        self.trunk = nn.Sequential(nn.Linear(channels + 128, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
                                   nn.Dropout(dropout))
        self.classify = nn.Linear(256, len(LABELS))
        self.correct = nn.Linear(128, CDL_SIZE)
        self.confidence = nn.Linear(128, 1)
        nn.init.zeros_(self.correct.weight)
        nn.init.zeros_(self.correct.bias)

    def forward(self, thumbnails: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        statistics = self.statistics(colour_statistics(thumbnails))
        hidden = self.trunk(torch.cat([self.features(thumbnails), statistics], dim=1))
        return self.classify(hidden), self.correct(statistics), self.confidence(statistics)[:, 0]


def shrink_cdl(cdls: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """CDL vectors (B, 10) moved toward the identity in proportion to (1 - confidence (B,) in [0, 1])."""
    identity = cdls.new_tensor([1.0] * 3 + [0.0] * 3 + [1.0] * 3 + [1.0])
    return identity + confidence[:, None] * (cdls - identity)


def cdl_from_head(raw: torch.Tensor) -> torch.Tensor:
    """Raw head output (B, 10) -> CDL vectors (B, 10), each parameter bounded to what a grade needs.

    slope in [e^-0.7, e^0.7], offset in [-0.25, 0.25], power in [e^-0.7, e^0.7],
    saturation in [e^-1.2, e^1.2]; zero maps to the identity CDL.
    """
    slope = torch.exp(0.7 * torch.tanh(raw[:, 0:3]))
    offset = 0.25 * torch.tanh(raw[:, 3:6])
    power = torch.exp(0.7 * torch.tanh(raw[:, 6:9]))
    saturation = torch.exp(1.2 * torch.tanh(raw[:, 9:10]))
    return torch.cat([slope, offset, power, saturation], dim=1)


# --- generative network (paper §4.2): pix2pix U-Net generator + PatchGAN discriminator ----------

class UNetGenerator(nn.Module):
    """A window of F frames as channels (B, 3F, H, W) -> the corrected window (B, 3F, H, W).

    pix2pix's U-Net (strided-conv encoder, transposed-conv decoder, skip connections), predicting a
    residual on the input so an already-correct frame needs no work. F = 1 is the per-frame model;
    F > 1 is the paper's temporal variant (its X×Y×F×3 tensor) with the frames stacked as channels,
    which costs almost nothing over F = 1 on a CPU. H and W must be multiples of 2^depth.
    """

    def __init__(self, frames: int = 1, base: int = 16, depth: int = 4):
        super().__init__()
        self.frames, self.depth = frames, depth
        channels = [base * min(2 ** i, 8) for i in range(depth + 1)]
        self.stem = nn.Sequential(nn.Conv2d(3 * frames, channels[0], 3, padding=1), nn.LeakyReLU(0.2, True))
        self.down = nn.ModuleList(nn.Sequential(nn.Conv2d(channels[i], channels[i + 1], 4, 2, 1, bias=False),
                                                nn.BatchNorm2d(channels[i + 1]), nn.LeakyReLU(0.2, True))
                                  for i in range(depth))
        self.up = nn.ModuleList(nn.Sequential(nn.ConvTranspose2d(channels[i + 1] * (1 if i == depth - 1 else 2),
                                                                 channels[i], 4, 2, 1, bias=False),
                                              nn.BatchNorm2d(channels[i]), nn.ReLU(True))
                                for i in reversed(range(depth)))
        self.head = nn.Conv2d(channels[0] * 2, 3 * frames, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(window)]
        for layer in self.down:
            skips.append(layer(skips[-1]))
        x = skips.pop()
        for layer in self.up:
            x = torch.cat([layer(x), skips.pop()], dim=1)
        return (window + self.head(x)).clamp(0, 1)


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (input window, output window) -> a map of real/fake scores per patch.

    Four strided layers give a receptive field of about 140 px: the paper's "larger patches"
    (pix2pix's default of three gives 70 px).
    """

    def __init__(self, frames: int = 1, base: int = 16, layers: int = 4):
        super().__init__()
        blocks, channels = [nn.Conv2d(6 * frames, base, 4, 2, 1), nn.LeakyReLU(0.2, True)], base
        for i in range(1, layers):
            out = base * min(2 ** i, 8)
            blocks += [nn.Conv2d(channels, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, True)]
            channels = out
        blocks += [nn.Conv2d(channels, 1, 4, 1, 1)]
        self.model = nn.Sequential(*blocks)

    def forward(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat([inputs, outputs], dim=1))


class PaperClassifier(nn.Module):
    """The paper's classifier alone (§4.1), for reproducing its Table 1: thumbnail (B, 3, S, S) -> logits (B, 25).

    The same five VGG blocks as ``AnalysisNet`` and a VGG-style fully connected head, without the colour
    statistics; three dropout layers after the last three batch-normalised layers, as the paper placed
    them (it used up to 80 %).
    """

    def __init__(self, width: int = 16, dropout: float = 0.5, hidden: int = 256):
        super().__init__()
        widths, convs = [width, width * 2, width * 4, width * 6, width * 8], [1, 1, 2, 2, 2]
        blocks, channels = [], 3
        for w, n in zip(widths, convs):
            blocks.append(_conv_block(channels, w, n))
            channels = w
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.classify = nn.Sequential(nn.Linear(channels, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                                      nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden),
                                      nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, len(LABELS)))

    def forward(self, thumbnails: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(thumbnails))
