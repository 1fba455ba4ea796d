//! fl-sim (placeholder while the workspace is being built).
