"""The benchmark harness: statistics on known samples, a fake clock instead of real time,
alternation order, fingerprint, JSON. No assertion here depends on how fast anything runs."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinytorch.perf import bench_cli, environment
from tinytorch.perf.benchmark import BenchmarkResult, benchmark, calls_per_sample
from tinytorch.perf.compare import Comparison, Side, alternating_blocks, compare
from tinytorch.perf.standard import Workload
from tinytorch.perf.stats import median_coverage, median_interval, quartiles


class FakeClock:
    """A timer that only moves when a fake workload says it spent time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def spend(self, seconds: float) -> None:
        self.now += seconds


def costs(clock: FakeClock, durations: list[float]) -> Callable[[], None]:
    """A workload whose successive calls take ``durations`` (then the last one forever)."""
    it: Iterator[float] = iter(durations)
    last = [durations[-1]]

    def fn() -> None:
        last[0] = next(it, last[0])
        clock.spend(last[0])
    return fn


# --- statistics -----------------------------------------------------------------------------

def test_quartiles_of_known_samples_interpolate_linearly() -> None:
    assert quartiles([5.0, 1.0, 3.0, 2.0, 4.0]) == (2.0, 3.0, 4.0)
    assert quartiles([1.0, 2.0, 3.0, 4.0]) == (1.75, 2.5, 3.25)


def test_median_coverage_is_the_binomial_probability() -> None:
    assert median_coverage(5, 1) == pytest.approx(1 - 2 / 32)
    assert median_coverage(9, 2) == pytest.approx(1 - 2 * (1 + 9) / 512)
    assert median_coverage(1, 1) == 0.0
    with pytest.raises(ValueError, match="j must be in"):
        median_coverage(9, 6)


def test_median_interval_picks_the_narrowest_order_statistics_reaching_the_level() -> None:
    samples = [float(x) for x in (9, 1, 8, 2, 7, 3, 6, 4, 5)]
    low, high, coverage = median_interval(samples, 0.95)
    assert (low, high) == (2.0, 8.0)                  # 2nd smallest, 2nd largest of 9
    assert coverage == pytest.approx(0.9609375)
    low, high, coverage = median_interval(samples, 0.5)
    assert low < high and coverage >= 0.5 and high - low < 6.0


def test_median_interval_of_too_few_samples_is_the_range_with_its_lower_coverage() -> None:
    low, high, coverage = median_interval([3.0, 1.0, 2.0], 0.95)
    assert (low, high) == (1.0, 3.0)
    assert coverage == pytest.approx(0.75)


@given(st.lists(st.floats(1e-6, 1e3), min_size=1, max_size=60),
       st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_median_interval_contains_the_sample_median(samples: list[float], level: float) -> None:
    low, high, coverage = median_interval(samples, level)
    assert low <= statistics.median(samples) <= high
    assert coverage >= level or (low, high) == (min(samples), max(samples))


def test_statistics_reject_empty_or_non_finite_samples() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        quartiles([])
    with pytest.raises(ValueError, match="finite"):
        median_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="level"):
        median_interval([1.0], 1.0)


# --- benchmark ------------------------------------------------------------------------------

def test_benchmark_statistics_come_from_the_samples_of_a_fake_clock() -> None:
    clock = FakeClock()
    samples = [4.0, 1.0, 3.0, 2.0, 5.0, 9.0, 6.0]
    # 2 warm-up calls and 1 calibration call (min_time=0 keeps one call per sample) first
    fn = costs(clock, [100.0, 100.0, 100.0, *samples])
    result = benchmark(fn, warmup=2, repeats=7, min_time=0.0, timer=clock, name="fake")
    assert result.times == tuple(samples)
    assert result.number == 1
    assert result.median == 4.0
    assert (result.q1, result.q3) == (2.5, 5.5)
    assert result.iqr == 3.0
    assert result.min == 1.0
    assert result.ci == (1.0, 9.0)                    # 7 samples: the range, 98.4%
    assert result.ci_level == pytest.approx(1 - 2 / 128)
    assert "fake: median 4.000 s" in result.summary()


def test_each_sample_runs_enough_calls_to_last_min_time() -> None:
    clock = FakeClock()
    calls = []

    def fn() -> None:
        calls.append(1)
        clock.spend(0.001)
    result = benchmark(fn, warmup=3, repeats=5, min_time=0.0105, timer=clock)
    assert result.number * 0.001 >= 0.0105
    assert result.times == pytest.approx((0.001,) * 5)
    assert result.iqr == pytest.approx(0.0)
    calibration = len(calls) - 3 - 5 * result.number
    assert calibration >= result.number               # the last calibration run was a sample


