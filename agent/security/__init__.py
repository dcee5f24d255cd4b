"""Access tokens, API keys, XSRF, access policies, CORS, the audit log and the agent's TLS certificate.

Request order (outermost first): cors -> error middleware -> auth -> audit -> handler.
"""
