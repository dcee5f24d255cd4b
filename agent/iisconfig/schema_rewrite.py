"""Schema of URL Rewrite's system.webServer/rewrite/* sections and request filtering's rule list (IIS defaults)."""

from __future__ import annotations

from agent.iisconfig.schema_types import (
    CollectionSchema,
    ElementSchema,
    boolean,
    enum,
    flags,
    keyed,
    listing,
    string,
    uint,
)

PATTERN_SYNTAX = {"ECMAScript": 0, "Wildcard": 1, "ExactMatch": 2}
MATCH_TYPES = {"Pattern": 0, "IsFile": 1, "IsDirectory": 2}
GROUPING = {"MatchAll": 0, "MatchAny": 1}
ACTIONS = {"None": 0, "Rewrite": 1, "Redirect": 2, "CustomResponse": 3, "AbortRequest": 4}
REDIRECTS = {"Permanent": 301, "Found": 302, "SeeOther": 303, "Temporary": 307}
CACHE_DIRECTIVES = {"Auto": 0, "Always": 1, "Never": 2, "NotIfRuleMatched": 3}

_CONDITION = keyed(("input", "pattern", "matchType"), string("input", required=True), string("pattern"),
                   enum("matchType", MATCH_TYPES, "Pattern"), boolean("ignoreCase", True),
                   boolean("negate", False), merge_append=False)  # fmt: skip


def _conditions(track_all: bool) -> ElementSchema:
    """<conditions logicalGrouping trackAllCaptures> (outbound rules default trackAllCaptures=true)."""
    return listing("conditions", _CONDITION, enum("logicalGrouping", GROUPING, "MatchAll"),
                   boolean("trackAllCaptures", track_all))  # fmt: skip


_INBOUND_RULE = ElementSchema(
    "rule",
    (string("name", required=True), boolean("enabled", True), enum("patternSyntax", PATTERN_SYNTAX, "ECMAScript"),
     boolean("stopProcessing", False), enum("responseCacheDirective", CACHE_DIRECTIVES, "Auto")),
    children=(
        ElementSchema("match", (string("url"), boolean("ignoreCase", True), boolean("negate", False))),
        _conditions(False),
        listing("serverVariables", keyed(("name",), string("name", required=True), string("value"),
                                         boolean("replace", True), add="set")),
        ElementSchema("action", (
            enum("type", ACTIONS, "None"), string("url"), boolean("appendQueryString", True),
            boolean("logRewrittenUrl", False), enum("redirectType", REDIRECTS, "Permanent"), uint("statusCode", 0),
            uint("subStatusCode", 0), string("statusReason"), string("statusDescription"))),
    ),
)  # fmt: skip
_RULES = CollectionSchema(_INBOUND_RULE, keys=("name",), add="rule", merge_append=True)
REWRITE_RULES = ElementSchema("rules", (boolean("useOriginalURLEncoding", True),), collection=_RULES)
GLOBAL_RULES = ElementSchema("globalRules", (boolean("useOriginalURLEncoding", True),), collection=_RULES)
ALLOWED_SERVER_VARIABLES = ElementSchema(
    "allowedServerVariables", collection=keyed(("name",), string("name", required=True))
)
_PAIRS = keyed(("key",), string("key", required=True), string("value"))
REWRITE_MAPS = ElementSchema(
    "rewriteMaps",
    collection=CollectionSchema(
        ElementSchema("rewriteMap", (string("name", required=True), string("defaultValue"),
                                     boolean("ignoreCase", True)), collection=_PAIRS),
        keys=("name",), add="rewriteMap",
    ),
)  # fmt: skip
REWRITE_PROVIDERS = ElementSchema(
    "providers",
    collection=CollectionSchema(
        ElementSchema("provider", (string("name", required=True), string("type")),
                      children=(listing("settings", _PAIRS),)),
        keys=("name",), add="provider",
    ),
)  # fmt: skip
_TAGS = ("A", "Area", "Base", "Form", "Frame", "Head", "IFrame", "Img", "Input", "Link", "Script", "CustomTags")
_OUTBOUND_RULE = ElementSchema(
    "rule",
    (string("name", required=True), boolean("enabled", True), string("preCondition"),
     enum("patternSyntax", PATTERN_SYNTAX, "ECMAScript"), boolean("stopProcessing", False)),
    children=(
        ElementSchema("match", (
            flags("filterByTags", {"None": 0, **{t: 1 << i for i, t in enumerate(_TAGS[:-1])}, "CustomTags": 32768},
                  "None"),
            string("customTags"), string("serverVariable"), string("pattern"), boolean("ignoreCase", True),
            boolean("negate", False))),
        _conditions(True),
        ElementSchema("action", (enum("type", {"None": 0, "Rewrite": 1}, "None"), string("value"),
                                 boolean("replace", True))),
    ),
)  # fmt: skip
_PRECONDITIONS = listing("preConditions", CollectionSchema(
    ElementSchema("preCondition", (string("name", required=True), enum("logicalGrouping", GROUPING, "MatchAll"),
                                   enum("patternSyntax", PATTERN_SYNTAX, "ECMAScript")),
                  collection=keyed(("input", "pattern"), string("input", required=True), string("pattern"),
                                   boolean("ignoreCase", True), boolean("negate", False), merge_append=False)),
    keys=("name",), add="preCondition",
))  # fmt: skip
_CUSTOM_TAGS = listing("customTags", CollectionSchema(
    ElementSchema("tags", (string("name", required=True),),
                  collection=keyed(("name", "attribute"), string("name", required=True),
                                   string("attribute", required=True), add="tag", merge_append=False)),
    keys=("name",), add="tags",
))  # fmt: skip
OUTBOUND_RULES = ElementSchema(
    "outboundRules",
    (boolean("rewriteBeforeCache", False),),
    children=(_PRECONDITIONS, _CUSTOM_TAGS),
    collection=CollectionSchema(_OUTBOUND_RULE, keys=("name",), add="rule"),
)

# requestFiltering/filteringRules (the `rules` child of http-request-filtering).
FILTERING_RULES = listing(
    "filteringRules",
    CollectionSchema(
        ElementSchema(
            "filteringRule",
            (string("name", required=True), boolean("scanUrl", False), boolean("scanQueryString", False),
             boolean("scanAllRaw", False), boolean("denyUnescapedPercent", True)),
            children=(
                listing("scanHeaders", keyed(("requestHeader",), string("requestHeader", required=True))),
                listing("appliesTo", keyed(("fileExtension",), string("fileExtension", required=True))),
                listing("denyStrings", keyed(("string",), string("string", required=True))),
            ),
        ),
        keys=("name",), add="filteringRule",
    ),
)  # fmt: skip
