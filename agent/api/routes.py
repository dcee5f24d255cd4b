"""ROUTES: every route of the agent, in one visible table, read top to bottom.

Resource modules export handlers; every row is here. Order matters where aiohttp matches a named
segment against a `{id}` route: the named rows come first. The IIS feature rows are generated from the
FEATURES table (agent/api/features/table.py) by `feature_routes()` and spliced in where marked.
"""

from __future__ import annotations

from agent.api.features.custom import delegation, modules
from agent.api.features.routes import ANY_OBJECT, DELEGATION, GLOBAL, feature_routes
from agent.api.features.rows import REWRITE_SECTIONS
from agent.api.features.table import FEATURES
from agent.api.openapi import openapi_handler
from agent.api.refs import MODELS, Expander
from agent.api.resources import (
    access_token,
    access_tokens,
    api_keys,
    app_pools,
    archive_extract,
    certificates,
    copy_move,
    downloads,
    file_content,
    file_locations,
    files,
    monitoring,
    request_monitor,
    schemas,
    service_controller,
    traces,
    transactions,
    version_builds,
    virtual_directories,
    webapps,
    webserver,
    webserver_files,
    websites,
    worker_processes,
)
from agent.api.resources.file_models import FILES_PATH
from agent.api.routing import Route, delete, get, not_allowed, patch, post, put
from agent.ids import Purpose
from agent.security.models import ACCESS_TOKEN_PATH, ACCESS_TOKENS_PATH, API_KEYS_PATH

# What a nested reference expands into when dotted `fields=` names members under it (upstream's
# `ToJsonModelRef(x, fields.Filter("application_pool"))`): ?fields=application_pool.identity, website.bindings ...
NESTED_MODELS: dict[Purpose, Expander] = {
    Purpose.SITE: websites.WEBSITES.nested,
    Purpose.APP_POOL: app_pools.APP_POOLS.nested,
    Purpose.APPLICATION: webapps.WEBAPPS.nested,
}
MODELS.update(NESTED_MODELS)

SITES = "/api/webserver/websites"
POOLS = "/api/webserver/application-pools"
WEBAPPS = "/api/webserver/webapps"
VDIRS = "/api/webserver/virtual-directories"
TRANSACTIONS = "/api/webserver/transactions"
WORKERS = "/api/webserver/worker-processes"
MONITOR = "/api/webserver/http-request-monitor"
CERTS = "/api/certificates"
WEB_FILES = "/api/webserver/files"
LOCATIONS = FILES_PATH + "/locations"
DOWNLOADS = FILES_PATH + "/downloads"
CONTENT = FILES_PATH + "/content"

