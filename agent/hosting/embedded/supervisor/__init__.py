"""The supervisor process (HTTP.sys + WAS roles): listeners, routing, pools of worker processes, the cache."""
