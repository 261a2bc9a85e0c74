"""Error pages and fragments a person understands, and the domain error type."""

from flask import Flask, jsonify, make_response, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from dutypwa.http import is_htmx, render


class DomainError(Exception):
    """A refused change: `message` is for the person, `status` the HTTP answer (4xx)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.message = message
        self.status = status


TITLES = {
    400: lambda: _("Bad request"),
    403: lambda: _("Not allowed"),
    404: lambda: _("Not found"),
    405: lambda: _("Not available"),
    409: lambda: _("Conflict"),
    410: lambda: _("No longer valid"),
    413: lambda: _("Too large"),
    422: lambda: _("Please check your input"),
}


def error_response(status: int, message: str):
    """JSON for the API, a fragment for htmx, a whole page otherwise."""
    if request.path.startswith("/api/"):
        return make_response(jsonify(error=message), status)
    title = TITLES.get(status, lambda: _("Something went wrong"))()
    template = "errors/_message.html" if is_htmx() else "errors/page.html"
    return render(template, status=status, title=title, message=message, code=status)


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_response(
            400, _("This form has expired or was not sent from this app. Reload and try again.")
        )

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        return error_response(error.status, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code and error.code < 400:
            return error
        default = error.description if error.description != type(error).description else None
        message = default or {
            403: _("You do not have access to this page."),
            404: _("This page does not exist."),
            405: _("This action is not available here."),
            413: _("The file is too large."),
        }.get(error.code, _("The request could not be handled."))
        return error_response(error.code or 500, message)
