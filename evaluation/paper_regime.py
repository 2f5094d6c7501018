"""The paper's own data regime and classifier, to reproduce its Table 1 (paper §3, §4.1, §5.1).

The paper graded 15 shots of 45 frames, detuned every frame by each of 24 catalogue entries, kept the
clean frame too (16,875 images), drew training and validation images from that pool at random, and
trained its VGG-style classifier alone on them. The shots are cut from real clips on the top floor
(``evaluation/table1.py``, which reads media); here, in torch: the detuned thumbnails, the two splits
(the paper's random one and held-out shots), training the classifier (``PaperClassifier``, resumable,
within a wall-clock budget) and Table 1's rows with the confusion between levels.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from colorgrade.models.detunes import KINDS, LABELS, LEVELS, apply_labels, are_neighbours, catalogue
from colorgrade.models.networks import PaperClassifier
from colorgrade.models.training import TrainingRun

PAPER_FRAME = (256, 456)          # the paper's frames, height x width (2K reduced to 456x256)
PAPER_VALIDATION_SHARE = 2746 / 16875
HELD_OUT_SHOTS = 3


@dataclass
class PaperOptions:
    side: int = 96                # the squashed thumbnail (the paper's 224; the project's 96 on a CPU)
    width: int = 16
    dropout: float = 0.5          # the paper: "up to 80 %" on each of its three dropout layers
    batch: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 30              # the paper: "optimal results ... within 30 epochs"
    minutes: float = 25.0
    seed: int = 0


def detuned_thumbnails(frames: np.ndarray, side: int, batch: int = 8) -> torch.Tensor:
    """Frames (N, 256, 456, 3) uint8 -> (N, 25, 3, side, side) uint8: each frame with every catalogue label
    (``LABELS`` order), detuned at the paper's frame size and stored in 8 bits as its PNGs were, then
    squashed to a square thumbnail as its classifier saw them."""
    out = torch.empty((len(frames), len(LABELS), 3, side, side), dtype=torch.uint8)
    labels = torch.arange(len(LABELS))
    for start in range(0, len(frames), batch):
        clean = torch.from_numpy(frames[start:start + batch]).permute(0, 3, 1, 2).float() / 255
        count = len(clean)
        detuned = apply_labels(clean.repeat_interleave(len(LABELS), dim=0), labels.repeat(count))
        detuned = torch.round(detuned * 255) / 255
        squashed = F.interpolate(detuned, size=(side, side), mode="area")
        out[start:start + count] = torch.round(squashed * 255).to(torch.uint8).view(count, len(LABELS), 3, side, side)
    return out


def split_items(shots: np.ndarray, protocol: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Indices into the flattened (frame, label) images -> (training, validation, held-out shot numbers).

    ``random``: the paper's protocol, validation a random ``PAPER_VALIDATION_SHARE`` of all images (so it
    holds other detunes, and neighbouring frames, of the very frames training sees); ``shots``: every image
    of ``HELD_OUT_SHOTS`` shots drawn at random is validation, the other shots train.
    """
    generator = torch.Generator().manual_seed(seed)
    count = len(shots) * len(LABELS)
    if protocol == "random":
        order = torch.randperm(count, generator=generator)
        cut = round(count * PAPER_VALIDATION_SHARE)
        return order[cut:].sort().values, order[:cut].sort().values, []
    if protocol == "shots":
        numbers = np.unique(shots)
        held = sorted(int(numbers[i]) for i in torch.randperm(len(numbers), generator=generator)[:HELD_OUT_SHOTS])
        held_out = torch.from_numpy(np.isin(shots, held)).repeat_interleave(len(LABELS))
        items = torch.arange(count)
        return items[~held_out], items[held_out], held
    raise ValueError(f"unknown protocol {protocol!r} (random or shots)")


