"""bandit-engine from Python: fit bandit policies, resolve bundles, compute metrics,
retrain and evaluate off-policy on pandas, polars or pyarrow frames.

Frames come in through the Arrow PyCapsule interface (no copy where the types allow)
and results go back as the frame type the call was given (``as_=`` picks another).
The work runs in Rust without the GIL.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _native
from ._frames import arrow_input, output
from ._native import (
    BanditEngineError,
    ConfigError,
    EventError,
    Locked,
    ParameterError,
    PublishRefused,
)

__version__ = _native.__version__

__all__ = [
    "BanditEngineError",
    "ConfigError",
    "EventError",
    "Locked",
    "Model",
    "Outcome",
    "ParameterError",
    "PublishRefused",
    "Resolver",
    "TqdmProgress",
    "evaluate",
    "fit",
    "metrics",
    "retrain",
]

PathLike = Union[str, "os.PathLike[str]"]


class TqdmProgress:
    """Shows the engine's long stages (reading events, Monte Carlo draws) as tqdm bars
    (``tqdm.auto``: a widget in notebooks). Pass ``progress=True`` to get one."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._bar: Any = None

    def start(self, stage: str, total: int) -> None:
        self.finish()
        self._bar = self._tqdm(total=total or None, desc=stage, leave=False)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _progress_arg(progress: Any) -> Any:
    if progress is True:
        try:
            return TqdmProgress()
        except ImportError as e:
            raise ImportError("progress=True shows tqdm bars: pip install tqdm") from e
    return progress or None


class Model:
    """A fitted bandit model (see :func:`fit`)."""

    def __init__(self, native: Any, like: Any = None) -> None:
        self._native = native
        self._like = like

    @property
    def arms(self) -> List[str]:
        """Arm labels, sorted: the column order of :meth:`predict_expectations`."""
        return list(self._native.arms)

    @property
    def algorithm(self) -> str:
        """The algorithm's name (``linucb``, ``thompson_bernoulli``, ...)."""
        return self._native.algorithm

    @property
    def rows(self) -> int:
        """Rows fitted so far."""
        return self._native.rows

    def predict(self, frame: Any = None) -> Union[str, List[str]]:
        """The best arm for each row of ``frame`` (a list), or, for a multi-armed model
        called without a frame, the best arm (a string)."""
        arms = self._native.predict(None if frame is None else arrow_input(frame))
        return arms[0] if frame is None else arms

    def predict_expectations(self, frame: Any = None, as_: Optional[str] = None) -> Any:
        """Per row, one column per arm: the LinUCB upper bound ``θᵀx + α‖L⁻¹x‖``, the
        LinTS posterior mean ``θᵀx``, P(best) for Thompson sampling, the UCB1 index, or
        the mean reward (ε-greedy). Without a frame (multi-armed models), a dict."""
        native = self._native.predict_expectations(None if frame is None else arrow_input(frame))
        if frame is None:
            table = output(native, as_="pyarrow") if as_ is None else None
            if table is not None:
                return {name: table.column(name)[0].as_py() for name in table.column_names}
        return output(native, like=frame if frame is not None else self._like, as_=as_)

    def partial_fit(self, frame: Any) -> "Model":
        """Adds ``frame``'s rows (same columns as the first fit): the model equals one
        fitted on all rows at once."""
        self._native.partial_fit(arrow_input(frame))
        return self

    def to_dict(self) -> Dict[str, Any]:
        """The model as ``bandit-engine fit`` writes ``model.json`` (camelCase keys)."""
        return json.loads(self._native.to_json())

    def __repr__(self) -> str:
        return repr(self._native)


