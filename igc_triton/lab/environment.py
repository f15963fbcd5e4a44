"""What a benchmark run records about where it ran, and NVML energy readings.

NVML (``nvidia-ml-py``, imported lazily) gives the GPU's driver, clocks and energy counter;
without it, or without a GPU, those fields say "unavailable" and the run goes on.
"""

import datetime
import os
import platform
import socket
import subprocess

import torch


def _nvml_handle(device: torch.device):
    try:
        import pynvml
        pynvml.nvmlInit()
        index = device.index if device.index is not None else torch.cuda.current_device()
        return pynvml, pynvml.nvmlDeviceGetHandleByIndex(index)
    except Exception:  # noqa: BLE001 - no library, no driver, no device: telemetry is optional
        return None, None


def git_commit() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def kernels_fingerprint() -> str:
    """Hash of the kernel sources and config spaces: runs with equal ones timed the same code."""
    from igc_triton.launch import autotune
    return autotune.kernels_fingerprint()


def capture(device: torch.device) -> dict:
    """The run's environment, for ``env.json``."""
    import triton

    from igc_triton import __version__, runtime
    env = {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "igc_triton": __version__,
        "git_commit": git_commit(),
        "kernels": kernels_fingerprint(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": device.type,
        "triton_mode": ("interpreter (correctness only, not timed)" if runtime.kernels_interpreted()
                        else "compiled" if device.type == "cuda" else "not run (PyTorch reference fallback)"),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cpu_count": os.cpu_count(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu_name=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                   sm_count=props.multi_processor_count, cuda=torch.version.cuda,
                   compute_capability=f"{props.major}.{props.minor}")
        nvml, handle = _nvml_handle(device)
        if handle is not None:
            try:
                env.update(driver=nvml.nvmlSystemGetDriverVersion(),
                           sm_clock_mhz=nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM),
                           sm_clock_max_mhz=nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM),
                           mem_clock_mhz=nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM),
                           power_limit_w=nvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000)
            except Exception as e:  # noqa: BLE001
                env["telemetry"] = f"partial: {e}"
        else:
            env["telemetry"] = "unavailable (nvidia-ml-py or NVML missing)"
    else:
        env.update(cpu=platform.processor() or platform.machine(), telemetry="unavailable (no GPU)")
    return env


ENERGY_ENV = "IGC_LAB_ENERGY"  # "off": no energy rows (saves >= 0.5 s per measurement)


class EnergyMeter:
    """Energy of repeated calls from NVML's total-energy counter (mJ since driver load)."""

    def __init__(self, device: torch.device):
        # Each measurement takes >= 0.5 s of back-to-back calls: a short GPU lease may skip it.
        off = os.environ.get(ENERGY_ENV, "on").lower() == "off"
        self.nvml, self.handle = _nvml_handle(device) if device.type == "cuda" and not off else (None, None)

    @property
    def available(self) -> bool:
        return self.handle is not None

    def measure(self, fn, min_seconds: float = 0.5) -> tuple[float, float] | None:
        """(joules per call, mean watts) over at least ``min_seconds`` of back-to-back calls."""
        if not self.available:
            return None
        try:
            torch.cuda.synchronize()
            e0 = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            t0 = torch.cuda.Event(enable_timing=True)
            t1 = torch.cuda.Event(enable_timing=True)
            calls = 0
            t0.record()
            while True:
                for _ in range(10):
                    fn()
                calls += 10
                t1.record()
                t1.synchronize()
                if t0.elapsed_time(t1) >= min_seconds * 1e3:
                    break
            e1 = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        except Exception:  # noqa: BLE001 - counter not supported on this GPU
            return None
        joules = (e1 - e0) / 1e3
        return joules / calls, joules / (t0.elapsed_time(t1) / 1e3)
