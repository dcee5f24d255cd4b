"""FEATURES invariants: every row routed, endpoints and purposes unique, every mapped attribute in SCHEMA."""

from __future__ import annotations

from collections import Counter

from agent.api.features.rows import REWRITE_SECTIONS
from agent.api.features.spec import FeatureSpec
from agent.api.features.table import FEATURES
from agent.api.mapping import Attr
from agent.api.routes import ROUTES
from agent.iisconfig.schema import SCHEMA, ElementSchema


def test_every_feature_and_child_is_routed() -> None:
    paths = {(route.method, route.path) for route in ROUTES}
    for spec in FEATURES:
        assert ("GET", spec.path) in paths and ("GET", spec.path + "/{id}") in paths, spec.endpoint
        if spec.sections:
            assert ("PATCH", spec.path + "/{id}") in paths and ("DELETE", spec.path + "/{id}") in paths
        if spec.installable:
            assert ("POST", spec.path) in paths
        for child in spec.children:
            base = f"{spec.path}/{child.route}"
            for method in ("GET", "POST"):
                assert (method, base) in paths
            for method in ("GET", "PATCH", "DELETE"):
                assert (method, base + "/{id}") in paths


def test_endpoints_links_and_purposes_are_unique() -> None:
    assert [k for k, n in Counter(s.endpoint for s in FEATURES).items() if n > 1] == []
    assert [k for k, n in Counter(s.link for s in FEATURES).items() if n > 1] == []
    purposes = [s.purpose for s in FEATURES] + [c.purpose for s in FEATURES for c in s.children]
    assert [k for k, n in Counter(purposes).items() if n > 1] == []


def _resolve(schema: ElementSchema, config: str) -> bool:
    *children, attribute = config.split("/")
    node: ElementSchema | None = schema
    for child in children:
        node = node.child(child) if node is not None else None
    return node is not None and node.attr(attribute) is not None


def _holder(schema: ElementSchema, path: str) -> ElementSchema | None:
    node: ElementSchema | None = schema
    for part in (p for p in path.split("/") if p):
        node = node.child(part) if node is not None else None
    return node


def _check_attrs(spec: FeatureSpec, schema: ElementSchema, attrs: tuple[Attr, ...]) -> None:
    for attr in attrs:
        assert _resolve(schema, attr.config), f"{spec.endpoint}: {attr.config} is not in the schema"


def test_every_mapped_attribute_exists_in_schema() -> None:
    for spec in (*FEATURES, *REWRITE_SECTIONS):
        for entry in spec.sections:
            assert entry.section in SCHEMA, f"{entry.section} has no schema"
            _check_attrs(spec, SCHEMA[entry.section], entry.fields)
        for child in spec.children:
            holder = _holder(SCHEMA[child.section or spec.section], child.holder)
            assert holder is not None and holder.collection is not None, f"{spec.endpoint}/{child.route}"
            _check_attrs(spec, holder.collection.item, child.all_fields)


def test_installable_rows_name_their_images() -> None:
    for spec in FEATURES:
        if spec.installable:
            assert len(spec.images) == len(spec.modules) > 0, spec.endpoint
        if spec.children:
            assert spec.parent, spec.endpoint
