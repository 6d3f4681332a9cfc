"""The "onnx" and "onnx-int8" modes: export to ONNX, int8 quantisation, and the ONNX Runtime
session that stands in for a PyTorch module.

Its own module because it is the only code that needs the optional onnx and onnxruntime
packages (imported where used, so the other modes run without them) and the calibration photos.
The exported (and quantised) graphs are kept on disk (`_cache`), made once.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from classifier.engine.acceleration._cache import IN_MEMORY, ConvertedCache, network_key, tensors_key
from classifier.engine.imaging import decode_image, model_input

ONNX_HINT = "install them with `pip install onnxruntime onnx` or choose SCENEWEB_INFERENCE_MODE=fused"
ONNX_MISSING = f"The onnx inference modes need the onnxruntime and onnx packages; {ONNX_HINT}."
CALIBRATION_HINT = (
    "put a few typical photos in SCENEWEB_SAMPLES_DIR (`python manage.py fetch_models --samples-from DIR`) "
    "or choose SCENEWEB_INFERENCE_MODE=fused"
)


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


class OnnxNetwork:
    """An ONNX Runtime session with the calling convention of the PyTorch module it came from."""

    def __init__(
        self,
        module: nn.Module,
        input_size: int,
        threads: int,
        outputs: int,
        calibration: Sequence[torch.Tensor] | None = None,
        cache: ConvertedCache = IN_MEMORY,
    ):
        try:
            import onnxruntime
        except ImportError:
            raise RuntimeError(ONNX_MISSING) from None

        def build() -> bytes:
            graph = onnx_graph(module, input_size, outputs)
            return graph if calibration is None else int8_model(graph, calibration)

        int8 = calibration is not None
        model = cache.load_or_build(
            "onnx-int8" if int8 else "onnx",
            network_key(
                module, input_size, outputs, torch.__version__, onnxruntime.__version__, tensors_key(calibration or ())
            ),
            build=build,
            save=lambda graph, folder: (folder / "model.onnx").write_bytes(graph),
            load=lambda folder: (folder / "model.onnx").read_bytes(),
        )
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
