"""The API's request and response shapes as pydantic models: what /api/openapi.json is generated from.

They mirror the engine's dataclasses (`Analysis.to_dict()`) field for field; a test compares the
two, and schemathesis checks live answers against them, so the document cannot drift from the code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OUTPUT_NAMES = ("scenes", "io", "attributes", "cam", "heatmap", "attribute_maps")
Output = Literal["scenes", "io", "attributes", "cam", "heatmap", "attribute_maps"]


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SceneScore(Shape):
    label: str = Field(description="Places365 category (or a custom model's class).", examples=["mountain"])
    index: int = Field(ge=0, description="The category's index in the model's label file.")
    probability: float = Field(ge=0, le=1)


class IndoorOutdoor(Shape):
    label: Literal["indoor", "outdoor"]
    score: float = Field(ge=0, le=1, description="Share of outdoor categories among the top ten; below 0.5 is indoor.")


class AttributeScore(Shape):
    label: str = Field(examples=["natural light"])
    score: float = Field(description="A probability (DenseNet-201 head) or a raw linear response (CSAIL's matrix).")


class Heatmap(Shape):
    label: str
    index: int = Field(ge=0)
    grid: list[list[float]] = Field(description="The class activation map, min-max normalised to 0..1.")
    png_base64: str | None = Field(description="The photo with the heatmap blended over it (PNG, at most 512 px).")


class CustomResult(Shape):
    name: str
    classes: list[SceneScore]
    cam: Heatmap | None


class AttributeMap(Shape):
    label: str
    grid: list[list[float]]


class Analysis(Shape):
    """One photo's analysis. With `outputs`, only the asked-for parts are present; the default is all."""

    model_config = ConfigDict(extra="allow")  # the engine may add fields: clients ignore what they do not know

    scenes: list[SceneScore] | None = Field(None, description="The top_k most likely categories, descending.")
    io: IndoorOutdoor | None = None
    attributes: list[AttributeScore] | None = Field(None, description="The ten strongest SUN attributes, or [].")
    attributes_note: str | None = Field(None, description="Why `attributes` is empty (no attribute model).")
    cam: Heatmap | None = Field(None, description="The heatmap of the top category (or of `cam_class`).")
    cams: list[Heatmap] | None = Field(None, description="A grid per listed scene, PNG left out.")
    attribute_maps: list[AttributeMap] | None = None
    custom: list[CustomResult] | None = Field(None, description="The fine-tuned models (SCENEWEB_CUSTOM_MODELS).")
    timings_ms: dict[str, float] = Field(description="Milliseconds per stage, and `total`.")
    models: dict = Field(description="What was served: the scene network, the attribute source, custom models.")


class Error(Shape):
    error: str = Field(description="Plain words, fit to show a person.")
    code: str = Field(description="A short machine-readable code (the table in each response).")
    request_id: str = Field(description="This request's id (also the X-Request-ID header): quote it to the operator.")


class ImageError(Shape):
    """One photo of several could not be analysed: its own error, the others still answered."""

    error: str
    code: str
    status: int = Field(description="The status this photo alone would have been answered with.")


class Results(Shape):
    results: list[Analysis | ImageError] = Field(description="One item per photo, in the order they were sent.")


class ImageSource(Shape):
    url: str | None = Field(None, description="An http(s) address the server fetches (never a private one).")
    sample: str | None = Field(None, description="A file name of the sample gallery.")


class AnalyzeJson(ImageSource):
    """A photo by address or sample name, or several in `images`; the options as in the query."""

    images: list[ImageSource] | None = Field(None, description="Several photos in one request, in order.")
    outputs: list[Output] | str | None = Field(None, description="As the query parameter; a list or comma-separated.")
    top_k: int | None = Field(None, ge=1)
    heatmap: bool | None = None
    cam_class: int | None = Field(None, ge=0)


class AnalyzeUpload(Shape):
    image: list[bytes] = Field(min_length=1, description="The photo; repeat the field for several.")


class AnalyzeQuery(Shape):
    """The query parameters of POST /api/analyze (JSON bodies may carry `outputs` and `top_k` too)."""

    outputs: str | None = Field(
        None,
        description=f"Comma-separated, any of {', '.join(OUTPUT_NAMES)}: only these are computed. Default: all.",
        examples=["scenes,io"],
    )
    top_k: int | None = Field(None, ge=1, description="How many scenes to list (default SCENEWEB_TOP_K).")
    heatmap: bool = Field(True, description="0, false, no or off: no PNG (the grids stay).")
    cam_class: int | None = Field(None, ge=0, description="The category whose heatmap is drawn (default: the top one).")


class Health(Shape):
    model_config = ConfigDict(extra="allow")
    status: Literal["ok"]
    models: dict


class Ready(Shape):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="Each check: `ok`, or what is wrong.")
