//! Helpers shared by the configuration tests.

#[allow(unused_imports)] // each test file uses some of them
pub use rlws_testkit::{http_raw, TestCa};
