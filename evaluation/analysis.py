"""``colorgrade eval analysis``: the analysis network on the held-out test photos (the scoring its weight card
carries: ``colorgrade.models.evaluate``), ``--write-card`` to rewrite that card."""
from __future__ import annotations

import json

from colorgrade.evaluation.options import add_common
from colorgrade.models.cards import write_analysis_card
from colorgrade.models.evaluate import evaluate_on_test_split, format_analysis_report


def configure(parser) -> None:
    add_common(parser, "weights", "photos", "device", "json")
    parser.add_argument("--write-card", action="store_true",
                        help="also rewrite the card beside the weights with these numbers")


def run(args) -> int:
    report = (write_analysis_card if args.write_card else evaluate_on_test_split)(args.weights, args.photos,
                                                                                  args.device)
    print(json.dumps(report, indent=2) if args.json else format_analysis_report(report))
    return 0
