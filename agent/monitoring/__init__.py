"""Runtime monitoring: host snapshots and process statistics into upstream's JSON snapshots and Prometheus."""
