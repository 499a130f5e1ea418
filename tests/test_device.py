"""GPT_EXPLORER_DEVICE: the CPU by default, a GPU only when torch sees it, and a clear reason otherwise."""

import subprocess
import sys

import pytest
import torch

from gptcore import trace
from gptcore.device import CPU, choose_device, model_device


@pytest.mark.parametrize("setting", [None, "", "cpu", " CPU "])
def test_the_cpu_needs_no_reason(setting):
    assert choose_device(setting) == (CPU, None)


def test_a_gpu_that_is_not_there_falls_back_to_the_cpu_with_a_reason():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU; the fallback is for machines without one")
    device, reason = choose_device("cuda")
    assert device == CPU and "no CUDA GPU" in reason


@pytest.mark.parametrize(("setting", "said"), [("gpu", "not a device torch knows"), ("meta", "only cpu and cuda")])
def test_a_setting_torch_cannot_use_is_named_in_the_reason(setting, said):
    device, reason = choose_device(setting)
    assert device == CPU and said in reason and setting in reason


def test_model_device_is_where_the_parameters_are(tiny_model, prompt_ids):
    assert model_device(tiny_model) == CPU
    assert trace(tiny_model, prompt_ids).logits.dtype.kind == "f"  # Traces come back as NumPy arrays


def test_the_server_logs_the_device_it_chose():
    code = "import ui.models as m; print(m.DEVICE)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"GPT_EXPLORER_DEVICE": "gpu", "PATH": ""},
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "cpu"
    assert "GPT_EXPLORER_DEVICE=gpu" in result.stderr and "using the CPU" in result.stderr
