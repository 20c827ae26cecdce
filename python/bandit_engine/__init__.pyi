"""Type stubs of bandit_engine (the public API; see __init__.py for the docs)."""

import os
from typing import Any, Dict, List, Literal, Optional, Protocol, Sequence, Union

PathLike = Union[str, os.PathLike[str]]
FrameKind = Literal["pandas", "polars", "pyarrow", "arrow"]
Algorithm = Literal[
    "thompson_bernoulli", "thompson_gaussian", "ucb1", "epsilon_greedy", "linucb", "lints"
]

__version__: str

class BanditEngineError(Exception): ...

class ConfigError(BanditEngineError):
    file: Optional[str]
    line: Optional[int]
    column: Optional[int]
    key: Optional[str]
    reason: Optional[str]
    errors: Optional[List["ConfigError"]]

class EventError(BanditEngineError):
    file: str
    line: Optional[int]
    field: Optional[str]
    reason: str

class PublishRefused(BanditEngineError):
    file: str
    key: str
    reason: str

class Locked(BanditEngineError):
    path: str
    reason: str

class ParameterError(BanditEngineError):
    name: str
    expected: str
    found: str

class ProgressSink(Protocol):
    def start(self, stage: str, total: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...

class TqdmProgress:
    def __init__(self) -> None: ...
    def start(self, stage: str, total: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...

Progress = Union[bool, ProgressSink]

class Model:
    @property
    def arms(self) -> List[str]: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def rows(self) -> int: ...
    def predict(self, frame: Any = ...) -> Union[str, List[str]]: ...
    def predict_expectations(self, frame: Any = ..., as_: Optional[FrameKind] = ...) -> Any: ...
    def partial_fit(self, frame: Any) -> "Model": ...
    def to_dict(self) -> Dict[str, Any]: ...

def fit(
    frame: Any,
    algorithm: Algorithm,
    arm: str = ...,
    reward: str = ...,
    features: Optional[Sequence[str]] = ...,
    entity: Optional[str] = ...,
    *,
    alpha: float = ...,
    lambda_: float = ...,
    l2_lambda: float = ...,
    v: float = ...,
    epsilon: float = ...,
    prior_alpha: float = ...,
    prior_beta: float = ...,
    intercept: bool = ...,
    draws: int = ...,
    seed: int = ...,
) -> Model: ...

class Resolver:
    def __init__(self, bundle: Union[PathLike, Dict[str, Any], "Outcome"], hash: Literal["sha256-v2", "fnv1a-v1"] = ...) -> None: ...
    def resolve(self, context: Dict[str, Any]) -> Dict[str, Any]: ...
    def resolve_many(self, frame: Any, as_: Optional[FrameKind] = ...) -> Any: ...

def metrics(
    config: PathLike,
    bundle: PathLike,
    events: Any,
    attribution: Optional[Literal["decision", "cumulative"]] = ...,
    per: Literal["unit", "decision"] = ...,
    by_context: Optional[Sequence[str]] = ...,
    population: Literal["exposed", "assigned"] = ...,
    as_: Optional[FrameKind] = ...,
    progress: Progress = ...,
) -> Any: ...

class Outcome:
    published: Optional[Dict[str, Any]]
    @property
    def bundle_json(self) -> str: ...
    @property
    def bundle(self) -> Dict[str, Any]: ...
    @property
    def state(self) -> Dict[str, Any]: ...
    @property
    def report(self) -> Dict[str, Any]: ...
    def publish(self, dir: PathLike) -> Dict[str, Any]: ...

def retrain(
    config: PathLike,
    bundle: PathLike,
    events: Any,
    out: Optional[PathLike] = ...,
    state: Optional[PathLike] = ...,
    as_of: Optional[str] = ...,
    seed: int = ...,
    strict: bool = ...,
    attribution: Optional[Literal["decision", "cumulative"]] = ...,
    progress: Progress = ...,
) -> Outcome: ...

def evaluate(
    log: Any,
    policy: Literal["uniform", "fixed", "bts", "greedy"] = ...,
    estimators: Optional[Sequence[Literal["replay", "ipw", "snipw", "dm", "dr", "sndr"]]] = ...,
    n_bootstrap: int = ...,
    seed: int = ...,
    alpha: float = ...,
    reward_model: Literal["logistic", "ridge", "none"] = ...,
    c: float = ...,
    lambda_: float = ...,
    folds: int = ...,
    weights: Optional[Sequence[float]] = ...,
    prior: Optional[PathLike] = ...,
    prior_alpha: Optional[Sequence[float]] = ...,
    prior_beta: Optional[Sequence[float]] = ...,
    n_sim: int = ...,
    action: str = ...,
    reward: str = ...,
    propensity: str = ...,
    position: Optional[str] = ...,
    context: Optional[Sequence[str]] = ...,
    n_actions: Optional[int] = ...,
    as_: Optional[FrameKind] = ...,
    progress: Progress = ...,
) -> Any: ...
