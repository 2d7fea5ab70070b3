//! Stub: filled in by its helper.