def test_calls_per_sample_grows_until_a_sample_reaches_min_time() -> None:
    clock = FakeClock()
    assert calls_per_sample(costs(clock, [2e-6]), 1e-3, clock) >= 500
    assert calls_per_sample(costs(clock, [1.0]), 1e-3, clock) == 1


def test_calls_per_sample_refuses_a_timer_that_never_advances() -> None:
    with pytest.raises(RuntimeError, match="timer did not advance"):
        calls_per_sample(lambda: None, 1e-3, lambda: 0.0)


def test_garbage_collection_is_paused_only_while_samples_run() -> None:
    states = []
    clock = FakeClock()

    def fn() -> None:
        states.append(gc.isenabled())
        clock.spend(1.0)
    assert gc.isenabled()
    benchmark(fn, warmup=1, repeats=3, min_time=0.0, timer=clock)
    assert states == [True, True, False, False, False]   # warm-up, calibration, 3 samples
    assert gc.isenabled()


@pytest.mark.parametrize("kwargs, match", [
    ({"repeats": 0}, "repeats must be an integer ≥ 1"),
    ({"warmup": -1}, "warmup must be an integer ≥ 0"),
    ({"min_time": float("inf")}, "min_time must be a finite number"),
    ({"level": 1.5}, "level must be a probability"),
])
def test_benchmark_rejects_settings_it_cannot_use(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        benchmark(lambda: None, **kwargs)


def test_benchmark_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="fn must be a callable.*got int"):
        benchmark(3)  # type: ignore[arg-type]


# --- fingerprint ----------------------------------------------------------------------------

def test_fingerprint_names_versions_blas_threads_cpu_and_load() -> None:
    clock = FakeClock()
    fp = benchmark(costs(clock, [1.0]), repeats=1, warmup=0, min_time=0.0,
                   timer=clock).fingerprint
    assert {"python", "platform", "packages", "blas", "threads", "cpu", "load_average",
            "reference_kernels", "time_utc"} <= set(fp)
    assert {"tinytorch-core", "tinytorch-optim", "numpy"} <= set(fp["packages"])
    assert {"name", "version", "controlled_by_tinytorch", "threads_now"} <= set(fp["blas"])
    assert fp["threads"]["tinytorch"] >= 1
    assert {"model", "cores", "usable_cores", "caches"} <= set(fp["cpu"])
    assert set(fp["load_average"]) == {"start", "end"}
    json.dumps(fp)                                    # JSON-ready as it is


def test_cpu_model_and_cache_sizes_are_read_from_the_system_files(tmp_path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: Acme\nmodel name\t: Acme Z80 @ 4MHz\n")
    assert environment.cpu_model(cpuinfo) == "Acme Z80 @ 4MHz"
    for i, (level, kind, size) in enumerate([("1", "Data", "32K"), ("2", "Unified", "1024K"),
                                             ("3", "Unified", "32M")]):
        index = tmp_path / "cache" / f"index{i}"
        index.mkdir(parents=True)
        (index / "level").write_text(level + "\n")
        (index / "type").write_text(kind + "\n")
        (index / "size").write_text(size + "\n")
    assert environment.cache_sizes(tmp_path / "cache") == {
        "L1d": 32 * 1024, "L2": 1024 * 1024, "L3": 32 * 1024 ** 2}
    assert environment.cache_sizes(tmp_path / "missing") == {}


# --- JSON -----------------------------------------------------------------------------------

def _result() -> BenchmarkResult:
    clock = FakeClock()
    return benchmark(costs(clock, [1.0, 1.0, 0.5, 0.25, 0.75]), warmup=1, repeats=3,
                     min_time=0.0, timer=clock, name="step")


def test_benchmark_result_json_round_trip(tmp_path) -> None:
    result = _result()
    data = json.loads(result.to_json())
    assert data["median"] == result.median and data["times"] == [0.5, 0.25, 0.75]
    assert data["ci"]["low"] <= data["median"] <= data["ci"]["high"]
    assert BenchmarkResult.from_dict(data) == result
    path = tmp_path / "result.json"
    result.save(path)
    assert BenchmarkResult.load(path) == result
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]   # no temporary left


def test_from_dict_names_what_is_missing() -> None:
    data = _result().to_dict()
    del data["times"]
    with pytest.raises(ValueError, match="not a BenchmarkResult dict.*times"):
        BenchmarkResult.from_dict(data)


# --- compare --------------------------------------------------------------------------------

def _recording(clock: FakeClock, log: list[str], name: str, seconds: float) -> Callable[[], None]:
    def fn() -> None:
        log.append(name)
        clock.spend(seconds)
    return fn


