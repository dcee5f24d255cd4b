"""ACTIONS: every job action, one row each (name, params model, per-agent step, submit-time check)."""

from __future__ import annotations

from controller.services.actions import deploy, pools, request, sites
from controller.services.actions.base import ActionSpec

ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(name="site.create", params=sites.SiteCreateParams, run=sites.create,
                   summary="Create a site with its pool, bindings and content folder; start it"),
        ActionSpec(name="site.delete", params=sites.SiteParams, run=sites.delete, summary="Delete a site"),
        ActionSpec(name="site.start", params=sites.SiteParams, run=sites.start, summary="Start a site"),
        ActionSpec(name="site.stop", params=sites.SiteParams, run=sites.stop, summary="Stop a site"),
        ActionSpec(name="pool.start", params=pools.PoolParams, run=pools.start, summary="Start an application pool"),
        ActionSpec(name="pool.stop", params=pools.PoolParams, run=pools.stop, summary="Stop an application pool"),
        ActionSpec(name="pool.recycle", params=pools.PoolParams, run=pools.recycle,
                   summary="Recycle an application pool"),
        ActionSpec(name="iis.request", params=request.RequestParams, run=request.run,
                   summary="Any method, path and body on the agent's IIS Administration API"),
        ActionSpec(name="files.deploy", params=deploy.DeployParams, run=deploy.deploy, check=deploy.check_deploy,
                   summary="Unpack an artifact into a new version folder and switch the site to it"),
        ActionSpec(name="files.rollback", params=deploy.RollbackParams, run=deploy.rollback,
                   summary="Switch the site back to the previous (or a named) version folder"),
    )
}
