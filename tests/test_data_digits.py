"""The bundled digits are read from scikit-learn's own file without importing scikit-learn."""

import subprocess
import sys

import numpy as np


def test_digits_equal_scikit_learns_loader():
    from sklearn.datasets import load_digits

    from sweeplab.data.loaders import _sklearn_digits

    x, y = _sklearn_digits()
    ref = load_digits()
    assert np.array_equal(x, ref.images) and np.array_equal(y, ref.target)


def test_loading_digits_does_not_import_sklearn():
    code = ("import sys; from sweeplab.data.loaders import load_digits; d = load_digits(); "
            "print(d.x_train.shape, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "False"
