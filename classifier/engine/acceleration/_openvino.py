"""The "openvino" and "openvino-bf16" modes: the networks converted once to OpenVINO's graph and
run by its CPU plugin (oneDNN underneath, with its own thread pool). openvino is in
requirements.txt, but a platform without its wheels can run without it: `auto` then runs fp32.

Its own module because it is the only code that needs openvino (imported where used). The
graph is converted once and kept on disk (`_cache`: read back in milliseconds at later starts),
when the analyzer is built (in gunicorn's master, with `preload_app`), but compiled on the first
call in each process: OpenVINO's worker threads, like OpenMP's, do not survive a fork, and a
compiled model made in the master would be a compiled model without threads in every worker
(the workers' warm-up compiles theirs before they serve). Without a thread setting a process's
OpenVINO takes as many threads as its PyTorch: the collection workers split the cores with
`torch.set_num_threads`, and OpenVINO's own default (every core in every worker) made two
workers slower than one.
"""

from __future__ import annotations

import os
import threading

import torch
from torch import nn

from classifier.engine.acceleration._cache import IN_MEMORY, ConvertedCache, network_key

OPENVINO_MISSING = (
    "The openvino inference modes need the openvino package; install it with "
    "`pip install openvino==2026.4.1` (requirements.txt's pin) or choose SCENEWEB_INFERENCE_MODE=fused."
)
PRECISION = {"openvino": "f32", "openvino-bf16": "bf16"}


def openvino_installed() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class OpenVinoNetwork:
    """An OpenVINO model with the calling convention of the PyTorch module it came from."""

    def __init__(
        self,
        module: nn.Module,
        input_size: int,
        threads: int,
        outputs: int,
        mode: str,
        cache: ConvertedCache = IN_MEMORY,
    ):
        try:
            import openvino
        except ImportError:
            raise RuntimeError(OPENVINO_MISSING) from None
        module.eval()
        # One graph for both precisions: the precision is a compile-time hint.
        self.model = cache.load_or_build(
            "openvino",
            network_key(module, input_size, openvino.__version__),
            build=lambda: openvino.convert_model(module, example_input=torch.zeros(1, 3, input_size, input_size)),
            # fp32 weights kept as they are (save_model's default halves them to fp16)
            save=lambda model, folder: openvino.save_model(model, folder / "model.xml", compress_to_fp16=False),
            load=lambda folder: openvino.Core().read_model(folder / "model.xml"),
        )
        # No pinning: OpenVINO pins its threads to cores, counting from the first, in every process
        # and every compiled model alike, so two one-thread networks side by side, two gunicorn
        # workers or two collection workers all ran on core 0 while core 1 idled (measured: two
        # one-thread models in two threads took as long as one after the other; unpinned, 1.85x).
        self.config = {
            "INFERENCE_PRECISION_HINT": PRECISION[mode],
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": False,
        }
        self.threads = threads
        self.single = outputs == 1
        self._compiled, self._pid, self._lock = None, None, threading.Lock()

    def _compiled_here(self):
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    import openvino

                    threads = self.threads or torch.get_num_threads()
                    config = {**self.config, "INFERENCE_NUM_THREADS": threads}
                    self._compiled = openvino.Core().compile_model(self.model, "CPU", config)
                    self._pid = os.getpid()
        return self._compiled

    def __call__(self, batch: torch.Tensor):
        results = self._compiled_here()(batch.detach().float().numpy())
        tensors = tuple(torch.from_numpy(results[i].copy()) for i in range(len(results)))
        return tensors[0] if self.single else tensors
