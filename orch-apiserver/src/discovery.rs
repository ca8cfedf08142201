//! Discovery (placeholder, being written).
