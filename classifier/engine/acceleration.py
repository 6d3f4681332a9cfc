"""How the networks run on a CPU: inference modes, thread counts, and running the two
networks side by side.

Every mode keeps the engine's interfaces: a scene net still answers `heatmap_pass` (logits and
feature map from one pass) and an attribute model still answers `scores`; only the callable
that computes the forward pass changes. Each mode is prepared once, when the analyzer is
built, and is then only read, so one analyzer serves many threads.

- "eager": the torchvision modules as built (the reference the others are checked against).
- "fused": BatchNorm folded into the preceding convolutions and channels-last memory layout;
  pure PyTorch, a second or two at start-up, same results to float rounding (the default).
- "onnx": the networks exported once to ONNX and run by ONNX Runtime, an optional package
  (`pip install onnxruntime onnx`).
- "onnx-int8": the ONNX graphs quantised to int8 (static, per-channel weights, activation
  ranges calibrated on a few real photos), for CPUs with VNNI; numerics change, so it is never
  the default (bench/fidelity.py measures how much).

Grad-CAM networks (AlexNet, VGG16) need autograd through their classifier, so they always
run eagerly; the attribute model is accelerated in every case.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from classifier.engine.attributes import AttributeModel
from classifier.engine.imaging import decode_image, model_input
from classifier.engine.places import ConvClassifierSceneNet, SceneNet

INFERENCE_MODES = ("fused", "eager", "onnx", "onnx-int8")
DEFAULT_MODE = "fused"
ONNX_HINT = "install them with `pip install onnxruntime onnx` or choose SCENEWEB_INFERENCE_MODE=fused"
ONNX_MISSING = f"The onnx inference modes need the onnxruntime and onnx packages; {ONNX_HINT}."
CALIBRATION_HINT = (
    "put a few typical photos in SCENEWEB_SAMPLES_DIR (`python manage.py fetch_models --samples-from DIR`) "
    "or choose SCENEWEB_INFERENCE_MODE=fused"
)


@dataclass(frozen=True)
class InferenceSettings:
    mode: str = DEFAULT_MODE
    threads: int = 0
    """Intra-op threads per network; 0 keeps PyTorch's default (one per core)."""
    parallel: bool = False
    """Run the scene and attribute networks at the same time, one thread each."""
    calibration: tuple[Path, ...] = ()
    """Photos whose activations set the int8 ranges (mode onnx-int8 only)."""

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if self.threads < 0:
            raise ValueError(f"threads must be 0 (PyTorch's default) or more, got {self.threads}")

    @property
    def threads_per_network(self) -> int:
        if self.parallel:
            return 1
        return self.threads or torch.get_num_threads()


def check_mode(mode: str) -> str:
    if mode not in INFERENCE_MODES:
        raise ValueError(f"Unknown inference mode {mode!r}; choose one of: {', '.join(INFERENCE_MODES)}")
    return mode


def apply_thread_setting(threads: int) -> None:
    """Set PyTorch's intra-op threads for the process (new threads inherit the last value set)."""
    if threads:
        torch.set_num_threads(threads)


# -- the modes -------------------------------------------------------------------------------


