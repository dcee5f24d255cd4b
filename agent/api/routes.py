"""ROUTES: every route of the agent, in one visible table."""

from __future__ import annotations

from agent.api.features.routes import FEATURE_ROUTES
from agent.api.openapi import openapi_handler
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
    transactions,
    version_builds,
    virtual_directories,
    webapps,
    webserver,
    webserver_files,
    websites,
    worker_processes,
)
from agent.api.routing import Route, delete, get, patch, post

SITES = "/api/webserver/websites"
POOLS = "/api/webserver/application-pools"
WEBAPPS = "/api/webserver/webapps"
VDIRS = "/api/webserver/virtual-directories"
TRANSACTIONS = "/api/webserver/transactions"
WORKERS = "/api/webserver/worker-processes"
MONITOR = "/api/webserver/http-request-monitor"
CERTS = "/api/certificates"

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
    get(TRANSACTIONS, transactions.list_transactions, "The open configuration transaction, if any", "transactions"),
    post(TRANSACTIONS, transactions.create_transaction, "Open a configuration transaction", "transactions",
         body={"type": "object"}),
    get(TRANSACTIONS + "/{id}", transactions.get_transaction, "Get the open transaction", "transactions"),
    patch(TRANSACTIONS + "/{id}", transactions.update_transaction, "Commit or abort the transaction",
          "transactions", body={"type": "object", "properties": {"state": {"enum": ["committed", "aborted"]}}}),
    *FEATURE_ROUTES,  # IIS feature sections, generated from agent/api/features/table.py
    # Registered after the named /api/webserver/* routes so those win.
    get("/api/webserver/{id}", webserver.get_webserver_by_id, "The web server by id", "webserver"),
    # The files family: named paths (locations, downloads, copy, move, content) before /api/files/{id}.
    *file_locations.ROUTES,
    *downloads.ROUTES,
    *copy_move.ROUTES,
    *file_content.ROUTES,
    *archive_extract.ROUTES,  # IIS Fleet extension (docs/compatibility.md)
    *version_builds.ROUTES,  # IIS Fleet extension (docs/compatibility.md)
    *files.ROUTES,
    # Certificates: the stores collection before /api/certificates/{id}.
    get(CERTS, certificates.list_certificates, "List certificates (Range: certificates=a-b)", "certificates"),
    get(CERTS + "/stores", certificates.list_stores, "List certificate stores", "certificates"),
    get(CERTS + "/stores/{id}", certificates.get_store, "Get a certificate store", "certificates"),
    get(CERTS + "/{id}", certificates.get_certificate, "Get a certificate", "certificates"),
    *access_token.ROUTES,
    *api_keys.ROUTES,
    *access_tokens.ROUTES,
)

ROUTES: tuple[Route, ...] = (
    *API_ROUTES,
    get("/metrics", monitoring.get_metrics, "Prometheus metrics (windows_exporter IIS names)", "meta"),
    get("/openapi.json", openapi_handler(API_ROUTES, "0.1.0"), "This OpenAPI document", "meta"),
    # The web manager opens {url}/ping in a popup so the browser accepts the agent's certificate.
    get("/ping", webserver.ping, "Certificate-acceptance page for browsers (no token)", "meta"),
)
