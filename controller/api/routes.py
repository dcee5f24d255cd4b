"""ROUTES: the controller's one routing table.

Auth kinds: public, join_token (in the body), operator, agent, metrics (an operator token or a scrape
certificate). Operator and metrics rows name the role a token needs (viewer < operator < admin, see
controller/auth/roles.py); the gateway's role depends on the agent path.
"""

from __future__ import annotations

from pydantic import BaseModel

from controller.api import (
    agents,
    artifact_blobs,
    artifacts,
    bootstrap,
    enroll,
    gateway,
    jobs,
    metrics,
    openapi,
    operator_keys,
    session,
)
from controller.api.routing import Handler, RoleRule, Route
from controller.auth.roles import Role
from controller.console import handlers as console
from controller.services.job_models import JobRequest
from controller.services.manifests import ManifestRequest


def _op(
    method: str, path: str, handler: Handler, name: str, role: Role | RoleRule, summary: str,
    body: type[BaseModel] | None = None,
) -> Route:
    return Route(method=method, path=path, handler=handler, name=name, auth="operator", role=role, summary=summary,
                 body=body)


JOB_ROUTES: tuple[Route, ...] = (
    _op("POST", "/api/jobs", jobs.create_job, "jobs.create", "operator",
        "Start a fleet job: action, target (agents or labels), params, strategy; 202 + Location", JobRequest),
    _op("GET", "/api/jobs", jobs.list_jobs, "jobs.list", "viewer",
        "Job history, newest first (page/per_page or cursor)"),
    _op("GET", "/api/jobs/{id}", jobs.get_job, "jobs.get", "viewer", "A job's status and per-agent results"),
    _op("GET", "/api/jobs/{id}/events", jobs.job_events, "jobs.events", "viewer",
        "A job's event history, then live events, as server-sent events (Last-Event-ID resumes)"),
    _op("POST", "/api/jobs/{id}/cancel", jobs.cancel_job, "jobs.cancel", "operator",
        "Cancel a job: no new host starts"),
    _op("POST", "/api/jobs/{id}/rerun", jobs.rerun_job, "jobs.rerun", "operator",
        "Run a finished job again on the hosts that did not succeed"),
    _op("POST", "/api/artifacts", artifacts.upload_artifact, "artifacts.upload", "operator",
        "Upload a deploy archive (zip/tar, streamed); checked and stored by sha256"),
    _op("POST", "/api/artifacts/manifests", artifact_blobs.submit_manifest, "artifacts.manifest", "operator",
        "A tree's manifest (path, size, mode, sha256): 200 + the blobs still missing, or 201 + the artifact",
        ManifestRequest),
    _op("PUT", "/api/artifacts/blobs/{sha256}", artifact_blobs.put_blob, "artifacts.blob", "operator",
        "Store one file content under its sha256 (checked on receipt)"),
    _op("POST", "/api/artifacts/blobs", artifact_blobs.post_blobs, "artifacts.blobs", "operator",
        "Store many file contents: an uncompressed tar whose members are named by their sha256"),
    _op("GET", "/api/artifacts/{sha256}", artifacts.get_artifact, "artifacts.get", "viewer",
        "An artifact's summary"),
)

BOOTSTRAP_ROUTES: tuple[Route, ...] = (
    _op("POST", "/api/bootstrap", bootstrap.create_bootstrap, "bootstrap.create", "admin",
        "Install and enroll an agent over SSH or WinRM; 202 + Location of the status resource"),
    _op("GET", "/api/bootstrap/{id}", bootstrap.get_bootstrap, "bootstrap.get", "admin",
        "A bootstrap's status: step, agent id once online, error and script output"),
)

CONSOLE_ROUTES: tuple[Route, ...] = (
    Route(method="GET", path="/", handler=console.index, name="console.index", auth="public",
          summary="The fleet web console (it signs in with an operator token)"),
    Route(method="GET", path="/console/{name:[A-Za-z0-9_./-]+}", handler=console.asset, name="console.asset",
          auth="public", summary="A static file of the console (?v=<hash>: cached immutable; else ETag + no-cache)"),
    Route(method="POST", path="/api/session", handler=session.create_session, name="session.create",
          auth="public", summary="Sign in with an operator token: an HttpOnly session cookie and its CSRF token"),
    _op("GET", "/api/session", session.get_session, "session.get", "viewer",
        "Who the caller is: key id, purpose, role, scope and expiry (a session also gets its CSRF token)"),
    Route(method="DELETE", path="/api/session", handler=session.delete_session, name="session.delete",
          auth="public", summary="Sign out of the console (with the session's X-CSRF-Token)"),
)

