"""Re-score a fine-tuned classifier on any folder of labelled images."""

from __future__ import annotations

import json
from pathlib import Path

from classifier.engine.errors import SceneWebError
from classifier.management.base import SceneWebCommand
from classifier.training.device import cpu_threads
from classifier.training.evaluation import evaluate_folder
from classifier.training.reports import format_report


class Command(SceneWebCommand):
    refused = (SceneWebError, ValueError)  # a ValueError names a bad option
    requires_system_checks = []  # it reads model files; a missing-model check must not stop it
    help = (
        "Score a model made by `finetune` on DATA/<class>/*.jpg (or DATA/test/ when present): accuracy, top-5, "
        "per-class precision/recall/F1 and the confusion matrix."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", type=Path, required=True, help="a model.pth written by finetune")
        parser.add_argument("--data", type=Path, required=True, help="class folders named as the model's classes")
        parser.add_argument("--out", type=Path, help="also write metrics.json and confusion.png here")
        parser.add_argument("--batch-size", type=int, default=64)
        parser.add_argument("--workers", type=int, default=2, help="threads decoding the images")
        parser.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads (default one per core)")
        parser.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        with cpu_threads(options["threads"]):
            report = evaluate_folder(
                options["model"],
                options["data"],
                batch_size=options["batch_size"],
                workers=options["workers"],
                device=options["device"],
                out_dir=options["out"],
                progress=options["verbosity"] > 0 and not options["as_json"],
            )
        self.stdout.write(json.dumps(report) if options["as_json"] else format_report(report))
