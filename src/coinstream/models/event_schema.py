"""`python -m coinstream.models.event_schema OUT`: the Quote event's JSON Schema file
(schemas/quote-v1.schema.json, written by `make generate`)."""

from __future__ import annotations

import json

from coinstream.models.quote import quote_json_schema
from coinstream.platform.generated import write_generated


def render() -> str:
    return json.dumps(quote_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    write_generated(render)
