//! Route 53 health checks: read, force unhealthy (guarded by HealthCheckVersion), status.

use aws_sdk_route53::operation::update_health_check::UpdateHealthCheckError;
use aws_sdk_route53::types::HealthCheck;
use aws_sdk_route53::Client;

use super::classify;
use crate::domain::decision::HealthReading;
use crate::domain::state::HealthCheckSettings;
use crate::ports::{AwsError, ErrorKind, HealthCheckConfig, HealthChecks, UpdateError};

#[derive(Debug, Clone)]
pub struct Route53HealthChecks {
    client: Client,
}

impl Route53HealthChecks {
    pub fn new(client: Client) -> Self {
        Route53HealthChecks { client }
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

    async fn status(&self, id: &str) -> Result<HealthReading, AwsError> {
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
