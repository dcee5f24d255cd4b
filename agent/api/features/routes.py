"""feature_routes(): the routing rows of one FEATURES row; agent/api/routes.py splices them into ROUTES."""

from __future__ import annotations

from agent.api import mapping
from agent.api.features import entries, view
from agent.api.features.spec import FeatureSpec
from agent.api.routing import Route, delete, get, patch, post

ANY_OBJECT: dict[str, object] = {"type": "object"}


def _body(spec: FeatureSpec) -> dict[str, object]:
    """The PATCH body schema: every mapped member plus metadata.override_mode."""
    attrs = tuple(a for s in spec.sections for a in s.fields)
    body = mapping.schema(attrs)
    body["properties"]["metadata"] = {"type": "object", "properties": {"override_mode": {"type": "string"}}}
    return body


def feature_routes(spec: FeatureSpec) -> tuple[Route, ...]:
    """Routes of one row: child collections first (named segments), then the feature and /{id}."""
    tag = spec.endpoint.split("/")[-1]
    rows: list[Route] = []
    for child in spec.children:
        e = entries.handlers(spec, child)
        base = f"{spec.path}/{child.route}"
        body = mapping.schema(child.all_fields)
        rows += [
            get(base, e.list, f"List {child.plural} (?{spec.parent}.id=)", tag),
            post(base, e.create, f"Add to {child.plural}", tag, body=body, statuses=(child.created_status,)),
            get(base + "/{id}", e.get, f"Get one of {child.plural}", tag),
            patch(base + "/{id}", e.patch, f"Change one of {child.plural}", tag, body=body),
            delete(base + "/{id}", e.delete, f"Remove one of {child.plural}", tag),
        ]
    h = view.handlers(spec)
    rows.append(get(spec.path, h.list, f"The {spec.endpoint} feature at a scope", tag,
                    statuses=(209,) if spec.located else (200,)))  # fmt: skip
    if spec.installable:
        rows.append(post(spec.path, h.install, f"Install {spec.display}", tag, body=ANY_OBJECT))
    rows.append(get(spec.path + "/{id}", h.get, f"The {spec.endpoint} feature", tag))
    if spec.sections:
        rows.append(patch(spec.path + "/{id}", h.patch, f"Change the {spec.endpoint} feature", tag, body=_body(spec)))
    if spec.sections or spec.installable:
        rows.append(delete(spec.path + "/{id}", h.delete, f"Revert (site) or uninstall (server) {spec.endpoint}", tag))
    return tuple(rows)


GLOBAL = "/api/webserver/global-modules"
DELEGATION = "/api/webserver/feature-delegation"
