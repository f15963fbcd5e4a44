"""Training with the Triton backend: gradients, loss trajectory, outputs, and DDP."""

import os

import pytest
import torch
import torch.multiprocessing as mp

from igc_triton import models
from igc_triton.lab import train
from igc_triton.nn import set_backend
from igc_triton.testing import rel_error


def test_paper_model_gradients_match_reference_backend(device, exact_fp32):
    torch.manual_seed(0)
    net = models.plain_cifar(8, L=8, M=2).to(device)
    x = torch.randn(4, 3, 8, 8, device=device)
    y = torch.randint(10, (4,), device=device)
    grads = {}
    for backend in ("reference", "triton"):
        net.zero_grad()
        torch.nn.functional.cross_entropy(set_backend(net, backend)(x), y).backward()
        grads[backend] = {n: p.grad.clone() for n, p in net.named_parameters()}
    for name, g in grads["triton"].items():
        assert rel_error(g, grads["reference"][name]) <= 1e-4, name


def test_same_seed_same_loss_trajectory(device, tmp_path, exact_fp32):
    runs = [train.train("plain-igc", backend, steps=3, batch=8, size=8, device=device)
            for backend in ("triton", "reference")]
    for a, b in zip(runs[0].losses, runs[1].losses):
        assert abs(a - b) <= 1e-4 * abs(b)
    csv_path, png_path = train.write_outputs(runs, str(tmp_path), "test")
    assert sum(1 for _ in open(csv_path)) == 1 + 2 * 3
    assert os.path.getsize(png_path) > 1000


def test_generated_data_is_reproducible():
    a = train.PatternDataset(seed=3).batch(4, torch.Generator().manual_seed(1))
    b = train.PatternDataset(seed=3).batch(4, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_ddp_gradients_equal_single_process(tmp_path):
    """Two gloo processes on CPU, each half the batch: the all-reduced gradients equal the
    single-process mean of the two halves' gradients."""
    out = tmp_path / "grads.pt"
    mp.spawn(train.ddp_spawn_entry, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    ddp = torch.load(out)
    single = train.sharded_gradients(2)
    assert ddp.keys() == single.keys()
    for name, g in single.items():
        assert rel_error(ddp[name], g) <= 1e-5, name
