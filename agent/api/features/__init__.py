"""IIS feature sections (/api/webserver/<feature>): one table of FeatureSpec rows drives every endpoint."""
