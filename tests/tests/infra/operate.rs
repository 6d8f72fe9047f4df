//! Issue 17's Terraform against the code: the integrations' IAM and input transformers,
//! the dashboard's metrics, the alarms on misconfiguration, who may invoke the operator
//! function, and where the functions may put their events.

mod eval;
mod integrations;
mod observe;
mod who;
