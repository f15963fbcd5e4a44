"""``igc-lab train``: train one of the paper's networks for a few hundred steps with each
backend, from the same seed, on a generated dataset, and plot the loss curves.

The data are CIFAR-shaped images of ``classes`` classes: each class is a fixed random smooth
colour pattern, and every sample is its class pattern, randomly scaled and shifted, plus
noise. Learnable in a few hundred steps, and nothing to download.

The training recipe follows the paper's code: SGD with Nesterov momentum 0.9, weight decay
1e-4, learning rate 0.1 (here constant, since the runs are short).
"""

import csv
import os
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from igc_triton import models
from igc_triton.nn import set_backend

MODELS = {
    # name: (builder, description)
    "plain-igc": (lambda classes: models.plain_cifar(8, L=8, M=2, num_classes=classes),
                  "plain CIFAR net, IGC-L8M2, depth 8"),
    "resnet-igc": (lambda classes: models.resnet_cifar(8, 4, 4, num_classes=classes),
                   "residual CIFAR net, IGC-L4M4, depth 8"),
    "xception-igc": (lambda classes: models.xception_cifar(8, 2, blocks=3, num_classes=classes),
                     "Xception-comparison net, IGC-L8M2, 3 blocks"),
}


class PatternDataset:
    """Generated class-pattern images, reproducible from ``seed``."""

    def __init__(self, classes: int = 10, size: int = 16, seed: int = 0, device="cpu"):
        g = torch.Generator().manual_seed(seed)
        coarse = torch.randn(classes, 3, 4, 4, generator=g)
        self.patterns = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False).to(device)
        self.classes, self.size, self.device = classes, size, device

    def batch(self, n: int, g: torch.Generator):
        labels = torch.randint(self.classes, (n,), generator=g)
        scale = 0.5 + torch.rand(n, 1, 1, 1, generator=g)
        shift = torch.randint(-2, 3, (2,), generator=g).tolist()
        noise = 0.5 * torch.randn(n, 3, self.size, self.size, generator=g)
        x = torch.roll(self.patterns[labels.to(self.device)], shifts=shift, dims=(2, 3)) * scale.to(self.device)
        return x + noise.to(self.device), labels.to(self.device)


@dataclass
class Run:
    backend: str
    losses: list[float]
    accuracy: list[float]
    seconds: float


def train(model_name: str = "plain-igc", backend: str = "triton", steps: int = 300, batch: int = 32,
          size: int = 16, classes: int = 10, seed: int = 0, device=None, lr: float = 0.1, progress=None) -> Run:
    """Train ``model_name`` with ``backend`` for ``steps`` steps; same seed, same init, same data
    order for every backend."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(seed)
    net = set_backend(MODELS[model_name][0](classes), backend).to(device)
    data = PatternDataset(classes, size, seed, device)
    g = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    losses, accuracy = [], []
    start = time.perf_counter()
    for step in range(steps):
        x, y = data.batch(batch, g)
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        accuracy.append((logits.argmax(1) == y).float().mean().item())
        if progress:
            progress(backend, step, losses[-1])
    return Run(backend, losses, accuracy, time.perf_counter() - start)


def write_outputs(runs: list[Run], out_dir: str, title: str) -> tuple[str, str]:
    """``losses.csv`` (one row per step and backend) and ``losses.png``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    csv_path, png_path = os.path.join(out_dir, "losses.csv"), os.path.join(out_dir, "losses.png")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["backend", "step", "loss", "accuracy"])
        for r in runs:
            w.writerows([r.backend, i, f"{loss:.6f}", f"{acc:.4f}"] for i, (loss, acc) in enumerate(zip(r.losses,
                                                                                                          r.accuracy)))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return csv_path, ""
    fig, ax = plt.subplots(figsize=(7, 4))
    for r, style in zip(runs, ("-", "--", ":")):
        ax.plot(r.losses, style, label=f"{r.backend} ({r.seconds:.1f} s)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return csv_path, png_path


def _step_batch(model_name, batch, size, classes, seed, device):
    torch.manual_seed(seed)
    net = MODELS[model_name][0](classes).to(device)
    x, y = PatternDataset(classes, size, seed, device).batch(batch, torch.Generator().manual_seed(seed + 1))
    return net, x, y


def ddp_worker(rank: int, world_size: int, init_file: str, out_path: str, model_name: str = "plain-igc",
               batch: int = 8, size: int = 8, classes: int = 10, seed: int = 0):
    """One DistributedDataParallel training step on CPU (gloo): rank r takes the r-th equal
    shard of the batch; rank 0 saves the all-reduced gradients to ``out_path``. Used by the
    tests, and runnable with ``torch.multiprocessing.spawn``."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        net, x, y = _step_batch(model_name, batch, size, classes, seed, "cpu")
        ddp = DistributedDataParallel(net)
        shard = batch // world_size
        loss = F.cross_entropy(ddp(x[rank * shard:(rank + 1) * shard]), y[rank * shard:(rank + 1) * shard])
        loss.backward()
        if rank == 0:
            torch.save({n: p.grad for n, p in net.named_parameters()}, out_path)
    finally:
        dist.destroy_process_group()


def ddp_spawn_entry(rank: int, *args):
    """``ddp_worker`` as a ``torch.multiprocessing.spawn`` target that leaves its process with
    ``os._exit(0)`` once the result is written: torch 2.13's CPU gloo aborts now and then at
    interpreter teardown after ``destroy_process_group`` (SIGABRT or SIGSEGV with no Python frame,
    about 1 run in 15, with a bare ``nn.Conv2d`` model too)."""
    ddp_worker(rank, *args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def sharded_gradients(world_size: int, model_name: str = "plain-igc", batch: int = 8, size: int = 8,
                      classes: int = 10, seed: int = 0) -> dict:
    """What ``ddp_worker`` computes, in one process: the mean over shards of each shard's gradient."""
    net, x, y = _step_batch(model_name, batch, size, classes, seed, "cpu")
    shard = batch // world_size
    for r in range(world_size):
        (F.cross_entropy(net(x[r * shard:(r + 1) * shard]), y[r * shard:(r + 1) * shard]) / world_size).backward()
    return {n: p.grad for n, p in net.named_parameters()}
