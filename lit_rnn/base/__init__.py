"""What every room may use, and which imports no other room: user-facing errors and exit codes, errors carried
from child processes, signals, the fast exit, the one YAML reader, classes named by ``class_path``, and the
private APIs of Lightning, PyTorch and Optuna, each in one place (``private_apis``)."""
