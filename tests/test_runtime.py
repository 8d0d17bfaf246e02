"""Every tensor the library allocates follows the run's dtype and device.

A study run in float64 must compute in float64 everywhere: a tensor created on the default dtype
(float32) would show up here, and is the cheap proxy for one created on the CPU during a GPU run.
The audit records the dtype of every tensor every torch operation produces (a
``TorchDispatchMode``), ignoring views (they share an input's storage) and the data layer
(``memprop/data``), which reads files in their own precision; the studies convert what they use.

Tests marked ``gpu`` run the quick studies on CUDA and are skipped where no GPU exists.
"""

from __future__ import annotations

import collections
import dataclasses
import traceback

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from memprop.errors import ConfigError


class DtypeAudit(TorchDispatchMode):
    """Counts floating tensors of another dtype than ``want`` that an operation allocated."""

    def __init__(self, want: torch.dtype):
        super().__init__()
        self.want = want
        self.bad: collections.Counter = collections.Counter()
        self.where: dict = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs))
                  if isinstance(t, torch.Tensor) and t.device.type != "meta"}
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dtype == self.want:
                continue
            if t.untyped_storage().data_ptr() in inputs:
                continue  # a view (or an in-place result) of an input
            stack = [f for f in traceback.extract_stack()[:-1] if "memprop" in f.filename]
            if any("/memprop/data/" in f.filename for f in stack):
                continue  # files are read in their own precision; the studies convert
            key = (str(func), str(t.dtype))
            self.bad[key] += 1
            self.where.setdefault(key, "".join(traceback.format_list(stack[-4:])))
        return out

    def report(self) -> str:
        return "\n".join(f"{n} x {k}\n{self.where[k]}" for k, n in self.bad.most_common(8))


def _audited(fn):
    audit = DtypeAudit(torch.float64)
    with audit:
        out = fn()
    assert not audit.bad, "tensors of another dtype than float64:\n" + audit.report()
    return out


def _tiny_reconstruction(**kw):
    from memprop.experiments import reconstruction as R

    cfg = R.quick_config(K=(0, 90), p_fig2=(0.1,), samples_table1=3, samples_fig2=3, samples_fig3=3,
                         fig3_epochs=(0, 2), rbp_etas=(), **kw)
    return dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, epochs=2))


def _tiny_classification(**kw):
    from memprop.experiments.classification import fig5_config

    cfg = fig5_config(quick=True, epochs=1)
    ep = dataclasses.replace(cfg.ep, hidden=(16,), eval_steps=5)
    data = dataclasses.replace(cfg.data, per_class=8)
    return dataclasses.replace(cfg, ep=ep, data=data, eval_sample=5, **kw)


def test_reconstruction_in_float64_is_float64_everywhere():
    from memprop.experiments import reconstruction as R

    results = _audited(lambda: R.run(_tiny_reconstruction(dtype="float64")))
    assert results["table1"]["config"]["dtype"] == "float64"


def test_reconstruction_in_situ_in_float64_is_float64_everywhere():
    from memprop.crossbar import CrossbarConfig
    from memprop.devices import ConstantStepDevice
    from memprop.experiments import reconstruction as R

    device = CrossbarConfig(device=ConstantStepDevice(n_states=64), w_max=1.0)
    _audited(lambda: R.run(_tiny_reconstruction(dtype="float64", device=device)))


def test_classification_in_float64_is_float64_everywhere():
    from memprop.experiments import classification as C

    result = _audited(lambda: C.run(_tiny_classification(dtype="float64")))
    assert result["config"]["dtype"] == "float64"


def test_devices_study_points_in_float64_are_float64_everywhere():
    from memprop.experiments.devices.config import W_MAX_RECONSTRUCTION, base_device, design
    from memprop.experiments.devices.run import classification_points, reconstruction_points

    grid = {"presets": (), "states": (16,), "c2c": (), "d2d": (), "stuck": ()}
    pts = design(grid, W_MAX_RECONSTRUCTION, pairing=False, states=(16,))[:2]
    _audited(lambda: reconstruction_points(pts, "ep", epochs=1, samples=2, p=0.1, seed=0, dtype="float64"))
    _audited(lambda: classification_points(pts[:1], quick=True, seed=0, epochs=1, dtype="float64"))
    assert base_device(states=16).n_states == 16


def test_a_torch_device_that_does_not_exist_is_a_config_error():
    from memprop.experiments.classification import ClassificationConfig
    from memprop.experiments.reconstruction import ReconstructionConfig

    for make in (ReconstructionConfig, ClassificationConfig):
        with pytest.raises(ConfigError, match="torch_device"):
            make(torch_device="tpu")
        if not torch.cuda.is_available():
            with pytest.raises(ConfigError, match="CUDA is not available"):
                make(torch_device="cuda")
    with pytest.raises(ConfigError, match="dtype"):
        ClassificationConfig(dtype="float16")


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@cuda
def test_quick_studies_run_on_cuda():
    from memprop.experiments import classification as C
    from memprop.experiments import reconstruction as R

    r = R.run(_tiny_reconstruction(torch_device="cuda"))
    c = C.run(_tiny_classification(torch_device="cuda"))
    assert r["table1"]["config"]["torch_device"] == "cuda" and c["config"]["torch_device"] == "cuda"


@pytest.mark.gpu
@cuda
def test_cuda_and_cpu_agree_on_the_classification_quick_path():
    from memprop.experiments import classification as C

    cpu = C.run(_tiny_classification(dtype="float64"))
    gpu = C.run(_tiny_classification(dtype="float64", torch_device="cuda"))
    for a, b in zip(cpu["epochs"], gpu["epochs"]):
        assert abs(a["test_error"] - b["test_error"]) <= 0.05


def test_allocator_setting_is_checked_and_applied_once(monkeypatch):
    """MEMPROP_ALLOCATOR: tuned (default) or system; a tuned glibc malloc keeps freed blocks, so the
    engine's repeated temporaries stop page-faulting (benchmarks/allocator.py); numbers unchanged."""
    import platform

    from memprop import _runtime

    monkeypatch.setattr(_runtime, "_allocator", None)
    monkeypatch.setenv("MEMPROP_ALLOCATOR", "bogus")
    with pytest.raises(ConfigError, match="MEMPROP_ALLOCATOR must be one of tuned, system, got 'bogus'"):
        _runtime.configure_allocator()
    monkeypatch.setenv("MEMPROP_ALLOCATOR", "system")
    assert _runtime.configure_allocator() == "system" and _runtime.allocator() == "system"
    monkeypatch.setattr(_runtime, "_allocator", None)
    monkeypatch.delenv("MEMPROP_ALLOCATOR")
    got = _runtime.configure_allocator()
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert got == "tuned"
    assert _runtime.configure_allocator() == got  # once per process
