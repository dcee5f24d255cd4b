"""Operator authentication and authorisation: keys with roles and scopes, path rules, failed-login limits."""
