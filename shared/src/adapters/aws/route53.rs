//! Route 53 health checks: read, list, force unhealthy (guarded by HealthCheckVersion),
//! status. Every call first takes a slot of the process's [`Route53Budget`]: `get`,
//! `update` and `status` as the deciding path, `list_page` as the background.

use aws_sdk_route53::operation::update_health_check::UpdateHealthCheckError;
use aws_sdk_route53::types::HealthCheck;
use aws_sdk_route53::Client;

use super::budget::{Priority, Route53Budget};
use super::classify;
use crate::domain::decision::HealthReading;
use crate::domain::state::HealthCheckSettings;
use crate::ports::{
    AwsError, ErrorKind, HealthCheckConfig, HealthCheckPage, HealthChecks, UpdateError,
    MAX_HEALTH_CHECKS_PER_PAGE,
};

#[derive(Debug, Clone)]
pub struct Route53HealthChecks {
    client: Client,
    budget: Route53Budget,
}

impl Route53HealthChecks {
    /// With a budget of its own at the default rate
    /// ([`super::budget::DEFAULT_ROUTE53_CALLS_PER_SECOND`]).
    pub fn new(client: Client) -> Self {
        Self::with_budget(client, Route53Budget::default())
    }

    /// Sharing `budget` (clones of one budget are one limiter).
    pub fn with_budget(client: Client, budget: Route53Budget) -> Self {
        Route53HealthChecks { client, budget }
    }

    /// The limiter in front of every call: its rate, calls granted and time waited.
    pub fn budget(&self) -> &Route53Budget {
        &self.budget
    }
}

fn config_of(
    hc: Option<&HealthCheck>,
    operation: &'static str,
) -> Result<HealthCheckConfig, AwsError> {
    let hc = hc.ok_or_else(|| {
        AwsError::new(
            "route53",
            operation,
            ErrorKind::Rejected,
            "response has no HealthCheck",
        )
    })?;
    let cfg = hc.health_check_config();
    Ok(HealthCheckConfig {
        settings: HealthCheckSettings {
            disabled: cfg.and_then(|c| c.disabled()).unwrap_or(false),
            inverted: cfg.and_then(|c| c.inverted()).unwrap_or(false),
        },
        version: hc.health_check_version(),
    })
}

impl HealthChecks for Route53HealthChecks {
    async fn get(&self, id: &str) -> Result<HealthCheckConfig, AwsError> {
        let _slot = self.budget.acquire(Priority::Deciding).await;
        let out = self
            .client
            .get_health_check()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| classify("route53", "GetHealthCheck", &e))?;
        config_of(out.health_check(), "GetHealthCheck")
    }

    async fn update(
        &self,
        id: &str,
        version: i64,
        settings: HealthCheckSettings,
    ) -> Result<HealthCheckConfig, UpdateError> {
        let _slot = self.budget.acquire(Priority::Deciding).await;
        let result = self
            .client
            .update_health_check()
            .health_check_id(id)
            .health_check_version(version)
            .disabled(settings.disabled)
            .inverted(settings.inverted)
            .send()
            .await;
        match result {
            Ok(out) => Ok(config_of(out.health_check(), "UpdateHealthCheck")?),
            Err(e) => match e.as_service_error() {
                Some(UpdateHealthCheckError::HealthCheckVersionMismatch(_)) => {
                    Err(UpdateError::VersionMismatch { sent: version })
                }
                _ => Err(UpdateError::Aws(classify(
                    "route53",
                    "UpdateHealthCheck",
                    &e,
                ))),
            },
        }
    }

    async fn list_page(&self, marker: Option<&str>) -> Result<HealthCheckPage, AwsError> {
        let _slot = self.budget.acquire(Priority::Background).await;
        let out = self
            .client
            .list_health_checks()
            .max_items(MAX_HEALTH_CHECKS_PER_PAGE as i32)
            .set_marker(marker.map(str::to_string))
            .send()
            .await
            .map_err(|e| classify("route53", "ListHealthChecks", &e))?;
        let checks = out
            .health_checks()
            .iter()
            .map(|hc| {
                Ok((
                    hc.id().to_string(),
                    config_of(Some(hc), "ListHealthChecks")?,
                ))
            })
            .collect::<Result<Vec<_>, AwsError>>()?;
        // A truncated page without a marker would restart the listing: end it instead.
        let next_marker = out
            .is_truncated()
            .then(|| out.next_marker().map(str::to_string))
            .flatten()
            .filter(|m| !m.is_empty());
        Ok(HealthCheckPage {
            checks,
            next_marker,
        })
    }

    async fn status(&self, id: &str) -> Result<HealthReading, AwsError> {
        let _slot = self.budget.acquire(Priority::Deciding).await;
        let out = self
            .client
            .get_health_check_status()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| classify("route53", "GetHealthCheckStatus", &e))?;
        let observations = out.health_check_observations();
        let healthy = observations
            .iter()
            .filter(|o| {
                o.status_report()
                    .and_then(|r| r.status())
                    .is_some_and(|s| s.starts_with("Success"))
            })
            .count();
        Ok(HealthReading {
            healthy_checkers: u32::try_from(healthy).unwrap_or(u32::MAX),
            checkers: u32::try_from(observations.len()).unwrap_or(u32::MAX),
        })
    }
}
