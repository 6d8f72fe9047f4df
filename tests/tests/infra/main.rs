//! Terraform consistency: every `.tf` file under `infra/` parsed with hcl-rs and checked
//! against the code it deploys, and the modules' generated README tables. No terraform
//! binary is involved; checkov and `terraform fmt` (`make lint-infra`) cover the rest.

mod catalog;
mod code;
mod docs;
mod functions;
mod iam;
mod layout;
mod moved;
mod operate;
mod render;
mod switch;
mod tf;
mod workflow;