def _images(thumbnails: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = thumbnails.view(-1, *thumbnails.shape[2:])
    return flat[items].float() / 255, items % len(LABELS)


@torch.no_grad()
def predict(network: PaperClassifier, thumbnails: torch.Tensor, items: torch.Tensor, batch: int = 256) -> torch.Tensor:
    network.eval()
    guesses = [network(_images(thumbnails, items[start:start + batch])[0]).argmax(1)
               for start in range(0, len(items), batch)]
    network.train()
    return torch.cat(guesses)


def train_classifier(thumbnails: torch.Tensor, training: torch.Tensor, validation: torch.Tensor,
                     options: PaperOptions, run_dir, resume: bool = True) -> tuple[PaperClassifier, dict]:
    """The paper's classifier trained on ``training`` items for ``options.epochs`` epochs or ``options.minutes``,
    whichever ends first (a cosine schedule over that budget), resumable from ``run_dir``'s checkpoint. No
    selection on validation: the weights reported are the last ones, as a reproduction should be; the log
    keeps validation accuracy per epoch (the curve)."""
    torch.manual_seed(options.seed)
    network = PaperClassifier(options.width, options.dropout)
    optimizer = torch.optim.AdamW(network.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    epoch_steps = math.ceil(len(training) / options.batch)
    run = TrainingRun(run_dir, options.epochs * epoch_steps, options.minutes, resume,
                      ["loss", "train_accuracy", "validation_exact", "validation_total"], "cpu")
    generator = torch.Generator().manual_seed(options.seed)
    if run.restored:
        network.load_state_dict(run.restored["network"])
        optimizer.load_state_dict(run.restored["optimizer"])
        generator.set_state(run.restored["generator"])
    network.train()
    totals, counted = [0.0, 0.0], 0   # sums since the last log line (a resumed run's first epoch is partial)
    bar = tqdm(total=run.steps, initial=run.step, desc=f"train {run.dir.name}", unit="step", dynamic_ncols=True)
    while run.running():
        for group in optimizer.param_groups:
            group["lr"] = run.cosine_rate(options.learning_rate)
        images, labels = _images(thumbnails, training[torch.randint(len(training), (options.batch,),
                                                                    generator=generator)])
        logits = network(images)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        run.step += 1
        totals[0] += loss.item()
        totals[1] += float((logits.argmax(1) == labels).float().mean())
        counted += 1
        bar.update(1)
        if run.step % epoch_steps == 0 or not run.running():
            rows = table_one(predict(network, thumbnails, validation), validation % len(LABELS))
            means = [total / counted for total in totals]
            run.log([*means, rows["exact"], rows["total"]])
            bar.write(f"epoch {run.step / epoch_steps:.1f}: loss {means[0]:.3f}, train accuracy {means[1]:.3f}, "
                      f"validation exact {rows['exact']:.3f}, total {rows['total']:.3f}")
            totals, counted = [0.0, 0.0], 0
            run.save_checkpoint(network=network.state_dict(), optimizer=optimizer.state_dict(),
                                generator=generator.get_state())
    bar.close()
    return network.eval(), {"steps": run.step, "epochs": round(run.step / epoch_steps, 1),
                            "minutes": round(run.elapsed() / 60, 2), "segments": run.all_segments(),
                            "options": asdict(options)}


def table_one(guesses: torch.Tensor, truth: torch.Tensor) -> dict:
    """Table 1's rows for predicted and true label indices: exact, nearest neighbour (same kind, adjacent
    level, as ``are_neighbours`` says: never clean), total; and the confusion between levels of one kind: for
    each true level (clean counted as level 0 of every kind), how often each level of the same kind was
    predicted, or another kind."""
    entries = catalogue()
    levels = (0,) + LEVELS
    confusion = {str(level): dict.fromkeys([*map(str, levels), "other kind"], 0) for level in levels}
    exact = neighbour = 0
    for t, g in zip(truth.tolist(), guesses.tolist()):
        a, b = entries[LABELS[t]], entries[LABELS[g]]
        exact += t == g
        neighbour += are_neighbours(a.label, b.label)
        same_kind = a.kind == b.kind or "clean" in (a.kind, b.kind)
        confusion[str(a.level)][str(b.level) if same_kind else "other kind"] += 1
    total = len(truth)
    return {"images": total, "exact": round(exact / total, 4), "nearest_neighbour": round(neighbour / total, 4),
            "total": round((exact + neighbour) / total, 4), "level_confusion": confusion}



# --- the cGAN in the same regime (paper §4.2, §5.2) ---------------------------------------------------------

@dataclass
class RegimeGeneratorOptions:
    temporal: bool = False
    window: int = 5
    batch: int = 4
    base: int = 16
    depth: int = 4
    learning_rate: float = 2e-4
    l2_weight: float = 100.0
    steps: int = 4000
    minutes: float = 15.0
    seed: int = 0

    @property
    def frames(self) -> int:
        return self.window if self.temporal else 1


def working_frames(frames: np.ndarray) -> torch.Tensor:
    """The regime's frames (N, 256, 456, 3) uint8 -> (N, 3, h, w) uint8 at the generator's working size."""
    from colorgrade.models.generator import WORKING_SIZE

    out = []
    for start in range(0, len(frames), 32):
        part = torch.from_numpy(frames[start:start + 32]).permute(0, 3, 1, 2).float() / 255
        out.append(torch.round(F.interpolate(part, size=WORKING_SIZE, mode="area") * 255).to(torch.uint8))
    return torch.cat(out)


def regime_windows(small: torch.Tensor, shots: np.ndarray, allowed: list[int], count: int, frames: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` (input, target) pairs (B, 3F, h, w): F consecutive frames of one of the ``allowed`` shots, detuned
    by one catalogue label for the whole window (clean among them, so leaving a good frame alone is learnt),
    stored in 8 bits as the paper's pairs were; the target is the clean window."""
    inputs, targets = [], []
    for _ in range(count):
        shot = allowed[int(torch.randint(len(allowed), (1,), generator=generator))]
        members = np.flatnonzero(shots == shot)
        start = members[0] + int(torch.randint(len(members) - frames + 1, (1,), generator=generator))
        clean = small[start:start + frames].float() / 255
        label = torch.randint(len(LABELS), (1,), generator=generator).expand(frames)
        inputs.append((torch.round(apply_labels(clean, label) * 255) / 255).flatten(0, 1))
        targets.append(clean.flatten(0, 1))
    return torch.stack(inputs), torch.stack(targets)


def train_regime_generator(small: torch.Tensor, shots: np.ndarray, training_shots: list[int],
                           options: RegimeGeneratorOptions, run_dir, resume: bool = True):
    """The paper's cGAN (per-frame or temporal) trained on the regime's training shots with the product's
    losses and networks, for ``options.steps`` or ``options.minutes``; resumable. Last weights, no selection
    -> (Generator, record)."""
    from colorgrade.models.generator import WORKING_SIZE, Generator
    from colorgrade.models.networks import PatchDiscriminator, UNetGenerator
    from colorgrade.models.train_generator import adversarial_step

    torch.manual_seed(options.seed)
    net_g = UNetGenerator(options.frames, options.base, options.depth)
    net_d = PatchDiscriminator(options.frames, options.base)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=options.learning_rate, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=options.learning_rate, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(options.seed)
    run = TrainingRun(run_dir, options.steps, options.minutes, resume, ["l2", "adversarial_g", "discriminator"], "cpu")
    if run.restored:
        for module, key in ((net_g, "generator"), (net_d, "discriminator"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            module.load_state_dict(run.restored[key])
        generator.set_state(run.restored["rng"])
    totals, counted, every = [0.0, 0.0, 0.0], 0, 100
    bar = tqdm(total=run.steps, initial=run.step, desc=f"train {run.dir.name}", unit="step", dynamic_ncols=True)
    while run.running():
        for group in opt_g.param_groups + opt_d.param_groups:
            group["lr"] = run.cosine_rate(options.learning_rate)
        x, y = regime_windows(small, shots, training_shots, options.batch, options.frames, generator)
        losses = adversarial_step(net_g, net_d, opt_g, opt_d, x, y, options.l2_weight)
        run.step += 1
        totals = [total + loss.item() for total, loss in zip(totals, losses)]
        counted += 1
        bar.update(1)
        if run.step % every == 0 or not run.running():
            run.log([total / counted for total in totals])
            totals, counted = [0.0, 0.0, 0.0], 0
            run.save_checkpoint(generator=net_g.state_dict(), discriminator=net_d.state_dict(),
                                opt_g=opt_g.state_dict(), opt_d=opt_d.state_dict(), rng=generator.get_state())
    bar.close()
    return Generator(net_g, WORKING_SIZE, "cpu"), {"steps": run.step, "minutes": round(run.elapsed() / 60, 2),
                                                   "segments": run.all_segments(), "options": asdict(options)}


EVALUATION_LABELS = ("clean",) + tuple(f"{kind}_66" for kind in KINDS)


def evaluate_on_shots(frames: np.ndarray, shots: np.ndarray, held_out: list[int], methods: dict) -> dict:
    """Every held-out shot under each of ``EVALUATION_LABELS`` (clean and every kind of detune at its middle
    level, held over the shot; all 24 would cost three times as long and say the same), graded by each method
    (name -> function(list of float frames) -> graded frames): mean CIEDE2000 to the clean frames (on 2x2
    means), sharpness retention and flicker (8-bit RMS of changes the clean shot does not have); the clean
    condition apart (what a method does to a good shot)."""
    from colorgrade.color import block_means
    from colorgrade.models import metrics

    rows = {name: {"detuned": [], "clean": []} for name in methods}
    for shot in held_out:
        clean = frames[shots == shot].astype(np.float32) / 255
        pooled_clean = np.stack([block_means(frame, 2) for frame in clean])
        for label in map(LABELS.index, EVALUATION_LABELS):
            detuned = apply_labels(torch.from_numpy(clean).permute(0, 3, 1, 2), torch.full((len(clean),), label))
            inputs = list((torch.round(detuned * 255) / 255).permute(0, 2, 3, 1).numpy())
            for name, grade in methods.items():
                graded = np.stack(grade(inputs)).astype(np.float32)
                pooled = np.stack([block_means(frame, 2) for frame in graded])
                rows[name]["clean" if label == 0 else "detuned"].append({
                    "ciede2000": float(metrics.ciede2000(pooled, pooled_clean).mean()),
                    "sharpness": float(np.mean([metrics.sharpness_retention(o, t)
                                                for o, t in zip(graded[::9], clean[::9])])),
                    "flicker": metrics.flicker(graded, clean)})
    return {name: {condition: {key: round(float(np.mean([r[key] for r in values])), 3) for key in values[0]}
                   for condition, values in conditions.items()} for name, conditions in rows.items()}
