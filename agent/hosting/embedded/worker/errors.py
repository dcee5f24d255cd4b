"""IIS's error responses from the worker: status.substatus, title, description, HTML page."""

from __future__ import annotations

from agent.hosting.embedded.http1 import reason_phrase
from agent.hosting.embedded.worker.markup import escape

MESSAGES: dict[tuple[int, int], str] = {
    (400, 0): "The request could not be understood by the server due to malformed syntax.",
    (401, 1): "You do not have permission to view this directory or page using the credentials that you supplied.",
    (401, 2): "You are not authorized to view this page due to invalid authentication headers.",
    (401, 502): "Too many requests from the same client IP; the Dynamic IP Restriction limit was reached.",
    (401, 503): "The client IP address is included in the Deny list of IP Restriction.",
    (403, 502): "Too many requests from the same client IP; the Dynamic IP Restriction limit was reached.",
    (403, 503): "The client IP address is included in the Deny list of IP Restriction.",
    (404, 502): "Too many requests from the same client IP; the Dynamic IP Restriction limit was reached.",
    (404, 503): "The client IP address is included in the Deny list of IP Restriction.",
    (403, 14): "A default document is not configured for the requested URL, and directory browsing is not "
    "enabled on the server.",
    (404, 0): "The resource you are looking for has been removed, had its name changed, or is temporarily unavailable.",
    (404, 3): "The page you are requesting cannot be served because of the extension configuration. If the page "
    "is a script, add a handler. If the file should be downloaded, add a MIME map.",
    (404, 5): "The request filtering module is configured to deny a request that contains a URL sequence.",
    (404, 6): "The request filtering module is configured to deny the HTTP verb.",
    (404, 7): "The request filtering module is configured to deny the file extension.",
    (404, 8): "The request filtering module is configured to deny a path in the URL that contains a "
    "hiddenSegment section.",
    (404, 10): "The request filtering module is configured to deny a request where a request header is too long.",
    (404, 11): "The request filtering module is configured to deny a request that contains a double escape sequence.",
    (404, 12): "The request filtering module is configured to deny a request that contains high-bit characters.",
    (404, 14): "The request filtering module is configured to deny a request where the URL is too long.",
    (404, 15): "The request filtering module is configured to deny a request where the query string is too long.",
    (404, 18): "The request filtering module is configured to deny a request that contains a query string sequence.",
    (404, 19): "The request filtering module is configured to deny a request according to a filtering rule.",
    (405, 0): "The page you are looking for cannot be displayed because an invalid method (HTTP verb) is being used.",
    (413, 1): "The request filtering module is configured to deny a request that exceeds the request content length.",
    (500, 0): "The page cannot be displayed because an internal server error has occurred.",
}
# The Win32 error IIS logs in sc-win32-status for some substatus codes.
WIN32: dict[tuple[int, int], int] = {(404, 0): 2, (401, 2): 5, (403, 14): 0}


def error_html(status: int, substatus: int) -> str:
    """The body IIS sends for an error status."""
    code = f"{status}.{substatus}" if substatus else str(status)
    title = f"HTTP Error {code} - {reason_phrase(status)}"
    message = MESSAGES.get((status, substatus)) or MESSAGES.get((status, 0)) or reason_phrase(status)
    return (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\r\n'
        '<html xmlns="http://www.w3.org/1999/xhtml">\r\n<head>\r\n'
        '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>\r\n'
        f"<title>IIS 10.0 Detailed Error - {code} - {escape(reason_phrase(status))}</title>\r\n</head>\r\n"
        f'<body><div id="content"><div class="content-container"><h3>{escape(title)}</h3>\r\n'
        f"<h4>{escape(message)}</h4></div></div></body>\r\n</html>\r\n"
    )