API_ROUTES: tuple[Route, ...] = (
    get("/api", webserver.get_api, "API root: host name and links", "api"),
    get("/api/ping", webserver.ping, "Liveness page (no token)", "api"),
    get("/api/webserver", webserver.get_webserver, "The web server", "webserver"),
    get("/api/webserver/info", webserver.get_info, "Web server product and status", "webserver"),
    get("/api/webserver/service-controller", service_controller.get_service_controller,
        "Web server service (W3SVC) status", "service-controller"),
    patch("/api/webserver/service-controller", service_controller.update_service_controller,
          "Start or stop the web server service", "service-controller", body=service_controller.BODY),
    get("/api/webserver/monitoring", monitoring.get_webserver_monitoring, "Web server monitoring snapshot",
        "monitoring"),
    get("/api/webserver/monitoring/{id}", monitoring.get_webserver_monitoring,
        "Web server monitoring snapshot by id", "monitoring"),
    # Monitoring paths are named segments under websites/application-pools: before their /{id} routes.
    get(SITES + "/monitoring", monitoring.list_website_monitoring, "Monitoring snapshots of every site",
        "monitoring"),
    get(SITES + "/monitoring/{id}", monitoring.get_website_monitoring, "Monitoring snapshot of a site",
        "monitoring"),
    get(POOLS + "/monitoring", monitoring.list_app_pool_monitoring, "Monitoring snapshots of every pool",
        "monitoring"),
    get(POOLS + "/monitoring/{id}", monitoring.get_app_pool_monitoring, "Monitoring snapshot of a pool",
        "monitoring"),
    get(WORKERS, worker_processes.list_worker_processes, "List worker processes", "worker-processes"),
    get(WORKERS + "/{id}", worker_processes.get_worker_process, "Get a worker process", "worker-processes"),
    delete(WORKERS + "/{id}", worker_processes.delete_worker_process, "Kill a worker process",
           "worker-processes"),
    get(MONITOR, request_monitor.get_request_monitor, "The request monitor feature (209)", "request-monitor"),
    get(MONITOR + "/requests", request_monitor.list_requests, "Requests in flight", "request-monitor"),
    get(MONITOR + "/requests/{id}", request_monitor.get_request, "A request in flight", "request-monitor"),
    get(MONITOR + "/{id}", request_monitor.get_request_monitor_by_id, "The request monitor feature",
        "request-monitor"),
    post(MONITOR, request_monitor.install_request_monitor, "Install the request monitor (IIS-RequestMonitor)",
         "request-monitor", body={"type": "object"}),
    delete(MONITOR + "/{id}", request_monitor.uninstall_request_monitor, "Uninstall the request monitor",
           "request-monitor"),
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
    get(WEB_FILES, webserver_files.list_web_files, "List a virtual directory's children, or find a virtual path",
        "webserver-files"),
    *not_allowed(WEB_FILES, webserver_files.not_allowed, "webserver-files", "POST", "PUT", "PATCH", "DELETE"),
    get(WEB_FILES + "/{id}", webserver_files.get_web_file, "Get a node of a site's virtual file tree",
        "webserver-files"),
    get(TRANSACTIONS, transactions.list_transactions, "The open configuration transaction, if any", "transactions"),
    post(TRANSACTIONS, transactions.create_transaction, "Open a configuration transaction", "transactions",
         body={"type": "object"}),
    get(TRANSACTIONS + "/{id}", transactions.get_transaction, "Get the open transaction", "transactions"),
    patch(TRANSACTIONS + "/{id}", transactions.update_transaction, "Commit or abort the transaction",
          "transactions", body={"type": "object", "properties": {"state": {"enum": ["committed", "aborted"]}}}),
    # Trace files: a named segment under http-request-tracing, before the feature's /{id}.
    get(traces.PATH, traces.list_traces, "A site's failed-request trace files (?http_request_tracing.id=)",
        "http-request-tracing"),
    get(traces.PATH + "/{id}", traces.get_trace, "One failed-request trace file", "http-request-tracing"),
    # IIS feature sections: each FEATURES row (agent/api/features/table.py) yields its child collections,
    # the feature and /{id}. authentication/<type> rows come before the authentication container's /{id}
    # and url-rewrite/<section> rows before url-rewrite's /{id}: hence the rewrite sections first, reversed.
    *(route for spec in (*REWRITE_SECTIONS, *reversed(FEATURES)) for route in feature_routes(spec)),
    get(GLOBAL, modules.list_global_modules, "List global (native) modules", "global-modules"),
    post(GLOBAL, modules.create_global_module, "Register a global module", "global-modules", body=ANY_OBJECT),
    get(GLOBAL + "/{id}", modules.get_global_module, "Get a global module", "global-modules"),
    patch(GLOBAL + "/{id}", modules.update_global_module, "Change a global module", "global-modules",
          body=ANY_OBJECT),
    delete(GLOBAL + "/{id}", modules.delete_global_module, "Remove a global module", "global-modules"),
    get(DELEGATION, delegation.list_sections, "Sections and their override modes at a scope", "feature-delegation"),
    get(DELEGATION + "/{id}", delegation.get_section, "A section's override mode", "feature-delegation"),
    patch(DELEGATION + "/{id}", delegation.update_section, "Set a section's override mode", "feature-delegation",
          body={"type": "object", "properties": {"override_mode": {"type": "string"}}}),
    # Registered after the named /api/webserver/* routes so those win.
    get("/api/webserver/{id}", webserver.get_webserver_by_id, "The web server by id", "webserver"),
    # The files family: named paths (locations, downloads, copy, move, content) before /api/files/{id}.
    get(LOCATIONS, file_locations.list_locations, "List file locations (policy: system)", "files"),
    post(LOCATIONS, file_locations.create_location, "Add a file location", "files"),
    get(LOCATIONS + "/{id}", file_locations.get_location, "Get a file location", "files"),
    patch(LOCATIONS + "/{id}", file_locations.update_location, "Change a file location", "files"),
    delete(LOCATIONS + "/{id}", file_locations.delete_location, "Remove a file location", "files"),
    post(DOWNLOADS, downloads.create_download, "Create a temporary download link", "files"),
    get(DOWNLOADS, downloads.downloads_not_allowed, "Not allowed (405)", "files", statuses=(405,)),
    *not_allowed(DOWNLOADS, downloads.downloads_not_allowed, "files", "PATCH", "PUT"),
    get("/downloads/{id}", downloads.serve_download, "Download through a temporary link (no access token)", "files",
        statuses=(200, 206, 304, 404)),
    delete("/downloads/{id}", downloads.delete_download, "Invalidate a download link", "files"),
    post(FILES_PATH + "/copy", copy_move.start_copy, "Start a copy job", "files", statuses=(202,)),
    get(FILES_PATH + "/copy", copy_move.not_allowed, "Not allowed (405)", "files", statuses=(405,)),
    *not_allowed(FILES_PATH + "/copy", copy_move.not_allowed, "files", "PATCH", "PUT"),
    get(FILES_PATH + "/copy/{id}", copy_move.get_operation, "Poll a copy job", "files", statuses=(200, 404)),
    post(FILES_PATH + "/move", copy_move.start_move, "Start a move job", "files", statuses=(202,)),
    get(FILES_PATH + "/move", copy_move.not_allowed, "Not allowed (405)", "files", statuses=(405,)),
    *not_allowed(FILES_PATH + "/move", copy_move.not_allowed, "files", "PATCH", "PUT"),
    get(FILES_PATH + "/move/{id}", copy_move.get_operation, "Poll a move job", "files", statuses=(200, 404)),
    get(CONTENT + "/{id}", file_content.get_content, "Download a file's content (Range supported)", "files",
        statuses=(200, 206, 304)),
    put(CONTENT + "/{id}", file_content.put_content, "Upload a file's content, whole or in Content-Range chunks",
        "files", statuses=(200, 202)),
    post(FILES_PATH + "/archive-extract", archive_extract.extract_archive,  # IIS Fleet extension (compatibility.md)
         "Unpack an uploaded zip or tar into a new directory (IIS Fleet extension)", "files"),
    post(version_builds.BUILDS, version_builds.plan_build,  # IIS Fleet extension (compatibility.md)
         "Plan a version folder: link unchanged files from a base (IIS Fleet extension)", "files"),
    put(version_builds.BUILDS + "/{id}", version_builds.receive_build,  # IIS Fleet extension (compatibility.md)
        "Stream the missing files of a planned version (IIS Fleet extension)", "files", statuses=(201,)),
    get(FILES_PATH, files.list_files, "List location roots or a directory's children, or find one path", "files"),
    post(FILES_PATH, files.create_file, "Create a file or directory", "files"),
    get(FILES_PATH + "/{id}", files.get_file, "Get a file or directory", "files"),
    patch(FILES_PATH + "/{id}", files.update_file, "Rename a file or directory or set its dates", "files"),
    delete(FILES_PATH + "/{id}", files.delete_file, "Delete a file or directory", "files"),
    # Certificates: the stores collection before /api/certificates/{id}.
    get(CERTS, certificates.list_certificates, "List certificates (Range: certificates=a-b)", "certificates"),
    get(CERTS + "/stores", certificates.list_stores, "List certificate stores", "certificates"),
    get(CERTS + "/stores/{id}", certificates.get_store, "Get a certificate store", "certificates"),
    get(CERTS + "/{id}", certificates.get_certificate, "Get a certificate", "certificates"),
    get(ACCESS_TOKEN_PATH, access_token.get_access_token, "The access token of this request", "security"),
    post(ACCESS_TOKEN_PATH, access_token.renew_access_token, "Renew the access token of this request", "security",
         body={"type": "object", "properties": {}}),
    get(API_KEYS_PATH, api_keys.list_api_keys, "List API keys (issues an XSRF token)", "security"),
    post(API_KEYS_PATH, api_keys.create_api_key, "Create an API key (XSRF required)", "security",
         body={**api_keys.KEY_BODY, "required": ["expires_on"]}),
    get(API_KEYS_PATH + "/{id}", api_keys.get_api_key, "Get an API key (issues an XSRF token)", "security"),
    patch(API_KEYS_PATH + "/{id}", api_keys.update_api_key, "Update an API key (XSRF required)", "security",
          body=api_keys.KEY_BODY, statuses=(200,)),
    delete(API_KEYS_PATH + "/{id}", api_keys.delete_api_key, "Delete an API key (XSRF required)", "security"),
    get(ACCESS_TOKENS_PATH, access_tokens.list_access_tokens, "XSRF handshake for token renewal", "security",
        statuses=(204,)),
    get(ACCESS_TOKENS_PATH + "/{id}", access_tokens.get_access_token_info, "The token of an API key", "security"),
    post(ACCESS_TOKENS_PATH, access_tokens.renew_key_token, "Renew the token of an API key (XSRF required)",
         "security", body={"type": "object", "required": ["api_key"],
                           "properties": {"api_key": {"type": "object", "properties": {"id": {"type": "string"}}}}}),
)

ROUTES: tuple[Route, ...] = (
    *API_ROUTES,
    get("/metrics", monitoring.get_metrics, "Prometheus metrics (windows_exporter IIS names)", "meta"),
    get("/openapi.json", openapi_handler(API_ROUTES, "0.1.0"), "This OpenAPI document", "meta"),
    # The web manager opens {url}/ping in a popup so the browser accepts the agent's certificate.
    get("/ping", webserver.ping, "Certificate-acceptance page for browsers (no token)", "meta"),
)
