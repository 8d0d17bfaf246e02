import pytest
import torch

torch.set_num_threads(1)  # EP-sized work runs fastest on one thread on the 2-core CI machines


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
