"""``bench.environment.drop_nvml_check_without_nvml``: Lightning's NVML-based CUDA check is
unset only where NVML cannot answer (torch then makes the runtime check it falls back to)."""

from __future__ import annotations

import os

import pytest
import torch

from bench import environment


@pytest.mark.parametrize(("nvml_count", "dropped"), [(-1, True), (0, False), (2, False)])
def test_the_variable_goes_only_where_nvml_fails(monkeypatch: pytest.MonkeyPatch, nvml_count: int, dropped: bool) -> None:
    environment.drop_nvml_check_without_nvml.cache_clear()
    monkeypatch.setenv(environment.NVML_CHECK, "1")
    monkeypatch.setattr(torch.cuda, "_is_compiled", lambda: True)
    monkeypatch.setattr(torch.cuda, "_device_count_nvml", lambda: nvml_count)
    try:
        assert environment.drop_nvml_check_without_nvml() is dropped
        assert (environment.NVML_CHECK not in os.environ) is dropped
    finally:
        environment.drop_nvml_check_without_nvml.cache_clear()


def test_a_variable_the_user_did_not_set_to_1_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    environment.drop_nvml_check_without_nvml.cache_clear()
    monkeypatch.setenv(environment.NVML_CHECK, "0")
    monkeypatch.setattr(torch.cuda, "_device_count_nvml", lambda: -1)
    try:
        assert environment.drop_nvml_check_without_nvml() is False
        assert os.environ[environment.NVML_CHECK] == "0"
    finally:
        environment.drop_nvml_check_without_nvml.cache_clear()
