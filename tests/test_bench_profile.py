"The arithmetic of bench/profile_multigpu.py's summary: where a profiled step's time goes, from a trace built by hand."
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from profile_multigpu import summarize  # noqa: E402


def k(name, ts, dur): return {"cat": "kernel", "name": name, "ts": ts, "dur": dur, "args": {"stream": 7}}
def mark(name, ts, dur): return {"cat": "gpu_user_annotation", "name": name, "ts": ts, "dur": dur}


def test_a_step_splits_into_compute_hidden_and_exposed_communication_and_idle():
    # one step, in microseconds: forward 0-100, backward 100-400, optimizer step 400-500
    trace = {"traceEvents": [
        mark("ds.forward", 0, 100), mark("ds.step", 400, 100),
        k("gemm", 0, 90),                                          # forward: 90 compute, 10 idle
        k("gemm", 100, 200), k("ncclDevKernel_AllReduce", 250, 100),  # backward: 50 of 100 all-reduce under compute
        k("elementwise", 320, 30),                                 # ...30 more compute inside it: exposed 50-30 = 20
        k("ncclDevKernel_AllGather", 400, 40), k("adam", 440, 30),  # step: 40 exposed, 30 compute, 30 idle
    ]}
    s = summarize(trace)
    (step,) = s["steps"]
    assert step["total"] == 0.5
    assert step["forward"] == {"ms": 0.1, "compute": 0.09, "comm": 0.0, "exposed": 0.0, "idle": 0.01}
    assert step["backward"] == {"ms": 0.3, "compute": 0.23, "comm": 0.1, "exposed": 0.02, "idle": 0.05}
    assert step["step"] == {"ms": 0.1, "compute": 0.03, "comm": 0.04, "exposed": 0.04, "idle": 0.03}
    assert s["mean"]["backward"] == step["backward"]
    assert s["nccl_kernels"] == {"ncclDevKernel_AllReduce": [1, 0.1], "ncclDevKernel_AllGather": [1, 0.04]}


def test_a_cpu_trace_uses_the_cpu_ranges():
    trace = [{"cat": "user_annotation", "name": "ds.forward", "ts": 0, "dur": 50},
             {"cat": "user_annotation", "name": "ds.step", "ts": 80, "dur": 20}]
    (step,) = summarize(trace)["steps"]
    assert (step["total"], step["forward"]["idle"], step["backward"]["ms"]) == (0.1, 0.05, 0.03)
