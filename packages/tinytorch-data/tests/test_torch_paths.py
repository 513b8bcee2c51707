"""PyTorch's import path for the data tier works: ``from torch.utils.data import ...``."""

import tinytorch
import tinytorch.data


def test_utils_data_reexports_the_data_tier() -> None:
    from tinytorch.utils.data import DataLoader, Dataset, TensorDataset, random_split

    assert DataLoader is tinytorch.data.DataLoader
    assert Dataset is tinytorch.data.Dataset
    assert TensorDataset is tinytorch.data.TensorDataset
    assert random_split is tinytorch.data.random_split


def test_pytorch_style_loop_over_utils_data_runs() -> None:
    import tinytorch.utils.data as data

    x = tinytorch.arange(10).float().reshape(5, 2)
    y = tinytorch.arange(5)
    batches = list(data.DataLoader(data.TensorDataset(x, y), batch_size=2))
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
