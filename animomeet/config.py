"""Reading typed values from the environment, failing with a one-line reason."""

import os


def config_error(reason: str) -> SystemExit:
    """A start-up refusal: SystemExit prints just this line to stderr, no traceback."""
    return SystemExit(f"animomeet: configuration error: {reason}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise config_error(f"{name} must be a whole number, not {raw!r}") from None


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise config_error(f"{name} must be true or false, not {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; trailing slashes are dropped so that origins compare equal."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return list(default)
    return [item.strip().rstrip("/") for item in raw.split(",") if item.strip()]
