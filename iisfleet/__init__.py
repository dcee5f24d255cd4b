"""IIS Fleet's top floor: the console script, the demo and the operator's HTTP client.

The only package that may import both `agent` and `controller`; `shared` sits below both.
"""