def test_compare_alternates_blocks_with_a_pause_before_each() -> None:
    clock, log = FakeClock(), []
    a = _recording(clock, log, "a", 2.0)
    b = _recording(clock, log, "b", 1.0)
    result = compare(a, b, rounds=3, repeats=2, warmup=1, min_time=0.0, settle=0.5,
                     timer=clock, sleep=lambda s: log.append(f"sleep {s}"))
    calibrate = ["sleep 0.5", "a", "a", "sleep 0.5", "b", "b"]     # warm-up + one timed call
    block = {s: ["sleep 0.5", s, s, s] for s in "ab"}              # warm-up + 2 samples
    assert log == calibrate + (block["a"] + block["b"]) * 3
    assert result.round_ratios == (2.0, 2.0, 2.0)
    assert result.ratio == 2.0 and result.ci == (2.0, 2.0)
    assert len(result.a.times) == len(result.b.times) == 6


def test_compare_ratio_is_the_median_of_paired_round_ratios() -> None:
    clock = FakeClock()
    # min_time=0: one calibration call, then per round 1 warm-up and 1 sample
    a = costs(clock, [1.0, 1.0, *[x for r in (1, 2, 3, 4, 5) for x in (1.0, float(r))]])
    result = compare(a, costs(clock, [1.0]), rounds=5, repeats=1, warmup=1, min_time=0.0,
                     timer=clock, sleep=lambda s: None)
    assert result.round_ratios == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert result.ratio == 3.0
    assert result.ci == (1.0, 5.0) and result.ci_level == pytest.approx(0.9375)
    assert result.ci[0] <= result.ratio <= result.ci[1]


def test_a_side_context_is_entered_around_each_of_its_blocks_only() -> None:
    clock, log = FakeClock(), []

    @contextlib.contextmanager
    def mode() -> Iterator[None]:
        log.append("enter")
        yield
        log.append("exit")
    sides = [Side(_recording(clock, log, "a", 1.0), "a", mode),
             Side(_recording(clock, log, "b", 1.0), "b")]
    alternating_blocks(sides, rounds=2, repeats=1, warmup=0, number=[1, 1], timer=clock,
                       sleep=lambda s: None)
    assert log == ["enter", "a", "exit", "b", "enter", "a", "exit", "b"]


def test_compare_with_a_fixed_number_skips_calibration() -> None:
    clock, log = FakeClock(), []
    result = compare(_recording(clock, log, "a", 1.0), _recording(clock, log, "b", 4.0),
                     rounds=1, repeats=1, warmup=0, number=3, timer=clock,
                     sleep=lambda s: None)
    assert log == ["a"] * 3 + ["b"] * 3
    assert (result.a.number, result.b.number) == (3, 3)
    assert result.ratio == 0.25


def test_comparison_json_round_trip(tmp_path) -> None:
    clock = FakeClock()
    result = compare(costs(clock, [3.0]), costs(clock, [1.5]), rounds=2, repeats=2, warmup=0,
                     min_time=0.0, timer=clock, sleep=lambda s: None)
    data = json.loads(result.to_json())
    assert data["ratio"] == 2.0 and data["ratio_of"] == "fn / fn"
    assert Comparison.from_dict(data) == result
    result.save(tmp_path / "c.json")
    assert Comparison.load(tmp_path / "c.json") == result


def test_compare_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="compare: b must be a callable"):
        compare(lambda: None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rounds must be an integer"):
        compare(lambda: None, lambda: None, rounds=0)


# --- tito perf bench ------------------------------------------------------------------------

def _perf_parser() -> argparse.ArgumentParser:
    from tinytorch.perf.cli import register

    parser = argparse.ArgumentParser(prog="tito")
    register(parser.add_subparsers(dest="command"))
    return parser


def test_tito_perf_bench_help_lists_the_standard_workloads(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        _perf_parser().parse_args(["perf", "bench", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in ("matmul", "MLP", "cross_entropy", "Conv2d", "attention", "--json",
                 "--quick"):
        assert name in out


def test_tito_perf_bench_prints_a_table_and_writes_json(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(bench_cli, "standard_set",
                        lambda quick=False: [Workload("tiny sum", lambda: lambda: sum(range(10)))])
    path = tmp_path / "bench.json"
    args = _perf_parser().parse_args(["perf", "bench", "--quick", "--repeats", "3",
                                      "--json", str(path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "tiny sum" in out and "blas" in out and "load avg" in out
    data = json.loads(path.read_text())
    assert [r["name"] for r in data["results"]] == ["tiny sum"]
    assert len(data["results"][0]["times"]) == 3
    assert "cpu" in data["fingerprint"]


def test_tito_perf_bench_only_matching_nothing_is_a_usage_error(capsys) -> None:
    args = _perf_parser().parse_args(["perf", "bench", "--only", "no such workload"])
    assert args.func(args) == 2
    assert "no workload matches" in capsys.readouterr().err
