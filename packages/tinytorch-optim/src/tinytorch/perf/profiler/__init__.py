"""The profiler: ``profile(model, example_input)`` measures every layer of a model.

| file | what it holds |
|---|---|
| profiler.py | ``profile``: the counting pass, the timed runs, the rows |
| flops.py | FLOP formulas by ``FlopCounterMode``'s rules, and the op-class registry |
| graph.py | walking the autograd graph: nodes, which module made them, saved memory |
| hooks.py | ``CallRecorder``: forward hooks that note every module call and its clock |
| report.py | ``Profile`` / ``LayerProfile``: table, JSON, totals |
| roofline.py | this machine's measured GEMM peak and bandwidth, and the roofline plot |
"""

from tinytorch.perf.profiler.flops import register_flops
from tinytorch.perf.profiler.profiler import profile
from tinytorch.perf.profiler.report import LayerProfile, Profile
from tinytorch.perf.profiler.roofline import MachineRoofs, measure_roofs

__all__ = ["LayerProfile", "MachineRoofs", "Profile", "measure_roofs", "profile",
           "register_flops"]
