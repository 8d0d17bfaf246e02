"""The benchmark scripts' command lines: every one takes ``--torch-device`` (issue 10, item 6) and
ends a bad setting with one line, as the ``memprop`` command does. The figures themselves are
measured by running the scripts, never by tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from memprop._runtime import synchronize

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")
                 if not p.name.startswith("_") and p.name != "compare_results.py")


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_timing_scripts_are_all_here():
    assert SCRIPTS == ["allocator.py", "crossbar_program.py", "ep_flat_loop.py", "ep_throughput.py",
                       "native_relaxation.py", "reconstruction_time.py", "scaling.py", "solvers.py",
                       "training_stacks.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_takes_a_torch_device_and_refuses_a_bad_one_in_one_line(script, tmp_path):
    done = _run(f"benchmarks/{script}", "--torch-device", "tpu")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: error: torch_device"), done.stderr
    assert "'tpu'" in lines[0] and "'cuda'" in lines[0]  # the value and what is allowed
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_scaling_keeps_an_earlier_result_unless_forced(tmp_path):
    (tmp_path / "scaling.json").write_text("{}")
    done = _run("benchmarks/scaling.py", "--out", str(tmp_path), "--series", "ep_batch")
    assert done.returncode == 2 and "--force" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "scaling.json").read_text() == "{}"


def test_synchronize_waits_on_the_device_and_is_a_no_op_on_the_cpu():
    synchronize("cpu")
    synchronize(torch.device("cpu"))
    if torch.cuda.is_available():
        x = torch.ones(1000, 1000, device="cuda")
        y = x @ x
        synchronize("cuda")
        assert torch.cuda.current_stream().query() and float(y[0, 0]) == 1000.0


def test_the_gpu_script_runs_every_gpu_marked_test_file():
    """``gpu_figures.sh`` names the files that hold ``gpu`` tests (collecting the whole suite
    would need the test-only packages, which a device machine may lack)."""
    script = (ROOT / "benchmarks" / "gpu_figures.sh").read_text()
    marked = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("test_*.py")
                    if re.search(r"^@pytest\.mark\.gpu$", p.read_text(), re.M))
    assert marked and all(f in script for f in marked)
