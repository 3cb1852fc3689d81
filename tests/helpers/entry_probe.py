"""A stand-in for an entry module, run as ``python -m helpers.entry_probe MODE [ARG]`` or forked by a fork server:
it ends as an entry module does (``run_then_exit``, errors said and recorded, signals from its first line).

Modes: ``report`` prints, as JSON, what a process started this way sees (its argv, ``__main__``, environment);
``report torch`` adds torch's thread count and the seconds of a fixed piece of parallel work; ``exit N`` exits with N;
``user-error`` fails with a user's error; ``wait`` says ``waiting`` and sleeps until a signal stops it.
"""

if __name__ == "__main__":
    from lit_rnn.base import interrupts

    interrupts.install()

import json
import os
import sys
import time

from lit_rnn.base.errors import ConfigError, exits_cleanly_on_user_error
from lit_rnn.base.quick_exit import run_then_exit

PROBED = "LIT_RNN_PROBED"  # a variable the tests set for the process
USER_ERROR = "--model.network.hidden_size is 0, but it must be 1 or more."


def torch_facts() -> dict[str, float]:
    """torch's thread count, and the seconds of a fixed piece of parallel work (matrix products)."""
    import torch

    matrix = torch.ones(512, 512)
    start = time.perf_counter()
    for _ in range(20):
        matrix = (matrix @ matrix).clamp_(max=1.0)
    return {"threads": torch.get_num_threads(), "seconds": time.perf_counter() - start}


@exits_cleanly_on_user_error
def main() -> None:
    mode, *values = sys.argv[1:]
    if mode == "report":
        main_module = sys.modules["__main__"]
        facts = {
            "argv": sys.argv,
            "main": main_module.__spec__.name,
            "main_name": main_module.__name__,
            "probed": os.environ.get(PROBED),
            "pid": os.getpid(),
            **(torch_facts() if values == ["torch"] else {}),
        }
        print(json.dumps(facts))
    elif mode == "exit":
        sys.exit(int(values[0]))
    elif mode == "user-error":
        raise ConfigError(USER_ERROR)
    elif mode == "wait":
        print("waiting", flush=True)
        time.sleep(60)


if __name__ == "__main__":
    run_then_exit(main)
