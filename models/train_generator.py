"""Train the generative network (paper §4.2): pix2pix with the paper's changes, per-frame or temporal.

- Loss: L2 (MSE) instead of pix2pix's L1, weighted heavily (``l2_weight``, 100) against a least-squares
  adversarial term from a conditional PatchGAN with larger patches (~140 px receptive field).
- Data: synthetic clips from the training photos (``models.data.synthesise_clip``: pan/zoom, sensor
  noise, 1-3 drifting errors). ``--temporal`` trains on windows of 5 frames stacked as channels,
  with random horizontal flips of single frames inside a window (the paper found that helped).
- The run keeps the weights with the lowest L2 on fixed validation clips; checkpoints make
  ``--resume`` continue where a run stopped.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from colorgrade.models.analysis import pick_device
from colorgrade.models.data import cached_photos, list_photos, split_photos, synthesise_clip
from colorgrade.models.generator import WORKING_SIZE
from colorgrade.models.networks import PatchDiscriminator, UNetGenerator
from colorgrade.models.options import GeneratorOptions
from colorgrade.models.training import TrainingRun
from colorgrade.models.weights import save_weights

PHOTO_SIZE = (288, 512)   # photos in the cache: twice the working size, room for the clips' pans and zooms


def clip_batch(photos: np.ndarray, options: GeneratorOptions, generator: torch.Generator, flips: bool):
    """Photos (N, H, W, 3) uint8 -> (inputs, targets), each (B, 3F, h, w): windows of synthetic clips,
    frames stacked as channels."""
    inputs, targets = [], []
    for _ in range(options.batch):
        photo = photos[int(torch.randint(len(photos), (1,), generator=generator))].astype(np.float32) / 255
        clip = synthesise_clip(photo, options.frames, WORKING_SIZE, generator)
        x = torch.from_numpy(clip.inputs).permute(0, 3, 1, 2)
        y = torch.from_numpy(clip.targets).permute(0, 3, 1, 2)
        if flips:
            flip = torch.rand(options.frames, generator=generator) < 0.5
            x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
        inputs.append(x.reshape(-1, *WORKING_SIZE))
        targets.append(y.reshape(-1, *WORKING_SIZE))
    return torch.stack(inputs), torch.stack(targets)


def adversarial_step(net_g: UNetGenerator, net_d: PatchDiscriminator, opt_g, opt_d, x: torch.Tensor, y: torch.Tensor,
                     l2_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pix2pix step with the paper's losses: the least-squares discriminator, then the generator on
    ``l2_weight`` x L2 plus the adversarial term -> (l2, adversarial, discriminator loss)."""
    fake = net_g(x)
    loss_d = 0.5 * (((net_d(x, y) - 1) ** 2).mean() + (net_d(x, fake.detach()) ** 2).mean())
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    l2 = F.mse_loss(fake, y)
    adversarial = ((net_d(x, fake) - 1) ** 2).mean()
    opt_g.zero_grad(set_to_none=True)
    (l2_weight * l2 + adversarial).backward()
    opt_g.step()
    return l2, adversarial, loss_d


def train(options: GeneratorOptions) -> dict:
    device = pick_device(options.device)
    split = split_photos(list_photos(options.photos, options.licence))
    train_photos = cached_photos(split["train"], PHOTO_SIZE)
    validation_photos = cached_photos(split["validation"], PHOTO_SIZE)
    validation = [t.to(device) for t in clip_batch(validation_photos, replace(options, batch=8),
                                                   torch.Generator().manual_seed(999), flips=False)]

    torch.manual_seed(options.seed)
    net_g = UNetGenerator(options.frames, options.base, options.depth).to(device)
    net_d = PatchDiscriminator(options.frames, options.base).to(device)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=options.learning_rate, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=options.learning_rate, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(options.seed)
    run = TrainingRun(options.run_dir, options.steps, options.minutes, options.resume,
                      ["l2", "adversarial_g", "discriminator", "validation_l2"], device)
    if run.restored:
        for module, key in ((net_g, "generator"), (net_d, "discriminator"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            module.load_state_dict(run.restored[key])
        generator.set_state(run.restored["rng"])

    def save_checkpoint():
        run.save_checkpoint(generator=net_g.state_dict(), discriminator=net_d.state_dict(), opt_g=opt_g.state_dict(),
                            opt_d=opt_d.state_dict(), rng=generator.get_state())

    totals = dict.fromkeys(("l2", "adv", "d"), 0.0)
    bar = tqdm(total=options.steps, initial=run.step, desc=f"train {Path(options.out).stem}", unit="step",
               dynamic_ncols=True)
    while run.running():
        for group in opt_g.param_groups + opt_d.param_groups:
            group["lr"] = run.cosine_rate(options.learning_rate)
        x, y = (t.to(device) for t in clip_batch(train_photos, options, generator, flips=options.temporal))
        l2, adversarial, loss_d = adversarial_step(net_g, net_d, opt_g, opt_d, x, y, options.l2_weight)
        run.step += 1
        for key, value in (("l2", l2.item()), ("adv", adversarial.item()), ("d", loss_d.item())):
            totals[key] += value / options.epoch_steps
        bar.update(1)
        bar.set_postfix(l2=f"{l2.item():.5f}", adv=f"{adversarial.item():.3f}")
        if run.step % options.epoch_steps == 0:
            net_g.eval()
            with torch.no_grad():
                validation_l2 = float(F.mse_loss(net_g(validation[0]), validation[1]))
            net_g.train()
            run.consider(net_g, validation_l2, {"l2": validation_l2})
            run.log([totals["l2"], totals["adv"], totals["d"], validation_l2])
            bar.write(f"step {run.step}: l2 {totals['l2']:.5f}, validation l2 {validation_l2:.5f}")
            totals = dict.fromkeys(totals, 0.0)
            save_checkpoint()
    bar.close()
    save_checkpoint()
    record = run.finish(net_g, split, options)
    Path(options.out).parent.mkdir(parents=True, exist_ok=True)
    config = {"frames": options.frames, "base": options.base, "depth": options.depth, "working_size": list(WORKING_SIZE)}
    save_weights(options.out, net_g, config, record)
    return record
