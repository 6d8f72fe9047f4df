//! The functions' contracts: what they accept and what they answer, serde both ways.

pub mod operator_request;
pub mod operator_response;
pub mod reports;

#[cfg(test)]
mod tests;
