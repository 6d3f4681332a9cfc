"""Re-score a SUN-attribute checkpoint on the test split it was trained with."""

from __future__ import annotations

import json
from pathlib import Path

from classifier.engine.errors import SceneWebError
from classifier.management.base import SceneWebCommand
from classifier.management.commands.train_attributes import add_database_arguments, database_from, default_checkpoint
from classifier.training.device import cpu_threads
from classifier.training.evaluation import evaluate_checkpoint
from classifier.training.reports import format_report, write_json
from classifier.training.run_files import RunFiles


class Command(SceneWebCommand):
    refused = (SceneWebError, ValueError)  # a ValueError names a bad option
    requires_system_checks = []  # it makes or reads model files; the missing-model check must not stop it
    help = "Score a SUN-attribute checkpoint on the test part of its split: mAP, per-attribute AP, best and worst."

    def add_arguments(self, parser):
        add_database_arguments(parser)
        parser.add_argument("--model", type=Path, help="checkpoint to score (default the installed one)")
        parser.add_argument("--split", type=Path, help="split file (default the one beside the checkpoint)")
        parser.add_argument("--image-size", type=int, help="side in pixels (default the one it was trained at)")
        parser.add_argument("--batch-size", type=int, default=50)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda")
        parser.add_argument("--report", type=Path, help="also write the report as JSON here")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        checkpoint = options["model"] or default_checkpoint()
        with cpu_threads(options["threads"]):
            report = evaluate_checkpoint(
                database_from(options),
                checkpoint,
                options["split"] or RunFiles.beside(checkpoint).split,
                image_size=options["image_size"],
                batch_size=options["batch_size"],
                workers=options["workers"],
                device=options["device"],
                progress=options["verbosity"] > 0,
            )
        if options["report"]:
            write_json(options["report"], report)
        self.stdout.write(json.dumps(report) if options["as_json"] else format_report(report))
