"""Parses a /metrics page from stdin with prometheus_client's parsers and prints what they read, as JSON:
{"families": {name: type}, "samples": [[name, {label: value}, value], ...]}. Any error in the page is an
exception (exit 1), so the test fails on what a strict scraper would refuse.

    parse.py openmetrics   prometheus_client.openmetrics.parser (strict OpenMetrics 1.0, needs the # EOF)
    parse.py text          prometheus_client.parser (the Prometheus text format 0.0.4)
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus_text

PARSERS = {"openmetrics": openmetrics, "text": prometheus_text}


def main():
    parse = PARSERS[sys.argv[1]]
    families, samples = {}, []
    for family in parse(sys.stdin.read()):
        if family.name in families:
            raise ValueError(f"family {family.name} appears twice")
        families[family.name] = family.type
        samples += [[s.name, s.labels, s.value] for s in family.samples]
    json.dump({"families": families, "samples": samples}, sys.stdout)


if __name__ == "__main__":
    main()
