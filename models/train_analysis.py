"""Train the analysis network: classification of catalogue detunes + a continuous CDL corrector with a confidence.

Each step draws clean crops of training photos (split by photo; from the photo cache) and makes two
half-batches:
- single catalogue detunes with uniform labels: cross-entropy on the classifier;
- mixtures of 1-4 errors (in and outside the CDL family, white balance and exposure in linear light
  among them), ``clean_share`` of them left clean: on these the predicted CDL is applied to the
  thumbnail and compared in CIE Lab with the clean one (mean Euclidean distance, i.e. CIE76 ΔE): an
  image-space loss, so the head learns whatever CDL restores the picture best, not a parameter we
  invented. The confidence head learns, by cross-entropy, the share of the frame's error the full
  correction removed (0 when it removed none or made the frame worse, as on clean frames); the
  served correction is shrunk toward identity by it.

The learning rate follows a cosine over the run's budget (steps or minutes, whichever ends first),
so a run cut short by ``--minutes`` still anneals. Checkpoints every ``checkpoint_every`` steps make
``--resume`` continue where a run stopped, with the same data stream.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from colorgrade.models.analysis import pick_device
from colorgrade.models.differentiable_colour import apply_cdl, srgb_to_lab
from colorgrade.models.data import PhotoSet, list_photos, split_photos
from colorgrade.models.detunes import LABELS, MixtureSampler, apply_labels
from colorgrade.models.networks import AnalysisNet, cdl_from_head, shrink_cdl
from colorgrade.models.options import AnalysisOptions
from colorgrade.models.training import TrainingRun
from colorgrade.models.weights import save_weights


def lab_distances(restored: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) pairs -> (B,) mean CIE76 ΔE per image."""
    difference = srgb_to_lab(restored) - srgb_to_lab(clean)
    return torch.sqrt((difference ** 2).sum(1) + 1e-6).mean((1, 2))


def confidence_targets(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """The share of each frame's error a correction removed, in [0, 1]: 0 where it made things worse
    or there was nothing to remove (a clean frame, whose error before is the noise floor's ~0)."""
    return (1 - after / before.clamp_min(1e-3)).clamp(0, 1)


def learning_rate_at(base: float, step: int, progress: float) -> float:
    """The schedule: linear warm-up over the first 100 steps, then a cosine from ``base`` to 0 at progress 1."""
    return base * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * progress))


def with_mixtures(clean: torch.Tensor, sampler: MixtureSampler, generator: torch.Generator,
                  clean_share: float) -> torch.Tensor:
    """Each frame with a random mixture of errors, ``clean_share`` of them left clean."""
    magnitudes, order = sampler.sample(len(clean))
    magnitudes[torch.rand(len(magnitudes), generator=generator) < clean_share] = 0
    return MixtureSampler.apply(clean, magnitudes, order)


