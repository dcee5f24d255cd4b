"""ROUTES: every route of the agent, in one visible table."""

from __future__ import annotations

from agent.api.openapi import openapi_handler
from agent.api.resources import (
    access_token,
    access_tokens,
    api_keys,
    app_pools,
    copy_move,
    downloads,
    file_content,
    file_locations,
    files,
    schemas,
    virtual_directories,
    webapps,
    webserver,
    webserver_files,
    websites,
)
from agent.api.routing import Route, delete, get, patch, post

SITES = "/api/webserver/websites"
POOLS = "/api/webserver/application-pools"
WEBAPPS = "/api/webserver/webapps"
VDIRS = "/api/webserver/virtual-directories"

API_ROUTES: tuple[Route, ...] = (
    get("/api", webserver.get_api, "API root: host name and links", "api"),
    get("/api/ping", webserver.ping, "Liveness page (no token)", "api"),
    get("/api/webserver", webserver.get_webserver, "The web server", "webserver"),
    get("/api/webserver/info", webserver.get_info, "Web server product and status", "webserver"),
    get(SITES, websites.list_websites, "List websites", "websites"),
    post(SITES, websites.create_website, "Create a website", "websites", body=schemas.WEBSITE),
    get(SITES + "/{id}", websites.get_website, "Get a website", "websites"),
    patch(SITES + "/{id}", websites.update_website, "Update a website", "websites", body=schemas.WEBSITE),
    delete(SITES + "/{id}", websites.delete_website, "Delete a website", "websites"),
    get(POOLS, app_pools.list_app_pools, "List application pools", "application-pools"),
    post(POOLS, app_pools.create_app_pool, "Create an application pool", "application-pools", body=schemas.APP_POOL),
    get(POOLS + "/{id}", app_pools.get_app_pool, "Get an application pool", "application-pools"),
    patch(POOLS + "/{id}", app_pools.update_app_pool, "Update, start, stop or recycle an application pool",
          "application-pools", body=schemas.APP_POOL),
    delete(POOLS + "/{id}", app_pools.delete_app_pool, "Delete an application pool", "application-pools"),
    get(WEBAPPS, webapps.list_webapps, "List applications of a site or pool", "webapps"),
    post(WEBAPPS, webapps.create_webapp, "Create an application", "webapps", body=schemas.WEBAPP),
    get(WEBAPPS + "/{id}", webapps.get_webapp, "Get an application", "webapps"),
    patch(WEBAPPS + "/{id}", webapps.update_webapp, "Update an application", "webapps", body=schemas.WEBAPP),
    delete(WEBAPPS + "/{id}", webapps.delete_webapp, "Delete an application", "webapps"),
    get(VDIRS, virtual_directories.list_vdirs, "List virtual directories", "virtual-directories"),
    post(VDIRS, virtual_directories.create_vdir, "Create a virtual directory", "virtual-directories",
         body=schemas.VDIR),
    get(VDIRS + "/{id}", virtual_directories.get_vdir, "Get a virtual directory", "virtual-directories"),
    patch(VDIRS + "/{id}", virtual_directories.update_vdir, "Update a virtual directory", "virtual-directories",
          body=schemas.VDIR),
    delete(VDIRS + "/{id}", virtual_directories.delete_vdir, "Delete a virtual directory", "virtual-directories"),
    *webserver_files.ROUTES,
    # Registered after the named /api/webserver/* routes so those win.
    get("/api/webserver/{id}", webserver.get_webserver_by_id, "The web server by id", "webserver"),
    # The files family: named paths (locations, downloads, copy, move, content) before /api/files/{id}.
    *file_locations.ROUTES,
    *downloads.ROUTES,
    *copy_move.ROUTES,
    *file_content.ROUTES,
    *files.ROUTES,
    *access_token.ROUTES,
    *api_keys.ROUTES,
    *access_tokens.ROUTES,
)

ROUTES: tuple[Route, ...] = (
    *API_ROUTES,
    get("/openapi.json", openapi_handler(API_ROUTES, "0.1.0"), "This OpenAPI document", "meta"),
    # The web manager opens {url}/ping in a popup so the browser accepts the agent's certificate.
    get("/ping", webserver.ping, "Certificate-acceptance page for browsers (no token)", "meta"),
)
