"""Reading and validating the compose files against the Compose
Specification (compose-spec), without a Docker engine."""

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


class ComposeLoader(yaml.SafeLoader):
    """YAML's own implicit types only: nameko's config reader registers a
    ``${VAR:default}`` resolver on ``yaml.SafeLoader`` for the whole process,
    which would turn compose's ``${VAR:-}`` into a list."""

    yaml_implicit_resolvers = {
        key: list(value)
        for key, value in yaml.resolver.Resolver.yaml_implicit_resolvers.items()}


def load(path):
    """The compose file as a dict, YAML anchors and merge keys resolved
    (as docker compose resolves them before validating)."""
    return yaml.load(Path(path).read_text(encoding="utf-8"),
                     Loader=ComposeLoader)


def validate(path):
    """Validate against the Compose Specification; raises ValueError with
    the reason. Returns the parsed document."""
    from compose_spec import PyCompose

    document = load(path)
    compose = PyCompose.from_json(json.dumps(document))
    compose.to_spec()  # the spec's schema model, field by field
    return document
