"""What the views are wrapped in: the JSON endpoints' method check and error answers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from classifier.engine.errors import SceneWebError
from classifier.http_errors import error_response


def api_view(*methods: str, csrf: bool = False) -> Callable:
    """JSON endpoints: only `methods`, errors as JSON; no CSRF token needed (the API uses no session
    or cookie) unless `csrf`, for endpoints only this site's own page calls."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def answer(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise SceneWebError(f"Use {' or '.join(methods)} for {request.path}.", code="method_not_allowed")
                return view(request, *args, **kwargs)
            except SceneWebError as exc:
                return error_response(request, exc)

        return answer if csrf else csrf_exempt(answer)

    return decorate