class _ChannelsLast(nn.Module):
    """Feeds a channels-last network: convolutions then skip a layout conversion per layer."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last)

    def forward(self, batch: torch.Tensor):
        return self.net(batch.contiguous(memory_format=torch.channels_last))


def fused(module: nn.Module) -> nn.Module:
    """A copy with every Conv2d+BatchNorm2d pair folded into one Conv2d, in channels-last layout.

    DenseNet's other BatchNorms (before a ReLU and after a concatenation) cannot be folded and stay.
    """
    from torch.fx.experimental import optimization

    return _ChannelsLast(optimization.fuse(module.eval(), inplace=False)).eval()


def calibration_batches(photos: Sequence[Path], input_size: int, mean, std) -> list[torch.Tensor]:
    """The photos preprocessed as the networks will see them; unreadable files are an error, not a skip."""
    if not photos:
        raise ValueError(f"Inference mode 'onnx-int8' needs calibration photos; {CALIBRATION_HINT}.")
    return [model_input(decode_image(Path(p).read_bytes()).image, input_size, mean, std) for p in photos]


def int8_model(model: bytes, calibration: Sequence[torch.Tensor]) -> bytes:
    """Static int8 quantisation of an exported graph: unsigned activations and signed per-channel
    weights (the u8 x s8 products VNNI computes), activation ranges from the calibration batches."""
    from onnxruntime import quantization

    class Batches(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.remaining = iter(calibration)

        def get_next(self) -> dict | None:
            batch = next(self.remaining, None)
            return None if batch is None else {"image": batch.numpy()}

    with tempfile.TemporaryDirectory(prefix="sceneweb-int8-") as folder:
        source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(model)
        quantization.quantize_static(
            source,
            target,
            Batches(),
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
        )
        return target.read_bytes()


def onnx_graph(module: nn.Module, input_size: int, outputs: int) -> bytes:
    """The module exported to ONNX, batch size free; input "image", outputs "output0", "output1"..."""
    try:
        import onnx  # noqa: F401  (the exporter writes the file with it)
    except ImportError:
        raise RuntimeError(ONNX_MISSING) from None
    buffer = io.BytesIO()
    names = [f"output{i}" for i in range(outputs)]
    torch.onnx.export(
        module.eval(),
        (torch.zeros(1, 3, input_size, input_size),),
        buffer,
        dynamo=False,
        input_names=["image"],
        output_names=names,
        dynamic_axes={"image": {0: "batch"}, **{n: {0: "batch"} for n in names}},
    )
    return buffer.getvalue()


class _OnnxNetwork:
    """An ONNX Runtime session with the calling convention of the PyTorch module it came from."""

    def __init__(
        self,
        module: nn.Module,
        input_size: int,
        threads: int,
        outputs: int,
        calibration: Sequence[torch.Tensor] | None = None,
    ):
        try:
            import onnxruntime
        except ImportError:
            raise RuntimeError(ONNX_MISSING) from None
        model = onnx_graph(module, input_size, outputs)
        if calibration is not None:
            model = int8_model(model, calibration)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.single = outputs == 1

    def __call__(self, batch: torch.Tensor):
        results = self.session.run(None, {"image": batch.detach().float().numpy()})
        tensors = tuple(torch.from_numpy(r) for r in results)
        return tensors[0] if self.single else tensors


class AcceleratedSceneNet(SceneNet):
    """A scene net whose forward pass is a prepared callable; heatmaps still read the original fc."""

    def __init__(self, original: SceneNet, forward: Callable):
        super().__init__(original.net)
        self.original = original
        self.fast_forward = forward
        self.heatmap = original.heatmap
        self.heatmap_layer = original.heatmap_layer

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fast_forward(x)

    @property
    def class_weights(self) -> torch.Tensor:
        return self.original.class_weights


def accelerate_scene_net(
    net: SceneNet, settings: InferenceSettings, input_size: int, calibration: Sequence[torch.Tensor] | None = None
) -> SceneNet:
    if settings.mode == "eager" or isinstance(net, ConvClassifierSceneNet):
        return net
    return AcceleratedSceneNet(net, _prepare(net, settings, input_size, 2, calibration))


def accelerate_attributes(
    model, settings: InferenceSettings, input_size: int, calibration: Sequence[torch.Tensor] | None = None
):
    """The DenseNet-201 head accelerated; other attribute models (the linear matrix) as they are."""
    if settings.mode == "eager" or not isinstance(model, AttributeModel):
        return model
    return dataclasses.replace(model, net=_prepare(model.net, settings, input_size, 1, calibration))


def _prepare(
    module: nn.Module,
    settings: InferenceSettings,
    input_size: int,
    outputs: int,
    calibration: Sequence[torch.Tensor] | None,
) -> Callable:
    if settings.mode.startswith("onnx"):  # calibration is given for onnx-int8 only
        return _OnnxNetwork(module, input_size, settings.threads_per_network, outputs, calibration)
    return fused(module)


# -- the two networks side by side -----------------------------------------------------------


class PerProcessPool:
    """A `single_thread_pool` started by the first call in each process.

    Threads do not survive a fork: a pool made in gunicorn's master (where the app and the
    analyzer are built, `preload_app`) would leave every forked worker waiting forever on
    threads that do not exist in it.
    """

    def __init__(self, workers: int):
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        forget = weakref.WeakMethod(self._forget)  # a registered hook is never removed: do not keep the pool alive
        os.register_at_fork(after_in_child=lambda: forget() and forget()())

    def _forget(self) -> None:
        """In a forked child: the lock may have been copied held, the threads were not copied at all."""
        self._pool, self._pid, self._lock = None, None, threading.Lock()

    def submit(self, function: Callable, *args) -> Future:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._pool, self._pid = single_thread_pool(self.workers), os.getpid()
        return self._pool.submit(function, *args)


def single_thread_pool(workers: int) -> ThreadPoolExecutor:
    """Worker threads that each run PyTorch on one intra-op thread.

    PyTorch's thread setting is per thread, but a thread that starts using PyTorch adopts the
    value set last anywhere; the caller's value is set again once the workers are ready, so
    threads started later are not left at one.
    """
    previous = torch.get_num_threads()
    ready = threading.Barrier(workers + 1)

    def start() -> None:
        torch.get_num_threads()  # PyTorch's lazy per-thread set-up first, or it undoes the next line later
        torch.set_num_threads(1)
        ready.wait()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sceneweb-net", initializer=start)
    for _ in range(workers):
        pool.submit(int)
    ready.wait()
    torch.set_num_threads(previous)
    return pool


def timed_inference(network: Callable, batch: torch.Tensor):
    """Run one network in this thread under inference mode; returns (output, milliseconds)."""
    started = time.perf_counter()
    with torch.inference_mode():
        output = network(batch)
    return output, round((time.perf_counter() - started) * 1000, 2)
