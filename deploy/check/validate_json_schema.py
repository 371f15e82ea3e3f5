#!/usr/bin/env python3
"""Validates the JSON document on standard input against a JSON schema file (draft-07, as the Compose
Specification's). Prints one line per error, `<path>: <message>`, and exits 1 when there is any.

    python3 deploy/check/validate_json_schema.py deploy/schema/compose-spec.json < compose.json
"""
import json
import sys

try:
    import jsonschema
except ImportError:
    print("the Python package jsonschema is required: pip install jsonschema", file=sys.stderr)
    sys.exit(2)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as handle:
        schema = json.load(handle)
    document = json.load(sys.stdin)
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(document), key=lambda error: list(error.absolute_path))
    for error in errors:
        path = "/".join(str(part) for part in error.absolute_path) or "(root)"
        print(f"{path}: {error.message}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