def fit(
    frame: Any,
    algorithm: str,
    arm: str = "arm",
    reward: str = "reward",
    features: Optional[Sequence[str]] = None,
    entity: Optional[str] = None,
    **params: Any,
) -> Model:
    """Fits ``algorithm`` on ``frame``'s rows: one model, or one per ``entity`` value.

    ``algorithm``: ``thompson_bernoulli``, ``thompson_gaussian``, ``ucb1``,
    ``epsilon_greedy``, ``linucb`` or ``lints`` (the linear ones read ``features``, with
    an intercept unless ``intercept=False``). ``params``: ``alpha`` (LinUCB's α, UCB1's
    c), ``lambda_`` or ``l2_lambda`` (ridge λ), ``v`` (LinTS scale), ``epsilon``,
    ``prior_alpha``, ``prior_beta``, ``draws``, ``seed``.

    Raises :class:`EventError` naming the row and column of a bad cell and
    :class:`ParameterError` for a parameter out of its domain.
    """
    native = _native.fit(
        arrow_input(frame),
        algorithm,
        arm=arm,
        reward=reward,
        features=list(features) if features is not None else None,
        entity=entity,
        **params,
    )
    return Model(native, like=frame)


def _bundle_arg(bundle: Any) -> str:
    if isinstance(bundle, dict):
        return json.dumps(bundle)
    if isinstance(bundle, Outcome):
        return bundle.bundle_json
    return os.fspath(bundle)


class Resolver:
    """What an SDK serves for a context, from a bundle (a path, a dict, or an
    :class:`Outcome`): the platform's resolver, checked against the SDK test vectors."""

    def __init__(self, bundle: Any, hash: str = "sha256-v2") -> None:
        self._native = _native.Resolver(_bundle_arg(bundle), hash)

    def resolve(self, context: Dict[str, Any]) -> Dict[str, Any]:
        """``{"assignments": {param: value}, "layers": [...]}`` for one context."""
        return json.loads(self._native.resolve_json(json.dumps(context)))

    def resolve_many(self, frame: Any, as_: Optional[str] = None) -> Any:
        """Each row of ``frame`` as a context: a frame of ``unitKeyValue`` and every
        assigned parameter, one row per row in."""
        return output(self._native.resolve_many(arrow_input(frame)), like=frame, as_=as_)


def _events_arg(events: Any) -> Any:
    items = events if isinstance(events, (list, tuple)) else [events]
    return [os.fspath(e) if isinstance(e, (str, os.PathLike)) else arrow_input(e) for e in items]


def metrics(
    config: PathLike,
    bundle: PathLike,
    events: Any,
    attribution: Optional[str] = None,
    per: str = "unit",
    by_context: Optional[Sequence[str]] = None,
    population: str = "exposed",
    as_: Optional[str] = None,
    progress: Any = False,
) -> Any:
    """Per-allocation results of every optimised policy (``bandit-engine metrics
    --json``'s rows): exposures, conversions, mean with interval, lift, p-value, ...

    ``events``: paths (ndjson, csv, parquet) or frames in the flat event layout.
    """
    native = _native.metrics(
        os.fspath(config),
        os.fspath(bundle),
        _events_arg(events),
        attribution=attribution,
        per=per,
        by_context=list(by_context) if by_context else None,
        population=population,
        progress=_progress_arg(progress),
    )
    like = None if isinstance(events, (str, os.PathLike, list, tuple)) else events
    return output(native, like=like, as_=as_)


class Outcome:
    """A retrain's result: the new bundle, state and report; :meth:`publish` writes them."""

    def __init__(self, native: Any) -> None:
        self._native = native
        self.published: Optional[Dict[str, Any]] = None

    @property
    def bundle_json(self) -> str:
        """The new bundle's JSON text (the input's key order kept)."""
        return self._native.bundle_json

    @property
    def bundle(self) -> Dict[str, Any]:
        """The new bundle."""
        return json.loads(self._native.bundle_json)

    @property
    def state(self) -> Dict[str, Any]:
        """The new state (what ``state=`` reads on the next run)."""
        return json.loads(self._native.state_json)

    @property
    def report(self) -> Dict[str, Any]:
        """The run report: per policy, status, statistics, old and new ranges."""
        return json.loads(self._native.report_json)

    def publish(self, dir: PathLike) -> Dict[str, Any]:
        """Publishes to ``dir`` (versioned, atomic, guarded): ``{"version": n, "bundle":
        path, "state": path, ...}``. Raises :class:`PublishRefused` if a guard fails
        (nothing written) and :class:`Locked` if another publisher holds ``dir``."""
        version, files = self._native.publish(os.fspath(dir))
        out: Dict[str, Any] = {"version": version}
        out.update(dict(files))
        return out


