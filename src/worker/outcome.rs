//! What running a job leads to: the outcome every job kind reports, and an activation waiting to be
//! recorded with its round.

use crate::store::jobs::Claimed;
use crate::wechat_api::membercard::MemberActivation;

/// What running a job led to: settled on its own, or activated at WeChat and waiting to be
/// recorded with the round's other activations.
#[derive(Debug, Clone)]
pub enum Step {
    Settled(JobOutcome),
    Activated(Box<Activated>),
}

/// A job WeChat activated (or reports active), to be completed by `complete_activations`.
#[derive(Debug, Clone)]
pub struct Activated {
    pub id: i64,
    pub claim_token: String,
    pub appid: String,
    pub request: MemberActivation,
}

pub(super) fn activated(job: &Claimed, appid: &str, request: &MemberActivation) -> Step {
    Step::Activated(Box::new(Activated {
        id: job.id,
        claim_token: job.claim_token.clone(),
        appid: appid.to_owned(),
        request: request.clone(),
    }))
}

/// How a job ended this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    RetryLater,
    Paused,
    Dead,
    /// The claim was lost (lease expired and another worker took the job): nothing written.
    LostClaim,
}

impl JobOutcome {
    /// `self` when the worker still held the job's claim as it settled it; else `LostClaim` (its
    /// write changed nothing: another worker holds the job).
    pub(super) fn if_held(self, held: bool) -> Self {
        if held {
            self
        } else {
            Self::LostClaim
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::RetryLater => "retry",
            Self::Paused => "paused",
            Self::Dead => "dead",
            Self::LostClaim => "lost_claim",
        }
    }
}
