//! Running a `send_card` job: the card of a follow QR code sent to who followed or scanned it, in a
//! customer-service message whose cardExt names the scene (`distribution::messages`). A closed
//! customer-service window (45015) or a user who does not follow (43004) ends it `dead`.

use super::outcome::JobOutcome;
use super::Worker;
use crate::distribution::messages::SendCardOrder;
use crate::distribution::DistributionError;
use crate::store::jobs::Claimed;
use crate::store::StoreError;

impl Worker {
    pub(super) async fn send_card(
        &self,
        job: &Claimed,
        order: SendCardOrder,
        now: i64,
    ) -> Result<JobOutcome, StoreError> {
        match self.distribution.messages().send_card(order).await {
            Ok(()) => {
                self.metrics.observe_card_message("sent");
                tracing::info!(job_id = job.id, "card sent in a customer-service message");
                self.complete(job, now).await
            }
            Err(DistributionError::Credential(error)) => {
                self.metrics.observe_card_message("error");
                self.failed_call(job, error, now).await
            }
            Err(DistributionError::Store(e)) => Err(e),
            Err(other) => {
                self.metrics.observe_card_message("error");
                self.bury(job, &other.to_string(), now).await
            }
        }
    }
}
