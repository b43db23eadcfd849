"""The ClosedPaw HTTP API: provider management and chat over HTTP, secure by default.

```python
from closedpaw_nb.server import create_app, start_server
app = create_app(manager, allow_local_base_urls=True)   # token: app.state.token
server = start_server(app)                               # uvicorn on 127.0.0.1, free port
...
server.stop()
```

From a shell: `python -m closedpaw_nb serve [--simulator]`. Needs the `server` extra
(`pip install "closedpaw_nb[server]"`).
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError('closedpaw_nb.server needs FastAPI: pip install "closedpaw_nb[server]"') from exc

from .app import create_app, default_manager
from .cli import main, serve
from .errors import ApiError, UnsafeBaseURLError
from .runner import RunningServer, bind, start_server
from .urlcheck import check_base_url

__all__ = [
    "ApiError",
    "RunningServer",
    "UnsafeBaseURLError",
    "bind",
    "check_base_url",
    "create_app",
    "default_manager",
    "main",
    "serve",
    "start_server",
]
