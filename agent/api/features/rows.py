"""Rows for request filtering's list children, request tracing and URL rewrite (reference 3.12, 3.14, 3.21)."""

from __future__ import annotations

from agent.api.features.custom import filtering, outbound, rewrite, trace_providers, tracing
from agent.api.features.placement import SplitList
from agent.api.features.spec import EntrySpec, FeatureSpec, SectionMap
from agent.api.mapping import Attr, Bool, Choice, Enum, Int, Str
from agent.ids import Purpose as P

WS = "system.webServer/"
RW = WS + "rewrite/"
MS = "Microsoft.WebServer."
NAME = Attr("name", "name", Str())

RF_CHILDREN = (
    EntrySpec(route="query-strings", plural="query_strings", purpose=P.RF_QUERY_STRING,
              resource=MS + "RequestFiltering.QueryString", holder="denyQueryStringSequences",
              keys=(Attr("query_string", "sequence", Str()),), required=("query_string",), conflict="query_string",
              count=False, split=SplitList("allow", "alwaysAllowedQueryStrings", "queryString", across=True)),
    EntrySpec(route="rules", plural="rules", purpose=P.RF_RULE, resource=MS + "RequestFiltering.Rule",
              holder="filteringRules", keys=(NAME,), required=("name",), conflict="rule", count=False,
              fields=(Attr("scan_url", "scanUrl", Bool()), Attr("scan_query_string", "scanQueryString", Bool())),
              read=filtering.rule_read, write=filtering.rule_write),
    EntrySpec(route="urls", plural="urls", purpose=P.RF_URL, resource=MS + "RequestFiltering.Url",
              holder="denyUrlSequences", keys=(Attr("url", "sequence", Str()),), required=("url", "allow"),
              conflict="url", count=False, split=SplitList("allow", "alwaysAllowedUrls", "url")),
)  # fmt: skip

TRACING = FeatureSpec(
    endpoint="http-request-tracing", link="request_tracing", resource=MS + "HttpRequestTracing",
    purpose=P.REQUEST_TRACING, parent="http_request_tracing", member="request_tracing",
    modules=("TracingModule", "FailedRequestsTracingModule"),
    display="Http Request Tracing", installable=True, install_name="Http Request Tracing",
    images=("iisetw.dll", "iisfreb.dll"), read=tracing.tracing_read, write=tracing.tracing_write,
    on_install=trace_providers.install_stock_providers, links=tracing.tracing_links,
    sections=(SectionMap(WS + "tracing/traceFailedRequests"),),
    children=(EntrySpec(
        route="rules", plural="rules", purpose=P.TRACE_RULE, resource=MS + "HttpRequestTracing.Rule", holder="",
        keys=(Attr("path", "path", Str()),), required=("path",), conflict="path",
        fields=(
            Attr("event_severity", "failureDefinitions/verbosity",
                 Enum(("Ignore", "CriticalError", "Error", "Warning"), lower=True)),
            Attr("custom_action.executable", "customActionExe", Str()),
            Attr("custom_action.params", "customActionParams", Str()),
            Attr("custom_action.trigger_limit", "customActionTriggerLimit", Int(0, 10000)),
        ),
        read=tracing.rule_read, write=tracing.rule_write,
    ), EntrySpec(
        route="providers", plural="providers", purpose=P.TRACE_PROVIDER, resource=MS + "HttpRequestTracing.Provider",
        holder="", section=WS + "tracing/traceProviderDefinitions", keys=(NAME,), required=("name", "guid", "areas"),
        conflict="name", read=trace_providers.provider_read, write=trace_providers.provider_write,
    )),
)  # fmt: skip

URL_REWRITE = FeatureSpec(
    endpoint="url-rewrite", link="url_rewrite", resource=MS + "UrlRewrite", purpose=P.URL_REWRITE, sections=(),
    id_has_local=False, modules=("RewriteModule",), display="IIS Url Rewrite", installable=True,
    install_name="IIS Url Rewrite", images=("rewrite.dll",), read=rewrite.feature_read, links=rewrite.feature_links,
    installer_sections=tuple(RW + name for name in ("rules", "globalRules", "outboundRules", "providers", "rewriteMaps",
                                                    "allowedServerVariables")),
    output=("id", "scope"),
)  # fmt: skip

SYNTAX = Choice((("regular_expression", "ECMAScript"), ("wildcard", "Wildcard"), ("exact_match", "ExactMatch")))
ACTION = Choice((("none", "None"), ("rewrite", "Rewrite"), ("redirect", "Redirect"),
                 ("custom_response", "CustomResponse"), ("abort_request", "AbortRequest")))  # fmt: skip
REDIRECT = Choice((("permanent", "Permanent"), ("found", "Found"), ("seeother", "SeeOther"),
                   ("temporary", "Temporary")))  # fmt: skip
RULE_FIELDS = (
    Attr("pattern", "match/url", Str()), Attr("pattern_syntax", "patternSyntax", SYNTAX),
    Attr("ignore_case", "match/ignoreCase", Bool()), Attr("negate", "match/negate", Bool()),
    Attr("stop_processing", "stopProcessing", Bool()),
    Attr("condition_match_constraints", "conditions/logicalGrouping",
         Choice((("match_all", "MatchAll"), ("match_any", "MatchAny")))),
    Attr("track_all_captures", "conditions/trackAllCaptures", Bool()),
    Attr("action.type", "action/type", ACTION), Attr("action.url", "action/url", Str()),
    Attr("action.append_query_string", "action/appendQueryString", Bool()),
    Attr("action.log_rewritten_url", "action/logRewrittenUrl", Bool()),
    Attr("action.redirect_type", "action/redirectType", REDIRECT),
    Attr("action.status_code", "action/statusCode", Int(0, 999)),
    Attr("action.sub_status_code", "action/subStatusCode", Int(0, 999)),
    Attr("action.reason", "action/statusReason", Str()), Attr("action.description", "action/statusDescription", Str()),
)  # fmt: skip


