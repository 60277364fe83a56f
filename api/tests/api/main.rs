//! API integration tests: the real router on a fresh database per test (SQLite, or
//! PostgreSQL when `MOAT_TEST_DATABASE_URL` is set). One test binary keeps linking cheap.
#![allow(dead_code)]

mod accounts;
mod alerts;
mod archive;
mod audit;
mod boundaries;
mod bulk;
mod cross_tenant;
mod digests;
mod exchange;
mod features;
mod helpers;
mod jobs;
mod learning;
mod lists;
mod meta;
mod reach;
mod stats;
mod tenancy;
mod validation;
mod worker;
