"""Test helper: seqcls's training entry point with a fault injected. It is launched instead of `-m seqcls.train`
(by torchrun / the deepspeed launcher / python) and raises RuntimeError on rank SEQCLS_TEST_FAIL_RANK when the
Trainer reaches optimizer step SEQCLS_TEST_FAIL_STEP, or with SEQCLS_TEST_FAIL_KIND=oom torch's out-of-memory error (as a
CUDA allocation raises it) when that step begins; with SEQCLS_TEST_FAIL_KIND=pause it prints `paused at step N` there and
waits until the file SEQCLS_TEST_GO exists (a test then does something while the run is mid-training). Everything else is seqcls.train.main unchanged: the fault is one more Trainer callback."""
import os, sys

import torch
from transformers import TrainerCallback

import seqcls.train as train_module
from seqcls.dist import get_rank

FAIL_RANK, FAIL_STEP = int(os.environ.get("SEQCLS_TEST_FAIL_RANK", "0")), int(os.environ.get("SEQCLS_TEST_FAIL_STEP", "3"))
OOM = os.environ.get("SEQCLS_TEST_FAIL_KIND") == "oom"
PAUSE = os.environ.get("SEQCLS_TEST_FAIL_KIND") == "pause"


class Fault(TrainerCallback):
    def on_step_begin(self, args, state, control, **kwargs):
        if OOM and get_rank() == FAIL_RANK and state.global_step + 1 >= FAIL_STEP:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.96 GiB. GPU 0 has a total capacity of 79.19 GiB "
                                         "of which 1.21 GiB is free. (injected)")

    def on_step_end(self, args, state, control, **kwargs):
        if PAUSE:
            if get_rank() == FAIL_RANK and state.global_step == FAIL_STEP:
                import time
                print(f"paused at step {state.global_step}", flush=True)
                while not os.path.exists(os.environ["SEQCLS_TEST_GO"]): time.sleep(0.1)
            return
        if not OOM and get_rank() == FAIL_RANK and state.global_step >= FAIL_STEP:
            raise RuntimeError(f"injected fault on rank {FAIL_RANK} at step {state.global_step}")


if __name__ == "__main__":
    sys.exit(train_module.main(callbacks=[Fault()]))
