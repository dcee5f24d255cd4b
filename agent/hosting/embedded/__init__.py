"""The embedded host: a supervisor process (HTTP.sys + WAS roles) and worker processes running IIS-named modules.

`supervisor/` runs in the agent; `worker/` is what each worker process imports. Both share only this level:
the configuration model (model.py), the URL mapping (urlmap.py), HTTP/1.1 heads (http1.py), the response
cache contract (cache_policy.py) and the process handshake (wire.py). EmbeddedHost is in supervisor/host.py;
this package imports nothing eagerly so a worker process does not load the supervisor.
"""
