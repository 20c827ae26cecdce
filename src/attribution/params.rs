//! How credit is assigned: the mode, the multi-touch model, sessions, clock skew and
//! the goal's window, checked once so the relational steps can trust them.

use crate::config::{
    AttributionMode, AttributionModel, OptimizationSpec, PositionWeights, UnlinkedEvents,
};
use crate::error::{ParameterError, Result};

/// Default inactivity gap that ends a derived session.
pub const DEFAULT_SESSION_GAP_MS: i64 = 30 * 60 * 1000;

/// Default half-life of `time_decay`: 7 days.
pub const DEFAULT_HALF_LIFE_MS: f64 = 7.0 * 24.0 * 3_600_000.0;

/// How one event's credit is split among several touches of one policy, with the
/// model's parameters. Weights of one event and policy always sum to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TouchModel {
    /// The earliest touch takes it all (exact ties share).
    FirstTouch,
    /// The latest touch takes it all (exact ties share); the default.
    LastTouch,
    /// Every touch gets the same share.
    Linear,
    /// A touch's share is proportional to `2^(−age / half-life)`, age measured from
    /// the touch to the event (0 for a touch within the clock-skew tolerance after it).
    TimeDecay {
        /// Half-life in milliseconds, > 0.
        half_life_ms: f64,
    },
    /// The first and the last touch get `first` and `last`, the touches between share
    /// the rest. With one distinct touch time it takes everything; with two, they split
    /// in the ratio `first : last` (40/20/40 gives 50/50).
    PositionBased {
        /// Share of the first touch.
        first: f64,
        /// Share of the last touch.
        last: f64,
    },
}

impl TouchModel {
    /// The model named `name`, with the config's parameters where they apply and the
    /// defaults otherwise (half-life 7 days, 40/20/40).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Parameter`] for a half-life that is not a positive number, or
    /// position weights outside [0, 1] or summing to more than 1.
    pub fn new(
        name: AttributionModel,
        half_life_days: Option<f64>,
        position: Option<PositionWeights>,
    ) -> Result<Self> {
        Ok(match name {
            AttributionModel::FirstTouch => Self::FirstTouch,
            AttributionModel::LastTouch => Self::LastTouch,
            AttributionModel::Linear => Self::Linear,
            AttributionModel::TimeDecay => {
                let ms = half_life_days.map_or(DEFAULT_HALF_LIFE_MS, |d| d * 86_400_000.0);
                if !(ms > 0.0 && ms.is_finite()) {
                    return Err(ParameterError::new(
                        "halfLifeDays",
                        "a positive number",
                        half_life_days.unwrap_or_default(),
                    )
                    .into());
                }
                Self::TimeDecay { half_life_ms: ms }
            }
            AttributionModel::PositionBased => {
                let w = position.unwrap_or_default();
                let ok = |x: f64| (0.0..=1.0).contains(&x);
                if !(ok(w.first) && ok(w.last) && w.first + w.last <= 1.0 + 1e-12) {
                    return Err(ParameterError::new(
                        "positionWeights",
                        "first and last in [0, 1] with a sum of at most 1",
                        format!("{} and {}", w.first, w.last),
                    )
                    .into());
                }
                Self::PositionBased {
                    first: w.first,
                    last: w.last,
                }
            }
        })
    }

    /// The schema's name of the model.
    #[must_use]
    pub fn name(&self) -> AttributionModel {
        match self {
            Self::FirstTouch => AttributionModel::FirstTouch,
            Self::LastTouch => AttributionModel::LastTouch,
            Self::Linear => AttributionModel::Linear,
            Self::TimeDecay { .. } => AttributionModel::TimeDecay,
            Self::PositionBased { .. } => AttributionModel::PositionBased,
        }
    }
}

/// Everything that decides who gets the credit for a goal event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttributionParams {
    /// `cumulative` (default) or `decision`.
    pub mode: AttributionMode,
    /// The multi-touch model (default last touch).
    pub model: TouchModel,
    /// Inactivity gap that ends a derived session (default 30 minutes).
    pub session_gap_ms: i64,
    /// A track event up to this much before an exposure still counts for it (≥ 0).
    pub clock_skew_ms: i64,
    /// An event more than this after an exposure is not credited to it; `None`: no
    /// window.
    pub window_ms: Option<i64>,
    /// Goal events with neither a known decision nor an SDK array: the unit-key rule
    /// (default) or dropped, in either mode.
    pub unlinked: UnlinkedEvents,
}

impl Default for AttributionParams {
    fn default() -> Self {
        Self {
            mode: AttributionMode::Cumulative,
            model: TouchModel::LastTouch,
            session_gap_ms: DEFAULT_SESSION_GAP_MS,
            clock_skew_ms: 0,
            window_ms: None,
            unlinked: UnlinkedEvents::Attribute,
        }
    }
}

impl AttributionParams {
    /// The params a policy's config asks for (its spec was validated when read).
    ///
    /// # Errors
    ///
    /// As [`TouchModel::new`], for a spec built in code with invalid parameters.
    pub fn from_spec(spec: &OptimizationSpec) -> Result<Self> {
        let model = TouchModel::new(
            spec.attribution_model
                .unwrap_or(AttributionModel::LastTouch),
            spec.half_life_days,
            spec.position_weights,
        )?;
        Ok(Self {
            mode: spec.attribution,
            model,
            clock_skew_ms: spec
                .clock_skew_seconds
                .map_or(0, |s| (s * 1000.0).round() as i64),
            window_ms: spec
                .attribution_window_hours
                .map(|h| (h * 3_600_000.0).round() as i64),
            unlinked: spec.unlinked_events,
            ..Self::default()
        })
    }

    /// The same params in another mode.
    #[must_use]
    pub fn with_mode(mut self, mode: AttributionMode) -> Self {
        self.mode = mode;
        self
    }

    /// The same params with another multi-touch model.
    #[must_use]
    pub fn with_model(mut self, model: TouchModel) -> Self {
        self.model = model;
        self
    }

    /// The same params with another session gap.
    #[must_use]
    pub fn with_session_gap_ms(mut self, gap_ms: i64) -> Self {
        self.session_gap_ms = gap_ms;
        self
    }

    /// The same params with a clock-skew tolerance.
    #[must_use]
    pub fn with_clock_skew_ms(mut self, skew_ms: i64) -> Self {
        self.clock_skew_ms = skew_ms.max(0);
        self
    }

    /// The same params with another rule for goal events without a known decision
    /// or an SDK array.
    #[must_use]
    pub fn with_unlinked(mut self, unlinked: UnlinkedEvents) -> Self {
        self.unlinked = unlinked;
        self
    }

    /// Whether goal events without a known decision or an SDK array are credited by
    /// the unit-key rule.
    #[must_use]
    pub fn unit_key_rule(&self) -> bool {
        self.unlinked == UnlinkedEvents::Attribute
    }

    /// The same params with an attribution window.
    #[must_use]
    pub fn with_window_ms(mut self, window_ms: Option<i64>) -> Self {
        self.window_ms = window_ms;
        self
    }
}
