"""tinytorch.olympics: ML-systems competitions whose every claim is re-measured.

An organiser sets events (rules as JSON, ``rules.py``) and trains the baselines
(``baseline.py``); entrants build bundles (``submit.py``); the verifier re-runs each one in
onnxruntime on held-out data inside a sandboxed child process (``verify.py``, ``worker.py``,
``sandbox.py``) and records the result (``results.py``); the leaderboard shows verified
results only (``leaderboard.py``). The README of tinytorch-olympics walks through it.
"""

from tinytorch.olympics.baseline import TrainedBaseline, load_baseline, train_baseline
from tinytorch.olympics.bundle import Bundle, BundleError, BundleLimits, read_bundle, write_bundle
from tinytorch.olympics.examples import build_example
from tinytorch.olympics.leaderboard import build_leaderboard
from tinytorch.olympics.results import ResultStore, validate_record
from tinytorch.olympics.rules import Event, Rules, RulesError, Task, load_rules
from tinytorch.olympics.submit import submit
from tinytorch.olympics.verify import QUICK, Settings, Verifier

__all__ = [
    "QUICK", "Bundle", "BundleError", "BundleLimits", "Event", "ResultStore", "Rules",
    "RulesError", "Settings", "Task", "TrainedBaseline", "Verifier", "build_example",
    "build_leaderboard", "load_baseline", "load_rules", "read_bundle", "submit",
    "train_baseline", "validate_record", "write_bundle",
]