def correction_losses(inputs: torch.Tensor, clean: torch.Tensor, raw: torch.Tensor,
                      confidence_logit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The correction head's loss (mean CIE76 ΔE after its CDL) and the confidence's (binary cross-entropy
    against the share of the error the CDL removed)."""
    after = lab_distances(apply_cdl(inputs, cdl_from_head(raw)), clean)
    with torch.no_grad():
        targets = confidence_targets(lab_distances(inputs, clean), after)
    return after.mean(), F.binary_cross_entropy_with_logits(confidence_logit, targets)


def make_batch(photos: PhotoSet, options: AnalysisOptions, generator: torch.Generator, sampler: MixtureSampler,
               noise_generator: torch.Generator):
    """-> inputs (B, 3, S, S), clean (B, 3, S, S), labels (B/2,) for the first half.

    The second half trains the correction head: mixtures of errors, with ``clean_share`` of them
    left clean. The catalogue's detunes go one way each (blacks only lifted, contrast only raised),
    so a head trained on them would learn a standing correction and push every unseen frame the
    other way; the mixtures' symmetric magnitudes plus clean frames put "leave it alone" at the
    centre of what it learns.

    Small random draws come from ``generator`` (CPU); the per-pixel noise from ``noise_generator``,
    which lives on the training device so the GPU does not wait for the CPU to make it.
    """
    size = (options.thumbnail, options.thumbnail)
    clean = photos.random_crops(options.batch, size, generator, options.composite_share)
    half = options.batch // 2
    labels = torch.randint(len(LABELS), (half,), generator=generator).to(clean.device)
    inputs = torch.cat([apply_labels(clean[:half], labels),
                        with_mixtures(clean[half:], sampler, generator, options.clean_share)])
    noise = torch.randn(inputs.shape, generator=noise_generator, device=clean.device) * options.noise
    return (inputs + noise).clamp(0, 1), (clean + noise).clamp(0, 1), labels


class Validation:
    """A fixed batch of validation crops (photos never trained on) and the scores that pick the best weights.

    Held-out photos are the only honest judge here: with a few dozen training photos the network can
    recognise each one and "know" its true colours, so training accuracy says little. The run keeps
    the weights with the lowest validation ΔE (mixtures corrected + clean frames left alone).
    """

    def __init__(self, photos: PhotoSet, options: AnalysisOptions, device):
        generator = torch.Generator().manual_seed(12345)
        size = (options.thumbnail, options.thumbnail)
        crops = photos.random_crops(8, size, generator).to(device)
        self.labels = torch.arange(len(LABELS), device=device).repeat(len(crops))
        self.singles = apply_labels(crops.repeat_interleave(len(LABELS), dim=0), self.labels)
        self.clean = photos.random_crops(128, size, generator).to(device)
        magnitudes, order = MixtureSampler(generator, min_errors=1, max_errors=3).sample(128)
        self.mixtures = MixtureSampler.apply(self.clean, magnitudes, order)
        self.clean_weight = options.clean_weight

    @torch.no_grad()
    def scores(self, network: AnalysisNet) -> dict:
        """Accuracy on single detunes; ΔE of the served (confidence-shrunk) correction on mixtures and clean frames."""
        network.eval()
        accuracy = float((network(self.singles)[0].argmax(1) == self.labels).float().mean())

        def served(images):
            _, raw, confidence = network(images)
            return apply_cdl(images, shrink_cdl(cdl_from_head(raw), torch.sigmoid(confidence)))

        mixture = float(lab_distances(served(self.mixtures), self.clean).mean())
        clean = float(lab_distances(served(self.clean), self.clean).mean())
        network.train()
        return {"accuracy": accuracy, "mixture_delta_e": mixture, "clean_delta_e": clean,
                "score": mixture + self.clean_weight * clean}


def train(options: AnalysisOptions) -> dict:
    device = pick_device(options.device)
    split = split_photos(list_photos(options.photos, options.licence))
    source = (2 * options.thumbnail, 2 * options.thumbnail)
    train_set = PhotoSet(split["train"], size=source, device=device)
    validation = Validation(PhotoSet(split["validation"], size=source, device=device), options, device)

    torch.manual_seed(options.seed)
    network = AnalysisNet(width=options.width, dropout=options.dropout).to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    generator = torch.Generator().manual_seed(options.seed)
    noise_generator = torch.Generator(device=device).manual_seed(options.seed + 1)
    run = TrainingRun(options.run_dir, options.steps, options.minutes, options.resume,
                      ["loss", "cross_entropy", "lab_distance", "confidence_loss", "train_accuracy",
                       "validation_accuracy", "validation_mixture_delta_e", "validation_clean_delta_e"], device)
    if run.restored:
        network.load_state_dict(run.restored["network"])
        optimizer.load_state_dict(run.restored["optimizer"])
        generator.set_state(run.restored["generator"])
        noise_generator.set_state(run.restored["noise_generator"].to(noise_generator.get_state().device))
    sampler = MixtureSampler(generator)

    def save_checkpoint():
        run.save_checkpoint(network=network.state_dict(), optimizer=optimizer.state_dict(),
                            generator=generator.get_state(), noise_generator=noise_generator.get_state().cpu())

    totals = dict.fromkeys(("loss", "ce", "lab", "conf", "acc"), 0.0)
    network.train()
    bar = tqdm(total=options.steps, initial=run.step, desc="train analysis", unit="step", dynamic_ncols=True)
    while run.running():
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(options.learning_rate, run.step, run.progress())
        inputs, clean, labels = make_batch(train_set, options, generator, sampler, noise_generator)
        logits, raw, confidence_logit = network(inputs)
        cross_entropy = F.cross_entropy(logits[:len(labels)], labels)
        half = len(labels)
        lab, confidence_loss = correction_losses(inputs[half:], clean[half:], raw[half:], confidence_logit[half:])
        loss = cross_entropy + options.correction_weight * lab + options.confidence_weight * confidence_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        run.step += 1
        accuracy = float((logits[:len(labels)].argmax(1) == labels).float().mean())
        for key, value in (("loss", loss.item()), ("ce", cross_entropy.item()), ("lab", lab.item()),
                           ("conf", confidence_loss.item()), ("acc", accuracy)):
            totals[key] += value / options.epoch_steps
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{accuracy:.2f}", dE=f"{lab.item():.2f}")
        if run.step % options.epoch_steps == 0:
            scores = validation.scores(network)
            run.consider(network, scores["score"], scores)
            run.log([totals["loss"], totals["ce"], totals["lab"], totals["conf"], totals["acc"], scores["accuracy"],
                     scores["mixture_delta_e"], scores["clean_delta_e"]])
            bar.write(f"step {run.step}: loss {totals['loss']:.3f}, train acc {totals['acc']:.3f}, "
                      f"validation acc {scores['accuracy']:.3f}, validation ΔE mixtures "
                      f"{scores['mixture_delta_e']:.2f} clean {scores['clean_delta_e']:.2f}")
            totals = dict.fromkeys(totals, 0.0)
        if run.step % options.checkpoint_every == 0:
            save_checkpoint()
    bar.close()
    save_checkpoint()
    record = run.finish(network, split, options)
    network.eval()
    Path(options.out).parent.mkdir(parents=True, exist_ok=True)
    save_weights(options.out, network, {"width": options.width, "dropout": options.dropout,
                                        "thumbnail": options.thumbnail}, record)
    return record
