"""The JSON Schema of `bundle.json`, as `caic schema` prints it.

Generated from the pydantic `Bundle` model, so the schema cannot drift from
what the compiler writes and `load_bundle` accepts. Tools outside Python
(a trainer in another language, a CI check) validate bundles against it.
"""

from __future__ import annotations

import json
from typing import Any

from cai_lang.codegen.bundle import BUNDLE_FORMAT, Bundle

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def bundle_schema() -> dict[str, Any]:
    schema = Bundle.model_json_schema(mode="serialization")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": f"caic bundle, format {BUNDLE_FORMAT}",
        "description": "A compiled deployment of a `.const` constitution: the only input of the caic trainer.",
        **{key: value for key, value in schema.items() if key not in ("title", "description")},
    }


def bundle_schema_json() -> str:
    return json.dumps(bundle_schema(), indent=2, sort_keys=True) + "\n"
