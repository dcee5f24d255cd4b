"""The operator's client commands (`iisfleet sites|pools|deploy|rollback|jobs ...`) over the controller API."""
