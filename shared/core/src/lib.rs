//! Cutover's core: deployment configurations, AppSpec parsing, the deployment model and
//! the pure engine. Nothing here performs I/O or reads a clock: time comes in as data.
#![warn(missing_docs)]

pub mod appspec;
pub mod config;
pub mod engine;
pub mod group;
pub mod guardrails;
pub mod lifecycle;
pub mod model;
pub mod sim;
pub mod text;

pub use lifecycle::LifecycleEvent;

#[cfg(test)]
mod engine_ecs_tests;
#[cfg(test)]
mod engine_hooks_tests;
#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod engine_trust_tests;
#[cfg(test)]
mod record_tests;
