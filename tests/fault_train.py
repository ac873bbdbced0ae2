"""Test helper: seqcls's training entry point with a fault injected. It is launched instead of `-m seqcls.train`
(by torchrun / the deepspeed launcher / python) and raises RuntimeError on rank SEQCLS_TEST_FAIL_RANK when the
Trainer reaches optimizer step SEQCLS_TEST_FAIL_STEP. Everything else is seqcls.train.main unchanged: the fault is one more Trainer callback."""
import os, sys

from transformers import TrainerCallback

import seqcls.train as train_module
from seqcls.dist import get_rank

FAIL_RANK, FAIL_STEP = int(os.environ.get("SEQCLS_TEST_FAIL_RANK", "0")), int(os.environ.get("SEQCLS_TEST_FAIL_STEP", "3"))


class Fault(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if get_rank() == FAIL_RANK and state.global_step >= FAIL_STEP:
            raise RuntimeError(f"injected fault on rank {FAIL_RANK} at step {state.global_step}")


if __name__ == "__main__":
    sys.exit(train_module.main(callbacks=[Fault()]))