KEY_ROUTES: tuple[Route, ...] = (
    _op("POST", "/api/keys", operator_keys.create_key, "keys.create", "admin",
        "Create an operator key: purpose, role, scope, expires; the token is shown once"),
    _op("GET", "/api/keys", operator_keys.list_keys, "keys.list", "admin",
        "Every operator key: id, purpose, role, scope, created, expires, last used (never the secret)"),
    _op("DELETE", "/api/keys/{id}", operator_keys.revoke_key, "keys.revoke", "admin",
        "Revoke an operator key; every controller refuses it from the next request on"),
)

ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/openapi.json",
        handler=openapi.openapi,
        name="openapi",
        auth="operator",
        role="viewer",
        summary="This API's OpenAPI document",
    ),
    Route(
        method="GET",
        path="/api/enroll/ca",
        handler=enroll.ca_certificate,
        name="enroll.ca",
        auth="public",
        summary="The fleet CA certificate (agents check it against the join token's pin)",
    ),
    Route(
        method="POST",
        path="/api/enroll",
        handler=enroll.enroll,
        name="enroll",
        auth="join_token",
        summary="Enroll an agent: join token, CSR, URL, API key and facts in; certificate out",
    ),
    Route(
        method="POST",
        path="/api/agent/heartbeat",
        handler=enroll.heartbeat,
        name="agent.heartbeat",
        auth="agent",
        summary="An agent reports facts and its sites' and pools' state",
    ),
    Route(
        method="POST",
        path="/api/agent/renew",
        handler=enroll.renew,
        name="agent.renew",
        auth="agent",
        summary="An agent renews its certificate with a new CSR",
    ),
    Route(
        method="GET",
        path="/api/agents",
        handler=agents.list_agents,
        name="agents.list",
        auth="operator",
        role="viewer",
        summary="Every enrolled agent with labels, facts, status and last_seen",
    ),
    Route(
        method="GET",
        path="/api/agents/{id}",
        handler=agents.get_agent,
        name="agents.get",
        auth="operator",
        role="viewer",
        summary="One agent",
    ),
    Route(
        method="PATCH",
        path="/api/agents/{id}",
        handler=agents.patch_agent,
        name="agents.patch",
        auth="operator",
        role="admin",
        summary="Change an agent's labels (null removes a label)",
    ),
    Route(
        method="DELETE",
        path="/api/agents/{id}",
        handler=agents.delete_agent,
        name="agents.delete",
        auth="operator",
        role="admin",
        summary="Revoke an agent: its certificates are refused from now on",
    ),
    Route(
        method="*",
        path="/api/agents/{id}/iis/{path:.*}",
        handler=gateway.proxy,
        name="agents.gateway",
        auth="operator",
        role=gateway.required_role,
        summary="Forward any IIS Administration API call to the agent (path after /iis/)",
    ),
    Route(
        method="POST",
        path="/api/join-tokens",
        handler=agents.create_join_token_handler,
        name="join_tokens.create",
        auth="operator",
        role="admin",
        summary="Create a single-use, expiring join token",
    ),
    Route(
        method="GET",
        path="/api/audit",
        handler=agents.list_audit,
        name="audit.list",
        auth="operator",
        role="viewer",
        summary="The newest gateway calls with operator key id, method, path and status",
    ),
    Route(
        method="GET",
        path="/api/prometheus/targets",
        handler=metrics.prometheus_targets,
        name="prometheus.targets",
        auth="metrics",
        role="viewer",
        summary="Prometheus HTTP service discovery of agents",
    ),
    Route(
        method="GET",
        path="/metrics",
        handler=metrics.fleet_metrics,
        name="metrics",
        auth="metrics",
        role="viewer",
        summary="Fleet aggregates in the Prometheus text format",
    ),
    *JOB_ROUTES,
    *BOOTSTRAP_ROUTES,
    *KEY_ROUTES,
    *CONSOLE_ROUTES,
)