def retrain(
    config: PathLike,
    bundle: PathLike,
    events: Any,
    out: Optional[PathLike] = None,
    state: Optional[PathLike] = None,
    as_of: Optional[str] = None,
    seed: int = 0,
    strict: bool = False,
    attribution: Optional[str] = None,
    progress: Any = False,
) -> Outcome:
    """Retrains every optimised policy, as ``bandit-engine retrain`` does; with ``out``,
    publishes too (``outcome.published`` holds the paths).

    ``events``: paths or frames; ``state``: the previous run's ``state.json``;
    ``as_of``: the run's instant (RFC 3339), by default the latest event time.
    """
    native = _native.retrain(
        os.fspath(config),
        os.fspath(bundle),
        _events_arg(events),
        state=None if state is None else os.fspath(state),
        as_of=as_of,
        seed=seed,
        strict=strict,
        attribution=attribution,
        progress=_progress_arg(progress),
    )
    outcome = Outcome(native)
    if out is not None:
        outcome.published = outcome.publish(out)
    return outcome


def evaluate(
    log: Any,
    policy: str = "bts",
    estimators: Optional[Sequence[str]] = None,
    n_bootstrap: int = 1000,
    seed: int = 12345,
    alpha: float = 0.05,
    reward_model: str = "logistic",
    c: float = 100.0,
    lambda_: float = 1.0,
    folds: int = 3,
    weights: Optional[Sequence[float]] = None,
    prior: Optional[PathLike] = None,
    prior_alpha: Optional[Sequence[float]] = None,
    prior_beta: Optional[Sequence[float]] = None,
    n_sim: int = 100_000,
    action: str = "action",
    reward: str = "reward",
    propensity: str = "propensity",
    position: Optional[str] = None,
    context: Optional[Sequence[str]] = None,
    n_actions: Optional[int] = None,
    as_: Optional[str] = None,
    progress: Any = False,
) -> Any:
    """Off-policy evaluation of ``policy`` on a logged bandit data set, as obp's
    ``OffPolicyEvaluation``: one row per estimator (``replay``, ``ipw``, ``snipw``,
    ``dm``, ``dr``, ``sndr``) with the estimate and a bootstrap interval.

    ``log``: an Open Bandit Dataset directory (``datasets/obd``) or a frame with
    ``action`` (0-based index), ``reward``, ``propensity``, optional ``position`` and
    ``context`` columns. ``policy``: ``uniform``, ``fixed`` (``weights``), ``bts``
    (Bernoulli Thompson sampling from ``prior`` or ``prior_alpha``/``prior_beta``) or
    ``greedy`` (on the reward model). ``reward_model``: ``logistic`` (``c``), ``ridge``
    (``lambda_``) or ``none`` (no DM/DR).
    """
    is_path = isinstance(log, (str, os.PathLike))
    columns = None
    if not is_path:
        columns = {
            "action": action,
            "reward": reward,
            "propensity": propensity,
            "position": position,
            "context": list(context or []),
            "n_actions": n_actions,
        }
    spec = {
        "kind": policy,
        "weights": list(weights) if weights is not None else None,
        "prior": None if prior is None else os.fspath(prior),
        "prior_alpha": list(prior_alpha) if prior_alpha is not None else None,
        "prior_beta": list(prior_beta) if prior_beta is not None else None,
        "n_sim": n_sim,
    }
    native = _native.evaluate(
        os.fspath(log) if is_path else arrow_input(log),
        _Attrs(columns) if columns else None,
        _Attrs(spec),
        list(estimators) if estimators is not None else None,
        reward_model,
        c,
        lambda_,
        folds,
        n_bootstrap,
        alpha,
        seed,
        progress=_progress_arg(progress),
    )
    return output(native, like=None if is_path else log, as_=as_)


class _Attrs:
    """A dict read by attribute (what the native side's argument structs extract)."""

    def __init__(self, d: Dict[str, Any]) -> None:
        self.__dict__.update(d)
