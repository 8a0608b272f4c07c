"""What the app serves with, by type: ``create_app`` provides each object once; a route asks for one by type.

The one module that writes and reads ``app.state``. A feature declares its typed dependency
in its own folder (``SummarizeServingDep = Annotated[SummarizeServing, Depends(dependency(SummarizeServing))]``),
so features never import the module that assembles them (``service.deps``): no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from fastapi import Request
from starlette.applications import Starlette

T = TypeVar("T")


def provide(app: Starlette, objects: Iterable[object]) -> None:
    """Keep these objects on the app, one per type."""
    app.state.provided = {type(value): value for value in objects}


def provided(app: Starlette, kind: type[T]) -> T:
    """The object of this type the app was given; a clear error for an app not built by ``create_app``."""
    value = getattr(app.state, "provided", {}).get(kind)
    if not isinstance(value, kind):
        raise RuntimeError(f"the app has no {kind.__name__}: build it with service.app.create_app")
    return value


def dependency(kind: type[T]) -> Callable[[Request], T]:
    """A FastAPI dependency that gives a route the app's object of this type."""

    def get(request: Request) -> T:
        return provided(request.app, kind)

    get.__name__ = f"get_{kind.__name__}"
    return get