def _section(route: str, section: str, *fields: Attr, children: tuple[EntrySpec, ...] = (),
             **hooks: object) -> FeatureSpec:  # fmt: skip
    """A URL rewrite section resource: the feature's id, its own section and children."""
    return FeatureSpec(
        endpoint=f"url-rewrite/{route}", link=f"url_rewrite_{route}", resource=f"{MS}UrlRewrite.{route}",
        purpose=P.URL_REWRITE, sections=(SectionMap(RW + section, fields),), parent="url_rewrite",
        id_has_local=False, modules=("RewriteModule",), display="IIS Url Rewrite", links_from=(),
        children=children, **hooks,  # type: ignore[arg-type]
    )  # fmt: skip


def _rules(resource: str, **hooks: object) -> EntrySpec:
    return EntrySpec(route="rules", plural="rules", purpose=P.REWRITE_INBOUND_RULE, resource=MS + resource,
                     holder="", keys=(NAME,), fields=RULE_FIELDS, required=("name", "pattern"), conflict="name",
                     key_last=True, on_create=rewrite.rule_create, read=rewrite.rule_read,
                     **hooks)  # type: ignore[arg-type]  # fmt: skip


def _named(purpose: P, resource: str, *fields: Attr, **hooks: object) -> EntrySpec:
    return EntrySpec(route="entries", plural="entries", purpose=purpose, resource=MS + resource, holder="",
                     keys=(NAME,), fields=fields, required=("name",), conflict="name", key_last=True,
                     **hooks)  # type: ignore[arg-type]  # fmt: skip


GROUPING = Choice((("match_all", "MatchAll"), ("match_any", "MatchAny")))
OUTBOUND_RULE_FIELDS = (
    Attr("pattern", "match/pattern", Str()), Attr("pattern_syntax", "patternSyntax", SYNTAX),
    Attr("ignore_case", "match/ignoreCase", Bool()), Attr("negate", "match/negate", Bool()),
    Attr("stop_processing", "stopProcessing", Bool()), Attr("rewrite_value", "action/value", Str()),
    Attr("condition_match_constraints", "conditions/logicalGrouping", GROUPING),
    Attr("track_all_captures", "conditions/trackAllCaptures", Bool()),
)  # fmt: skip
# The outbound section's lists: rules (its own collection), <preConditions> and <customTags> (child lists).
OUTBOUND_CHILDREN = (
    EntrySpec(route="rules", plural="rules", purpose=P.REWRITE_OUTBOUND_RULE, resource=MS + "UrlRewrite.OutboundRule",
              holder="", keys=(NAME,), fields=OUTBOUND_RULE_FIELDS, required=("name", "pattern", "match_type"),
              conflict="name", key_last=True, on_create=outbound.rule_create, read=outbound.rule_read,
              write=outbound.rule_write),
    EntrySpec(route="preconditions", plural="preconditions", purpose=P.REWRITE_PRECONDITION,
              resource=MS + "UrlRewrite.PreCondition", holder="preConditions", keys=(NAME,),
              fields=(Attr("match", "logicalGrouping", Choice((("all", "MatchAll"), ("any", "MatchAny")))),
                      Attr("pattern_syntax", "patternSyntax", SYNTAX)),
              required=("name",), conflict="name", key_last=True, read=outbound.precondition_read,
              write=outbound.precondition_write),
    # Upstream spells this route with an underscore.
    EntrySpec(route="custom_tags", plural="custom_tags", purpose=P.REWRITE_CUSTOM_TAGS,
              resource=MS + "UrlRewrite.CustomTags", holder="customTags", keys=(NAME,), required=("name",),
              conflict="name", key_last=True, read=outbound.tags_read, write=outbound.tags_write),
)  # fmt: skip
USE_ORIGINAL = Attr("use_original_url_encoding", "useOriginalURLEncoding", Bool())
# Not in FEATURES: these rows share the feature's purpose (one RewriteId per scope) and are linked from it.
REWRITE_SECTIONS = (
    _section("inbound", "rules", USE_ORIGINAL,
             children=(_rules("UrlRewrite.InboundRule", write=rewrite.rule_write),)),
    _section("global", "globalRules", USE_ORIGINAL,
             children=(_rules("UrlRewrite.GlobalRule", write=rewrite.global_rule_write),)),
    _section("outbound", "outboundRules", Attr("rewrite_before_cache", "rewriteBeforeCache", Bool()),
             children=OUTBOUND_CHILDREN),
    _section("rewrite-maps", "rewriteMaps", children=(_named(
        P.REWRITE_MAP, "UrlRewrite.RewriteMap", Attr("default_value", "defaultValue", Str()),
        Attr("ignore_case", "ignoreCase", Bool()), read=rewrite.map_read, write=rewrite.map_write),)),
    _section("providers", "providers", children=(_named(
        P.REWRITE_PROVIDER, "UrlRewrite.Provider", Attr("type", "type", Str()), read=rewrite.provider_read,
        write=rewrite.provider_write),)),
    _section("allowed-server-variables", "allowedServerVariables", read=rewrite.variables_read,
             write=rewrite.variables_write),
)  # fmt: skip
