//! Server-side Table output (placeholder, being written).
