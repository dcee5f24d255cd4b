"""The worker process (w3wp's role): one application pool's requests through a pipeline of IIS-named modules."""
