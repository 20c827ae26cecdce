"""Frames in and out: the Arrow PyCapsule interface, and the caller's frame type back."""

from __future__ import annotations

from typing import Any, Optional


def arrow_input(frame: Any) -> Any:
    """An object exporting ``__arrow_c_stream__``/``__arrow_c_array__`` for ``frame``.

    pandas before 2.2 and plain dicts of columns go through pyarrow (a copy); everything
    that speaks the PyCapsule interface is handed over as it is.
    """
    if hasattr(frame, "__arrow_c_stream__") or hasattr(frame, "__arrow_c_array__"):
        return frame
    try:
        import pyarrow as pa
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise TypeError(
            f"{type(frame).__name__} does not export the Arrow PyCapsule interface; "
            "pass a pyarrow, polars or pandas (>= 2.2) frame, or install pyarrow"
        ) from e
    if isinstance(frame, dict):
        return pa.table(frame)
    if type(frame).__module__.startswith("pandas"):
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(f"cannot read {type(frame).__name__} as a frame")


def kind_of(frame: Any) -> Optional[str]:
    """``"pandas"``, ``"polars"`` or ``"pyarrow"`` for a frame of that library."""
    if frame is None or isinstance(frame, (str, bytes)):
        return None
    module = type(frame).__module__.split(".")[0]
    if module in ("pandas", "polars", "pyarrow"):
        return module
    return None


def default_kind() -> str:
    """The frame type results take when the call had no frame: pandas if installed."""
    for kind in ("pandas", "polars", "pyarrow"):
        try:
            __import__(kind)
        except ImportError:
            continue
        if kind == "pandas":
            try:
                __import__("pyarrow")
            except ImportError:
                continue
        return kind
    return "arrow"


def output(native: Any, like: Any = None, as_: Optional[str] = None) -> Any:
    """The native result frame as ``as_`` ("pandas", "polars", "pyarrow", "arrow") or,
    by default, as the type of ``like`` (else pandas, polars, pyarrow, in that order).

    "arrow" returns the raw object exporting ``__arrow_c_stream__``.
    """
    kind = as_ or kind_of(like) or default_kind()
    if kind == "arrow":
        return native
    if kind == "polars":
        import polars as pl

        try:
            return pl.DataFrame(native)
        except (TypeError, ValueError):  # older polars: through pyarrow
            import pyarrow as pa

            return pl.from_arrow(pa.table(native))
    import pyarrow as pa

    table = pa.table(native)
    if kind == "pyarrow":
        return table
    if kind == "pandas":
        return table.to_pandas()
    raise ValueError(f"unknown output {kind!r}: pandas, polars, pyarrow or arrow")
