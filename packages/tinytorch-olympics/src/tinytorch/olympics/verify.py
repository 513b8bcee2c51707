"""Verification: from a pile of bundles to one result record each, trusting no claim.

For every bundle, in this order:

1. **Read** it (``bundle.read_bundle``): size limits, zip-bomb checks, the schema of
   ``submission.json``, and the model's SHA-256 against the one the submission recorded.
   Then the event must exist, allow the division, and not have this model already.
2. **Measure** it in a sandboxed child process (``sandbox.run_worker``, ``worker.py``): the
   ONNX checks, held-out accuracy, interleaved latency against the baseline, peak memory and
   the anti-gaming checks, all in onnxruntime. This step runs where the scheduler puts it:
   a pool of child processes on this machine (``local``), or a Dask cluster.
3. **Judge** it here: the accuracy floor, the event's limits, each claim against its
   measurement (within the event's tolerance), then the score from the ratios against the
   baseline measured in the same child.

Every bundle ends as a record, ``verified`` or ``rejected`` with its reasons; a crash of the
child, of onnxruntime or of a Dask worker is a rejection, never an exception here.

Cost per bundle: one child start (~1.5 s of imports and a re-exec), two passes over the
held-out split at batch 1 (entry and baseline), and ``2 * repeats`` timed runs of ``min_time``
each, plus the repeat check.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import queue
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from tinytorch.olympics.baseline import TrainedBaseline, load_baseline
from tinytorch.olympics.bundle import Bundle, BundleError, read_bundle
from tinytorch.olympics.data import Split, heldout
from tinytorch.olympics.results import ResultStore
from tinytorch.olympics.rules import Event, Rules, Task
from tinytorch.olympics.sandbox import SandboxLimits, run_worker


@dataclass(frozen=True)
class Settings:
    """How hard the verifier measures. The defaults are the competition's; ``QUICK`` is for
    tests and CI (fewer held-out samples, shorter timed runs)."""

    samples: int | None = None         # held-out samples (None: the whole test split)
    seed: int = 2026                   # the held-out permutation's and the pool's
    repeats: int = 7                   # timed runs per model, of which the median is kept
    min_time: float = 0.05             # seconds per timed run
    warmup: float = 0.05               # seconds of untimed runs first
    pool: int = 256                    # varied samples cycled through in the timed runs
    repeat_speedup_max: float = 1.5    # one sample repeated may not be this much faster
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    quick_baselines: bool = False      # use the baselines of `tito olympics baseline --quick`


QUICK = Settings(samples=2000, min_time=0.01, warmup=0.01, quick_baselines=True)


@dataclass(frozen=True)
class Job:
    """What a worker needs to measure one bundle; plain data, so Dask can ship it."""

    model_bytes: bytes
    baseline_bytes: bytes
    task: Task
    division: str
    settings: Settings
    data_root: str | None


# --------------------------------------------------------------------------- worker side
@functools.lru_cache(maxsize=4)
def _heldout(task: Task, root: str | None, seed: int, samples: int | None) -> Split:
    return heldout(task, root, seed=seed, samples=samples)


def measure_job(job: Job, cpu: int | None = None) -> dict[str, Any]:
    """Measure one bundle in a sandboxed child; runs in the local pool or on a Dask worker.

    Returns ``{"result": worker result or None, "reason": why there is none, "environment":
    this machine's fingerprint}``; never raises for anything the model does.
    """
    from tinytorch.perf.environment import fingerprint
    s = job.settings
    try:
        split = _heldout(job.task, job.data_root, s.seed, s.samples)
    except (RuntimeError, OSError) as e:
        return {"result": None, "reason": f"the verifier has no held-out data: {e}",
                "environment": fingerprint()}
    with tempfile.TemporaryDirectory(prefix="tinytorch-olympics-") as folder:
        scratch = Path(folder)
        (scratch / "model.onnx").write_bytes(job.model_bytes)
        (scratch / "baseline.onnx").write_bytes(job.baseline_bytes)
        np.save(scratch / "x.npy", split.x)
        np.save(scratch / "y.npy", split.y)
        spec = {"model": "model.onnx", "baseline": "baseline.onnx", "x": "x.npy", "y": "y.npy",
                "input_shape": list(job.task.input_shape),
                "num_classes": job.task.num_classes, "division": job.division,
                "max_nodes": 10_000,
                "timing": {"repeats": s.repeats, "min_time": s.min_time, "warmup": s.warmup,
                           "pool": min(s.pool, len(split)), "repeat_sample": 0},
                "gaming": {"repeat_speedup_max": s.repeat_speedup_max, "outputs": "exact"}}
        (scratch / "job.json").write_text(json.dumps(spec), encoding="utf-8")
        outcome = run_worker(scratch, s.limits, cpu=cpu)
    return {"result": outcome.result, "reason": outcome.reason,
            "environment": fingerprint(), "heldout_samples": len(split)}


def _pinned(job: Job, free: queue.Queue[int]) -> dict[str, Any]:
    """measure_job on a core of its own, taken from ``free`` and given back after."""
    cpu = free.get()
    try:
        return measure_job(job, cpu)
    finally:
        free.put(cpu)


# --------------------------------------------------------------------------- records
def make_record(*, source: str, bundle: Bundle | None, status: str, reasons: list[str],
                verifier: dict[str, Any], measured: dict[str, Any] | None = None,
                baseline: dict[str, Any] | None = None, ratios: dict[str, float] | None = None,
                score: float | None = None, checks: list[dict[str, Any]] | None = None,
                environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """A result record (the schema of ``results.validate_record``)."""
    sub = bundle.submission if bundle is not None else {}
    return {"schema": 1, "bundle": source,
            "bundle_sha256": bundle.sha256 if bundle else None,
            "model_sha256": bundle.model_sha256 if bundle else None,
            "entrant": sub.get("entrant"), "event": sub.get("event"),
            "division": sub.get("division"), "techniques": list(sub.get("techniques", [])),
            "description": sub.get("description", ""), "status": status,
            "reasons": reasons, "claims": sub.get("claims"), "measured": measured,
            "baseline": baseline, "ratios": ratios, "score": score, "checks": checks or [],
            "environment": environment or {}, "verified_at": now_utc(), "verifier": verifier}


# --------------------------------------------------------------------------- judging
def _check(checks: list[dict[str, Any]], name: str, passed: bool, detail: str) -> None:
    checks.append({"name": name, "passed": passed, "detail": detail})


def judge(event: Event, bundle: Bundle, baseline: TrainedBaseline, result: dict[str, Any]
          ) -> tuple[list[str], dict[str, Any], dict[str, Any], dict[str, float], float,
                     list[dict[str, Any]]]:
    """Reasons to reject (empty: verified), measured figures, baseline figures, ratios, score
    and the checks, from a worker's result that passed its own checks."""
    entry, base = result["entry"], result["baseline"]
    checks: list[dict[str, Any]] = []
    reasons: list[str] = []
    model_bytes, base_bytes = len(bundle.model_bytes), len(baseline.onnx_bytes)
    measured = {"accuracy": entry["accuracy"], "latency_ms": entry["latency_ms"],
                "latency_runs_ms": entry["latency_runs_ms"],
                "peak_memory_bytes": max(0, int(entry["peak_memory_bytes"])),
                "model_bytes": model_bytes, "repeat_speedup": entry["repeat_speedup"],
                "outputs_match": bool(entry["outputs_match"])}
    baseline_figures = {"name": baseline.info.get("task", baseline.task),
                        "accuracy": base["accuracy"], "latency_ms": base["latency_ms"],
                        "model_bytes": base_bytes}
    ratios = {"speedup": float(result["speedup"]), "compression": base_bytes / model_bytes,
              "accuracy": entry["accuracy"] / base["accuracy"] if base["accuracy"] else 0.0}

    floor = event.accuracy_floor * base["accuracy"]
    ok = entry["accuracy"] >= floor
    detail = (f"held-out accuracy {entry['accuracy']:.2%}, floor {floor:.2%} "
              f"({event.accuracy_floor:.0%} of the baseline's {base['accuracy']:.2%})")
    _check(checks, "accuracy floor", ok, detail)
    if not ok:
        reasons.append(f"below the accuracy floor: {detail}")

    limits = event.limits
    figures = {"max_model_bytes": (model_bytes, "model file bytes"),
               "max_latency_ms": (entry["latency_ms"], "latency ms at batch 1"),
               "max_peak_memory_bytes": (measured["peak_memory_bytes"], "peak memory bytes"),
               "max_model_bytes_vs_baseline": (model_bytes / base_bytes,
                                               "model size / baseline's"),
               "max_latency_vs_baseline": (1 / ratios["speedup"], "latency / baseline's")}
    for key, limit in limits.items():
        value, what = figures[key]
        ok = value <= limit
        _check(checks, f"limit {key}", ok, f"{what}: {value:.4g} (limit {limit:.4g})")
        if not ok:
            reasons.append(f"over the event's limit: {what} is {value:.4g}, the limit is "
                           f"{limit:.4g}")

    claims = bundle.submission["claims"]
    tol = event.tolerance
    over = claims["accuracy"] - entry["accuracy"]
    ok = over <= tol["accuracy"]
    detail = (f"claimed {claims['accuracy']:.2%}, measured {entry['accuracy']:.2%} on the "
              f"held-out split (tolerance {tol['accuracy'] * 100:.1f} points)")
    _check(checks, "accuracy claim", ok, detail)
    if not ok:
        reasons.append(f"accuracy claim does not reproduce: {detail}")
    ok = claims["speedup"] <= ratios["speedup"] * (1 + tol["speedup"])
    detail = (f"claimed {claims['speedup']:.3g}x, measured {ratios['speedup']:.3g}x against "
              f"the baseline in the same run (a claim may exceed the measurement by "
              f"{tol['speedup']:.0%})")
    _check(checks, "speed-up claim", ok, detail)
    if not ok:
        reasons.append(f"speed-up claim does not reproduce: {detail}")
    ok = claims["model_bytes"] == model_bytes
    detail = f"claimed {claims['model_bytes']:,} bytes, model.onnx has {model_bytes:,}"
    _check(checks, "size claim", ok, detail)
    if not ok:
        reasons.append(f"size claim does not match: {detail}")
    return reasons, measured, baseline_figures, ratios, event.score(ratios), checks


# --------------------------------------------------------------------------- scheduling
@contextmanager
def executor_for(scheduler: str, jobs: int) -> Iterator[tuple[Executor, bool]]:
    """An executor for measure_job calls, and whether it pins each local child to a core.

    ``local``: ``jobs`` child processes at a time on this machine, each pinned to its own
    core (at most the usable cores, so timed runs never share one). An address
    (``tcp://host:8786``): a Dask distributed scheduler, through ``Client.get_executor``,
    each job holding the workers' ``bench`` resource (see ``cluster.py``).
    """
    if scheduler == "local":
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            yield pool, jobs > 1
        return
    if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise ValueError(f"scheduler must be 'local' or a Dask scheduler address such as "
                         f"tcp://host:8786, got {scheduler!r}")
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("a Dask scheduler needs the dask extra: pip install "
                          "'tinytorch-olympics[dask]'") from None
    with Client(scheduler, timeout="30s") as client:
        yield client.get_executor(resources={"bench": 1}, pure=False), False


class Verifier:
    """Verifies bundles for one rules folder and appends the records to a result store."""

    def __init__(self, rules: Rules, *, store: ResultStore | None = None,
                 settings: Settings = Settings(), data_root: str | None = None,
                 home: Path | None = None) -> None:
        self.rules, self.store, self.settings = rules, store, settings
        self.data_root, self.home = data_root, home
        self._baselines: dict[str, TrainedBaseline] = {}

    def baseline(self, task: Task) -> TrainedBaseline:
        if task.name not in self._baselines:
            self._baselines[task.name] = load_baseline(
                task, quick=self.settings.quick_baselines, home=self.home)
        return self._baselines[task.name]

    def _reject(self, source: str, reasons: list[str], bundle: Bundle | None = None,
                **fields: Any) -> dict[str, Any]:
        return make_record(source=source, bundle=bundle, status="rejected", reasons=reasons,
                           verifier=self._verifier_info(None), **fields)

    def _verifier_info(self, samples: int | None) -> dict[str, Any]:
        try:
            ort: str | None = metadata.version("onnxruntime")
        except metadata.PackageNotFoundError:
            ort = None
        return {"version": metadata.version("tinytorch-olympics"), "onnxruntime": ort,
                "seed": self.settings.seed,
                "heldout_samples": samples if samples is not None else 0}

    def prepare(self, path: str
                ) -> tuple[Bundle, Event, Job] | dict[str, Any]:
        """A job for ``path``, or its rejection record."""
        try:
            bundle = read_bundle(path)
        except BundleError as e:
            return self._reject(path, [str(e)])
        sub = bundle.submission
        try:
            event = self.rules.event(sub["event"])
        except KeyError as e:
            return self._reject(path, [str(e.args[0])], bundle)
        if sub["division"] not in event.divisions:
            return self._reject(path, [f"event {event.name} has no {sub['division']} "
                                       f"division; it has: {', '.join(event.divisions)}"],
                                bundle)
        key = (bundle.model_sha256, event.name)
        earlier = self.store.duplicate_of(*key) if self.store else None
        if earlier is not None:
            return self._reject(path, [f"duplicate submission: the same model.onnx (sha256 "
                                       f"{bundle.model_sha256[:12]}) was verified for "
                                       f"{event.name} as {earlier['bundle']} by "
                                       f"{earlier['entrant']}"], bundle)
        baseline = self.baseline(event.task)
        job = Job(model_bytes=bundle.model_bytes, baseline_bytes=baseline.onnx_bytes,
                  task=event.task, division=sub["division"], settings=self.settings,
                  data_root=self.data_root)
        return bundle, event, job

    def finish(self, bundle: Bundle, event: Event, outcome: dict[str, Any]) -> dict[str, Any]:
        """The record of a measured bundle."""
        result = outcome.get("result")
        env = outcome.get("environment", {})
        info = self._verifier_info(outcome.get("heldout_samples"))
        if result is None:
            return make_record(source=bundle.source, bundle=bundle, status="rejected",
                               reasons=[f"verification failed: {outcome.get('reason')}"],
                               environment=env, verifier=info)
        if not result.get("ok"):
            return make_record(source=bundle.source, bundle=bundle, status="rejected",
                               reasons=[str(result.get("reason"))],
                               checks=result.get("checks", []), environment=env,
                               verifier=info)
        baseline = self.baseline(event.task)
        reasons, measured, base, ratios, score, checks = judge(event, bundle, baseline, result)
        return make_record(source=bundle.source, bundle=bundle,
                           status="rejected" if reasons else "verified", reasons=reasons,
                           measured=measured, baseline=base, ratios=ratios,
                           score=None if reasons else score,
                           checks=result.get("checks", []) + checks, environment=env,
                           verifier=info)

    def verify(self, paths: Sequence[str], *, jobs: int = 1, scheduler: str = "local",
               on_record: Callable[[dict[str, Any]], None] | None = None
               ) -> list[dict[str, Any]]:
        """One record per path, in order; appended to the store when there is one."""
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        prepared = [self.prepare(os.fspath(p)) for p in paths]
        records: list[dict[str, Any] | None] = [
            p if isinstance(p, dict) else None for p in prepared]
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
        if scheduler == "local":
            jobs = min(jobs, len(cores))
        free: queue.Queue[int] = queue.Queue()
        for core in cores[:jobs]:
            free.put(core)
        with executor_for(scheduler, jobs) as (pool, pin):
            futures: dict[int, Future[dict[str, Any]]] = {}
            for i, item in enumerate(prepared):
                if isinstance(item, tuple):
                    futures[i] = (pool.submit(_pinned, item[2], free) if pin
                                  else pool.submit(measure_job, item[2]))
            for i, future in futures.items():
                item = prepared[i]
                assert isinstance(item, tuple)
                bundle, event, _ = item
                try:
                    outcome = future.result()
                except Exception as e:          # a lost Dask worker, a cancelled job
                    outcome = {"result": None, "reason": f"{type(e).__name__}: {e}"}
                records[i] = self.finish(bundle, event, outcome)
        done = _reject_duplicates([r for r in records if r is not None])
        for record in done:
            if on_record is not None:
                on_record(record)
        if self.store is not None:
            self.store.append(done)
        return done


def _reject_duplicates(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Within one run, a model verified for an event a second time is a duplicate: the first
    verified copy stays, later ones are rejected. A rejected copy (a tampered claim, say)
    blocks nothing."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if record["status"] != "verified":
            continue
        key = (record["model_sha256"], record["event"])
        if key not in first:
            first[key] = record
            continue
        original = first[key]
        record.update(status="rejected", score=None, reasons=[
            f"duplicate submission: the same model.onnx (sha256 {key[0][:12]}) is verified "
            f"for {key[1]} as {original['bundle']} by {original['entrant']}"])
    return records


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
